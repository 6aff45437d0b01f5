//! Throughput of the protocol hot paths: the server's decode of a full report, and a device's
//! encode into a buffer. Run with `cargo bench -p fleetward-proto --features alloc`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fleetward_proto::decode::decode_report;
use fleetward_proto::report::{
    Connection, Connections, CustomMetric, CustomValue, ListeningPort, Metrics, NetworkStats,
    PortList, RemoteAddr, Report, VERSION_1_0,
};
use fleetward_proto::topic::{self, DEFAULT_PREFIX, Kind, Topic};
use fleetward_proto::{Format, KeyStyle, encode};

fn case_file(name: &str) -> Vec<u8> {
    let path = fleetward_testkit::shared_dir()
        .join("conformance/reports")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, format) in [
        ("accept-long-full.json", Format::Json),
        ("accept-short-full.json", Format::Json),
        ("accept-cbor-long.cbor", Format::Cbor),
        ("accept-custom-only.json", Format::Json),
    ] {
        let payload = case_file(name);
        assert!(
            decode_report(&payload, format, "thing-1").is_ok(),
            "{name} must be accepted"
        );
        g.bench_function(name, |b| {
            b.iter(|| decode_report(black_box(&payload), format, "thing-1"))
        });
    }
    let rejected = case_file("reject-camelcase-keys.json");
    g.bench_function("reject-camelcase-keys.json", |b| {
        b.iter(|| decode_report(black_box(&rejected), Format::Json, "thing-1"))
    });
    g.finish();
}

fn encode_bench(c: &mut Criterion) {
    let tcp = [
        ListeningPort {
            port: 22,
            interface: Some("eth0"),
        },
        ListeningPort {
            port: 8883,
            interface: Some("eth0"),
        },
    ];
    let udp = [ListeningPort {
        port: 5353,
        interface: Some("eth0"),
    }];
    let conns = [
        Connection {
            remote_addr: RemoteAddr::Socket("192.168.0.12:51000".parse().unwrap()),
            local_port: Some(8883),
            local_interface: Some("eth0"),
        },
        Connection {
            remote_addr: RemoteAddr::Socket("[2001:db8::7]:443".parse().unwrap()),
            local_port: Some(40000),
            local_interface: Some("eth0"),
        },
    ];
    let temps = [41.0, 42.5];
    let custom = [
        CustomMetric {
            name: "cpu_usage",
            value: CustomValue::Number(12.5),
        },
        CustomMetric {
            name: "temps",
            value: CustomValue::NumberList(&temps),
        },
    ];
    let report = Report {
        report_id: 1_700_000_000_000,
        version: VERSION_1_0,
        metrics: Some(Metrics {
            listening_tcp_ports: Some(PortList {
                ports: &tcp,
                total: Some(2),
            }),
            listening_udp_ports: Some(PortList {
                ports: &udp,
                total: Some(1),
            }),
            network_stats: Some(NetworkStats {
                bytes_in: 29152,
                bytes_out: 26098,
                packets_in: 175,
                packets_out: 171,
            }),
            tcp_connections: Some(Connections {
                connections: &conns,
                total: Some(2),
            }),
        }),
        custom_metrics: &custom,
    };
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(1));
    let mut buf = [0u8; 2048];
    for (label, format, style) in [
        ("full-json-long", Format::Json, KeyStyle::Long),
        ("full-json-short", Format::Json, KeyStyle::Short),
        ("full-cbor-short", Format::Cbor, KeyStyle::Short),
    ] {
        g.bench_function(label, |b| {
            b.iter(|| encode(black_box(&report), format, style, &mut buf))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("topic");
    g.throughput(Throughput::Elements(1));
    let t = Topic {
        format: Format::Json,
        kind: Kind::Publish,
    };
    let mut tbuf = [0u8; 256];
    g.bench_function("build", |b| {
        b.iter(|| topic::build(&mut tbuf, DEFAULT_PREFIX, black_box("thing-1"), t).map(str::len))
    });
    g.bench_function("parse", |b| {
        b.iter(|| {
            topic::parse(
                black_box("$aws/things/thing-1/defender/metrics/json/accepted"),
                DEFAULT_PREFIX,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, decode, encode_bench);
criterion_main!(benches);
