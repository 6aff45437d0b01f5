//! Property tests: any report the encoder accepts, in either format and key style, decodes
//! back to the datapoints its values imply (computed here independently of the decoder).
#![cfg(feature = "alloc")]

use std::net::{IpAddr, SocketAddr};

use fleetward_proto::decode::{AwsMetric, Datapoint, Metric, MetricValue, decode_report};
use fleetward_proto::report::{
    Connection, Connections, CustomMetric, CustomValue, ListeningPort, Metrics, NetworkStats,
    PortList, RemoteAddr, Report, VERSION_1_0,
};
use fleetward_proto::{EncodeError, Format, KeyStyle, encode};
use proptest::prelude::*;

/// Owned values a borrowed [`Report`] can be built over.
#[derive(Debug, Clone)]
struct Model {
    report_id: u64,
    tcp: OwnedPorts,
    udp: OwnedPorts,
    stats: Option<[u64; 4]>,
    conns: OwnedConns,
    custom: Vec<(String, CustomModel)>,
}

#[derive(Debug, Clone)]
enum CustomModel {
    Number(f64),
    Numbers(Vec<f64>),
    Strings(Vec<String>),
    Ips(Vec<IpAddr>),
}

fn iface() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof!["eth[0-9]", "wlan0", "\\PC{0,12}"])
}

fn port_list() -> impl Strategy<Value = (Vec<(u16, Option<String>)>, Option<u64>)> {
    (
        prop::collection::vec((1u16..=65535, iface()), 0..20),
        prop::option::of(any::<u64>()),
    )
}

fn remote() -> impl Strategy<Value = RemoteAddr> {
    prop_oneof![
        any::<SocketAddr>().prop_map(RemoteAddr::Socket),
        any::<IpAddr>().prop_map(RemoteAddr::Ip),
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
    ]
}

fn custom() -> impl Strategy<Value = CustomModel> {
    prop_oneof![
        finite().prop_map(CustomModel::Number),
        prop::collection::vec(finite(), 0..8).prop_map(CustomModel::Numbers),
        prop::collection::vec("\\PC{0,16}", 0..8).prop_map(CustomModel::Strings),
        prop::collection::vec(any::<IpAddr>(), 0..8).prop_map(CustomModel::Ips),
    ]
}

fn model() -> impl Strategy<Value = Model> {
    (
        1u64..=i64::MAX as u64,
        prop::option::of(port_list()),
        prop::option::of(port_list()),
        prop::option::of(any::<[u64; 4]>()),
        prop::option::of((
            prop::collection::vec((remote(), prop::option::of(any::<u16>()), iface()), 0..20),
            prop::option::of(any::<u64>()),
        )),
        prop::collection::btree_map("[a-zA-Z0-9_:-]{1,24}", custom(), 0..6),
    )
        .prop_map(|(report_id, tcp, udp, stats, conns, custom)| Model {
            report_id,
            tcp,
            udp,
            stats,
            conns,
            custom: custom
                .into_iter()
                .filter(|(k, _)| !k.starts_with("aws:"))
                .collect(),
        })
        .prop_filter("a report needs some metric", |m| {
            m.tcp.is_some()
                || m.udp.is_some()
                || m.stats.is_some()
                || m.conns.is_some()
                || !m.custom.is_empty()
        })
}

/// The datapoints the protocol says `m` means, in the decoder's documented order.
fn expected(m: &Model) -> Vec<Datapoint> {
    let mut out = Vec::new();
    let mut push = |metric, value| {
        out.push(Datapoint {
            metric: Metric::Aws(metric),
            value,
        })
    };
    for (list, num, ports) in [
        (
            &m.tcp,
            AwsMetric::NumListeningTcpPorts,
            AwsMetric::ListeningTcpPorts,
        ),
        (
            &m.udp,
            AwsMetric::NumListeningUdpPorts,
            AwsMetric::ListeningUdpPorts,
        ),
    ] {
        if let Some((items, total)) = list {
            let mut p: Vec<u16> = items.iter().map(|(p, _)| *p).collect();
            p.sort_unstable();
            p.dedup();
            push(num, MetricValue::Count(total.unwrap_or(p.len() as u64)));
            push(ports, MetricValue::Ports(p));
        }
    }
    if let Some(s) = m.stats {
        let names = [
            AwsMetric::AllBytesIn,
            AwsMetric::AllBytesOut,
            AwsMetric::AllPacketsIn,
            AwsMetric::AllPacketsOut,
        ];
        for (n, v) in names.into_iter().zip(s) {
            push(n, MetricValue::Count(v));
        }
    }
    if let Some((items, total)) = &m.conns {
        push(
            AwsMetric::NumEstablishedTcpConnections,
            MetricValue::Count(total.unwrap_or(items.len() as u64)),
        );
        let mut ips: Vec<IpAddr> = items.iter().map(|(r, _, _)| r.ip()).collect();
        ips.sort_unstable();
        ips.dedup();
        push(AwsMetric::DestinationIpAddresses, MetricValue::Cidrs(ips));
    }
    for (name, v) in &m.custom {
        let value = match v {
            CustomModel::Number(n) => MetricValue::Number(*n),
            CustomModel::Numbers(n) => MetricValue::Numbers(n.clone()),
            CustomModel::Strings(s) => MetricValue::Strings(s.clone()),
            CustomModel::Ips(i) => MetricValue::Cidrs(i.clone()),
        };
        out.push(Datapoint {
            metric: Metric::Custom(name.clone()),
            value,
        });
    }
    out
}

type OwnedConns = Option<(Vec<(RemoteAddr, Option<u16>, Option<String>)>, Option<u64>)>;

type OwnedPorts = Option<(Vec<(u16, Option<String>)>, Option<u64>)>;

fn borrowed_ports(l: &OwnedPorts) -> Option<(Vec<ListeningPort<'_>>, Option<u64>)> {
    l.as_ref().map(|(items, total)| {
        let ports = items.iter().map(|(p, i)| ListeningPort {
            port: *p,
            interface: i.as_deref(),
        });
        (ports.collect(), *total)
    })
}

/// Builds the borrowed report over `m` and hands it to `f`.
fn with_report<T>(m: &Model, f: impl FnOnce(&Report<'_>) -> T) -> T {
    let tcp = borrowed_ports(&m.tcp);
    let udp = borrowed_ports(&m.udp);
    let conns = m.conns.as_ref().map(|(items, total)| {
        let c: Vec<Connection<'_>> = items
            .iter()
            .map(|(r, lp, li)| Connection {
                remote_addr: *r,
                local_port: *lp,
                local_interface: li.as_deref(),
            })
            .collect();
        (c, *total)
    });
    let strings: Vec<Vec<&str>> = m
        .custom
        .iter()
        .map(|(_, v)| match v {
            CustomModel::Strings(s) => s.iter().map(String::as_str).collect(),
            _ => Vec::new(),
        })
        .collect();
    let custom: Vec<CustomMetric<'_>> = m
        .custom
        .iter()
        .zip(&strings)
        .map(|((name, v), strs)| CustomMetric {
            name,
            value: match v {
                CustomModel::Number(n) => CustomValue::Number(*n),
                CustomModel::Numbers(n) => CustomValue::NumberList(n),
                CustomModel::Strings(_) => CustomValue::StringList(strs),
                CustomModel::Ips(i) => CustomValue::IpList(i),
            },
        })
        .collect();
    let any_metrics = m.tcp.is_some() || m.udp.is_some() || m.stats.is_some() || m.conns.is_some();
    let report = Report {
        report_id: m.report_id,
        version: VERSION_1_0,
        metrics: any_metrics.then(|| Metrics {
            listening_tcp_ports: tcp.as_ref().map(|(p, t)| PortList {
                ports: p,
                total: *t,
            }),
            listening_udp_ports: udp.as_ref().map(|(p, t)| PortList {
                ports: p,
                total: *t,
            }),
            network_stats: m.stats.map(|[bi, bo, pi, po]| NetworkStats {
                bytes_in: bi,
                bytes_out: bo,
                packets_in: pi,
                packets_out: po,
            }),
            tcp_connections: conns.as_ref().map(|(c, t)| Connections {
                connections: c,
                total: *t,
            }),
        }),
        custom_metrics: &custom,
    };
    f(&report)
}

const FORMATS: [Format; 2] = [Format::Json, Format::Cbor];
const STYLES: [KeyStyle; 2] = [KeyStyle::Long, KeyStyle::Short];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_gives_the_datapoints(m in model()) {
        let want = expected(&m);
        for format in FORMATS {
            for style in STYLES {
                let mut buf = vec![0u8; 64 * 1024];
                let n = with_report(&m, |r| encode(r, format, style, &mut buf)).expect("encodes");
                let got = decode_report(&buf[..n], format, "prop-thing")
                    .unwrap_or_else(|e| panic!("{format:?}/{style:?}: {e}\n{:?}", String::from_utf8_lossy(&buf[..n])));
                prop_assert_eq!(got.report_id, m.report_id);
                prop_assert_eq!(&got.datapoints, &want, "{:?}/{:?}", format, style);
            }
        }
    }

    #[test]
    fn short_buffers_are_refused_never_overrun(m in model(), cut in 0.0f64..1.0) {
        for format in FORMATS {
            let mut big = vec![0u8; 64 * 1024];
            let n = with_report(&m, |r| encode(r, format, KeyStyle::Short, &mut big)).expect("encodes");
            let short = ((n as f64) * cut) as usize;
            let mut small = vec![0u8; short];
            let r = with_report(&m, |r| encode(r, format, KeyStyle::Short, &mut small));
            prop_assert_eq!(r, Err(EncodeError::BufferTooSmall));
        }
    }
}

#[test]
fn encoder_refuses_what_the_service_would_reject() {
    use fleetward_proto::encode::InvalidField;
    let port0 = [ListeningPort {
        port: 0,
        interface: None,
    }];
    let nan = [CustomMetric {
        name: "x",
        value: CustomValue::Number(f64::NAN),
    }];
    let aws = [CustomMetric {
        name: "aws:x",
        value: CustomValue::Number(1.0),
    }];
    let base = Report {
        report_id: 1,
        version: VERSION_1_0,
        metrics: None,
        custom_metrics: &[],
    };
    let ports = Metrics {
        listening_tcp_ports: Some(PortList {
            ports: &port0,
            total: None,
        }),
        ..Metrics::default()
    };
    let cases = [
        (
            Report {
                custom_metrics: &aws,
                report_id: 0,
                ..base
            },
            InvalidField::ReportId,
        ),
        (
            Report {
                custom_metrics: &aws,
                version: "2.0",
                ..base
            },
            InvalidField::Version,
        ),
        (base, InvalidField::NoMetrics),
        (
            Report {
                metrics: Some(ports),
                ..base
            },
            InvalidField::Port,
        ),
        (
            Report {
                custom_metrics: &aws,
                ..base
            },
            InvalidField::CustomMetricName,
        ),
        (
            Report {
                custom_metrics: &nan,
                ..base
            },
            InvalidField::CustomNumber,
        ),
    ];
    for (r, want) in cases {
        let mut buf = [0u8; 512];
        assert_eq!(
            encode(&r, Format::Json, KeyStyle::Long, &mut buf),
            Err(EncodeError::Invalid(want))
        );
    }
}

#[test]
fn encodes_the_documented_example_byte_for_byte() {
    let ports = [ListeningPort {
        port: 22,
        interface: Some("eth0"),
    }];
    let conns = [Connection {
        remote_addr: RemoteAddr::Socket("10.0.0.5:51000".parse().unwrap()),
        local_port: Some(22),
        local_interface: Some("eth0"),
    }];
    let strings = ["eth0", "wlan0"];
    let custom = [
        CustomMetric {
            name: "battery",
            value: CustomValue::Number(87.0),
        },
        CustomMetric {
            name: "ifaces",
            value: CustomValue::StringList(&strings),
        },
    ];
    let r = Report {
        report_id: 1_700_000_000,
        version: VERSION_1_0,
        metrics: Some(Metrics {
            listening_tcp_ports: Some(PortList {
                ports: &ports,
                total: Some(1),
            }),
            listening_udp_ports: None,
            network_stats: Some(NetworkStats {
                bytes_in: 10,
                bytes_out: 20,
                packets_in: 1,
                packets_out: 2,
            }),
            tcp_connections: Some(Connections {
                connections: &conns,
                total: Some(1),
            }),
        }),
        custom_metrics: &custom,
    };
    let mut buf = [0u8; 512];
    let n = encode(&r, Format::Json, KeyStyle::Short, &mut buf).unwrap();
    assert_eq!(
        std::str::from_utf8(&buf[..n]).unwrap(),
        r#"{"hed":{"rid":1700000000,"v":"1.0"},"met":{"tp":{"pts":[{"pt":22,"if":"eth0"}],"t":1},"ns":{"bi":10,"bo":20,"pi":1,"po":2},"tc":{"ec":{"cs":[{"rad":"10.0.0.5:51000","lp":22,"li":"eth0"}],"t":1}}},"cmet":{"battery":[{"number":87}],"ifaces":[{"string_list":["eth0","wlan0"]}]}}"#
    );
}
