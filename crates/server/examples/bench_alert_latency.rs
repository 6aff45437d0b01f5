//! End-to-end alert latency: from a device publishing a violating report to the signed
//! webhook alert arriving at a receiver, at a fixed report rate.
//!
//! ```text
//! cargo run --release -p fleetward --example bench_alert_latency -- --rate 1000 --event-every 10
//! ```
//!
//! The server runs in-process with its defaults (SQLite in a temp dir, fsync on commit, the
//! persistent outbox) and one profile, "ports" (at most one listening TCP port; alarm and clear
//! after one datapoint), whose alert target is a webhook served by this program. Devices
//! publish on a fixed schedule (`--rate` reports/s in all); every `--event-every`-th report of
//! a device lists 2+k ports (k unique per device within a run window), which raises an alarm,
//! and the report after it lists one port, which clears it. Latency is measured from the
//! *scheduled* send time of the violating report to the arrival of its `in-alarm` alert,
//! matched by (thing, metric value), so a stalled pipeline cannot hide queueing
//! (coordinated omission). Devices use the plain dev listener to keep the load generator's
//! CPU small on the same cores as the server. Numbers go to docs/benchmarks.md, never into
//! test assertions.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use clap::Parser;
use fleetward_server::server::ServeConfig;
use fleetward_store::{AlertTargetKind, NewAlertTarget, NewSecurityProfile, Store};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde_json::{Value, json};

/// Command line.
#[derive(Parser, Debug, Clone)]
#[command(about = "Fleetward end-to-end alert latency benchmark")]
struct Args {
    /// Devices (one MQTT connection each).
    #[arg(long, default_value_t = 50)]
    devices: usize,
    /// Reports/s across all devices.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Every N-th report of a device violates (the next one clears): events are 2/N of reports.
    #[arg(long, default_value_t = 10)]
    event_every: u64,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Warm-up seconds, excluded.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Where the temporary data directory is created (not a tmpfs: fsync must cost).
    #[arg(long)]
    tmp_root: Option<PathBuf>,
}

/// Violating reports waiting for their alert: (thing, port count) → scheduled send time.
type Pending = Mutex<HashMap<(String, u64), (Instant, bool)>>;

#[derive(Default)]
struct Shared {
    pending: Pending,
    latencies: Mutex<Vec<u32>>,
    measuring: AtomicBool,
    sent: AtomicU64,
    violating_sent: AtomicU64,
    alerts: AtomicU64,
    unmatched: AtomicU64,
    late_sends: AtomicU64,
}

async fn hook(State(s): State<Arc<Shared>>, body: String) -> StatusCode {
    let now = Instant::now();
    s.alerts.fetch_add(1, Relaxed);
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    if v["violationEventType"] != "in-alarm" {
        return StatusCode::OK;
    }
    let thing = v["thingName"].as_str().unwrap_or_default().to_owned();
    let count = v["metricValue"]["count"].as_u64().unwrap_or_default();
    let found = s
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .remove(&(thing, count));
    match found {
        Some((at, measured)) => {
            if measured {
                let us = u32::try_from(now.duration_since(at).as_micros()).unwrap_or(u32::MAX);
                s.latencies
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(us);
            }
        }
        None => {
            s.unmatched.fetch_add(1, Relaxed);
        }
    }
    StatusCode::OK
}

fn report(report_id: u64, ports: u64) -> Vec<u8> {
    let list: Vec<String> = (0..ports)
        .map(|p| format!(r#"{{"port":{}}}"#, 1000 + p))
        .collect();
    format!(
        r#"{{"header":{{"report_id":{report_id},"version":"1.0"}},"metrics":{{"listening_tcp_ports":{{"ports":[{}],"total":{ports}}}}}}}"#,
        list.join(",")
    )
    .into_bytes()
}

async fn connect(addr: SocketAddr, thing: &str) -> AsyncClient {
    let mut opts = MqttOptions::new(thing, "127.0.0.1", addr.port());
    opts.set_keep_alive(Duration::from_secs(60));
    opts.set_inflight(1000);
    let (client, mut eventloop) = AsyncClient::new(opts, 1024);
    let mut net = eventloop.network_options();
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("connection error: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("CONNACK within 30 s")
        .expect("event loop alive");
    client
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    let shared = Arc::new(Shared::default());

    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = receiver.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(shared.clone());
    tokio::spawn(async move { axum::serve(receiver, app).await });

    let root = args.tmp_root.clone().unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(root).unwrap();
    let mut cfg = ServeConfig::new(dir.path());
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    cfg.mqtt_listen = vec![any];
    cfg.http_listen = any;
    cfg.dev_listen = Some(any);
    cfg.min_report_interval = Duration::ZERO;
    let running = fleetward_server::server::start(cfg)
        .await
        .expect("server starts");
    let store: Arc<dyn Store> = running.store.clone();
    store
        .create_alert_target(&NewAlertTarget {
            name: "bench-hook".into(),
            kind: AlertTargetKind::Webhook,
            url: Some(format!("http://{hook_addr}/hook")),
            secret: Some("bench-secret-0123456789".into()),
            topic: None,
        })
        .await
        .unwrap();
    store
        .create_security_profile(&NewSecurityProfile {
            name: "ports".into(),
            description: None,
            behaviors: json!([{
                "name": "few-ports",
                "metric": "aws:num-listening-tcp-ports",
                "criteria": {
                    "comparisonOperator": "less-than-equals",
                    "value": {"count": 1},
                    "consecutiveDatapointsToAlarm": 1,
                    "consecutiveDatapointsToClear": 1
                }
            }]),
            alert_targets: json!({"SNS": {
                "alertTargetArn": "arn:aws:sns:us-east-1:123456789012:bench-hook",
                "roleArn": "arn:aws:iam::123456789012:role/x"
            }}),
            additional_metrics: json!([]),
        })
        .await
        .unwrap();
    store
        .attach_security_profile("ports", "arn:aws:iot:us-east-1:000000000000:all/things")
        .await
        .unwrap();

    let dev_addr = running.dev_addr.expect("dev listener");
    let mut clients = Vec::new();
    for i in 0..args.devices {
        let thing = format!("lat-{i:04}");
        clients.push((thing.clone(), connect(dev_addr, &thing).await));
    }
    eprintln!(
        "{} devices connected; {} reports/s, 1 in {} violating, {} s warm-up + {} s measured",
        args.devices, args.rate, args.event_every, args.warmup, args.seconds
    );

    // One sender per device, each at rate/devices, phase-shifted so sends spread evenly.
    let per_device = args.rate as f64 / args.devices as f64;
    let period = Duration::from_secs_f64(1.0 / per_device);
    let start = Instant::now() + Duration::from_millis(200);
    let total = Duration::from_secs(args.warmup + args.seconds);
    let warm_until = start + Duration::from_secs(args.warmup);
    let mut tasks = Vec::new();
    for (i, (thing, client)) in clients.into_iter().enumerate() {
        let shared = shared.clone();
        let every = args.event_every.max(2);
        let offset = period.mul_f64(i as f64 / args.devices as f64);
        tasks.push(tokio::spawn(async move {
            let topic = format!("$aws/things/{thing}/defender/metrics/json");
            let mut seq: u64 = 0;
            let mut violations: u64 = 0;
            loop {
                let due = start + offset + period.mul_f64(seq as f64);
                if due >= start + total {
                    return;
                }
                tokio::time::sleep_until(due.into()).await;
                if Instant::now().duration_since(due) > Duration::from_millis(50) {
                    shared.late_sends.fetch_add(1, Relaxed);
                }
                seq += 1;
                let ports = if seq.is_multiple_of(every) {
                    violations += 1;
                    // Unique per device across 1000 consecutive violations.
                    let n = 2 + violations % 1000;
                    shared
                        .pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((thing.clone(), n), (due, due >= warm_until));
                    shared.violating_sent.fetch_add(1, Relaxed);
                    n
                } else {
                    1
                };
                if client
                    .publish(&topic, QoS::AtLeastOnce, false, report(seq, ports))
                    .await
                    .is_err()
                {
                    return;
                }
                shared.sent.fetch_add(1, Relaxed);
            }
        }));
    }
    shared.measuring.store(true, Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = start.elapsed();
    // Let the last alerts arrive.
    let drain = Instant::now();
    while drain.elapsed() < Duration::from_secs(10) {
        let left = shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut lat = shared
        .latencies
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    lat.sort_unstable();
    let missing = shared
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .len();
    let sent = shared.sent.load(Relaxed);
    println!(
        "RESULT devices={} rate={} achieved={:.0}/s violating_sent={} alerts_received={} measured={} missing={} unmatched={} late_sends={} p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms",
        args.devices,
        args.rate,
        sent as f64 / elapsed.as_secs_f64(),
        shared.violating_sent.load(Relaxed),
        shared.alerts.load(Relaxed),
        lat.len(),
        missing,
        shared.unmatched.load(Relaxed),
        shared.late_sends.load(Relaxed),
        percentile(&lat, 0.50),
        percentile(&lat, 0.90),
        percentile(&lat, 0.99),
        lat.last().map_or(f64::NAN, |v| f64::from(*v) / 1000.0),
    );
}
