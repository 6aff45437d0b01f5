//! Assembling a snapshot into the proto's borrowed [`Report`] and encoding it.
//!
//! Lists are capped at `max_list_len` and always carry `total`, the real count, so the
//! service's counts stay right when the list is cut. Cut lists keep the lowest ports and the
//! first connections in sorted order: the same entries every time, so a capped list does not
//! flap between reports and raise false alarms the way a random sample does.

use std::net::IpAddr;

use fleetward_proto::report::{
    Connection, Connections, CustomMetric, CustomValue as ProtoValue, ListeningPort, Metrics,
    NetworkStats, PortList, RemoteAddr, Report, VERSION_1_0,
};
use fleetward_proto::{EncodeError, Format, KeyStyle, MAX_PAYLOAD_LEN, encode};

use crate::collect::{CustomValue, PortEntry, Snapshot};

/// How reports are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportSettings {
    /// JSON or CBOR.
    pub format: Format,
    /// Long or short keys.
    pub keys: KeyStyle,
    /// Most entries in one list.
    pub max_list_len: usize,
}

/// Why a report could not be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// Every metric group is off or unreadable and no custom metric has a value.
    Empty,
    /// The encoder refused the report (it validates like the service).
    Encode(EncodeError),
    /// The encoded report is over the service's size limit.
    TooLarge {
        /// Its size in bytes.
        len: usize,
    },
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Empty => f.write_str(
                "nothing to report: every metric group is disabled or unreadable and no custom metric has a value",
            ),
            BuildError::Encode(e) => write!(f, "cannot encode the report: {e}"),
            BuildError::TooLarge { len } => write!(
                f,
                "the report is {len} bytes, over the service limit of {MAX_PAYLOAD_LEN}; lower max_list_len"
            ),
        }
    }
}

impl std::error::Error for BuildError {}

fn cap<T>(list: &[T], max: usize) -> &[T] {
    list.get(..max).unwrap_or(list)
}

fn total(n: usize) -> Option<u64> {
    Some(n as u64)
}

fn ports<'a>(list: &'a [PortEntry], max: usize) -> Vec<ListeningPort<'a>> {
    cap(list, max)
        .iter()
        .map(|p| ListeningPort {
            port: p.port,
            interface: p.interface.as_deref(),
        })
        .collect()
}

/// Encodes one report. `stats` is the delta computed by [`crate::deltas`]; `None` leaves
/// `network_stats` out (the first report).
pub fn build(
    snap: &Snapshot,
    stats: Option<NetworkStats>,
    report_id: u64,
    settings: &ReportSettings,
) -> Result<Vec<u8>, BuildError> {
    let max = settings.max_list_len;
    let tcp = snap.tcp_ports.as_deref().map(|l| (ports(l, max), l.len()));
    let udp = snap.udp_ports.as_deref().map(|l| (ports(l, max), l.len()));
    let conns = snap.connections.as_deref().map(|l| {
        let c: Vec<Connection<'_>> = cap(l, max)
            .iter()
            .map(|c| Connection {
                remote_addr: RemoteAddr::Socket(c.remote),
                local_port: Some(c.local_port),
                local_interface: c.interface.as_deref(),
            })
            .collect();
        (c, l.len())
    });
    let stats = stats.filter(|_| snap.counters.is_some());

    // Lists of strings for the proto's borrowed string_list.
    let strings: Vec<Vec<&str>> = snap
        .custom
        .iter()
        .map(|c| match &c.value {
            CustomValue::StringList(l) => l.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        })
        .collect();
    let custom: Vec<CustomMetric<'_>> = snap
        .custom
        .iter()
        .zip(&strings)
        .map(|(c, s)| CustomMetric {
            name: &c.name,
            value: match &c.value {
                CustomValue::Number(n) => ProtoValue::Number(*n),
                CustomValue::NumberList(l) => ProtoValue::NumberList(l),
                CustomValue::StringList(_) => ProtoValue::StringList(s),
                CustomValue::IpList(l) => ProtoValue::IpList(l as &[IpAddr]),
            },
        })
        .collect();

    let any_group = tcp.is_some() || udp.is_some() || conns.is_some() || stats.is_some();
    if !any_group && custom.is_empty() {
        return Err(BuildError::Empty);
    }
    let metrics = any_group.then(|| Metrics {
        listening_tcp_ports: tcp.as_ref().map(|(p, n)| PortList {
            ports: p,
            total: total(*n),
        }),
        listening_udp_ports: udp.as_ref().map(|(p, n)| PortList {
            ports: p,
            total: total(*n),
        }),
        network_stats: stats,
        tcp_connections: conns.as_ref().map(|(c, n)| Connections {
            connections: c,
            total: total(*n),
        }),
    });
    let report = Report {
        report_id,
        version: VERSION_1_0,
        metrics,
        custom_metrics: &custom,
    };

    let mut size = 1024;
    loop {
        let mut buf = vec![0u8; size];
        match encode(&report, settings.format, settings.keys, &mut buf) {
            Ok(n) if n > MAX_PAYLOAD_LEN => return Err(BuildError::TooLarge { len: n }),
            Ok(n) => {
                buf.truncate(n);
                return Ok(buf);
            }
            Err(EncodeError::BufferTooSmall) if size <= MAX_PAYLOAD_LEN => size *= 2,
            Err(EncodeError::BufferTooSmall) => return Err(BuildError::TooLarge { len: size }),
            Err(e) => return Err(BuildError::Encode(e)),
        }
    }
}

/// A report as indented JSON, for `--dry-run` (a CBOR report is shown through JSON).
pub fn pretty_json(json_payload: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(json_payload) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(json_payload).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{ConnEntry, CustomEntry};
    use fleetward_proto::decode::{AwsMetric, Metric, MetricValue, decode_report};

    fn settings(format: Format, keys: KeyStyle, max: usize) -> ReportSettings {
        ReportSettings {
            format,
            keys,
            max_list_len: max,
        }
    }

    fn snap() -> Snapshot {
        Snapshot {
            tcp_ports: Some(vec![
                PortEntry {
                    port: 22,
                    interface: None,
                },
                PortEntry {
                    port: 8080,
                    interface: Some("eth0".into()),
                },
                PortEntry {
                    port: 9000,
                    interface: None,
                },
            ]),
            udp_ports: Some(vec![PortEntry {
                port: 68,
                interface: None,
            }]),
            connections: Some(vec![
                ConnEntry {
                    remote: "1.2.3.4:443".parse().unwrap(),
                    local_port: 40000,
                    interface: Some("eth0".into()),
                },
                ConnEntry {
                    remote: "[2001:db8::2]:22".parse().unwrap(),
                    local_port: 22,
                    interface: None,
                },
            ]),
            counters: Some(Default::default()),
            custom: vec![
                CustomEntry {
                    name: "cpu_usage".into(),
                    value: CustomValue::Number(12.5),
                },
                CustomEntry {
                    name: "interfaces".into(),
                    value: CustomValue::StringList(vec!["eth0".into(), "wlan0".into()]),
                },
                CustomEntry {
                    name: "peers".into(),
                    value: CustomValue::IpList(vec!["10.0.0.1".parse().unwrap()]),
                },
                CustomEntry {
                    name: "temps".into(),
                    value: CustomValue::NumberList(vec![1.0, 2.5]),
                },
            ],
        }
    }

    fn value(dp: &[fleetward_proto::decode::Datapoint], m: AwsMetric) -> MetricValue {
        dp.iter()
            .find(|d| d.metric == Metric::Aws(m))
            .unwrap_or_else(|| panic!("no {m:?}"))
            .value
            .clone()
    }

    #[test]
    fn every_format_and_key_style_is_accepted_by_the_service_decoder() {
        let stats = NetworkStats {
            bytes_in: 1,
            bytes_out: 2,
            packets_in: 3,
            packets_out: 4,
        };
        for format in [Format::Json, Format::Cbor] {
            for keys in [KeyStyle::Long, KeyStyle::Short] {
                let payload =
                    build(&snap(), Some(stats), 77, &settings(format, keys, 100)).unwrap();
                let d = decode_report(&payload, format, "thing-1").unwrap();
                assert_eq!(d.report_id, 77);
                assert_eq!(d.datapoints.len(), 14, "{:?}", d.datapoints);
                assert_eq!(
                    value(&d.datapoints, AwsMetric::AllBytesOut),
                    MetricValue::Count(2)
                );
            }
        }
    }

    #[test]
    fn caps_lists_and_keeps_the_real_total() {
        let payload = build(&snap(), None, 5, &settings(Format::Json, KeyStyle::Long, 1)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let tp = &v["metrics"]["listening_tcp_ports"];
        assert_eq!(tp["ports"].as_array().unwrap().len(), 1);
        assert_eq!(tp["ports"][0]["port"], 22);
        assert_eq!(tp["total"], 3);
        let ec = &v["metrics"]["tcp_connections"]["established_connections"];
        assert_eq!(ec["connections"].as_array().unwrap().len(), 1);
        assert_eq!(ec["total"], 2);
        assert_eq!(ec["connections"][0]["remote_addr"], "1.2.3.4:443");
        assert!(v["metrics"].get("network_stats").is_none());
        let d = decode_report(&payload, Format::Json, "t").unwrap();
        assert_eq!(
            value(&d.datapoints, AwsMetric::NumListeningTcpPorts),
            MetricValue::Count(3)
        );
    }

    #[test]
    fn ipv6_peers_are_bracketed() {
        let payload = build(
            &snap(),
            None,
            5,
            &settings(Format::Json, KeyStyle::Long, 10),
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(
            v["metrics"]["tcp_connections"]["established_connections"]["connections"][1]["remote_addr"],
            "[2001:db8::2]:22"
        );
    }

    #[test]
    fn nothing_to_report_is_an_error_not_an_invalid_payload() {
        assert_eq!(
            build(
                &Snapshot::default(),
                None,
                1,
                &settings(Format::Json, KeyStyle::Long, 10)
            ),
            Err(BuildError::Empty)
        );
    }

    #[test]
    fn only_network_stats_on_the_first_report_is_still_valid() {
        let s = Snapshot {
            counters: Some(Default::default()),
            ..Snapshot::default()
        };
        // No stats yet: nothing to send.
        assert_eq!(
            build(&s, None, 1, &settings(Format::Json, KeyStyle::Long, 10)),
            Err(BuildError::Empty)
        );
        let p = build(
            &s,
            Some(NetworkStats::default()),
            2,
            &settings(Format::Cbor, KeyStyle::Short, 10),
        )
        .unwrap();
        decode_report(&p, Format::Cbor, "t").unwrap();
    }

    #[test]
    fn huge_lists_are_refused_before_the_service_does() {
        let many: Vec<ConnEntry> = (0..5000u32)
            .map(|i| ConnEntry {
                remote: format!("[2001:db8::{:x}]:{}", i, 1000 + (i % 60000))
                    .parse()
                    .unwrap(),
                local_port: 40000,
                interface: Some("a-long-interface-name".into()),
            })
            .collect();
        let s = Snapshot {
            connections: Some(many),
            ..Snapshot::default()
        };
        let err = build(&s, None, 1, &settings(Format::Json, KeyStyle::Long, 5000)).unwrap_err();
        assert!(matches!(err, BuildError::TooLarge { .. }), "{err}");
        assert!(err.to_string().contains("max_list_len"));
    }
}
