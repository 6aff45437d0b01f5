//! # fleetward-sim
//!
//! The fleet simulator: virtual devices with real certificates and real MQTT-over-TLS
//! connections, reporting a per-class baseline with attacks injected on a seeded schedule, and
//! a ground-truth file saying which thing was attacked how and when.
//!
//! It is the newcomer's demo (`fleetward demo`), the load generator (`fleetward simulate`,
//! docs/benchmarks.md) and the ground truth detection is judged against. The model is pure and
//! deterministic (a seed, a device and a tick decide every value): [`class`] (baselines),
//! [`scenario`] (attacks and schedule), [`truth`] (labels), [`clock`] (simulated time),
//! [`seed`] (hashing randomness). Only [`device`] does IO, and this module runs the ticks.
//!
//! Time is compressed: one tick is one 5-minute report interval of simulated time. The server
//! must be told (`fleetward serve --time-scale N`, N = 300 s / tick) so its throttle, windows
//! and cloud-side aggregation run at the same pace; report ids come from the simulated clock.
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod class;
pub mod clock;
pub mod demo;
pub mod device;
pub mod provision;
pub mod scenario;
pub mod seed;
pub mod truth;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use tokio::sync::watch;

pub use class::{DeviceClass, DeviceSpec, fleet};
pub use clock::SimClock;
pub use device::{Counters, Credentials, Endpoint, Snapshot};
pub use scenario::{Attack, Scenario, Schedule};

/// The server time scale that makes one `tick` of real time one 5-minute report interval
/// (`fleetward serve --time-scale`): 300 for 1 s.
pub fn time_scale_for(tick: Duration) -> u32 {
    let ms = tick.as_millis().max(1);
    u32::try_from((u128::from(clock::REPORT_INTERVAL_MS.unsigned_abs()) / ms).max(1))
        .unwrap_or(u32::MAX)
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Where devices connect.
    pub endpoint: Endpoint,
    /// The fleet, each device with its credentials.
    pub devices: Vec<(DeviceSpec, Credentials)>,
    /// Real time per tick (one simulated report interval).
    pub tick: Duration,
    /// Stop after this many ticks; `None` runs until stopped.
    pub ticks: Option<u64>,
    /// Inject attacks.
    pub attacks: bool,
    /// Seeds the fleet's traffic and the schedule.
    pub seed: u64,
    /// The simulated clock.
    pub clock: SimClock,
    /// Where to write the ground truth (JSONL).
    pub truth: Option<PathBuf>,
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A device's TLS material is unusable.
    #[error(transparent)]
    Device(#[from] device::DeviceError),
    /// The ground truth could not be written.
    #[error(transparent)]
    Truth(#[from] truth::TruthError),
    /// Not one device could connect: the broker is not there, or refuses every certificate.
    #[error(
        "no device could connect to {host}:{port} within {secs} s: is the server running there, with this data directory's CA?"
    )]
    NoConnection {
        /// The broker host.
        host: String,
        /// The broker port.
        port: u16,
        /// How long the devices tried.
        secs: u64,
    },
}

/// What a finished run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Ticks run.
    pub ticks: u64,
    /// The attacks that started.
    pub attacks: Vec<Attack>,
    /// The counters at the end.
    pub counters: Snapshot,
}

/// A configured simulation; [`Simulation::counters`] can be read while it runs.
#[derive(Debug)]
pub struct Simulation {
    cfg: SimConfig,
    counters: Arc<Counters>,
}

/// How long devices get to connect before the first tick.
const CONNECT_GRACE: Duration = Duration::from_secs(15);
/// How long devices get to disconnect when the run ends.
const STOP_GRACE: Duration = Duration::from_secs(10);

impl Simulation {
    /// A simulation of `cfg`.
    pub fn new(cfg: SimConfig) -> Simulation {
        Simulation {
            cfg,
            counters: Arc::new(Counters::default()),
        }
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// The attack schedule this run follows (whole waves only when the run has an end).
    pub fn schedule(&self) -> Schedule {
        let specs: Vec<DeviceSpec> = self.cfg.devices.iter().map(|(s, _)| s.clone()).collect();
        Schedule::new(self.cfg.seed, &specs)
    }

    /// Connects every device, runs the ticks until the configured count or until `stop`
    /// becomes true, then disconnects every device.
    pub async fn run(self, mut stop: watch::Receiver<bool>) -> Result<Summary, SimError> {
        let cfg = &self.cfg;
        let schedule = self.schedule();
        let mut truth = cfg
            .truth
            .as_deref()
            .map(truth::TruthWriter::create)
            .transpose()?;
        let things: Arc<Vec<String>> =
            Arc::new(cfg.devices.iter().map(|(s, _)| s.thing.clone()).collect());
        let ctx = device::Context {
            endpoint: cfg.endpoint.clone(),
            counters: self.counters.clone(),
            seed: cfg.seed,
            clock: cfg.clock,
            tick: cfg.tick,
            things,
        };
        let mut configs = Vec::with_capacity(cfg.devices.len());
        for (spec, creds) in &cfg.devices {
            configs.push(device::tls_config(
                &spec.thing,
                &cfg.endpoint.ca_pem,
                creds,
            )?);
        }

        let (tick_tx, tick_rx) = watch::channel(device::TickInfo::default());
        let (dev_stop_tx, dev_stop_rx) = watch::channel(false);
        let mut tasks = Vec::with_capacity(cfg.devices.len());
        for ((spec, _), tls) in cfg.devices.iter().zip(configs) {
            tasks.push(tokio::spawn(device::run_device(
                ctx.clone(),
                spec.clone(),
                tls,
                tick_rx.clone(),
                dev_stop_rx.clone(),
            )));
        }
        drop(tick_rx);

        // Let the fleet connect before the first report.
        let n = cfg.devices.len() as u64;
        let deadline = tokio::time::Instant::now() + CONNECT_GRACE;
        while self.counters.connected.load(Relaxed) < n
            && tokio::time::Instant::now() < deadline
            && !*stop.borrow()
        {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stop.changed() => {}
            }
        }

        if n > 0 && self.counters.connected.load(Relaxed) == 0 && !*stop.borrow() {
            let _ = dev_stop_tx.send(true);
            for t in &tasks {
                t.abort();
            }
            return Err(SimError::NoConnection {
                host: cfg.endpoint.host.clone(),
                port: cfg.endpoint.port,
                secs: CONNECT_GRACE.as_secs(),
            });
        }

        let mut interval = tokio::time::interval(cfg.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut waves: HashMap<u64, Arc<Vec<Attack>>> = HashMap::new();
        let mut started = Vec::new();
        let mut tick = 0u64;
        let stopped = loop {
            if cfg.ticks.is_some_and(|max| tick >= max) {
                break false;
            }
            tokio::select! {
                _ = interval.tick() => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                break true;
            }
            let attacks = match Schedule::wave_of(tick) {
                Some(k)
                    if cfg.attacks && cfg.ticks.is_none_or(|max| Schedule::wave_end(k) <= max) =>
                {
                    waves.retain(|w, _| *w + 1 >= k);
                    waves
                        .entry(k)
                        .or_insert_with(|| Arc::new(schedule.wave(k)))
                        .clone()
                }
                _ => Arc::new(Vec::new()),
            };
            for a in attacks.iter().filter(|a| a.start == tick) {
                if let Some(w) = truth.as_mut() {
                    w.write(&truth::Label::of(a, &cfg.clock))?;
                }
                self.counters.attacks_started.fetch_add(1, Relaxed);
                tracing::info!(
                    thing = %a.thing, scenario = a.scenario.name(), start = a.start, end = a.end,
                    "attack started"
                );
                started.push(a.clone());
            }
            self.counters.tick.store(tick, Relaxed);
            let _ = tick_tx.send(device::TickInfo { tick, attacks });
            tick += 1;
        };
        if !stopped {
            // The last tick's reports are still being answered.
            tokio::select! {
                _ = tokio::time::sleep(cfg.tick) => {}
                _ = stop.changed() => {}
            }
        }
        let _ = dev_stop_tx.send(true);
        // Devices send DISCONNECT and wait for it briefly; one that hangs is cut off.
        let deadline = tokio::time::Instant::now() + STOP_GRACE;
        for mut t in tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
            }
        }
        Ok(Summary {
            ticks: tick,
            attacks: started,
            counters: self.counters.snapshot(),
        })
    }
}
