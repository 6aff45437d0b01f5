//! A crash never loses an acknowledged report: the server is killed with SIGKILL while devices
//! publish, and every report it answered ACCEPTED is in the store afterwards.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Device, Seen};
use fleetward::store::PageRequest;
use fleetward::store::prelude::*;
use fleetward_proto::Format;
use fleetward_proto::answer::{self, Status};
use fleetward_proto::decode::{AwsMetric, Metric, MetricValue};

const DEVICES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_accepted_report() {
    fleetward::server::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut creds = Vec::new();
    {
        let (store, _, _) = fleetward::server::open_data_dir(&data).await.unwrap();
        for i in 0..DEVICES {
            creds.push(common::provision(store.as_ref(), &data, &format!("crash-{i}")).await);
        }
    }

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
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fleetward serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: SocketAddr = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(a) = line.strip_prefix("MQTT (mutual TLS) listening on ") {
            break a.trim().parse().unwrap();
        }
    };

    // Each device reports as fast as answers come back; bytes_in carries the report id so
    // the stored datapoints say which reports made it.
    let accepted: Arc<Mutex<BTreeMap<String, Vec<u64>>>> = Arc::default();
    let mut tasks = Vec::new();
    for c in creds.clone() {
        let accepted = accepted.clone();
        tasks.push(tokio::spawn(async move {
            let mut d = Device::connect(addr, &c.thing, Some(&c), &c.ca).await;
            d.expect_connected().await;
            d.subscribe_answers(Format::Json).await;
            for id in 1u64.. {
                let topic = format!("$aws/things/{}/defender/metrics/json", c.thing);
                let body = format!(
                    r#"{{"header":{{"report_id":{id},"version":"1.0"}},"metrics":{{"network_stats":{{"bytes_in":{id},"bytes_out":0,"packets_in":0,"packets_out":0}}}}}}"#
                );
                if d.client.publish(topic, rumqttc::QoS::AtLeastOnce, false, body).await.is_err() {
                    return;
                }
                // Wait for this report's answer; the connection dies with the server.
                loop {
                    match d.seen.recv().await {
                        Some(Seen::Message(_, p)) => {
                            let a = answer::decode(&p, Format::Json).expect("answer");
                            if a.status == Status::Accepted {
                                accepted.lock().unwrap().entry(c.thing.clone()).or_default().push(a.report_id.unwrap());
                            }
                            break;
                        }
                        Some(Seen::Closed(_)) | Some(Seen::Refused(_)) | None => return,
                        Some(_) => continue,
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    child.kill().expect("SIGKILL"); // std's kill() sends SIGKILL on Unix
    child.wait().unwrap();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
    }

    let accepted = accepted.lock().unwrap().clone();
    let total: usize = accepted.values().map(Vec::len).sum();
    assert!(
        total > 20,
        "the load was too light to test anything ({total} accepted)"
    );
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
    eprintln!("{total} acknowledged reports all survived SIGKILL");
}
