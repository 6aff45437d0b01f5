//! Against a real broker: the shared Mosquitto at 127.0.0.1:1883 and private ones.

use crate::common;

use std::time::Duration;

use common::*;
use fleetward_agent::config::{Config, Protocol};
use fleetward_agent::{Event, Reporter, RunOptions};
use fleetward_proto::answer::{ErrorCode, Status};
use fleetward_proto::decode::AwsMetric;

fn config(thing: &str, port: u16, protocol: Protocol) -> Config {
    let mut c = Config {
        thing_name: thing.to_owned(),
        interval_secs: 1,
        allow_short_interval: true,
        ..Config::default()
    };
    c.mqtt.host = "127.0.0.1".to_owned();
    c.mqtt.port = port;
    c.mqtt.tls = false;
    c.mqtt.protocol = protocol;
    c.mqtt.backoff_initial_secs = 1;
    c.mqtt.backoff_max_secs = 2;
    c
}

fn run_now() -> RunOptions {
    RunOptions {
        first_delay: Some(Duration::ZERO),
        once: false,
    }
}

async fn accepted_flow(protocol: Protocol, format: &str, keys: &str) {
    let mut resp = responder(SHARED_BROKER_PORT).await;
    let proc = FixtureProc::new();
    proc.set_counters(1_000, 2_000);
    let thing = unique_thing("ok");
    let mut cfg = config(&thing, SHARED_BROKER_PORT, protocol);
    cfg.format = toml::Value::String(format.into()).try_into().unwrap();
    cfg.keys = toml::Value::String(keys.into()).try_into().unwrap();
    let (h, mut events) = event_channel();
    let reporter = Reporter::start(&cfg, proc.sources(), run_now(), h).unwrap();

    // Subscribed before the first publish.
    let first = wait_for(&mut events, 20, "Ready or Published", |e| {
        matches!(e, Event::Ready | Event::Published { .. })
    })
    .await;
    assert_eq!(first, Event::Ready);

    // First report: no network_stats.
    let r1 = wait_for(&mut resp.seen, 20, "first report", |s| s.thing == thing).await;
    assert_eq!(r1.status, Status::Accepted);
    assert_eq!(r1.count(AwsMetric::AllBytesIn), None);
    assert_eq!(r1.count(AwsMetric::NumListeningTcpPorts), Some(1));
    assert_eq!(r1.count(AwsMetric::NumEstablishedTcpConnections), Some(1));
    let id1 = r1.report_id.unwrap();
    // Both the broker's PUBACK (the report is the new baseline) and the service's answer.
    let (mut published, mut accepted) = (false, false);
    while !(published && accepted) {
        match wait_for(&mut events, 20, "Published and Accepted", |_| true).await {
            Event::Published { report_id, .. } if report_id == id1 => published = true,
            Event::Accepted { report_id } => {
                assert_eq!(report_id, Some(id1));
                accepted = true;
            }
            Event::Rejected { .. } | Event::BuildFailure { .. } => panic!("unexpected"),
            _ => {}
        }
    }
    proc.set_counters(1_500, 2_300);
    let r = wait_for(&mut resp.seen, 20, "a report with the new traffic", |s| {
        s.thing == thing && s.count(AwsMetric::AllBytesIn) != Some(0)
    })
    .await;
    assert_eq!(r.count(AwsMetric::AllBytesIn), Some(500));
    assert_eq!(r.count(AwsMetric::AllBytesOut), Some(300));
    assert_eq!(r.count(AwsMetric::AllPacketsIn), Some(5));
    assert!(r.report_id.unwrap() > id1);
    // And no traffic since: deltas of zero, not the cumulative counters again.
    let r = wait_for(&mut resp.seen, 20, "a following report", |s| {
        s.thing == thing
    })
    .await;
    assert_eq!(r.count(AwsMetric::AllBytesIn), Some(0));
    reporter.stop().await.unwrap();
}

#[tokio::test]
async fn mqtt311_json_long_reports_are_accepted_with_deltas() {
    accepted_flow(Protocol::V311, "json", "long").await;
}

#[tokio::test]
async fn mqtt5_cbor_short_reports_are_accepted_with_deltas() {
    accepted_flow(Protocol::V5, "cbor", "short").await;
}

#[tokio::test]
async fn rejections_are_reported_with_code_and_message() {
    let _resp = responder(SHARED_BROKER_PORT).await;
    let proc = FixtureProc::new();
    let thing = unique_thing("reject");
    let cfg = config(&thing, SHARED_BROKER_PORT, Protocol::V311);
    let (h, mut events) = event_channel();
    let reporter = Reporter::start(&cfg, proc.sources(), run_now(), h).unwrap();
    let e = wait_for(&mut events, 20, "Rejected", |e| {
        matches!(e, Event::Rejected { .. })
    })
    .await;
    let Event::Rejected {
        report_id,
        code,
        message,
    } = &e
    else {
        unreachable!()
    };
    assert!(report_id.is_some());
    assert_eq!(*code, ErrorCode::Throttled);
    assert!(message.contains("300 s"), "{message}");
    assert!(e.to_string().contains("Throttled"), "{e}");
    reporter.stop().await.unwrap();
}

#[tokio::test]
async fn reconnects_after_broker_restart_and_the_next_report_covers_the_outage() {
    let mut broker = Mosquitto::start("");
    let mut resp = responder(broker.port).await;
    let proc = FixtureProc::new();
    proc.set_counters(10_000, 20_000);
    let thing = unique_thing("restart");
    let cfg = config(&thing, broker.port, Protocol::V311);
    let (h, mut events) = event_channel();
    let reporter = Reporter::start(&cfg, proc.sources(), run_now(), h).unwrap();

    // Baseline at 10_000/20_000 is acknowledged, then traffic before the outage.
    let r1 = wait_for(&mut resp.seen, 20, "first report", |s| s.thing == thing).await;
    wait_for(
        &mut events,
        20,
        "first Published",
        |e| matches!(e, Event::Published { report_id, .. } if Some(*report_id) == r1.report_id),
    )
    .await;
    proc.set_counters(11_000, 20_500);
    let r = wait_for(&mut resp.seen, 20, "pre-outage delta", |s| {
        s.thing == thing && s.count(AwsMetric::AllBytesIn) == Some(1_000)
    })
    .await;
    wait_for(
        &mut events,
        20,
        "its Published",
        |e| matches!(e, Event::Published { report_id, .. } if Some(*report_id) == r.report_id),
    )
    .await;

    // Outage: traffic happens while the broker is down.
    broker.stop();
    wait_for(&mut events, 20, "MqttFailure", |e| {
        matches!(e, Event::MqttFailure { .. })
    })
    .await;
    proc.set_counters(15_000, 21_000);
    wait_for(&mut events, 20, "a report skipped offline", |e| {
        matches!(e, Event::SkippedOffline)
    })
    .await;
    drop(resp);
    broker.restart();
    let mut resp = responder(broker.port).await;
    wait_for(&mut events, 30, "reconnect", |e| matches!(e, Event::Ready)).await;

    // The first report after the outage covers all of it: nothing lost, nothing twice.
    let r = wait_for(&mut resp.seen, 20, "post-outage report", |s| {
        s.thing == thing
    })
    .await;
    assert_eq!(r.count(AwsMetric::AllBytesIn), Some(4_000), "{r:?}");
    assert_eq!(r.count(AwsMetric::AllBytesOut), Some(500));
    assert_eq!(r.status, Status::Accepted);
    reporter.stop().await.unwrap();
}

#[tokio::test]
async fn stop_disconnects_promptly_even_while_the_broker_is_unreachable() {
    let port = free_port();
    let proc = FixtureProc::new();
    let cfg = config(&unique_thing("down"), port, Protocol::V311);
    let (h, mut events) = event_channel();
    let reporter = Reporter::start(&cfg, proc.sources(), run_now(), h).unwrap();
    let e = wait_for(&mut events, 20, "MqttFailure", |e| {
        matches!(e, Event::MqttFailure { .. })
    })
    .await;
    let Event::MqttFailure { retry_in, .. } = e else {
        unreachable!()
    };
    assert!(retry_in >= Duration::from_millis(500) && retry_in <= Duration::from_secs(2));
    tokio::time::timeout(Duration::from_secs(5), reporter.stop())
        .await
        .expect("stop hung")
        .unwrap();
}
