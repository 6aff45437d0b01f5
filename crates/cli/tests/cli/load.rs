//! A `fleetward serve` child process, and a fleet that publishes to it as fast as answers come
//! back, remembering which reports were answered ACCEPTED so a test can check every one of
//! them is stored after the server was stopped or killed.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Lines};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fleetward_proto::Format;
use fleetward_proto::answer::{self, Status};
use fleetward_proto::decode::{AwsMetric, Metric, MetricValue};
use fleetward_store::{PageRequest, Store};
use fleetward_testkit::server::{Device, DeviceCreds, Seen};

/// Starts `fleetward serve` on ephemeral ports over `data` and waits for its MQTT address
/// (printed once the stop signals are installed and every listener is bound).
pub fn serve(data: &Path) -> (Child, Lines<BufReader<ChildStdout>>, SocketAddr) {
    serve_on(data, "127.0.0.1:0")
}

/// [`serve`] with the broker on `mqtt_listen`.
pub fn serve_on(
    data: &Path,
    mqtt_listen: &str,
) -> (Child, Lines<BufReader<ChildStdout>>, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args([
            "serve",
            "--mqtt-listen",
            mqtt_listen,
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

/// Devices publishing back to back; each report's `bytes_in` is its report id, so the stored
/// datapoints say which reports made it.
pub struct Load {
    accepted: Arc<Mutex<BTreeMap<String, Vec<u64>>>>,
    total: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    /// Connects every device in `creds` to `addr` and starts publishing. A device stops when
    /// its connection ends.
    pub fn start(addr: SocketAddr, creds: &[DeviceCreds]) -> Load {
        let accepted: Arc<Mutex<BTreeMap<String, Vec<u64>>>> = Arc::default();
        let total = Arc::new(AtomicUsize::new(0));
        let tasks = creds
            .iter()
            .cloned()
            .map(|c| {
                let (accepted, total) = (accepted.clone(), total.clone());
                tokio::spawn(async move { publish(addr, c, accepted, total).await })
            })
            .collect();
        Load {
            accepted,
            total,
            tasks,
        }
    }

    /// Waits until `n` reports in all were answered ACCEPTED; fails after `limit`.
    pub async fn wait_for_accepted(&self, n: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        while self.total.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < deadline, "the fleet never got going");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (up to 15 s) for every device to notice its connection ended; returns the
    /// report ids answered ACCEPTED, per thing.
    pub async fn finish(self) -> BTreeMap<String, Vec<u64>> {
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), t).await;
        }
        self.accepted.lock().unwrap().clone()
    }
}

async fn publish(
    addr: SocketAddr,
    c: DeviceCreds,
    accepted: Arc<Mutex<BTreeMap<String, Vec<u64>>>>,
    total: Arc<AtomicUsize>,
) {
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
        // Wait for this report's answer; the connection dies with the server.
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
}

/// Asserts every report in `accepted` is stored (its `bytes_in` datapoint exists).
pub async fn assert_all_stored(store: &dyn Store, accepted: &BTreeMap<String, Vec<u64>>) {
    for (thing, ids) in accepted {
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
}
