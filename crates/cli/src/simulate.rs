//! `fleetward simulate`: a fleet of virtual devices against a running server.
//!
//! Devices are provisioned through the server's data directory, like `fleetward certs
//! create` (the registry is SQLite in WAL mode, so this works while the server runs): each
//! gets a thing, a thing group for its class, and a certificate from the server's CA, whose
//! key is kept in a credentials directory so a second run reuses the same identities instead
//! of registering new certificates. The devices then connect over mutual TLS and report until
//! the run ends. The server must run with `--time-scale` matching `--tick` (300 for 1 s).
//!
//! Also what `fleetward demo` shares: the live status, Ctrl-C handling and duration parsing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use tokio::sync::watch;

use fleetward_sim::provision::{apply_starter_profiles, provision_fleet};
use fleetward_sim::{Counters, Endpoint, SimClock, SimConfig, Simulation, Snapshot, fleet};
use fleetward_store::{PageRequest, Store, StoreError, ViolationEventFilter, ViolationEventType};

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Report encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum FormatArg {
    /// JSON, long keys.
    Json,
    /// CBOR, long keys.
    Cbor,
}

impl From<FormatArg> for fleetward_proto::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Json => fleetward_proto::Format::Json,
            FormatArg::Cbor => fleetward_proto::Format::Cbor,
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct SimulateArgs {
    /// The running server's data directory (its registry and CA provision the devices).
    #[arg(long, env = "FLEETWARD_DATA_DIR", default_value = "./fleetward-data")]
    data_dir: PathBuf,
    /// Number of virtual devices (3 cameras, 1 gateway and 6 sensors in every 10).
    #[arg(long, default_value_t = 50)]
    devices: usize,
    /// Real time per simulated 5-minute report interval. Start the server with
    /// `--time-scale` = 300 s / tick (300 for 1s).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    tick: Duration,
    /// Stop after this long (e.g. 90s, 10m); runs until Ctrl-C without it.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Write the ground truth (one JSON line per attack) to this file.
    #[arg(long)]
    truth: Option<PathBuf>,
    /// Inject attacks.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    attacks: Switch,
    /// Seeds the traffic and the attack schedule: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The broker's host: dialled, and checked against its certificate (Fleetward's names
    /// localhost, 127.0.0.1 and ::1, plus what `serve` was given).
    #[arg(long, default_value = "127.0.0.1")]
    mqtt_host: String,
    /// The broker's mutual-TLS port.
    #[arg(long, default_value_t = 8883)]
    mqtt_port: u16,
    /// Report format.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    format: FormatArg,
    /// Thing name prefix.
    #[arg(long, default_value = "sim-")]
    prefix: String,
    /// Where device keys and certificates are kept between runs (default:
    /// `<data-dir>/sim-devices`).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Also apply the starter security profiles (examples/profiles) and attach each to its
    /// class's thing group.
    #[arg(long)]
    apply_profiles: bool,
    /// Topic prefix devices publish under.
    #[arg(long, default_value = fleetward_proto::topic::DEFAULT_PREFIX)]
    topic_prefix: String,
}

/// Parses `1s`, `500ms`, `2m`, `1h` or a bare number of seconds.
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}': expected a number and a unit (500ms, 1s, 2m, 1h)"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("'{s}': unknown unit '{other}' (use ms, s, m or h)")),
    };
    if !secs.is_finite() || secs <= 0.0 || secs > 366.0 * 86_400.0 {
        return Err(format!("'{s}': must be positive and at most a year"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Violation activity since a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct ViolationCounts {
    /// Active now.
    pub(super) active: u64,
    /// `in-alarm` events since the start.
    pub(super) raised: u64,
    /// `alarm-cleared` events since the start.
    pub(super) cleared: u64,
}

/// Counts active violations and the events since `since_ms`.
pub(super) async fn violation_counts(
    store: &dyn Store,
    since_ms: i64,
) -> Result<ViolationCounts, StoreError> {
    let mut c = ViolationCounts::default();
    let mut token = None;
    loop {
        let page = store
            .list_active_violations(
                None,
                None,
                &PageRequest {
                    next_token: token,
                    max_results: Some(PageRequest::MAX_LIMIT),
                },
            )
            .await?;
        c.active += page.items.len() as u64;
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    let filter = ViolationEventFilter {
        thing: None,
        profile: None,
        from_ms: since_ms,
        to_ms: i64::MAX,
    };
    let mut token = None;
    loop {
        let page = store
            .list_violation_events(
                &filter,
                &PageRequest {
                    next_token: token,
                    max_results: Some(PageRequest::MAX_LIMIT),
                },
            )
            .await?;
        for e in &page.items {
            match e.event_type {
                ViolationEventType::InAlarm => c.raised += 1,
                ViolationEventType::AlarmCleared => c.cleared += 1,
                ViolationEventType::AlarmInvalidated => {}
            }
        }
        match page.next_token {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    Ok(c)
}

/// One status line: devices, throughput since the previous line, answers, violations.
pub(super) fn status_line(
    s: &Snapshot,
    devices: usize,
    reports_per_s: f64,
    v: Option<ViolationCounts>,
) -> String {
    let mut line = format!(
        "tick {:>5} | devices connected {:>4}/{devices} | {:>7.1} reports/s | accepted {} rejected {} (throttled {}) | attacks {}",
        s.tick, s.connected, reports_per_s, s.accepted, s.rejected, s.throttled, s.attacks_started
    );
    if let Some(v) = v {
        line.push_str(&format!(
            " | violations active {} raised {} cleared {}",
            v.active, v.raised, v.cleared
        ));
    }
    line
}

/// Prints a status line every `every` until `done` turns true: on a terminal one line
/// rewritten in place (a progress display), otherwise plain lines a log can keep.
pub(super) async fn report_status(
    counters: Arc<Counters>,
    devices: usize,
    store: Option<Arc<dyn Store>>,
    since_ms: i64,
    every: Duration,
    mut done: watch::Receiver<bool>,
) {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stdout().is_terminal();
    let mut last = (Instant::now(), counters.snapshot().reports_sent);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = done.changed() => {}
        }
        let s = counters.snapshot();
        let now = Instant::now();
        let rate = s.reports_sent.saturating_sub(last.1) as f64
            / now.duration_since(last.0).as_secs_f64().max(1e-3);
        last = (now, s.reports_sent);
        let v = match &store {
            Some(st) => violation_counts(st.as_ref(), since_ms).await.ok(),
            None => None,
        };
        let line = status_line(&s, devices, rate, v);
        let finished = *done.borrow();
        if tty {
            // Carriage return and erase-line: the status stays on one line.
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[2K{line}");
            if finished {
                let _ = writeln!(out);
            }
            let _ = out.flush();
        } else {
            super::out(&line);
        }
        if finished {
            return;
        }
    }
}

pub(super) async fn run(a: SimulateArgs) -> ExitCode {
    match run_inner(a).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("fleetward: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run_inner(a: SimulateArgs) -> Result<(), String> {
    fleetward_server::server::install_crypto_provider();
    let (store, ca, _) = fleetward_service::data_dir::open(&a.data_dir)
        .await
        .map_err(|e| e.to_string())?;
    let store: Arc<dyn Store> = store;
    let specs = fleet(a.devices, &a.prefix);
    let cred_dir = a
        .credentials
        .clone()
        .unwrap_or_else(|| a.data_dir.join("sim-devices"));
    let creds = provision_fleet(store.as_ref(), &ca, &specs, &cred_dir)
        .await
        .map_err(|e| format!("provisioning: {e}"))?;
    if a.apply_profiles {
        let names = apply_starter_profiles(&fleetward_service::Ctx::new(store.clone()))
            .await
            .map_err(|e| e.to_string())?;
        super::out(&format!("starter profiles applied: {}", names.join(", ")));
    }
    let ticks = a
        .duration
        .map(|d| (d.as_secs_f64() / a.tick.as_secs_f64()).floor() as u64);
    let cfg = SimConfig {
        endpoint: Endpoint {
            host: a.mqtt_host.clone(),
            port: a.mqtt_port,
            ca_pem: ca.pem().to_owned(),
            prefix: a.topic_prefix.clone(),
            format: a.format.into(),
        },
        devices: specs.into_iter().zip(creds).collect(),
        tick: a.tick,
        ticks,
        attacks: a.attacks == Switch::On,
        seed: a.seed,
        clock: SimClock::starting_near(fleetward_core::aws::time::system_now_ms()),
        truth: a.truth.clone(),
    };
    super::out(&format!(
        "simulating {} devices against {}:{} (tick {:?}; the server needs --time-scale {}){}",
        a.devices,
        a.mqtt_host,
        a.mqtt_port,
        a.tick,
        fleetward_sim::time_scale_for(a.tick),
        a.truth
            .as_ref()
            .map(|t| format!("; ground truth in {}", t.display()))
            .unwrap_or_default()
    ));
    run_simulation(cfg, Some(store)).await
}

/// Runs `cfg` with a live status until it ends or Ctrl-C; prints the summary.
pub(super) async fn run_simulation(
    cfg: SimConfig,
    store: Option<Arc<dyn Store>>,
) -> Result<(), String> {
    let devices = cfg.devices.len();
    let sim = Simulation::new(cfg);
    let counters = sim.counters();
    let (stop_tx, stop_rx) = watch::channel(false);
    let (done_tx, done_rx) = watch::channel(false);
    let status = tokio::spawn(report_status(
        counters,
        devices,
        store,
        fleetward_core::aws::time::system_now_ms(),
        Duration::from_secs(2),
        done_rx,
    ));
    let mut signals = super::signals::StopSignals::install();
    let ctrl_c = tokio::spawn(async move {
        signals.recv().await;
        let _ = stop_tx.send(true);
    });
    let result = sim.run(stop_rx).await;
    ctrl_c.abort();
    let _ = done_tx.send(true);
    let _ = status.await;
    let summary = result.map_err(|e| e.to_string())?;
    let c = summary.counters;
    super::out(&format!(
        "done: {} ticks, {} attacks, {} reports sent, {} accepted, {} rejected ({} throttled), {} unanswered, {} connects, {} connect failures",
        summary.ticks,
        summary.attacks.len(),
        c.reports_sent,
        c.accepted,
        c.rejected,
        c.throttled,
        c.unanswered,
        c.connects,
        c.connect_failures
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        for bad in ["", "s", "0s", "-1s", "1d", "1 parsec", "1e999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
