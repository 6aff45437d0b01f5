//! Test helpers: a fixture proc root, a private Mosquitto, and the small test responder that
//! answers reports the way the service does (through fleetward-proto's real decoder).
#![allow(dead_code)]

pub mod generate;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use fleetward_agent::collect::DirSource;
use fleetward_agent::collect::ifaces::FixedInterfaces;
use fleetward_agent::{Event, EventHandler, Sources};
use fleetward_proto::answer::{self, Answer, ErrorCode, Status};
use fleetward_proto::decode::{AwsMetric, Datapoint, Metric, MetricValue, decode_report};
use fleetward_proto::topic::{self, DEFAULT_PREFIX, Kind, Topic};
use rumqttc::{AsyncClient, Event as MqttEvent, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

/// The shared development broker.
pub const SHARED_BROKER_PORT: u16 = 1883;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A thing name no other test or broker user shares.
pub fn unique_thing(tag: &str) -> String {
    format!(
        "fwa-{}-{}-{tag}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A fixture proc root whose counters a test can change.
pub struct FixtureProc {
    pub dir: tempfile::TempDir,
}

impl FixtureProc {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("net")).unwrap();
        let f = FixtureProc { dir };
        f.write("net/tcp", concat!(
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n",
            "   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1000 1 0000000000000000 100 0 0 10 0\n",
            "   1: 0500000A:9C40 04030201:01BB 01 00000000:00000000 00:00000000 00000000  1000        0 1001 1 0000000000000000 20 4 30 10 -1\n",
        ));
        f.write("net/udp", concat!(
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n",
            "  100: 00000000:0044 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 2000 2 0000000000000000 0\n",
        ));
        f.set_counters(0, 0);
        f
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Replaces a file atomically, so the agent never reads half of it.
    pub fn write(&self, rel: &str, text: &str) {
        let tmp = self.dir.path().join(format!("{rel}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, self.dir.path().join(rel)).unwrap();
    }

    /// eth0's cumulative rx/tx bytes (packets are bytes / 100).
    pub fn set_counters(&self, rx: u64, tx: u64) {
        self.write(
            "net/dev",
            &format!(
                "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 999999 9999 0 0 0 0 0 0 999999 9999 0 0 0 0 0 0\n  eth0: {rx} {} 0 0 0 0 0 0 {tx} {} 0 0 0 0 0 0\n",
                rx / 100,
                tx / 100
            ),
        );
    }

    pub fn sources(&self) -> Sources {
        Sources {
            proc: Arc::new(DirSource::new(self.path())),
            ifaces: Arc::new(FixedInterfaces(vec![(
                "10.0.0.5".parse().unwrap(),
                "eth0".to_owned(),
            )])),
        }
    }
}

/// Agent events into a channel.
pub fn event_channel() -> (EventHandler, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let h: EventHandler = Arc::new(move |e: &Event| {
        let _ = tx.send(e.clone());
    });
    (h, rx)
}

/// Waits for the first item that `pred` accepts; panics (fails the test) on timeout.
pub async fn wait_for<T: std::fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    secs: u64,
    what: &str,
    mut pred: impl FnMut(&T) -> bool,
) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) if pred(&item) => return item,
            Ok(Some(_)) => {}
            Ok(None) => panic!("channel closed while waiting for {what}"),
            Err(_) => panic!("timed out after {secs} s waiting for {what}"),
        }
    }
}

/// A report the responder saw and how it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub thing: String,
    pub report_id: Option<u64>,
    pub datapoints: Vec<Datapoint>,
    pub status: Status,
}

impl Seen {
    pub fn count(&self, m: AwsMetric) -> Option<u64> {
        self.datapoints
            .iter()
            .find_map(|d| match (&d.metric, &d.value) {
                (Metric::Aws(x), MetricValue::Count(n)) if *x == m => Some(*n),
                _ => None,
            })
    }
}

/// The small test responder: decodes every report with the service's decoder and publishes
/// the real answer. Things whose name contains `reject` are answered `Throttled`.
pub struct Responder {
    pub seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn responder(port: u16) -> Responder {
    let id = format!(
        "responder-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let mut opts = MqttOptions::new(id, "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut el) = AsyncClient::new(opts, 64);
    let filter = format!("{DEFAULT_PREFIX}+/defender/metrics/+");
    let mine = format!("fwa-{}-", std::process::id());
    // Connected and subscribed before the agent starts, or its first report could be missed.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        assert!(
            Instant::now() < deadline,
            "responder could not subscribe on port {port}"
        );
        match tokio::time::timeout(Duration::from_secs(10), el.poll()).await {
            Ok(Ok(MqttEvent::Incoming(Packet::ConnAck(_)))) => {
                client
                    .subscribe(filter.clone(), QoS::AtLeastOnce)
                    .await
                    .unwrap();
            }
            Ok(Ok(MqttEvent::Incoming(Packet::SubAck(_)))) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("responder cannot reach the broker on 127.0.0.1:{port}: {e}"),
            Err(_) => panic!("responder timed out connecting to 127.0.0.1:{port}"),
        }
    }
    let (tx, seen) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            match el.poll().await {
                Ok(MqttEvent::Incoming(Packet::ConnAck(_))) => {
                    // After a broker restart the session is new: subscribe again.
                    let _ = client.try_subscribe(filter.clone(), QoS::AtLeastOnce);
                }
                Ok(MqttEvent::Incoming(Packet::Publish(p))) => {
                    let Some(m) = topic::parse(&p.topic, DEFAULT_PREFIX) else {
                        continue;
                    };
                    if m.topic.kind != Kind::Publish || !m.thing.starts_with(&mine) {
                        continue;
                    }
                    let format = m.topic.format;
                    let now = fleetward_agent::clock::now_ms();
                    let (answer, seen) = match decode_report(&p.payload, format, m.thing) {
                        Ok(d) if m.thing.contains("reject") => (
                            Answer::rejected(
                                m.thing,
                                Some(d.report_id),
                                ErrorCode::Throttled,
                                "the previous report was accepted less than 300 s ago",
                                now,
                            ),
                            Seen {
                                thing: m.thing.to_owned(),
                                report_id: Some(d.report_id),
                                datapoints: d.datapoints,
                                status: Status::Rejected,
                            },
                        ),
                        Ok(d) => (
                            Answer::accepted(m.thing, d.report_id, now),
                            Seen {
                                thing: m.thing.to_owned(),
                                report_id: Some(d.report_id),
                                datapoints: d.datapoints,
                                status: Status::Accepted,
                            },
                        ),
                        Err(r) => (
                            Answer::rejected(m.thing, r.report_id, r.code, &r.message, now),
                            Seen {
                                thing: m.thing.to_owned(),
                                report_id: r.report_id,
                                datapoints: Vec::new(),
                                status: Status::Rejected,
                            },
                        ),
                    };
                    let kind = if seen.status == Status::Accepted {
                        Kind::Accepted
                    } else {
                        Kind::Rejected
                    };
                    let mut buf = [0u8; 256];
                    let t = topic::build(&mut buf, DEFAULT_PREFIX, m.thing, Topic { format, kind })
                        .unwrap()
                        .to_owned();
                    let _ = client.try_publish(
                        t,
                        QoS::AtLeastOnce,
                        false,
                        answer::to_vec(&answer, format),
                    );
                    let _ = tx.send(seen);
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
    Responder { seen, task }
}

/// A free local port (not one of the dev services').
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A private Mosquitto, killed on drop.
pub struct Mosquitto {
    pub port: u16,
    pub conf: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    /// Starts `/usr/sbin/mosquitto` with `extra` config after a plain listener on `port`.
    pub fn start(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!("per_listener_settings false\nallow_anonymous true\nlistener {port} 127.0.0.1\n{extra}"),
        )
        .unwrap();
        let mut m = Mosquitto {
            port,
            conf,
            child: None,
            _dir: dir,
        };
        m.restart();
        m
    }

    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("/usr/sbin/mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start /usr/sbin/mosquitto");
        self.child = Some(child);
        wait_listening(self.port);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
