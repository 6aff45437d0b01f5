//! Collection against fixture proc roots: IPv6, thousands of sockets, garbage.

use crate::common::generate;

use std::sync::Arc;

use fleetward_agent::collect::ifaces::FixedInterfaces;
use fleetward_agent::collect::sockets::{self, Proto};
use fleetward_agent::collect::{CollectOptions, Collector, DirSource, netdev};
use fleetward_agent::report::{self, ReportSettings};
use fleetward_proto::decode::decode_report;
use fleetward_proto::{Format, KeyStyle};

fn collector(dir: &std::path::Path) -> Collector {
    Collector::new(
        Arc::new(DirSource::new(dir)),
        Arc::new(FixedInterfaces(vec![
            ("10.0.0.5".parse().unwrap(), "eth0".to_owned()),
            ("127.0.0.1".parse().unwrap(), "lo".to_owned()),
        ])),
        CollectOptions::default(),
    )
}

#[test]
fn generated_rows_round_trip_through_the_parser() {
    let text = generate::table(&[
        (
            "[2001:db8::5]:22".parse().unwrap(),
            "[2001:db8::9]:51000".parse().unwrap(),
            1,
        ),
        (
            "[::ffff:10.0.0.5]:8080".parse().unwrap(),
            "[::]:0".parse().unwrap(),
            0x0A,
        ),
        (
            "[fe80::1]:9".parse().unwrap(),
            "[::]:0".parse().unwrap(),
            0x0A,
        ),
    ]);
    let p = sockets::parse(Proto::Tcp, text.as_bytes());
    assert!(p.warnings.is_empty());
    assert_eq!(p.items[0].local, "[2001:db8::5]:22".parse().unwrap());
    assert_eq!(p.items[0].remote, "[2001:db8::9]:51000".parse().unwrap());
    assert_eq!(p.items[1].local, "[::ffff:10.0.0.5]:8080".parse().unwrap());
}

#[test]
fn ipv6_sockets_get_interfaces_from_if_inet6() {
    let dir = tempfile::tempdir().unwrap();
    generate::write_proc(dir.path(), 40);
    let snap = collector(dir.path()).collect_sync();
    let conns = snap.connections.unwrap();
    let v6 = conns
        .iter()
        .find(|c| c.remote.is_ipv6())
        .expect("an IPv6 connection");
    assert_eq!(v6.interface.as_deref(), Some("eth0"), "{v6:?}");
    assert!(v6.remote.to_string().starts_with("[2001:db8:1::"));
    let udp = snap.udp_ports.unwrap();
    let ports: Vec<u16> = udp.iter().map(|p| p.port).collect();
    assert_eq!(ports, [68, 123, 5353]);
    // Loopback is left out of the counters by default.
    let counters = snap.counters.unwrap();
    assert_eq!(counters.keys().collect::<Vec<_>>(), ["eth0"]);
}

#[test]
fn thousands_of_sockets() {
    let dir = tempfile::tempdir().unwrap();
    generate::write_proc(dir.path(), 5_000);
    let snap = collector(dir.path()).collect_sync();
    let listening = snap.tcp_ports.as_ref().unwrap();
    let conns = snap.connections.as_ref().unwrap();
    // 500 listening sockets on 500 distinct ports, half v4 and half v6 wildcard.
    assert_eq!(listening.len(), 500);
    assert!(listening.iter().all(|p| p.interface.is_none()));
    assert_eq!(conns.len(), 4_500);
    // A report caps the lists and keeps the totals; the service decoder agrees.
    let settings = ReportSettings {
        format: Format::Cbor,
        keys: KeyStyle::Short,
        max_list_len: 100,
    };
    let payload = report::build(&snap, None, 1, &settings).unwrap();
    let d = decode_report(&payload, Format::Cbor, "t").unwrap();
    assert!(
        d.datapoints
            .iter()
            .any(|p| format!("{p:?}").contains("Count(4500)"))
    );
}

#[test]
fn truncated_and_garbage_files_are_skipped_line_by_line() {
    let dir = tempfile::tempdir().unwrap();
    generate::write_proc(dir.path(), 20);
    let tcp = std::fs::read_to_string(dir.path().join("net/tcp")).unwrap();
    // Cut the last row in the middle, and add binary garbage.
    let cut = &tcp[..tcp.len() - 40];
    let mut bytes = cut.as_bytes().to_vec();
    bytes.extend_from_slice(b"\n\xff\xfe garbage \x00\x01\n   7: 0100007F:ZZZZ 00000000:0000 0A\n");
    std::fs::write(dir.path().join("net/tcp"), &bytes).unwrap();
    std::fs::write(
        dir.path().join("net/dev"),
        b"Inter-|\n face |\n  eth0: 1 2 3\n\xff\xff\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("net/if_inet6"), b"zz\n").unwrap();
    let p = sockets::parse(Proto::Tcp, &bytes);
    assert_eq!(p.items.len(), 9, "rows 0..=8 survive");
    assert_eq!(p.warnings.len(), 3, "{:?}", p.warnings);
    let snap = collector(dir.path()).collect_sync();
    assert!(snap.tcp_ports.is_some());
    assert_eq!(snap.counters.unwrap().len(), 0);
    assert_eq!(netdev::parse(b"\xff").warnings.len(), 1);
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic fuzz: every parser over slices of mangled real tables.
    let (tcp, tcp6) = generate::many_tcp(50);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    for text in [
        tcp,
        tcp6,
        generate::NET_DEV.to_owned(),
        generate::IF_INET6.to_owned(),
    ] {
        let base = text.into_bytes();
        for _ in 0..300 {
            let mut b = base.clone();
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                b[i] = (seed >> 32) as u8;
            }
            let cut = (seed as usize >> 8) % (b.len() + 1);
            let b = &b[..cut];
            let _ = sockets::parse(Proto::Tcp, b);
            let _ = sockets::parse(Proto::Udp, b);
            let _ = netdev::parse(b);
            let _ = fleetward_agent::collect::ifaces::parse_if_inet6(b);
        }
    }
}

#[test]
fn a_missing_table_leaves_its_metrics_out_instead_of_reporting_empty() {
    let dir = tempfile::tempdir().unwrap();
    generate::write_proc(dir.path(), 10);
    std::fs::remove_file(dir.path().join("net/tcp")).unwrap();
    std::fs::remove_file(dir.path().join("net/udp6")).unwrap();
    let snap = collector(dir.path()).collect_sync();
    assert_eq!(snap.tcp_ports, None);
    assert_eq!(snap.connections, None);
    // A missing IPv6 table only means IPv6 is off.
    assert_eq!(snap.udp_ports.unwrap().len(), 2);
}

#[tokio::test]
async fn a_custom_value_that_fails_its_type_is_left_out_and_the_rest_kept() {
    use fleetward_agent::collect::CustomValue;
    use fleetward_agent::collect::user::{MetricType, UserMetric, UserSource};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    generate::write_proc(dir.path(), 10);
    let cmd = |name: &str, out: &str, kind| UserMetric {
        name: name.to_owned(),
        kind,
        source: UserSource::Command {
            argv: vec!["/bin/echo".to_owned(), out.to_owned()],
            timeout: Duration::from_secs(5),
        },
    };
    let opts = CollectOptions {
        user: vec![
            cmd("good", "42", MetricType::Number),
            cmd("bad", "forty-two", MetricType::Number),
            cmd("peers", "10.0.0.1 2001:db8::1", MetricType::IpList),
        ],
        ..CollectOptions::default()
    };
    let mut c = Collector::new(
        Arc::new(DirSource::new(dir.path())),
        Arc::new(FixedInterfaces::default()),
        opts,
    );
    let snap = c.collect().await;
    let names: Vec<&str> = snap.custom.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["good", "peers"]);
    assert_eq!(snap.custom[0].value, CustomValue::Number(42.0));
    let settings = ReportSettings {
        format: Format::Json,
        keys: KeyStyle::Long,
        max_list_len: 10,
    };
    let payload = report::build(&snap, None, 9, &settings).unwrap();
    decode_report(&payload, Format::Json, "t").unwrap();
}
