//! `fleetward demo`'s machinery: a server with embedded defaults and compressed time, a
//! provisioned fleet in class groups, the starter profiles attached, and the simulation ready
//! to run against it. The CLI adds only printing and Ctrl-C; the demo test drives this same
//! code with a smaller fleet.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fleetward_server::server::{RunningServer, ServeConfig, ServeError};
use fleetward_service::pki::Ca;

use super::class::{DeviceSpec, fleet};
use super::clock::{REPORT_INTERVAL_MS, SimClock};
use super::device::{Credentials, Endpoint};
use super::provision::{ProvisionError, apply_starter_profiles, provision_fleet};
use super::{SimConfig, time_scale_for};

/// What the demo runs.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// The server's data directory.
    pub data_dir: PathBuf,
    /// Fleet size.
    pub devices: usize,
    /// Real time per simulated report interval.
    pub tick: Duration,
    /// The MQTT listener (port 0: any free port).
    pub mqtt_listen: SocketAddr,
    /// The HTTP listener (port 0: any free port).
    pub http_listen: SocketAddr,
    /// Seeds traffic and attacks.
    pub seed: u64,
    /// Inject attacks.
    pub attacks: bool,
    /// Where the ground truth goes.
    pub truth: Option<PathBuf>,
    /// Thing name prefix.
    pub prefix: String,
}

impl DemoOptions {
    /// 200 devices, a 1-second tick, seed 1, attacks on, in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> DemoOptions {
        let data_dir = data_dir.into();
        DemoOptions {
            truth: Some(data_dir.join("truth.jsonl")),
            data_dir,
            devices: 200,
            tick: Duration::from_secs(1),
            mqtt_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            seed: 1,
            attacks: true,
            prefix: "sim-".to_owned(),
        }
    }
}

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The server did not start.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The fleet could not be provisioned.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The CA could not be loaded.
    #[error("CA: {0}")]
    Ca(#[from] fleetward_service::pki::PkiError),
}

/// A running demo server with its fleet provisioned.
pub struct Demo {
    /// The server.
    pub running: RunningServer,
    /// The options it was started with.
    pub options: DemoOptions,
    /// The server's time scale.
    pub time_scale: u32,
    /// The starter profiles, applied and attached.
    pub profiles: Vec<String>,
    devices: Vec<(DeviceSpec, Credentials)>,
    ca_pem: String,
}

/// The minimum report interval the demo server enforces before scaling, as a fraction of
/// AWS's 300 s. Reports come exactly one tick apart, and the network adds jitter either way;
/// a throttle of exactly one tick would refuse about every other report whose predecessor was
/// a little slow. Nine tenths of a tick still refuses any device reporting twice per interval.
pub const THROTTLE_FRACTION: f64 = 0.9;

impl Demo {
    /// Starts the server with `options.tick` as the report interval, provisions the fleet and
    /// attaches the starter profiles.
    pub async fn start(options: DemoOptions) -> Result<Demo, DemoError> {
        let time_scale = time_scale_for(options.tick);
        let mut cfg = ServeConfig::new(&options.data_dir);
        cfg.mqtt_listen = vec![options.mqtt_listen];
        cfg.http_listen = options.http_listen;
        cfg.time_scale = time_scale;
        cfg.min_report_interval =
            Duration::from_millis(REPORT_INTERVAL_MS.unsigned_abs()).mul_f64(THROTTLE_FRACTION);
        let running = fleetward_server::server::start(cfg).await?;
        let (ca, _) = Ca::load_or_create(&options.data_dir.join("ca"))?;
        let specs = fleet(options.devices, &options.prefix);
        let creds = provision_fleet(
            running.store.as_ref(),
            &ca,
            &specs,
            &options.data_dir.join("sim-devices"),
        )
        .await?;
        let profiles = apply_starter_profiles(&running.ctx).await?;
        Ok(Demo {
            running,
            options,
            time_scale,
            profiles,
            devices: specs.into_iter().zip(creds).collect(),
            ca_pem: ca.pem().to_owned(),
        })
    }

    /// The simulation of the demo's fleet against its server, for `ticks` ticks (or until
    /// stopped).
    pub fn sim_config(&self, ticks: Option<u64>) -> SimConfig {
        let port = self.running.mqtt_addr.map_or(0, |a| a.port());
        SimConfig {
            endpoint: Endpoint {
                host: "127.0.0.1".to_owned(),
                port,
                ca_pem: self.ca_pem.clone(),
                prefix: fleetward_proto::topic::DEFAULT_PREFIX.to_owned(),
                format: fleetward_proto::Format::Json,
            },
            devices: self.devices.clone(),
            tick: self.options.tick,
            ticks,
            attacks: self.options.attacks,
            seed: self.options.seed,
            clock: SimClock::starting_near(fleetward_core::aws::time::system_now_ms()),
            truth: self.options.truth.clone(),
        }
    }
}
