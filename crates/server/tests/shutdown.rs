//! A clean stop: SIGTERM while 50 devices publish makes `fleetward serve` exit 0 within its
//! stop budget, every report it answered ACCEPTED is stored, the store is left closed (its WAL
//! checkpointed), and the next start on the same data directory serves again.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Device, Seen};
use fleetward::store::PageRequest;
use fleetward::store::prelude::*;
use fleetward_proto::Format;
use fleetward_proto::answer::{self, Status};
use fleetward_proto::decode::{AwsMetric, Metric, MetricValue};

const DEVICES: usize = 50;

fn serve(data: &std::path::Path) -> (Child, Lines<BufReader<ChildStdout>>, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args([
            "serve",
            "--mqtt-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
            "--min-report-interval",
            "0",
        ])
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start fleetward serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve printed its address")
            .expect("line");
        if let Some(a) = line.strip_prefix("MQTT (mutual TLS) listening on ") {
            break a.trim().parse().expect("address");
        }
    };
    (child, lines, addr)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
}

/// Waits for the child to exit, up to `limit`; kills it and fails if it does not.
fn wait_exit(child: &mut Child, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status, start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("fleetward serve did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_and_keeps_every_accepted_report() {
    fleetward::server::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut creds = Vec::new();
    {
        let (store, _, _) = fleetward::server::open_data_dir(&data).await.unwrap();
        for i in 0..DEVICES {
            creds.push(common::provision(store.as_ref(), &data, &format!("term-{i:02}")).await);
        }
        store.close().await;
    }

    let (mut child, mut lines, addr) = serve(&data);
    // Each device reports as fast as answers come back; bytes_in carries the report id so
    // the stored datapoints say which reports made it.
    let accepted: Arc<Mutex<BTreeMap<String, Vec<u64>>>> = Arc::default();
    let total = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for c in creds.clone() {
        let (accepted, total) = (accepted.clone(), total.clone());
        tasks.push(tokio::spawn(async move {
            let mut d = Device::connect(addr, &c.thing, Some(&c), &c.ca).await;
            d.expect_connected().await;
            d.subscribe_answers(Format::Json).await;
            for id in 1u64.. {
                let topic = format!("$aws/things/{}/defender/metrics/json", c.thing);
                let body = format!(
                    r#"{{"header":{{"report_id":{id},"version":"1.0"}},"metrics":{{"network_stats":{{"bytes_in":{id},"bytes_out":0,"packets_in":0,"packets_out":0}}}}}}"#
                );
                if d.client
                    .publish(topic, rumqttc::QoS::AtLeastOnce, false, body)
                    .await
                    .is_err()
                {
                    return;
                }
                loop {
                    match d.seen.recv().await {
                        Some(Seen::Message(_, p)) => {
                            let a = answer::decode(&p, Format::Json).expect("answer");
                            if a.status == Status::Accepted {
                                accepted
                                    .lock()
                                    .unwrap()
                                    .entry(c.thing.clone())
                                    .or_default()
                                    .push(a.report_id.unwrap());
                                total.fetch_add(1, Ordering::SeqCst);
                            }
                            break;
                        }
                        Some(Seen::Closed(_) | Seen::Refused(_)) | None => return,
                        Some(_) => continue,
                    }
                }
            }
        }));
    }

    // Stop only once the fleet is really publishing: a few reports from most devices.
    let deadline = Instant::now() + Duration::from_secs(60);
    while total.load(Ordering::SeqCst) < 4 * DEVICES {
        assert!(Instant::now() < deadline, "the fleet never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sigterm(&child);
    // The server's stop budget is 10 s (`server::STOP_WITHIN`); 5 s more for a loaded machine
    // to tear the process down.
    let (status, took) = wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?} after SIGTERM");
    let said: Vec<String> = lines.by_ref().map_while(Result::ok).collect();
    assert!(
        said.iter().any(|l| l == "stopped cleanly"),
        "serve did not report a clean stop: {said:?}"
    );
    eprintln!("SIGTERM → exit 0 in {took:?}");
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
    }

    // The store was closed: SQLite checkpointed and removed its write-ahead log.
    let wal = data.join("fleetward.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the store was not closed: {} is left with {} bytes",
        wal.display(),
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
    );

    let accepted = accepted.lock().unwrap().clone();
    let answered: usize = accepted.values().map(Vec::len).sum();
    assert!(answered >= 4 * DEVICES, "only {answered} accepted");
    let (store, _, _) = fleetward::server::open_data_dir(&data).await.unwrap();
    for (thing, ids) in &accepted {
        let mut stored = Vec::new();
        let mut token = None;
        loop {
            let page = store
                .metric_values(
                    thing,
                    &Metric::Aws(AwsMetric::AllBytesIn),
                    0,
                    i64::MAX,
                    &PageRequest {
                        next_token: token,
                        max_results: Some(250),
                    },
                )
                .await
                .unwrap();
            stored.extend(page.items.into_iter().filter_map(|d| match d.value {
                MetricValue::Count(n) => Some(n),
                _ => None,
            }));
            match page.next_token {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        for id in ids {
            assert!(
                stored.contains(id),
                "{thing}: report {id} was answered ACCEPTED but is not stored"
            );
        }
    }
    store.close().await;
    eprintln!("{answered} acknowledged reports all stored after SIGTERM");

    // The next start finds a store it can serve from, and stops cleanly again.
    let (mut again, _lines, _) = serve(&data);
    sigterm(&again);
    let (status, _) = wait_exit(&mut again, Duration::from_secs(15));
    assert!(status.success(), "restart: exit status {status:?}");
}
