//! The protocol rules, applied to a parsed [`Value`] tree.
//!
//! Messages name the place with the keys exactly as the device sent them, so a short-key
//! report gets `met.up.pts[0].pt: …` and a long-key one `metrics.listening_udp_ports.…`.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

use super::datapoint::{AwsMetric, Datapoint, Metric, MetricValue};
use super::value::{Value, quote};
use super::{DecodedReport, Rejection};
use crate::answer::ErrorCode;
use crate::keys::{self, Key};
use crate::report::{is_valid_custom_metric_name, version_parts};
use crate::topic::is_valid_thing_name;

type R<T> = Result<T, Rejection>;

type Entries<'v> = [(Value<'v>, Value<'v>)];

/// A found field: the key as spelt in the report, and its (non-null) value.
type Field<'p, 'v> = Option<(&'p str, &'p Value<'v>)>;

/// One step of a path into the document.
#[derive(Clone, Copy)]
enum Seg<'p> {
    Key(&'p str),
    Index(usize),
}

/// Walk state: where we are, and the datapoints gathered so far.
struct Walk<'p> {
    path: Vec<Seg<'p>>,
    out: Vec<Datapoint>,
}

/// Validates a whole report.
pub(super) fn report(doc: &Value<'_>, thing: &str) -> R<DecodedReport> {
    let Value::Map(top) = doc else {
        return Err(Rejection::new(
            ErrorCode::Malformed,
            format!("the top level is {}, not a map", doc.describe()),
        ));
    };
    let report_id = header_presence(top)?;
    let mut w = Walk {
        path: Vec::with_capacity(8),
        out: Vec::with_capacity(12),
    };
    w.top(top, thing).map_err(|mut r| {
        r.report_id = report_id;
        r
    })?;
    match report_id {
        Some(report_id) => Ok(DecodedReport {
            report_id,
            datapoints: w.out,
        }),
        // `top` validated the header, so the id was read; this is unreachable in practice but
        // answered rather than trusted.
        None => Err(Rejection::new(
            ErrorCode::InvalidPayload,
            "header: report_id could not be read".into(),
        )),
    }
}

/// The `MissingHeader` checks, made before any `InvalidPayload` check as the spec orders them.
/// Returns the report id when it is already readable and valid.
fn header_presence(top: &Entries<'_>) -> R<Option<u64>> {
    let missing = |m: String| Err(Rejection::new(ErrorCode::MissingHeader, m));
    let header = top
        .iter()
        .find(|(k, v)| as_key(k).is_some_and(|k| keys::HEADER.is(k)) && !matches!(v, Value::Null));
    let Some((hk, hv)) = header else {
        return missing("the report has no header (header or hed)".into());
    };
    let Value::Map(h) = hv else {
        // Present but not a map: an InvalidPayload the full walk reports with its path.
        return Ok(None);
    };
    let hk = as_key(hk).unwrap_or("header");
    let short = hk == keys::HEADER.short;
    let find = |key: Key| {
        h.iter()
            .find(|(k, v)| as_key(k).is_some_and(|k| key.is(k)) && !matches!(v, Value::Null))
            .map(|(_, v)| v)
    };
    for key in [keys::REPORT_ID, keys::VERSION] {
        if find(key).is_none() {
            let name = if short { key.short } else { key.long };
            let other = if short { key.long } else { key.short };
            return missing(format!(
                "{hk}: {name} is missing (also accepted as {other})"
            ));
        }
    }
    Ok(find(keys::REPORT_ID).and_then(report_id_value))
}

fn report_id_value(v: &Value<'_>) -> Option<u64> {
    as_int(v)
        .filter(|i| (1..=i64::MAX as i128).contains(i))
        .map(|i| i as u64)
}

fn as_key<'p>(k: &'p Value<'_>) -> Option<&'p str> {
    match k {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

/// An integer, accepting integral floats (`10.0`) as the spec decides.
fn as_int(v: &Value<'_>) -> Option<i128> {
    match *v {
        Value::Int(i) => Some(i),
        Value::Float(f) if f.is_finite() && (f as i128) as f64 == f => Some(f as i128),
        _ => None,
    }
}

/// A finite number.
fn as_number(v: &Value<'_>) -> Option<f64> {
    match *v {
        Value::Int(i) => Some(i as f64),
        Value::Float(f) if f.is_finite() => Some(f),
        _ => None,
    }
}

impl<'p> Walk<'p> {
    fn err(&self, what: impl core::fmt::Display) -> Rejection {
        Rejection::new(
            ErrorCode::InvalidPayload,
            format!("{}: {what}", self.path()),
        )
    }

    fn path(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match *seg {
                Seg::Key(k) => {
                    let plain = !k.is_empty()
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'));
                    if plain {
                        if !s.is_empty() {
                            s.push('.');
                        }
                        s.push_str(k);
                    } else {
                        s.push('[');
                        s.push_str(&quote(k));
                        s.push(']');
                    }
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        if s.is_empty() {
            s.push_str("report");
        }
        s
    }

    /// Runs `f` one key deeper.
    fn at<T>(&mut self, key: &'p str, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        self.path.push(Seg::Key(key));
        let r = f(self);
        self.path.pop();
        r
    }

    fn at_index<T>(&mut self, i: usize, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        self.path.push(Seg::Index(i));
        let r = f(self);
        self.path.pop();
        r
    }

    fn map<'v>(&self, v: &'p Value<'v>) -> R<&'p Entries<'v>> {
        match v {
            Value::Map(m) => Ok(m),
            other => Err(self.err(format_args!("expected a map, got {}", other.describe()))),
        }
    }

    fn list<'v>(&self, v: &'p Value<'v>) -> R<&'p [Value<'v>]> {
        match v {
            Value::Array(a) => Ok(a),
            other => Err(self.err(format_args!("expected a list, got {}", other.describe()))),
        }
    }

    fn string(&self, v: &'p Value<'_>) -> R<&'p str> {
        match v {
            Value::Str(s) => Ok(s),
            other => Err(self.err(format_args!("expected a string, got {}", other.describe()))),
        }
    }

    fn int_in(&self, v: &Value<'_>, lo: i128, hi: i128, what: &str) -> R<i128> {
        match as_int(v) {
            Some(i) if (lo..=hi).contains(&i) => Ok(i),
            Some(i) => Err(self.err(format_args!("{i} is not {what}"))),
            None => Err(self.err(format_args!("expected {what}, got {}", v.describe()))),
        }
    }

    fn count(&self, v: &Value<'_>) -> R<u64> {
        self.int_in(v, 0, u64::MAX.into(), "a non-negative integer")
            .map(|i| i as u64)
    }

    /// Sorts a map's entries into the fields of `schema`, refusing unknown and repeated keys.
    /// `null` values come back as absent.
    fn fields<'v, const N: usize>(
        &self,
        map: &'p Entries<'v>,
        schema: [Key; N],
    ) -> R<[Field<'p, 'v>; N]> {
        let mut found: [Option<(&'p str, &'p Value<'v>)>; N] = [None; N];
        for (k, v) in map {
            let Some(k) = as_key(k) else {
                return Err(self.err(format_args!("map key {} is not a string", k.describe())));
            };
            let Some(i) = schema.iter().position(|key| key.is(k)) else {
                let known = schema.iter().flat_map(|key| [key.long, key.short]);
                let longs = schema.iter().map(|key| key.long);
                return Err(self.unknown_key(k, known, longs));
            };
            if let Some((first, _)) = found[i] {
                return Err(self.err(if first == k {
                    format!("{} appears twice", quote(k))
                } else {
                    format!(
                        "{} and {} are the same field given twice",
                        quote(first),
                        quote(k)
                    )
                }));
            }
            found[i] = Some((k, v));
        }
        Ok(found.map(|f| f.filter(|(_, v)| !matches!(v, Value::Null))))
    }

    /// An unknown key: suggests the closest known one, or lists the keys allowed here.
    fn unknown_key<'k>(
        &self,
        k: &str,
        known: impl Iterator<Item = &'k str>,
        listed: impl Iterator<Item = &'k str>,
    ) -> Rejection {
        let hint = match closest(k, known) {
            Some(c) => format!("; did you mean {}?", quote(c)),
            None => format!(
                "; expected one of {}",
                listed.collect::<Vec<_>>().join(", ")
            ),
        };
        self.err(format_args!("unknown key {}{hint}", quote(k)))
    }

    fn missing(&self, key: Key) -> Rejection {
        self.err(format_args!("{} ({}) is missing", key.long, key.short))
    }

    fn push(&mut self, metric: AwsMetric, value: MetricValue) {
        self.out.push(Datapoint {
            metric: Metric::Aws(metric),
            value,
        });
    }

    fn top(&mut self, top: &'p Entries<'_>, thing: &str) -> R<()> {
        let [header, metrics, custom] =
            self.fields(top, [keys::HEADER, keys::METRICS, keys::CUSTOM_METRICS])?;
        if let Some((k, v)) = header {
            self.at(k, |w| w.header(v))?;
        }
        if !is_valid_thing_name(thing) {
            return Err(Rejection::new(
                ErrorCode::InvalidPayload,
                format!(
                    "thing name {} is not 1-128 characters of [a-zA-Z0-9:_-]",
                    quote(thing)
                ),
            ));
        }
        if metrics.is_none() && custom.is_none() {
            return Err(self.err("has neither metrics (met) nor custom_metrics (cmet)"));
        }
        if let Some((k, v)) = metrics {
            self.at(k, |w| w.metrics(v))?;
        }
        if let Some((k, v)) = custom {
            self.at(k, |w| w.custom_metrics(v))?;
        }
        Ok(())
    }

    fn header(&mut self, v: &'p Value<'_>) -> R<()> {
        let m = self.map(v)?;
        let [id, version] = self.fields(m, [keys::REPORT_ID, keys::VERSION])?;
        // Presence was checked (MissingHeader) before the walk began.
        if let Some((k, v)) = id {
            self.at(k, |w| {
                w.int_in(
                    v,
                    1,
                    i64::MAX.into(),
                    "a report id (an integer from 1 to 2^63-1)",
                )
            })?;
        }
        if let Some((k, v)) = version {
            self.at(k, |w| {
                let s = w.string(v)?;
                match version_parts(s) {
                    Some((1, _)) => Ok(()),
                    Some((major, _)) => Err(w.err(format_args!(
                        "version {} has major version {major}; only 1 is supported",
                        quote(s)
                    ))),
                    None => Err(w.err(format_args!(
                        "{} is not a version of the form Major.Minor (e.g. '1.0')",
                        quote(s)
                    ))),
                }
            })?;
        }
        Ok(())
    }

    fn metrics(&mut self, v: &'p Value<'_>) -> R<()> {
        let m = self.map(v)?;
        let [tcp, udp, ns, tc] = self.fields(
            m,
            [
                keys::LISTENING_TCP_PORTS,
                keys::LISTENING_UDP_PORTS,
                keys::NETWORK_STATS,
                keys::TCP_CONNECTIONS,
            ],
        )?;
        if let Some((k, v)) = tcp {
            self.at(k, |w| {
                w.ports(
                    v,
                    AwsMetric::NumListeningTcpPorts,
                    AwsMetric::ListeningTcpPorts,
                )
            })?;
        }
        if let Some((k, v)) = udp {
            self.at(k, |w| {
                w.ports(
                    v,
                    AwsMetric::NumListeningUdpPorts,
                    AwsMetric::ListeningUdpPorts,
                )
            })?;
        }
        if let Some((k, v)) = ns {
            self.at(k, |w| w.network_stats(v))?;
        }
        if let Some((k, v)) = tc {
            self.at(k, |w| w.tcp_connections(v))?;
        }
        Ok(())
    }

    fn ports(&mut self, v: &'p Value<'_>, num: AwsMetric, list: AwsMetric) -> R<()> {
        let m = self.map(v)?;
        let [ports, total] = self.fields(m, [keys::PORTS, keys::TOTAL])?;
        let mut found = None;
        if let Some((k, v)) = ports {
            found = Some(self.at(k, |w| w.port_list(v))?);
        }
        let total = match total {
            Some((k, v)) => Some(self.at(k, |w| w.count(v))?),
            None => None,
        };
        if let Some(n) = total.or(found.as_ref().map(|p| p.len() as u64)) {
            self.push(num, MetricValue::Count(n));
        }
        if let Some(p) = found {
            self.push(list, MetricValue::Ports(p));
        }
        Ok(())
    }

    /// The distinct ports of a port list, sorted.
    fn port_list(&mut self, v: &'p Value<'_>) -> R<Vec<u16>> {
        let items = self.list(v)?;
        let mut ports = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let p = self.at_index(i, |w| {
                let m = w.map(item)?;
                let [port, iface] = w.fields(m, [keys::PORT, keys::INTERFACE])?;
                if let Some((k, v)) = iface {
                    w.at(k, |w| w.string(v))?;
                }
                match port {
                    Some((k, v)) => w.at(k, |w| w.int_in(v, 1, 65535, "a port (1-65535)")),
                    None => Err(w.missing(keys::PORT)),
                }
            })?;
            ports.push(p as u16);
        }
        ports.sort_unstable();
        ports.dedup();
        Ok(ports)
    }

    fn network_stats(&mut self, v: &'p Value<'_>) -> R<()> {
        let m = self.map(v)?;
        let fields = self.fields(
            m,
            [
                keys::BYTES_IN,
                keys::BYTES_OUT,
                keys::PACKETS_IN,
                keys::PACKETS_OUT,
            ],
        )?;
        let metrics = [
            AwsMetric::AllBytesIn,
            AwsMetric::AllBytesOut,
            AwsMetric::AllPacketsIn,
            AwsMetric::AllPacketsOut,
        ];
        for (field, metric) in fields.into_iter().zip(metrics) {
            if let Some((k, v)) = field {
                let n = self.at(k, |w| w.count(v))?;
                self.push(metric, MetricValue::Count(n));
            }
        }
        Ok(())
    }

    fn tcp_connections(&mut self, v: &'p Value<'_>) -> R<()> {
        let m = self.map(v)?;
        let [ec] = self.fields(m, [keys::ESTABLISHED_CONNECTIONS])?;
        let Some((k, v)) = ec else { return Ok(()) };
        self.at(k, |w| {
            let m = w.map(v)?;
            let [cs, total] = w.fields(m, [keys::CONNECTIONS, keys::TOTAL])?;
            let mut found = None;
            if let Some((k, v)) = cs {
                found = Some(w.at(k, |w| w.connections(v))?);
            }
            let total = match total {
                Some((k, v)) => Some(w.at(k, |w| w.count(v))?),
                None => None,
            };
            if let Some(n) = total.or(found.as_ref().map(|(n, _)| *n)) {
                w.push(
                    AwsMetric::NumEstablishedTcpConnections,
                    MetricValue::Count(n),
                );
            }
            if let Some((_, mut ips)) = found {
                ips.sort_unstable();
                ips.dedup();
                w.push(AwsMetric::DestinationIpAddresses, MetricValue::Cidrs(ips));
            }
            Ok(())
        })
    }

    /// The connection count and the remote IPs of a connection list.
    fn connections(&mut self, v: &'p Value<'_>) -> R<(u64, Vec<IpAddr>)> {
        let items = self.list(v)?;
        let mut ips = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let ip = self.at_index(i, |w| {
                let m = w.map(item)?;
                let [remote, lport, liface] = w.fields(
                    m,
                    [keys::REMOTE_ADDR, keys::LOCAL_PORT, keys::LOCAL_INTERFACE],
                )?;
                if let Some((k, v)) = lport {
                    w.at(k, |w| w.int_in(v, 0, 65535, "a port (0-65535)"))?;
                }
                if let Some((k, v)) = liface {
                    w.at(k, |w| w.string(v))?;
                }
                match remote {
                    Some((k, v)) => w.at(k, |w| {
                        let s = w.string(v)?;
                        remote_ip(s).ok_or_else(|| {
                            w.err(format_args!(
                                "{} is not an address (a.b.c.d:port, [v6]:port or a bare IP)",
                                quote(s)
                            ))
                        })
                    }),
                    None => Err(w.missing(keys::REMOTE_ADDR)),
                }
            })?;
            ips.push(ip);
        }
        Ok((items.len() as u64, ips))
    }

    fn custom_metrics(&mut self, v: &'p Value<'_>) -> R<()> {
        let m = self.map(v)?;
        let mut seen: Vec<&str> = Vec::with_capacity(m.len());
        for (k, v) in m {
            let Some(name) = as_key(k) else {
                return Err(self.err(format_args!("map key {} is not a string", k.describe())));
            };
            self.at(name, |w| {
                if name.starts_with("aws:") {
                    return Err(w.err(format_args!(
                        "custom metric name {} must not start with 'aws:'",
                        quote(name)
                    )));
                }
                if !is_valid_custom_metric_name(name) {
                    return Err(w.err(format_args!(
                        "custom metric name {} is not 1-128 characters of [a-zA-Z0-9:_-]",
                        quote(name)
                    )));
                }
                if seen.contains(&name) {
                    return Err(w.err("custom metric appears twice"));
                }
                seen.push(name);
                let value = w.custom_value(v)?;
                w.out.push(Datapoint {
                    metric: Metric::Custom(name.to_owned()),
                    value,
                });
                Ok(())
            })?;
        }
        Ok(())
    }

    fn custom_value(&mut self, v: &'p Value<'_>) -> R<MetricValue> {
        let wrapped = match v {
            Value::Array(a) if a.len() == 1 => &a[0],
            Value::Array(a) => {
                return Err(self.err(format_args!(
                    "expected a one-element list holding the value, got a list of {}",
                    a.len()
                )));
            }
            other => {
                return Err(self.err(format_args!(
                    "expected a one-element list holding the value (e.g. [{{\"number\": 5}}]), got {}",
                    other.describe()
                )));
            }
        };
        self.at_index(0, |w| {
            let m = w.map(wrapped)?;
            const TYPES: [&str; 4] = [keys::NUMBER, keys::NUMBER_LIST, keys::STRING_LIST, keys::IP_LIST];
            let [(k, v)] = m else {
                return Err(w.err(format_args!(
                    "expected exactly one of number, number_list, string_list, ip_list; got {} keys",
                    m.len()
                )));
            };
            let Some(k) = as_key(k).filter(|k| TYPES.contains(k)) else {
                return Err(w.unknown_key(
                    as_key(k).unwrap_or("?"),
                    TYPES.into_iter(),
                    TYPES.into_iter(),
                ));
            };
            w.at(k, |w| match k {
                keys::NUMBER => w.number(v).map(MetricValue::Number),
                keys::NUMBER_LIST => {
                    let items = w.list(v)?;
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        out.push(w.at_index(i, |w| w.number(item))?);
                    }
                    Ok(MetricValue::Numbers(out))
                }
                keys::STRING_LIST => {
                    let items = w.list(v)?;
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        out.push(w.at_index(i, |w| w.string(item))?.to_owned());
                    }
                    Ok(MetricValue::Strings(out))
                }
                _ => {
                    let items = w.list(v)?;
                    let mut out = Vec::with_capacity(items.len());
                    for (i, item) in items.iter().enumerate() {
                        out.push(w.at_index(i, |w| {
                            let s = w.string(item)?;
                            s.parse::<IpAddr>().map_err(|_| {
                                w.err(format_args!("{} is not an IP address", quote(s)))
                            })
                        })?);
                    }
                    Ok(MetricValue::Cidrs(out))
                }
            })
        })
    }

    fn number(&self, v: &Value<'_>) -> R<f64> {
        as_number(v).ok_or_else(|| {
            self.err(format_args!(
                "expected a finite number, got {}",
                v.describe()
            ))
        })
    }
}

/// The IP of `a.b.c.d:port`, `[v6]:port` or a bare IP.
fn remote_ip(s: &str) -> Option<IpAddr> {
    s.parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| s.parse::<IpAddr>())
        .ok()
}

/// The known key a mistyped `k` most likely meant.
///
/// Keys equal once case, `_` and `-` are ignored win outright (`listeningTcpPorts`); otherwise
/// the nearest by edit distance, if near enough to be a typo rather than a different word.
fn closest<'k>(k: &str, known: impl Iterator<Item = &'k str>) -> Option<&'k str> {
    let norm = |s: &str| -> Vec<u8> {
        s.bytes()
            .filter(|b| !matches!(b, b'_' | b'-'))
            .map(|b| b.to_ascii_lowercase())
            .collect()
    };
    let nk = norm(k);
    let mut best: Option<(usize, &'k str)> = None;
    for cand in known {
        let d = if norm(cand) == nk {
            0
        } else {
            levenshtein(&nk, &norm(cand))
        };
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    let limit = (nk.len() / 3).max(1);
    best.filter(|(d, _)| *d <= limit).map(|(_, c)| c)
}

fn levenshtein(a: &[u8], b: &[u8]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = alloc::vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        core::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_keys() {
        let known = ["listening_tcp_ports", "tp", "network_stats", "ns"];
        assert_eq!(
            closest("listeningTcpPorts", known.into_iter()),
            Some("listening_tcp_ports")
        );
        assert_eq!(
            closest("network_stat", known.into_iter()),
            Some("network_stats")
        );
        assert_eq!(closest("temperature", known.into_iter()), None);
    }

    #[test]
    fn remote_addresses() {
        assert_eq!(remote_ip("10.0.0.1:80"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(
            remote_ip("[2001:db8::7]:443"),
            Some("2001:db8::7".parse().unwrap())
        );
        assert_eq!(
            remote_ip("2001:db8::7"),
            Some("2001:db8::7".parse().unwrap())
        );
        assert_eq!(
            remote_ip("203.0.113.9"),
            Some("203.0.113.9".parse().unwrap())
        );
        assert_eq!(remote_ip("not-an-ip:80"), None);
        assert_eq!(remote_ip("10.0.0.1:99999"), None);
    }
}
