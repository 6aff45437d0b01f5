//! Report encoder: a borrowed [`Report`] into a caller buffer, as JSON or CBOR, with long or
//! short keys, and no heap.
//!
//! One walk over the document ([`doc`]) drives one small writer that speaks both formats
//! ([`Out`]), so the two formats cannot drift apart. It is written for flash size on a
//! microcontroller (`docs/size.md`): no serde, no `core::fmt`, no float tables, no `f64`
//! arithmetic and no 64-bit division on 32-bit targets.

use core::convert::Infallible;

use minicbor::Encoder;
use minicbor::encode::Write;

use crate::ipfmt::{AddrText, hex_digit};
use crate::keys::{self, Key, KeyStyle};
use crate::report::{
    CustomMetric, CustomValue, Metrics, PortList, RemoteAddr, Report, is_valid_custom_metric_name,
};
use crate::shortest::shortest;
use crate::topic::Format;

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
    let mut out = Out {
        buf,
        pos: 0,
        full: false,
        json: format == Format::Json,
        comma: false,
        style,
    };
    doc(&mut out, report);
    if out.full {
        Err(EncodeError::BufferTooSmall)
    } else {
        Ok(out.pos)
    }
}

fn check(r: &Report<'_>) -> Result<(), EncodeError> {
    let bad = |f| Err(EncodeError::Invalid(f));
    if r.report_id == 0 || r.report_id > i64::MAX as u64 {
        return bad(InvalidField::ReportId);
    }
    if !is_version_1(r.version) {
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

/// [`crate::report::is_supported_version`] without parsing the numbers: the major is 1 exactly
/// when its digits are `1` after leading zeros. (`str::parse::<u64>` costs ~200 bytes of flash.)
fn is_version_1(version: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match version.split_once('.') {
        Some((major, minor)) => {
            digits(major) && digits(minor) && major.trim_start_matches('0') == "1"
        }
        None => false,
    }
}

/// Defines [`K`], one variant per report key, and [`KEY_LIST`], the keys in the same order.
macro_rules! key_table {
    ($($name:ident = $key:path,)*) => {
        /// A report key, as an index into the packed key table.
        #[derive(Clone, Copy)]
        #[repr(u8)]
        enum K {
            $($name,)*
        }

        /// The keys of [`K`], in its order.
        const KEY_LIST: &[Key] = &[$($key,)*];

        /// Every [`K`], in order (for the tests).
        #[cfg(test)]
        const KEYS_BY_INDEX: &[K] = &[$(K::$name,)*];
    };
}

key_table! {
    Header = keys::HEADER,
    ReportId = keys::REPORT_ID,
    Version = keys::VERSION,
    Metrics = keys::METRICS,
    CustomMetrics = keys::CUSTOM_METRICS,
    ListeningTcpPorts = keys::LISTENING_TCP_PORTS,
    ListeningUdpPorts = keys::LISTENING_UDP_PORTS,
    Ports = keys::PORTS,
    Port = keys::PORT,
    Interface = keys::INTERFACE,
    Total = keys::TOTAL,
    NetworkStats = keys::NETWORK_STATS,
    BytesIn = keys::BYTES_IN,
    BytesOut = keys::BYTES_OUT,
    PacketsIn = keys::PACKETS_IN,
    PacketsOut = keys::PACKETS_OUT,
    TcpConnections = keys::TCP_CONNECTIONS,
    EstablishedConnections = keys::ESTABLISHED_CONNECTIONS,
    Connections = keys::CONNECTIONS,
    RemoteAddr = keys::REMOTE_ADDR,
    LocalPort = keys::LOCAL_PORT,
    LocalInterface = keys::LOCAL_INTERFACE,
}

/// Every spelling of [`KEY_LIST`] back to back (long, short, long, short, …), built at compile
/// time from `keys.rs`. On a Cortex-M this and [`KEY_AT`] take about 400 bytes where the
/// `Key` structs with their `&str`s took about 660.
static KEY_TEXT: [u8; key_text_len()] = key_text();
/// Where spelling `i` of [`KEY_TEXT`] starts (`2 * key + style`); one more for the end.
static KEY_AT: [u16; 2 * KEY_LIST.len() + 1] = key_at();

const fn spelling(i: usize) -> &'static [u8] {
    let k = KEY_LIST[i / 2];
    if i.is_multiple_of(2) {
        k.long.as_bytes()
    } else {
        k.short.as_bytes()
    }
}

const fn key_text_len() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < 2 * KEY_LIST.len() {
        n += spelling(i).len();
        i += 1;
    }
    n
}

const fn key_text() -> [u8; key_text_len()] {
    let mut out = [0; key_text_len()];
    let mut at = 0;
    let mut i = 0;
    while i < 2 * KEY_LIST.len() {
        let s = spelling(i);
        let mut j = 0;
        while j < s.len() {
            out[at] = s[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
}

const fn key_at() -> [u16; 2 * KEY_LIST.len() + 1] {
    let mut out = [0; 2 * KEY_LIST.len() + 1];
    let mut at = 0;
    let mut i = 0;
    while i < 2 * KEY_LIST.len() {
        at += spelling(i).len();
        // The table is a few hundred bytes; the build fails here if it ever outgrows u16.
        assert!(at <= u16::MAX as usize);
        out[i + 1] = at as u16;
        i += 1;
    }
    out
}

/// What [`Out::open`] and [`Out::close`] delimit.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    Map,
    Array,
}
use Container::{Array, Map};

/// The output: a cursor over the caller's buffer that writes JSON or CBOR.
///
/// A write past the end sets `full` and is dropped, so the walk needs no error paths; the
/// caller checks `full` once at the end.
struct Out<'b> {
    buf: &'b mut [u8],
    pos: usize,
    full: bool,
    json: bool,
    /// JSON: the next item needs a `,` before it.
    comma: bool,
    style: KeyStyle,
}

/// CBOR goes through [`minicbor::Encoder`] onto the same buffer.
impl Write for Out<'_> {
    type Error = Infallible;

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), Infallible> {
        self.put_all(bytes);
        Ok(())
    }
}

impl Out<'_> {
    fn put(&mut self, b: u8) {
        match self.buf.get_mut(self.pos) {
            Some(slot) => {
                *slot = b;
                self.pos += 1;
            }
            None => self.full = true,
        }
    }

    fn put_all(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.put(b);
        }
    }

    /// JSON: the separator before an item (key, value or container), if one is due.
    fn item(&mut self) {
        if self.comma {
            self.put(b',');
        }
        self.comma = true;
    }

    /// CBOR: an encoder that writes into `self` (`minicbor` writes the item heads).
    ///
    /// Its methods return `Err` only when the writer fails, and writing to `Out` never fails:
    /// past the end of the buffer it sets `full` instead. So their results are dropped.
    fn cbor(&mut self) -> Encoder<&mut Self> {
        Encoder::new(self)
    }

    /// A map or array of `n` entries: `{`/`[`, or a CBOR head.
    fn open(&mut self, what: Container, n: usize) {
        if self.json {
            self.item();
            self.put(if what == Map { b'{' } else { b'[' });
            self.comma = false;
        } else {
            let n = n as u64; // usize is at most 64 bits
            match what {
                Map => {
                    let _ = self.cbor().map(n);
                }
                Array => {
                    let _ = self.cbor().array(n);
                }
            }
        }
    }

    /// The end of a map or array: `}`/`]`, nothing in CBOR (lengths are definite).
    fn close(&mut self, what: Container) {
        if self.json {
            self.put(if what == Map { b'}' } else { b']' });
            self.comma = true;
        }
    }

    /// A string value, escaped in JSON as RFC 8259 requires.
    fn text(&mut self, s: &[u8]) {
        if !self.json {
            // The head by minicbor; the bytes as they are (keys come from a byte table, and
            // `Encoder::str` would need a `&str`, i.e. a UTF-8 check, for the same bytes).
            let _ = self.cbor().str_len(s.len() as u64); // usize is at most 64 bits
            self.put_all(s);
            return;
        }
        self.item();
        self.put(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                self.put(b'\\');
                self.put(b);
            } else if b < 0x20 {
                self.put_all(b"\\u00");
                self.put(hex_digit(b >> 4));
                self.put(hex_digit(b));
            } else {
                self.put(b);
            }
        }
        self.put(b'"');
    }

    /// A map key.
    fn key(&mut self, k: &[u8]) {
        self.text(k);
        if self.json {
            self.put(b':');
            self.comma = false;
        }
    }

    /// A report key in the report's style.
    fn skey(&mut self, k: K) {
        let i = 2 * k as usize + usize::from(self.style == KeyStyle::Short);
        let at = |i| usize::from(KEY_AT.get(i).copied().unwrap_or_default());
        self.key(KEY_TEXT.get(at(i)..at(i + 1)).unwrap_or_default());
    }

    /// An address as a string.
    fn addr(&mut self, a: &AddrText) {
        self.text(a.as_bytes());
    }

    /// An unsigned integer.
    fn uint(&mut self, n: u64) {
        if self.json {
            self.item();
            self.decimal(n);
        } else {
            let _ = self.cbor().u64(n);
        }
    }

    /// Decimal digits of `n`.
    fn decimal(&mut self, mut n: u64) {
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        loop {
            let (q, d) = div10(n);
            at -= 1;
            if let Some(slot) = digits.get_mut(at) {
                *slot = b'0' + d;
            }
            n = q;
            if n == 0 {
                break;
            }
        }
        self.put_all(digits.get(at..).unwrap_or_default());
    }

    /// A custom metric number: an integer when it is one (shorter, and what AWS's C SDK
    /// sends), else the shortest decimal that reads back exactly (JSON) or the `f64` (CBOR).
    fn num(&mut self, x: f64) {
        match integer(x) {
            Some((neg, m)) if self.json => {
                self.item();
                if neg {
                    self.put(b'-');
                }
                self.decimal(m);
            }
            // `m <= 2^53`, so `-m` fits an `i64`; minicbor writes it as -1 - n.
            Some((true, m)) => {
                let _ = self.cbor().i64((m as i64).wrapping_neg());
            }
            Some((false, m)) => {
                let _ = self.cbor().u64(m);
            }
            None if self.json => {
                self.item();
                self.float(x);
            }
            // Always 0xfb and the 8 bytes: minicbor does not shrink floats.
            None => {
                let _ = self.cbor().f64(x);
            }
        }
    }

    /// JSON text of a finite, non-integral or large `x`: `12.5`, `0.001`, `1e300`, `-2.5e-8`.
    fn float(&mut self, x: f64) {
        if x.is_sign_negative() {
            self.put(b'-');
        }
        let mut d = [0u8; 17];
        let (n, k) = shortest(x, &mut d);
        let digits = d.get(..n).unwrap_or_default();
        // x = 0.d₁d₂…dₙ × 10^k
        if k > 0 && (k as usize) < n {
            // 12.5: the point falls inside the digits.
            let (int, frac) = digits.split_at_checked(k as usize).unwrap_or_default();
            self.put_all(int);
            self.put(b'.');
            self.put_all(frac);
        } else if k <= 0 && k > -5 {
            // 0.00125
            self.put_all(b"0.");
            for _ in k..0 {
                self.put(b'0');
            }
            self.put_all(digits);
        } else {
            // 1.25e-7, 1e300, 1.2345678901234567e20
            let (first, rest) = digits.split_first().unwrap_or((&b'0', &[]));
            self.put(*first);
            if !rest.is_empty() {
                self.put(b'.');
                self.put_all(rest);
            }
            self.put(b'e');
            let exp = k - 1;
            if exp < 0 {
                self.put(b'-');
            }
            self.decimal(u64::from(exp.unsigned_abs()));
        }
    }
}

/// `n / 10` and `n % 10`. On 32-bit targets without this, `u64` division is a ~900-byte
/// library routine; here it is three 32-bit divisions by a constant (multiplications).
#[cfg(not(target_pointer_width = "64"))]
fn div10(n: u64) -> (u64, u8) {
    let hi = (n >> 32) as u32; // the high half
    let lo = n as u32; // the low half
    let (q2, r) = (hi / 10, hi % 10);
    // Long division by 16-bit digits: each dividend is below 10 · 2^16.
    let t = (r << 16) | (lo >> 16);
    let (q1, r) = (t / 10, t % 10);
    let t = (r << 16) | (lo & 0xffff);
    let (q0, r) = (t / 10, t % 10);
    let q = (u64::from(q2) << 32) | (u64::from(q1) << 16) | u64::from(q0);
    (q, r as u8) // `r < 10`
}

/// `n / 10` and `n % 10` (a multiplication on 64-bit targets).
#[cfg(target_pointer_width = "64")]
fn div10(n: u64) -> (u64, u8) {
    (n / 10, (n % 10) as u8) // `n % 10 < 10`
}

/// Whether `x` is an integer of magnitude at most 2^53 (where every integer is exact), as
/// (negative, magnitude); -0 is 0. Read from the bits: on a Cortex-M4F `f64` compares and
/// conversions are soft-float library calls.
fn integer(x: f64) -> Option<(bool, u64)> {
    let bits = x.to_bits();
    let neg = bits >> 63 == 1;
    let exp = ((bits >> 52) & 0x7ff) as u32; // 11 bits
    let frac = bits & ((1 << 52) - 1);
    if exp == 0 && frac == 0 {
        return Some((false, 0));
    }
    // x = 1.frac × 2^(exp - 1023); subnormals and |x| < 1 are not integers.
    if exp < 1023 {
        return None;
    }
    let e = exp - 1023;
    let m = frac | (1 << 52);
    let magnitude = if e <= 52 {
        let drop = 52 - e;
        if m & ((1 << drop) - 1) != 0 {
            return None;
        }
        m >> drop
    } else if e == 53 && frac == 0 {
        1 << 53
    } else {
        return None;
    };
    Some((neg, magnitude))
}

/// The document, in the key order AWS documents: header, metrics, custom metrics.
fn doc(w: &mut Out<'_>, r: &Report<'_>) {
    let has_custom = !r.custom_metrics.is_empty();
    w.open(
        Map,
        1 + usize::from(r.metrics.is_some()) + usize::from(has_custom),
    );
    w.skey(K::Header);
    w.open(Map, 2);
    w.skey(K::ReportId);
    w.uint(r.report_id);
    w.skey(K::Version);
    w.text(r.version.as_bytes());
    w.close(Map);
    if let Some(m) = &r.metrics {
        w.skey(K::Metrics);
        metrics(w, m);
    }
    if has_custom {
        w.skey(K::CustomMetrics);
        custom(w, r.custom_metrics);
    }
    w.close(Map);
}

fn metrics(w: &mut Out<'_>, m: &Metrics<'_>) {
    let n = [
        m.listening_tcp_ports.is_some(),
        m.listening_udp_ports.is_some(),
        m.network_stats.is_some(),
        m.tcp_connections.is_some(),
    ];
    w.open(Map, n.iter().filter(|b| **b).count());
    let lists = [
        (K::ListeningTcpPorts, &m.listening_tcp_ports),
        (K::ListeningUdpPorts, &m.listening_udp_ports),
    ];
    for (key, list) in lists {
        if let Some(l) = list {
            w.skey(key);
            ports(w, l);
        }
    }
    if let Some(ns) = &m.network_stats {
        w.skey(K::NetworkStats);
        w.open(Map, 4);
        for (k, v) in [
            (K::BytesIn, ns.bytes_in),
            (K::BytesOut, ns.bytes_out),
            (K::PacketsIn, ns.packets_in),
            (K::PacketsOut, ns.packets_out),
        ] {
            w.skey(k);
            w.uint(v);
        }
        w.close(Map);
    }
    if let Some(c) = &m.tcp_connections {
        // AWS nests the list one level deeper: `{established_connections: {...}}`.
        w.skey(K::TcpConnections);
        w.open(Map, 1);
        w.skey(K::EstablishedConnections);
        w.open(Map, 1 + usize::from(c.total.is_some()));
        w.skey(K::Connections);
        w.open(Array, c.connections.len());
        for c in c.connections {
            let n =
                1 + usize::from(c.local_port.is_some()) + usize::from(c.local_interface.is_some());
            w.open(Map, n);
            w.skey(K::RemoteAddr);
            let mut a = AddrText::new();
            match &c.remote_addr {
                RemoteAddr::Socket(s) => a.socket(s),
                RemoteAddr::Ip(ip) => a.ip(ip),
            }
            w.addr(&a);
            if let Some(p) = c.local_port {
                w.skey(K::LocalPort);
                w.uint(u64::from(p));
            }
            if let Some(i) = c.local_interface {
                w.skey(K::LocalInterface);
                w.text(i.as_bytes());
            }
            w.close(Map);
        }
        w.close(Array);
        total(w, c.total);
        w.close(Map);
        w.close(Map);
    }
    w.close(Map);
}

fn ports(w: &mut Out<'_>, l: &PortList<'_>) {
    w.open(Map, 1 + usize::from(l.total.is_some()));
    w.skey(K::Ports);
    w.open(Array, l.ports.len());
    for p in l.ports {
        w.open(Map, 1 + usize::from(p.interface.is_some()));
        w.skey(K::Port);
        w.uint(u64::from(p.port));
        if let Some(i) = p.interface {
            w.skey(K::Interface);
            w.text(i.as_bytes());
        }
        w.close(Map);
    }
    w.close(Array);
    total(w, l.total);
    w.close(Map);
}

fn total(w: &mut Out<'_>, t: Option<u64>) {
    if let Some(t) = t {
        w.skey(K::Total);
        w.uint(t);
    }
}

fn custom(w: &mut Out<'_>, metrics: &[CustomMetric<'_>]) {
    w.open(Map, metrics.len());
    for c in metrics {
        w.key(c.name.as_bytes());
        // Each value is wrapped in a one-element list, as AWS requires.
        w.open(Array, 1);
        w.open(Map, 1);
        match c.value {
            CustomValue::Number(n) => {
                w.key(keys::NUMBER.as_bytes());
                w.num(n);
            }
            CustomValue::NumberList(ns) => {
                w.key(keys::NUMBER_LIST.as_bytes());
                w.open(Array, ns.len());
                for n in ns {
                    w.num(*n);
                }
                w.close(Array);
            }
            CustomValue::StringList(ss) => {
                w.key(keys::STRING_LIST.as_bytes());
                w.open(Array, ss.len());
                for s in ss {
                    w.text(s.as_bytes());
                }
                w.close(Array);
            }
            CustomValue::IpList(ips) => {
                w.key(keys::IP_LIST.as_bytes());
                w.open(Array, ips.len());
                for ip in ips {
                    let mut a = AddrText::new();
                    a.ip(ip);
                    w.addr(&a);
                }
                w.close(Array);
            }
        }
        w.close(Map);
        w.close(Array);
    }
    w.close(Map);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    use super::*;

    fn json_num(x: f64) -> String {
        let mut buf = [0u8; 64];
        let mut w = Out {
            buf: &mut buf,
            pos: 0,
            full: false,
            json: true,
            comma: false,
            style: KeyStyle::Long,
        };
        w.num(x);
        assert!(!w.full);
        let n = w.pos;
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    fn cbor_num(x: f64) -> Vec<u8> {
        let mut buf = [0u8; 16];
        let mut w = Out {
            buf: &mut buf,
            pos: 0,
            full: false,
            json: false,
            comma: false,
            style: KeyStyle::Long,
        };
        w.num(x);
        let n = w.pos;
        buf[..n].to_vec()
    }

    #[test]
    fn numbers_in_json() {
        for (x, text) in [
            (0.0, "0"),
            (-0.0, "0"),
            (87.0, "87"),
            (-3.0, "-3"),
            (12.5, "12.5"),
            (-0.125, "-0.125"),
            (0.001, "0.001"),
            (0.0001234, "0.0001234"),
            (0.00001, "0.00001"),
            (0.000001, "1e-6"),
            (1.5e-7, "1.5e-7"),
            (9007199254740992.0, "9007199254740992"),
            (-9007199254740992.0, "-9007199254740992"),
            (9007199254740994.0, "9.007199254740994e15"),
            (1e20, "1e20"),
            (1e23, "1e23"),
            (f64::MAX, "1.7976931348623157e308"),
            (5e-324, "5e-324"),
            (0.1 + 0.2, "0.30000000000000004"),
        ] {
            assert_eq!(json_num(x), text, "{x:e}");
            let back: f64 = serde_json::from_str(text).unwrap();
            assert!(back == x, "{x:e}");
        }
    }

    #[test]
    fn json_numbers_read_back_through_serde_json() {
        let mut s = 0x853C_49E6_748F_EA9Bu64;
        for i in 0..100_000u64 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let x = match i % 4 {
                0 => f64::from_bits(s),
                // Short decimals, like sensor readings.
                1 => (s % 2_000_001) as f64 / 1000.0 - 1000.0,
                2 => (s % 100_000) as f64 * 0.25,
                _ => f64::from_bits(s & 0xFFF0_0000_0000_0000),
            };
            if !x.is_finite() {
                continue;
            }
            let text = json_num(x);
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(
                back.to_bits(),
                if x == 0.0 { 0 } else { x.to_bits() },
                "{text}"
            );
            // Integers up to 2^53 are written as integers, everything else as ryu would.
            if x.fract() == 0.0 && x.abs() <= 9007199254740992.0 {
                assert_eq!(text, std::format!("{}", x as i64));
            } else {
                let back2: f64 = text.parse().unwrap();
                assert_eq!(back2.to_bits(), x.to_bits());
            }
        }
    }

    #[test]
    fn numbers_in_cbor() {
        assert_eq!(cbor_num(0.0), [0x00]);
        assert_eq!(cbor_num(-0.0), [0x00]);
        assert_eq!(cbor_num(23.0), [0x17]);
        assert_eq!(cbor_num(24.0), [0x18, 24]);
        assert_eq!(cbor_num(-1.0), [0x20]);
        assert_eq!(cbor_num(-500.0), [0x39, 0x01, 0xf3]);
        assert_eq!(cbor_num(65536.0), [0x1a, 0, 1, 0, 0]);
        assert_eq!(
            cbor_num(9007199254740992.0),
            [0x1b, 0, 0x20, 0, 0, 0, 0, 0, 0]
        );
        let mut want = std::vec![0xfb];
        want.extend_from_slice(&2.5f64.to_be_bytes());
        assert_eq!(cbor_num(2.5), want);
        for x in [0.5, -7.25, 9007199254740994.0, 1e300, -1e-300] {
            let got = cbor_num(x);
            assert_eq!(got[0], 0xfb);
            assert_eq!(f64::from_be_bytes(got[1..].try_into().unwrap()), x);
        }
    }

    #[test]
    fn integer_matches_the_float_test() {
        let mut s = 0x1234_5678_9ABC_DEF1u64;
        let check = |x: f64| {
            let want = (x.fract() == 0.0 && x.abs() <= 9007199254740992.0)
                .then(|| (x < 0.0, x.abs() as u64));
            assert_eq!(integer(x), want, "{x:e}");
        };
        for x in [
            0.5,
            1.0,
            -1.0,
            2f64.powi(52),
            2f64.powi(53),
            2f64.powi(53) + 2.0,
            1e300,
        ] {
            check(x);
            check(-x);
        }
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            check((s % 1_000_000) as f64 / 8.0);
            let x = f64::from_bits(s);
            if x.is_finite() {
                check(x);
            }
        }
    }

    #[test]
    fn decimal_digits_of_u64() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        for i in 0..100_000u32 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            for n in [s, s >> (i % 64), u64::from(i), u64::MAX - u64::from(i)] {
                let mut buf = [0u8; 24];
                let mut w = Out {
                    buf: &mut buf,
                    pos: 0,
                    full: false,
                    json: true,
                    comma: false,
                    style: KeyStyle::Long,
                };
                w.decimal(n);
                let len = w.pos;
                assert_eq!(
                    std::str::from_utf8(&buf[..len]).unwrap(),
                    std::format!("{n}")
                );
            }
        }
    }

    /// The 32-bit `div10` is compiled on 64-bit hosts too, to be tested here.
    #[test]
    fn div10_by_32_bit_parts() {
        fn div10_32(n: u64) -> (u64, u8) {
            let hi = (n >> 32) as u32;
            let lo = n as u32;
            let (q2, r) = (hi / 10, hi % 10);
            let t = (r << 16) | (lo >> 16);
            let (q1, r) = (t / 10, t % 10);
            let t = (r << 16) | (lo & 0xffff);
            let (q0, r) = (t / 10, t % 10);
            (
                (u64::from(q2) << 32) | (u64::from(q1) << 16) | u64::from(q0),
                r as u8,
            )
        }
        let mut s = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..200_000 {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            for n in [s, s >> 20, s >> 40, u64::MAX] {
                assert_eq!(div10_32(n), (n / 10, (n % 10) as u8));
            }
        }
    }

    #[test]
    fn version_check_agrees_with_report() {
        for v in [
            "1.0",
            "1.12",
            "01.0",
            "001.99",
            "1",
            "2.0",
            "1.",
            ".1",
            "1.0.0",
            "a.b",
            "1.0 ",
            "0.1",
            "10.0",
            "11.0",
            "",
            ".",
            "1..0",
            "+1.0",
            "1.-0",
            "0001.0001",
            "99999999999999999999999.0",
            "18446744073709551617.0",
            "00000000000000000000001.5",
        ] {
            assert_eq!(
                is_version_1(v),
                crate::report::is_supported_version(v),
                "{v:?}"
            );
        }
    }

    #[test]
    fn key_table_matches_keys_rs() {
        for (i, k) in KEY_LIST.iter().enumerate() {
            for (style, want) in [(KeyStyle::Long, k.long), (KeyStyle::Short, k.short)] {
                let mut buf = [0u8; 64];
                let mut w = Out {
                    buf: &mut buf,
                    pos: 0,
                    full: false,
                    json: false,
                    comma: false,
                    style,
                };
                w.skey(KEYS_BY_INDEX[i]);
                let n = w.pos;
                // CBOR text head (short strings) then the bytes.
                assert_eq!(&buf[1..n], want.as_bytes());
            }
        }
        assert_eq!(KEYS_BY_INDEX.len(), KEY_LIST.len());
    }

    #[test]
    fn strings_are_escaped_in_json() {
        let mut buf = [0u8; 64];
        let mut w = Out {
            buf: &mut buf,
            pos: 0,
            full: false,
            json: true,
            comma: false,
            style: KeyStyle::Long,
        };
        let s = "a\"b\\c\n\u{1}\u{1f}\u{7f}é";
        w.text(s.as_bytes());
        let n = w.pos;
        let text = std::str::from_utf8(&buf[..n]).unwrap();
        assert_eq!(text, "\"a\\\"b\\\\c\\u000a\\u0001\\u001f\u{7f}é\"");
        assert_eq!(serde_json::from_str::<String>(text).unwrap(), s);
    }
}
