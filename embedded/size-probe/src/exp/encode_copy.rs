//! Experiment: a copy of crates/proto/src/encode.rs (see docs/size.md for the commit), with
//! switches read from the including binary:
//!
//! * `super::MANUAL_IP`: addresses written by `super::ipfmt` instead of `core::fmt`.
//! * `super::INT_BITS`: `Num` decides "is an integer" from the f64 bits, with no soft-float calls.
//!
//! With both off it must measure the same as the real encoder (`exp_encoder_copy` vs
//! `encoder_both`), which shows the copy is faithful.
#![allow(dead_code, missing_docs)]

use core::fmt::Write as _;
use core::net::IpAddr;

use serde::ser::{Serialize, SerializeMap, Serializer};

use fleetward_proto::Format;
use fleetward_proto::keys::{self, Key, KeyStyle};
use fleetward_proto::report::{
    Connection, Connections, CustomMetric, CustomValue, ListeningPort, Metrics, NetworkStats,
    PortList, RemoteAddr, Report, is_supported_version, is_valid_custom_metric_name,
};

/// Why a report could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The buffer is too small for the encoded report.
    BufferTooSmall,
    /// The report breaks a protocol rule the service would reject it for; the field is named.
    Invalid(InvalidField),
}

/// The field of a report that the service would reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidField {
    /// `report_id` is 0 or above 2^63-1.
    ReportId,
    /// `version` is not `1.<minor>`.
    Version,
    /// Neither `metrics` nor a custom metric is present.
    NoMetrics,
    /// A listening port is 0.
    Port,
    /// A custom metric name breaks `[a-zA-Z0-9:_-]{1,128}` or starts with `aws:`.
    CustomMetricName,
    /// A custom number is NaN or infinite.
    CustomNumber,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall => f.write_str("buffer too small for the encoded report"),
            EncodeError::Invalid(field) => f.write_str(match field {
                InvalidField::ReportId => "report_id must be between 1 and 2^63-1",
                InvalidField::Version => "version must be 1.<minor>",
                InvalidField::NoMetrics => "a report needs metrics or custom metrics",
                InvalidField::Port => "a listening port must be between 1 and 65535",
                InvalidField::CustomMetricName => {
                    "custom metric names are 1-128 of [a-zA-Z0-9:_-] and do not start with aws:"
                }
                InvalidField::CustomNumber => "custom metric numbers must be finite",
            }),
        }
    }
}

/// Encodes `report` into `buf` and returns the number of bytes written.
///
/// The report is checked first against the rules the service enforces, so a device finds out
/// locally instead of from a rejection. Never panics; on error the buffer content is unspecified.
pub fn encode(
    report: &Report<'_>,
    format: Format,
    style: KeyStyle,
    buf: &mut [u8],
) -> Result<usize, EncodeError> {
    check(report)?;
    let doc = Styled {
        v: report,
        k: style,
    };
    match format {
        Format::Json => {
            serde_json_core::to_slice(&doc, buf).map_err(|_| EncodeError::BufferTooSmall)
        }
        Format::Cbor => {
            minicbor_serde::to_slice(&doc, buf).map_err(|_| EncodeError::BufferTooSmall)
        }
    }
}

fn check(r: &Report<'_>) -> Result<(), EncodeError> {
    let bad = |f| Err(EncodeError::Invalid(f));
    if r.report_id == 0 || r.report_id > i64::MAX as u64 {
        return bad(InvalidField::ReportId);
    }
    if !is_supported_version(r.version) {
        return bad(InvalidField::Version);
    }
    if r.metrics.is_none() && r.custom_metrics.is_empty() {
        return bad(InvalidField::NoMetrics);
    }
    if let Some(m) = &r.metrics {
        let lists = [m.listening_tcp_ports, m.listening_udp_ports];
        if lists
            .iter()
            .flatten()
            .any(|l| l.ports.iter().any(|p| p.port == 0))
        {
            return bad(InvalidField::Port);
        }
    }
    for c in r.custom_metrics {
        if !is_valid_custom_metric_name(c.name) {
            return bad(InvalidField::CustomMetricName);
        }
        let finite = match c.value {
            CustomValue::Number(n) => n.is_finite(),
            CustomValue::NumberList(ns) => ns.iter().all(|n| n.is_finite()),
            CustomValue::StringList(_) | CustomValue::IpList(_) => true,
        };
        if !finite {
            return bad(InvalidField::CustomNumber);
        }
    }
    Ok(())
}

/// A value paired with the key style to write it in.
struct Styled<'r, T: ?Sized> {
    v: &'r T,
    k: KeyStyle,
}

impl<'r, T: ?Sized> Styled<'r, T> {
    fn with<'s, U: ?Sized>(&self, v: &'s U) -> Styled<'s, U> {
        Styled { v, k: self.k }
    }

    fn key(&self, key: Key) -> &'static str {
        key.get(self.k)
    }
}

fn count(flags: &[bool]) -> usize {
    flags.iter().filter(|f| **f).count()
}

impl Serialize for Styled<'_, Report<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.v;
        let has_custom = !r.custom_metrics.is_empty();
        let mut m = s.serialize_map(Some(count(&[true, r.metrics.is_some(), has_custom])))?;
        m.serialize_entry(self.key(keys::HEADER), &self.with(&Header(r)))?;
        if let Some(metrics) = &r.metrics {
            m.serialize_entry(self.key(keys::METRICS), &self.with(metrics))?;
        }
        if has_custom {
            m.serialize_entry(self.key(keys::CUSTOM_METRICS), &self.with(r.custom_metrics))?;
        }
        m.end()
    }
}

/// The header block, drawn from the report.
struct Header<'r, 'a>(&'r Report<'a>);

impl Serialize for Styled<'_, Header<'_, '_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry(self.key(keys::REPORT_ID), &self.v.0.report_id)?;
        m.serialize_entry(self.key(keys::VERSION), self.v.0.version)?;
        m.end()
    }
}

impl Serialize for Styled<'_, Metrics<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.v;
        let n = count(&[
            v.listening_tcp_ports.is_some(),
            v.listening_udp_ports.is_some(),
            v.network_stats.is_some(),
            v.tcp_connections.is_some(),
        ]);
        let mut m = s.serialize_map(Some(n))?;
        if let Some(l) = &v.listening_tcp_ports {
            m.serialize_entry(self.key(keys::LISTENING_TCP_PORTS), &self.with(l))?;
        }
        if let Some(l) = &v.listening_udp_ports {
            m.serialize_entry(self.key(keys::LISTENING_UDP_PORTS), &self.with(l))?;
        }
        if let Some(ns) = &v.network_stats {
            m.serialize_entry(self.key(keys::NETWORK_STATS), &self.with(ns))?;
        }
        if let Some(c) = &v.tcp_connections {
            m.serialize_entry(self.key(keys::TCP_CONNECTIONS), &Established(self.with(c)))?;
        }
        m.end()
    }
}

impl Serialize for Styled<'_, PortList<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(count(&[true, self.v.total.is_some()])))?;
        m.serialize_entry(self.key(keys::PORTS), &self.with(self.v.ports))?;
        if let Some(t) = self.v.total {
            m.serialize_entry(self.key(keys::TOTAL), &t)?;
        }
        m.end()
    }
}

impl Serialize for Styled<'_, [ListeningPort<'_>]> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.v.iter().map(|p| self.with(p)))
    }
}

impl Serialize for Styled<'_, ListeningPort<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(count(&[true, self.v.interface.is_some()])))?;
        m.serialize_entry(self.key(keys::PORT), &self.v.port)?;
        if let Some(i) = self.v.interface {
            m.serialize_entry(self.key(keys::INTERFACE), i)?;
        }
        m.end()
    }
}

impl Serialize for Styled<'_, NetworkStats> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.v;
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry(self.key(keys::BYTES_IN), &v.bytes_in)?;
        m.serialize_entry(self.key(keys::BYTES_OUT), &v.bytes_out)?;
        m.serialize_entry(self.key(keys::PACKETS_IN), &v.packets_in)?;
        m.serialize_entry(self.key(keys::PACKETS_OUT), &v.packets_out)?;
        m.end()
    }
}

/// `tcp_connections: {established_connections: {...}}`: AWS nests the list one level deeper.
struct Established<'r, 'a>(Styled<'r, Connections<'a>>);

impl Serialize for Established<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0.key(keys::ESTABLISHED_CONNECTIONS), &self.0)?;
        m.end()
    }
}

impl Serialize for Styled<'_, Connections<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(count(&[true, self.v.total.is_some()])))?;
        m.serialize_entry(self.key(keys::CONNECTIONS), &self.with(self.v.connections))?;
        if let Some(t) = self.v.total {
            m.serialize_entry(self.key(keys::TOTAL), &t)?;
        }
        m.end()
    }
}

impl Serialize for Styled<'_, [Connection<'_>]> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.v.iter().map(|c| self.with(c)))
    }
}

impl Serialize for Styled<'_, Connection<'_>> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.v;
        let n = count(&[true, v.local_port.is_some(), v.local_interface.is_some()]);
        let mut m = s.serialize_map(Some(n))?;
        m.serialize_entry(self.key(keys::REMOTE_ADDR), &DisplayStr(&v.remote_addr))?;
        if let Some(p) = v.local_port {
            m.serialize_entry(self.key(keys::LOCAL_PORT), &p)?;
        }
        if let Some(i) = v.local_interface {
            m.serialize_entry(self.key(keys::LOCAL_INTERFACE), i)?;
        }
        m.end()
    }
}

impl Serialize for Styled<'_, [CustomMetric<'_>]> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.v.len()))?;
        for c in self.v {
            // Each value is wrapped in a one-element list, as AWS requires.
            m.serialize_entry(c.name, &[CustomValueDoc(c.value)])?;
        }
        m.end()
    }
}

struct CustomValueDoc<'a>(CustomValue<'a>);

impl Serialize for CustomValueDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self.0 {
            CustomValue::Number(n) => m.serialize_entry(keys::NUMBER, &Num(n))?,
            CustomValue::NumberList(ns) => m.serialize_entry(keys::NUMBER_LIST, &NumList(ns))?,
            CustomValue::StringList(ss) => m.serialize_entry(keys::STRING_LIST, ss)?,
            CustomValue::IpList(ips) => m.serialize_entry(keys::IP_LIST, &IpList(ips))?,
        }
        m.end()
    }
}

/// A number written as an integer when it is one (shorter, and what AWS's C SDK sends).
struct Num(f64);

/// Largest magnitude at which every integer is exactly representable as an f64.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        if super::INT_BITS {
            return match int_from_bits(n) {
                Some(i) => s.serialize_i64(i),
                None => s.serialize_f64(n),
            };
        }
        // `as` saturates, so the round trip holds only for integral values in range.
        let i = n as i64;
        if n.abs() <= EXACT_INT && i as f64 == n {
            s.serialize_i64(i)
        } else {
            s.serialize_f64(n)
        }
    }
}

struct NumList<'a>(&'a [f64]);

impl Serialize for NumList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|n| Num(*n)))
    }
}

struct IpList<'a>(&'a [IpAddr]);

impl Serialize for IpList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(DisplayStr))
    }
}

/// Serializes a short `Display` value as a string through a stack buffer (no heap).
struct DisplayStr<'a, T>(&'a T);

impl<T: core::fmt::Display + ManualAddr> Serialize for DisplayStr<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if super::MANUAL_IP {
            let mut out = super::ipfmt::Out::new();
            self.0.write_manual(&mut out);
            return s.serialize_str(out.as_str());
        }
        // `[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535` is 47 bytes: the longest address.
        let mut text = heapless::String::<48>::new();
        write!(text, "{}", self.0).map_err(|_| serde::ser::Error::custom("address too long"))?;
        s.serialize_str(&text)
    }
}

/// `Some(n as i64)` exactly when `n` is integral with `|n| <= 2^53` (what `Num` tests with
/// float operations), decided on the bits: no soft-float library calls on an FPU without f64.
pub fn int_from_bits(n: f64) -> Option<i64> {
    let bits = n.to_bits();
    let negative = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as i32 - 1023;
    let frac = bits & ((1u64 << 52) - 1);
    let magnitude = if bits << 1 == 0 {
        0
    } else if exp < 0 || exp > 53 || (exp == 53 && frac != 0) {
        return None;
    } else if exp == 53 {
        1u64 << 53
    } else {
        let shift = 52 - exp as u32;
        if frac & ((1u64 << shift) - 1) != 0 {
            return None;
        }
        (frac | 1u64 << 52) >> shift
    };
    let m = magnitude as i64;
    Some(if negative { -m } else { m })
}

/// Writes an address with `super::ipfmt` instead of `core::fmt`.
trait ManualAddr {
    fn write_manual(&self, out: &mut super::ipfmt::Out);
}

impl ManualAddr for IpAddr {
    fn write_manual(&self, out: &mut super::ipfmt::Out) {
        out.ip(*self);
    }
}

impl ManualAddr for RemoteAddr {
    fn write_manual(&self, out: &mut super::ipfmt::Out) {
        match self {
            RemoteAddr::Socket(sa) => out.socket(sa.ip(), sa.port()),
            RemoteAddr::Ip(ip) => out.ip(*ip),
        }
    }
}
