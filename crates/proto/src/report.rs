//! The report a device sends, as borrowed values: what the encoder takes.
//!
//! Everything borrows from the caller, so a microcontroller can build a report on the stack
//! from its own tables and encode it without a heap.

use core::net::{IpAddr, SocketAddr};

/// The protocol version every known agent sends.
pub const VERSION_1_0: &str = "1.0";

/// A whole device report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report<'a> {
    /// `report_id`: 1..=2^63-1; epoch milliseconds is the usual choice.
    pub report_id: u64,
    /// `version`: `Major.Minor`, major 1. Use [`VERSION_1_0`].
    pub version: &'a str,
    /// The standard metrics, if any.
    pub metrics: Option<Metrics<'a>>,
    /// Custom metrics; empty means none are sent.
    pub custom_metrics: &'a [CustomMetric<'a>],
}

/// The `metrics` block: each part is optional.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Metrics<'a> {
    /// Listening TCP ports.
    pub listening_tcp_ports: Option<PortList<'a>>,
    /// Bound UDP ports.
    pub listening_udp_ports: Option<PortList<'a>>,
    /// Traffic deltas since the previous report.
    pub network_stats: Option<NetworkStats>,
    /// Established TCP connections.
    pub tcp_connections: Option<Connections<'a>>,
}

/// A list of listening ports with an optional true total (lists may be sampled).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PortList<'a> {
    /// The ports sent.
    pub ports: &'a [ListeningPort<'a>],
    /// The real count when `ports` was capped; `None` lets the service count the list.
    pub total: Option<u64>,
}

/// One listening port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListeningPort<'a> {
    /// 1..=65535.
    pub port: u16,
    /// The interface it is bound to; `None` for a wildcard bind.
    pub interface: Option<&'a str>,
}

/// Traffic counters: deltas since the previous report that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkStats {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
}

/// Established TCP connections with an optional true total.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Connections<'a> {
    /// The connections sent.
    pub connections: &'a [Connection<'a>],
    /// The real count when `connections` was capped.
    pub total: Option<u64>,
}

/// One established TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection<'a> {
    /// The peer: written `a.b.c.d:port`, `[v6]:port`, or a bare IP.
    pub remote_addr: RemoteAddr,
    /// The local port.
    pub local_port: Option<u16>,
    /// The local interface.
    pub local_interface: Option<&'a str>,
}

/// A connection's remote end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteAddr {
    /// An address with its port.
    Socket(SocketAddr),
    /// An address alone (some C agents send no port).
    Ip(IpAddr),
}

impl RemoteAddr {
    /// The IP part.
    pub fn ip(&self) -> IpAddr {
        match self {
            RemoteAddr::Socket(s) => s.ip(),
            RemoteAddr::Ip(ip) => *ip,
        }
    }
}

impl core::fmt::Display for RemoteAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            // SocketAddr's Display writes `[v6]:port` and drops v6 scope ids only when zero.
            RemoteAddr::Socket(s) => write!(f, "{}:{}", Bracketed(s.ip()), s.port()),
            RemoteAddr::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Writes an IPv6 address in brackets and an IPv4 address as is.
struct Bracketed(IpAddr);

impl core::fmt::Display for Bracketed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "[{v6}]"),
        }
    }
}

/// One custom metric: a registered name and its value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CustomMetric<'a> {
    /// `[a-zA-Z0-9:_-]{1,128}`, not starting with `aws:`.
    pub name: &'a str,
    /// The value, of the type the metric was registered with.
    pub value: CustomValue<'a>,
}

/// A custom metric value, one of AWS's four types.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CustomValue<'a> {
    /// `number`: one finite number.
    Number(f64),
    /// `number_list`.
    NumberList(&'a [f64]),
    /// `string_list`.
    StringList(&'a [&'a str]),
    /// `ip_list` (`ip-address-list` when registered).
    IpList(&'a [IpAddr]),
}

/// Whether `name` is a valid custom metric name: `[a-zA-Z0-9:_-]{1,128}`, not `aws:`-prefixed.
pub fn is_valid_custom_metric_name(name: &str) -> bool {
    crate::topic::is_valid_thing_name(name) && !name.starts_with("aws:")
}

/// Whether `version` is `Major.Minor` with major 1.
pub fn is_supported_version(version: &str) -> bool {
    version_parts(version).is_some_and(|(major, _)| major == 1)
}

/// Splits `Major.Minor` into its numbers; `None` unless both are non-empty digit runs.
pub(crate) fn version_parts(version: &str) -> Option<(u64, u64)> {
    let (major, minor) = version.split_once('.')?;
    Some((digits(major)?, digits(minor)?))
}

fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A version number too large for u64 is simply not version 1.
    Some(s.parse().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert!(is_supported_version("1.0"));
        assert!(is_supported_version("1.12"));
        assert!(is_supported_version("01.0"));
        for bad in [
            "1",
            "2.0",
            "1.",
            ".1",
            "1.0.0",
            "a.b",
            "1.0 ",
            "99999999999999999999999.0",
        ] {
            assert!(!is_supported_version(bad), "{bad}");
        }
    }

    #[test]
    fn custom_names() {
        assert!(is_valid_custom_metric_name("cpu_usage"));
        assert!(is_valid_custom_metric_name("a:b-c"));
        assert!(!is_valid_custom_metric_name("aws:cpu"));
        assert!(!is_valid_custom_metric_name("bad name!"));
        assert!(!is_valid_custom_metric_name(""));
    }
}
