//! Ingest benchmark for `fleetward serve`: N devices over mutual TLS publish full Device
//! Defender reports and wait for their ACCEPTED answers; then the same connections relay the
//! same payload bytes through the same broker with no Fleetward processing, as a baseline.
//!
//! ```text
//! cargo run --release -p fleetward --example bench_ingest -- --devices 50 --seconds 15
//! cargo run --release -p fleetward --example bench_ingest -- --devices 50 --rate 2000
//! ```
//!
//! Without `--rate` every device keeps `--window` reports in flight (saturation); with it,
//! the devices together publish `--rate` reports/s on a fixed schedule and latency is measured
//! from the *scheduled* send time, so a stalled server cannot hide its queueing delay
//! (coordinated omission).
//!
//! The load generator runs in the same process and on the same cores as the server: on a
//! small machine its TLS and MQTT work is a large share of the CPU, so the numbers are a lower
//! bound on what the server alone could do. Timing numbers belong in docs/benchmarks.md,
//! never in test assertions.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use fleetward_server::server::{RunningServer, ServeConfig};
use fleetward_service::pki::Ca;
use fleetward_store::{CertStatus, Certificate, NewPolicy, NewThing, Store};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use tokio::sync::{Semaphore, mpsc};

/// Command line.
#[derive(Parser, Debug, Clone)]
#[command(about = "Fleetward ingest benchmark (in-process server, TLS devices)")]
struct Args {
    /// Number of devices (one TLS connection and one certificate each).
    #[arg(long, default_value_t = 50)]
    devices: usize,
    /// Measured seconds per phase (after the warm-up).
    #[arg(long, default_value_t = 15)]
    seconds: u64,
    /// Warm-up seconds per phase, excluded from the measurement.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Total reports/s across all devices (paced mode). Omit for saturation.
    #[arg(long)]
    rate: Option<u64>,
    /// Reports in flight per device (saturation; also the cap in paced mode).
    #[arg(long, default_value_t = 16)]
    window: usize,
    /// Skip the bare relay phase.
    #[arg(long)]
    no_relay: bool,
    /// Where the temporary data directory is created (a tmpfs would make fsync free and the
    /// numbers meaningless; the default is the system temp dir).
    #[arg(long)]
    tmp_root: Option<PathBuf>,
    /// The report published (its `report_id` is rewritten for every publish).
    #[arg(long)]
    report: Option<PathBuf>,
}

const IDLE: u8 = 0;
const INGEST: u8 = 1;
const RELAY: u8 = 2;

/// Counters shared by every device task.
#[derive(Default)]
struct Shared {
    /// Which phase senders run; they stop when it changes.
    mode: AtomicU8,
    /// Whether answers count towards the measurement (false during warm-up and drain).
    measuring: AtomicBool,
    accepted: AtomicU64,
    accepted_total: AtomicU64,
    rejected: AtomicU64,
    relayed: AtomicU64,
    /// Answers or relayed messages whose id was not in flight (duplicates, late arrivals).
    unmatched: AtomicU64,
    /// Connection errors seen by the event loops (each one is a reconnect).
    conn_errors: AtomicU64,
}

/// One device: its connection and what it has in flight.
struct Dev {
    thing: String,
    client: AsyncClient,
    /// Send time (or scheduled send time) by report id.
    pending: Mutex<HashMap<u64, Instant>>,
    /// In-flight window: a permit is taken per publish and returned with its answer.
    window: Semaphore,
    /// Latencies (µs) of answers received while measuring.
    latencies: Mutex<Vec<u32>>,
    next_id: AtomicU64,
}

/// The report template split around its `report_id` value, so each publish only formats the
/// number.
struct Template {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Template {
    fn load(path: &Path) -> Template {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read report {}: {e}", path.display()));
        let key = "\"report_id\":";
        let start = text.find(key).expect("report has a report_id") + key.len();
        let end = start
            + text[start..]
                .find(|c: char| !c.is_ascii_digit() && c != ' ')
                .expect("report_id is followed by more JSON");
        Template {
            head: text.as_bytes()[..start].to_vec(),
            tail: text.as_bytes()[end..].to_vec(),
        }
    }

    fn with_id(&self, id: u64) -> Bytes {
        let mut v = Vec::with_capacity(self.head.len() + 20 + self.tail.len());
        v.extend_from_slice(&self.head);
        v.extend_from_slice(id.to_string().as_bytes());
        v.extend_from_slice(&self.tail);
        Bytes::from(v)
    }
}

/// The integer following `key` in a JSON document; a byte scan, so the load generator spends
/// its CPU on the connections rather than on decoding.
fn id_after(payload: &[u8], key: &[u8]) -> Option<u64> {
    let at = payload.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = payload[at..]
        .iter()
        .skip_while(|b| **b == b' ')
        .take_while(|b| b.is_ascii_digit());
    let mut n: u64 = 0;
    let mut any = false;
    for d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        any = true;
    }
    any.then_some(n)
}

fn answer_topic(thing: &str, kind: &str) -> String {
    format!("$aws/things/{thing}/defender/metrics/json/{kind}")
}

/// Issues a certificate from the data dir's CA, registers it ACTIVE, attaches it to a new
/// thing and to the bench relay policy (as `fleetward certs create` plus `attach-policy`).
async fn provision(store: &dyn Store, ca: &Ca, thing: &str) -> (String, String) {
    store
        .create_thing(&NewThing {
            name: thing.into(),
            ..Default::default()
        })
        .await
        .expect("create thing");
    let issued = ca.issue_device(thing).expect("issue certificate");
    let f = &issued.facts;
    store
        .insert_certificate(&Certificate {
            id: f.id.clone(),
            pem: issued.cert_pem.clone(),
            status: CertStatus::Active,
            ca_id: Some(ca.facts().id.clone()),
            subject: f.subject.clone(),
            serial: f.serial.clone(),
            not_after: f.not_after,
            created_at: 0,
        })
        .await
        .expect("insert certificate");
    store
        .attach_thing_principal(thing, &f.id)
        .await
        .expect("attach thing");
    store
        .attach_policy(RELAY_POLICY, &f.id)
        .await
        .expect("attach policy");
    (issued.cert_pem, issued.key_pem)
}

const RELAY_POLICY: &str = "bench-relay";

/// The default device policy allows only Defender topics; the relay baseline needs one more
/// topic per device, `bench/<thing>`, which only that device may use.
fn relay_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["iot:Publish", "iot:Receive"],
                "Resource": "arn:aws:iot:*:*:topic/bench/${iot:Connection.Thing.ThingName}"
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": "arn:aws:iot:*:*:topicfilter/bench/${iot:Connection.Thing.ThingName}"
            }
        ]
    })
    .to_string()
}

/// Setup-time events from a device's event loop.
enum Setup {
    Connected,
    SubAck(bool),
    Failed(String),
}

/// Connects one device and runs its event loop for the rest of the process.
async fn connect(
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    thing: String,
    cert: String,
    key: String,
    ca: String,
    window: usize,
) -> Arc<Dev> {
    let mut opts = MqttOptions::new(thing.clone(), "127.0.0.1", addr.port());
    opts.set_keep_alive(Duration::from_secs(60));
    opts.set_max_packet_size(256 * 1024, 256 * 1024);
    opts.set_inflight(u16::try_from(window.max(16) * 2).unwrap_or(u16::MAX));
    opts.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
        ca: ca.into_bytes(),
        alpn: None,
        client_auth: Some((cert.into_bytes(), key.into_bytes())),
    }));
    let (client, mut eventloop) = AsyncClient::new(opts, 64);
    // Without this the device's PUBACK of one answer and its next report wait on each other
    // under Nagle's algorithm and the server's delayed ACK (up to 40 ms), which would measure
    // the client's socket option rather than the server. Real agents should set it too.
    let mut net = eventloop.network_options();
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net);
    let dev = Arc::new(Dev {
        thing,
        client,
        pending: Mutex::new(HashMap::new()),
        window: Semaphore::new(window),
        latencies: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(1),
    });
    let (setup_tx, mut setup_rx) = mpsc::unbounded_channel();
    let d = dev.clone();
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    on_message(&shared, &d, &p.topic, &p.payload)
                }
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    let _ = setup_tx.send(Setup::Connected);
                }
                Ok(Event::Incoming(Packet::SubAck(s))) => {
                    let ok = s
                        .return_codes
                        .iter()
                        .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)));
                    let _ = setup_tx.send(Setup::SubAck(ok));
                }
                Ok(_) => {}
                Err(e) => {
                    shared.conn_errors.fetch_add(1, Relaxed);
                    if setup_tx.send(Setup::Failed(e.to_string())).is_err() {
                        eprintln!("{}: connection error: {e}", d.thing);
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    let topics = [
        answer_topic(&dev.thing, "accepted"),
        answer_topic(&dev.thing, "rejected"),
        format!("bench/{}", dev.thing),
    ];
    for t in &topics {
        dev.client
            .subscribe(t.clone(), QoS::AtLeastOnce)
            .await
            .expect("subscribe request");
    }
    let (mut connected, mut subacks) = (false, 0);
    while !(connected && subacks == topics.len()) {
        match tokio::time::timeout(Duration::from_secs(30), setup_rx.recv()).await {
            Ok(Some(Setup::Connected)) => connected = true,
            Ok(Some(Setup::SubAck(true))) => subacks += 1,
            Ok(Some(Setup::SubAck(false))) => panic!("{}: subscription refused", dev.thing),
            Ok(Some(Setup::Failed(e))) => panic!("{}: cannot connect: {e}", dev.thing),
            Ok(None) | Err(_) => panic!("{}: no CONNACK/SUBACK within 30 s", dev.thing),
        }
    }
    dev
}

/// Matches an answer or relayed message to its send time and frees its window slot.
fn on_message(shared: &Shared, dev: &Dev, topic: &str, payload: &[u8]) {
    let (id, accepted) = if topic.starts_with("bench/") {
        (id_after(payload, b"\"report_id\":"), None)
    } else if topic.ends_with("/accepted") {
        (id_after(payload, b"\"reportId\":"), Some(true))
    } else {
        (id_after(payload, b"\"reportId\":"), Some(false))
    };
    let sent = id.and_then(|id| {
        dev.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id)
    });
    let Some(sent) = sent else {
        shared.unmatched.fetch_add(1, Relaxed);
        return;
    };
    dev.window.add_permits(1);
    let measuring = shared.measuring.load(Relaxed);
    match accepted {
        Some(true) => {
            shared.accepted_total.fetch_add(1, Relaxed);
            if measuring {
                shared.accepted.fetch_add(1, Relaxed);
            }
        }
        Some(false) => {
            // Any rejection of a valid, fresh report is a bug: show the first few.
            if shared.rejected.fetch_add(1, Relaxed) < 5 {
                eprintln!("REJECTED on {topic}: {}", String::from_utf8_lossy(payload));
            }
            return;
        }
        None => {
            if measuring {
                shared.relayed.fetch_add(1, Relaxed);
            }
        }
    }
    if measuring {
        let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
        dev.latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(us);
    }
}

/// Publishes until the phase changes: `window` in flight, or on a fixed schedule when
/// `period` is set (then the scheduled instant is the send time).
async fn sender(
    shared: Arc<Shared>,
    dev: Arc<Dev>,
    template: Arc<Template>,
    mode: u8,
    period: Option<(Duration, Duration)>,
) {
    let topic = if mode == INGEST {
        format!("$aws/things/{}/defender/metrics/json", dev.thing)
    } else {
        format!("bench/{}", dev.thing)
    };
    let mut ticker = period.map(|(period, offset)| {
        tokio::time::interval_at(tokio::time::Instant::now() + offset, period)
    });
    while shared.mode.load(Relaxed) == mode {
        let at = match ticker.as_mut() {
            Some(t) => t.tick().await.into_std(),
            None => Instant::now(),
        };
        let Ok(permit) =
            tokio::time::timeout(Duration::from_millis(500), dev.window.acquire()).await
        else {
            continue;
        };
        permit.expect("window semaphore open").forget();
        if shared.mode.load(Relaxed) != mode {
            dev.window.add_permits(1);
            break;
        }
        let id = dev.next_id.fetch_add(1, Relaxed);
        let at = if ticker.is_some() { at } else { Instant::now() };
        dev.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, at);
        if dev
            .client
            .publish_bytes(
                topic.as_str(),
                QoS::AtLeastOnce,
                false,
                template.with_id(id),
            )
            .await
            .is_err()
        {
            eprintln!("{}: publish request failed", dev.thing);
            return;
        }
    }
}

/// What one phase measured.
struct PhaseResult {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    samples: usize,
    unanswered: usize,
}

fn percentile(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest-rank: the smallest sample with at least q of the samples at or below it.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

async fn run_phase(
    shared: &Arc<Shared>,
    devs: &[Arc<Dev>],
    template: &Arc<Template>,
    mode: u8,
    args: &Args,
) -> PhaseResult {
    shared.mode.store(mode, Relaxed);
    let n = devs.len();
    let mut tasks = Vec::with_capacity(n);
    for (i, dev) in devs.iter().enumerate() {
        let period = args.rate.map(|r| {
            let period = Duration::from_secs_f64(n as f64 / r.max(1) as f64);
            (period, period.mul_f64(i as f64 / n as f64))
        });
        tasks.push(tokio::spawn(sender(
            shared.clone(),
            dev.clone(),
            template.clone(),
            mode,
            period,
        )));
    }
    tokio::time::sleep(Duration::from_secs(args.warmup)).await;
    for d in devs {
        d.latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
    shared.accepted.store(0, Relaxed);
    shared.relayed.store(0, Relaxed);
    shared.measuring.store(true, Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    shared.measuring.store(false, Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let count = if mode == INGEST {
        shared.accepted.load(Relaxed)
    } else {
        shared.relayed.load(Relaxed)
    };
    shared.mode.store(IDLE, Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    // Drain: let what is in flight be answered before the next phase.
    let deadline = Instant::now() + Duration::from_secs(15);
    let in_flight = || {
        devs.iter()
            .map(|d| {
                d.pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .len()
            })
            .sum::<usize>()
    };
    while in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let unanswered = in_flight();
    for d in devs {
        let mut p = d.pending.lock().unwrap_or_else(PoisonError::into_inner);
        d.window.add_permits(p.len());
        p.clear();
    }
    let mut all: Vec<u32> = Vec::new();
    for d in devs {
        all.append(&mut d.latencies.lock().unwrap_or_else(PoisonError::into_inner));
    }
    all.sort_unstable();
    PhaseResult {
        per_s: count as f64 / elapsed,
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        max_ms: all.last().map_or(f64::NAN, |m| f64::from(*m) / 1000.0),
        samples: all.len(),
        unanswered,
    }
}

async fn start_server(root: &Path) -> (RunningServer, tempfile::TempDir) {
    let dir = tempfile::tempdir_in(root).expect("temp dir");
    let mut cfg = ServeConfig::new(dir.path().join("data"));
    cfg.mqtt_listen = vec!["127.0.0.1:0".parse().expect("addr")];
    cfg.http_listen = "127.0.0.1:0".parse().expect("addr");
    cfg.min_report_interval = Duration::ZERO;
    let running = fleetward_server::server::start(cfg)
        .await
        .expect("server starts");
    (running, dir)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args = Args::parse();
    let root = args.tmp_root.clone().unwrap_or_else(std::env::temp_dir);
    let (srv, dir) = start_server(&root).await;
    let store = srv.store.clone();
    let addr = srv.mqtt_addr.expect("embedded broker");
    let data_dir = dir.path().join("data");
    let (ca, _) = Ca::load_or_create(&data_dir.join("ca")).expect("ca");
    store
        .create_policy(&NewPolicy {
            name: RELAY_POLICY.into(),
            document: relay_policy(),
        })
        .await
        .expect("create relay policy");

    let report = args.report.clone().unwrap_or_else(|| {
        fleetward_testkit::shared_dir().join("conformance/reports/accept-long-full.json")
    });
    let template = Arc::new(Template::load(&report));
    let shared = Arc::new(Shared::default());

    let t = Instant::now();
    let mut pending = Vec::with_capacity(args.devices);
    for i in 0..args.devices {
        let thing = format!("bench-{i:05}");
        let (cert, key) = provision(store.as_ref(), &ca, &thing).await;
        pending.push(tokio::spawn(connect(
            shared.clone(),
            addr,
            thing,
            cert,
            key,
            ca.pem().to_owned(),
            args.window,
        )));
    }
    let mut devs = Vec::with_capacity(args.devices);
    for p in pending {
        devs.push(p.await.expect("device connects"));
    }
    eprintln!(
        "{} devices provisioned and connected over TLS in {:.1} s; payload {} bytes",
        devs.len(),
        t.elapsed().as_secs_f64(),
        template.with_id(1_700_000_000).len()
    );

    let mode_name = args.rate.map_or_else(
        || format!("saturate(window={})", args.window),
        |r| format!("paced({r}/s)"),
    );
    let ingest = run_phase(&shared, &devs, &template, INGEST, &args).await;
    let relay = if args.no_relay {
        None
    } else {
        Some(run_phase(&shared, &devs, &template, RELAY, &args).await)
    };

    let stored = store.count_reports().await.expect("count reports");
    let accepted_total = shared.accepted_total.load(Relaxed);
    let stats = srv.pipeline.stats();
    let rejected = shared.rejected.load(Relaxed);
    println!("devices            {}", devs.len());
    println!("mode               {mode_name}");
    println!("accepted/s         {:.0}", ingest.per_s);
    println!(
        "latency ms         p50 {:.2}  p99 {:.2}  max {:.2}  ({} samples)",
        ingest.p50_ms, ingest.p99_ms, ingest.max_ms, ingest.samples
    );
    if let Some(r) = &relay {
        println!("relay msg/s        {:.0}", r.per_s);
        println!(
            "relay latency ms   p50 {:.2}  p99 {:.2}  max {:.2}",
            r.p50_ms, r.p99_ms, r.max_ms
        );
        println!("ratio ingest/relay {:.2}", ingest.per_s / r.per_s);
    }
    println!(
        "stored reports     {stored} (accepted answers over the whole run: {accepted_total}; {})",
        if stored >= accepted_total {
            "ok"
        } else {
            "MISSING"
        }
    );
    println!(
        "rejected {rejected}, redelivered {}, unmatched {}, unanswered {}, connection errors {}",
        stats.redelivered.load(Relaxed),
        shared.unmatched.load(Relaxed),
        ingest.unanswered + relay.as_ref().map_or(0, |r| r.unanswered),
        shared.conn_errors.load(Relaxed),
    );
    // One machine-readable line for scripts/bench-ingest.sh.
    let (relay_s, relay_p99, ratio) = relay.as_ref().map_or((f64::NAN, f64::NAN, f64::NAN), |r| {
        (r.per_s, r.p99_ms, ingest.per_s / r.per_s)
    });
    println!(
        "RESULT devices={} mode={mode_name} accepted_per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} relay_per_s={relay_s:.0} relay_p99_ms={relay_p99:.2} ratio={ratio:.2} stored_ok={} rejected={rejected}",
        devs.len(),
        ingest.per_s,
        ingest.p50_ms,
        ingest.p99_ms,
        ingest.max_ms,
        stored >= accepted_total,
    );
    if rejected > 0 || stored < accepted_total {
        std::process::exit(1);
    }
    drop(dir);
    std::process::exit(0);
}
