//! `fleetward serve`: wires broker → ingest → store (and the HTTP listener) together.
//!
//! Everything a deployment needs lives in one data directory: the SQLite database, the CA, and
//! the broker's own certificate. Nothing else on the machine is required.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::broker::EventTx;
use crate::broker::authz::Authorizer;
use crate::broker::embedded::{EmbeddedBroker, EmbeddedConfig};
use crate::broker::external::{ExternalBroker, ExternalConfig};
use crate::broker::sessions::{self, IdentityQueue, Limits};
use crate::detection::DetectionService;
use crate::ingest::{Pipeline, PipelineConfig, cloud};
use crate::supervisor::{Supervisor, TaskFailure};
use fleetward_core::aws::{ArnScope, Clock, ScaledClock};
use fleetward_core::identity::Arns;
use fleetward_service::data_dir::write_private;
use fleetward_service::pki::{Ca, CertFacts};
use fleetward_service::{Changes, Ctx};
use fleetward_store::{CertStatus, Store};
use futures_util::FutureExt;

/// Default TLS MQTT address: the IANA MQTT-over-TLS port, on every interface (devices connect
/// from the network).
pub const DEFAULT_MQTT_LISTEN: &str = "0.0.0.0:8883";
/// Default HTTP address: loopback only (an operator surface).
pub const DEFAULT_HTTP_LISTEN: &str = "127.0.0.1:8780";
/// Default dev listener address (1883 is usually another broker's).
pub const DEFAULT_DEV_LISTEN: &str = "127.0.0.1:1884";

/// Everything `serve` needs to know.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where the database, the CA and the broker certificate live.
    pub data_dir: PathBuf,
    /// The embedded broker's mutual-TLS listeners (at least one).
    pub mqtt_listen: Vec<SocketAddr>,
    /// Names (DNS names or IP addresses) devices reach the broker by, put in the broker
    /// certificate Fleetward issues beside `localhost`, `127.0.0.1` and `::1`.
    pub server_names: Vec<String>,
    /// The operator's own broker certificate and key, used instead of one Fleetward issues.
    pub mqtt_tls: Option<crate::http::TlsFiles>,
    /// The HTTP listener.
    pub http_listen: SocketAddr,
    /// The plain-TCP loopback dev listener, when enabled.
    pub dev_listen: Option<SocketAddr>,
    /// Be a client of an existing broker instead of running one.
    pub external: Option<ExternalConfig>,
    /// Minimum time between accepted reports of one thing.
    pub min_report_interval: Duration,
    /// How long reports and datapoints are kept.
    pub retention: Duration,
    /// The Defender topic prefix.
    pub prefix: String,
    /// ARN region segment.
    pub region: String,
    /// ARN account segment.
    pub account: String,
    /// Cloud-side count window in ms (AWS: 5 minutes; shorter for demos and tests).
    pub cloud_window_ms: i64,
    /// Serve HTTP (the API, /healthz, /metrics) over TLS with this certificate and key.
    pub http_tls: Option<crate::http::TlsFiles>,
    /// The API's per-key TPS limits (AWS's quotas by default).
    pub api_rate_limits: fleetward_api::limit::RateLimitConfig,
    /// Time compression, a demo and benchmark setting: the report throttle, the cloud-side
    /// window, behavior `durationSeconds` windows, statistical window ends and the 2-day
    /// silence all run this many times faster (300 makes a 5-minute report interval one
    /// second). 1, the default, is AWS's time. Stored times stay wall-clock times.
    pub time_scale: u32,
    /// Serve `/metrics` to every host, not only loopback (its labels name what is watched).
    pub metrics_public: bool,
    /// The embedded broker's session limits, in all and per source address.
    pub limits: Limits,
}

/// Sessions the embedded broker holds by default. Measured (docs/benchmarks.md, idle mutual-TLS
/// connections) at about 60 KiB of RSS each, this is some 6 GiB at the limit.
pub const DEFAULT_MAX_SESSIONS: usize = 100_000;

/// Sessions one source address may hold by default: generous for devices behind one NAT,
/// small beside [`DEFAULT_MAX_SESSIONS`].
pub const DEFAULT_MAX_SESSIONS_PER_ADDRESS: u32 = 1024;

impl ServeConfig {
    /// The defaults, rooted at `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServeConfig {
            data_dir: data_dir.into(),
            mqtt_listen: vec![parse_addr(DEFAULT_MQTT_LISTEN)],
            server_names: Vec::new(),
            mqtt_tls: None,
            http_listen: parse_addr(DEFAULT_HTTP_LISTEN),
            dev_listen: None,
            external: None,
            min_report_interval: Duration::from_secs(300),
            retention: Duration::from_secs(14 * 24 * 3600),
            prefix: fleetward_proto::topic::DEFAULT_PREFIX.to_owned(),
            region: "us-east-1".to_owned(),
            account: "000000000000".to_owned(),
            cloud_window_ms: cloud::WINDOW_MS,
            http_tls: None,
            api_rate_limits: fleetward_api::limit::RateLimitConfig::default(),
            time_scale: 1,
            metrics_public: false,
            limits: Limits {
                max_sessions: DEFAULT_MAX_SESSIONS,
                max_per_address: DEFAULT_MAX_SESSIONS_PER_ADDRESS,
            },
        }
    }
}

fn parse_addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// Why the server could not start; each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory or a file in it could not be used.
    #[error("data directory {path}: {reason} (set --data-dir)")]
    DataDir {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The data directory's store or CA could not be opened.
    #[error("{0}")]
    Open(#[from] fleetward_service::data_dir::DataDirError),
    /// The database failed.
    #[error("database: {0}")]
    Store(#[from] fleetward_store::StoreError),
    /// The CA or broker certificate could not be made or loaded.
    #[error("certificates: {0}")]
    Pki(#[from] fleetward_service::pki::PkiError),
    /// A `--server-name` cannot go in a certificate.
    #[error("--server-name: {0}")]
    ServerName(fleetward_service::pki::PkiError),
    /// The broker could not start.
    #[error("{0}")]
    Broker(#[from] crate::broker::embedded::BrokerError),
    /// External-broker mode could not start.
    #[error("{0}")]
    External(#[from] crate::broker::external::ExternalError),
    /// The HTTP listener could not bind.
    #[error("cannot listen on {addr} ({reason}); choose another address with --http-listen")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
    },
    /// The API's admin key could not be made.
    #[error("API access key: {0}")]
    ApiKey(#[from] fleetward_api::keys::KeyError),
    /// The built-in policy did not parse (a bug).
    #[error("policy: {0}")]
    Policy(#[from] fleetward_core::identity::PolicyError),
}

/// A started server.
pub struct RunningServer {
    /// The embedded broker's TLS address (embedded mode).
    pub mqtt_addr: Option<SocketAddr>,
    /// Every mutual-TLS listener's bound address (empty with an external broker).
    pub mqtt_addrs: Vec<SocketAddr>,
    /// The dev listener's address, when enabled.
    pub dev_addr: Option<SocketAddr>,
    /// The HTTP address.
    pub http_addr: SocketAddr,
    /// The admin access key's file, when this start created it (first start).
    pub admin_key_file: Option<PathBuf>,
    /// The CA certificate devices and clients trust.
    pub ca_path: PathBuf,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The ingest pipeline.
    pub pipeline: Pipeline,
    /// The embedded broker, when running one.
    pub broker: Option<EmbeddedBroker>,
    /// The external-broker client, in that mode.
    pub external: Option<ExternalBroker>,
    /// Detection's front: its counters, and the refresher in-process admin edits poke.
    pub detection: Arc<DetectionService>,
    /// Registered custom metric types ingest checks against; in-process edits poke its
    /// refresher.
    pub custom_types: Arc<crate::ingest::custom::CustomTypes>,
    /// The service context the API runs with; in-process callers (the demo) use it so their
    /// edits poke detection like the API's do.
    pub ctx: Ctx,
    /// Every long-running task of the server.
    pub supervisor: Supervisor,
}

/// How long the stop may take in all: within it, the broker drains, tasks finish their step
/// and the store closes. `fleetward serve` exits within this after SIGTERM.
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

impl RunningServer {
    /// Waits until a task fails (see [`Supervisor::watch`]); never returns while all are
    /// healthy.
    pub async fn watch(&mut self) -> TaskFailure {
        self.supervisor.watch().await
    }

    /// Stops the server in the order a report travels, within [`STOP_WITHIN`]:
    /// 1. the broker refuses new connections and reports and waits until those it took are
    ///    stored and answered (an external broker's client disconnects after its in-flight
    ///    reports are acknowledged);
    /// 2. ingest commits what is queued;
    /// 3. every task is told to stop and finishes its step: detection evaluates what it has
    ///    queued and commits, the outbox finishes its pass, cloud-side metrics store what is
    ///    ready, HTTP answers the requests in flight;
    /// 4. the store closes.
    ///
    /// Returns what did not stop cleanly; empty means a clean stop.
    pub async fn stop(self) -> Vec<TaskFailure> {
        let started = tokio::time::Instant::now();
        let mut failures = Vec::new();
        if let Some(broker) = &self.broker {
            let left = broker.drain(Duration::from_secs(3)).await;
            if left > 0 {
                failures.push(TaskFailure {
                    task: "broker",
                    reason: format!("{left} report(s) were still in flight after 3 s"),
                });
            }
        }
        if let Some(ext) = &self.external {
            ext.stop().await;
        }
        self.pipeline.drain().await;
        // Leave a second of the budget for closing the store.
        let grace = STOP_WITHIN
            .saturating_sub(started.elapsed())
            .saturating_sub(Duration::from_secs(1));
        failures.extend(self.supervisor.stop(grace).await);
        self.store.close().await;
        tracing::info!(elapsed_ms = started.elapsed().as_millis(), "server stopped");
        failures
    }
}

/// What the service layer's edits poke in a running server: detection's re-targeting and the
/// custom metric type table.
struct RunningChanges {
    targeting: Arc<tokio::sync::Notify>,
    custom_metrics: Arc<tokio::sync::Notify>,
    /// The embedded broker's session guard; none in external-broker mode, whose broker owns
    /// the sessions.
    identity: Option<Arc<IdentityQueue>>,
}

impl Changes for RunningChanges {
    fn targeting_changed(&self) {
        self.targeting.notify_one();
    }

    fn custom_metrics_changed(&self) {
        self.custom_metrics.notify_one();
        // Behaviors on a custom metric compile against its type.
        self.targeting.notify_one();
    }

    fn identity_changed(&self, change: fleetward_service::IdentityChange) {
        if let Some(q) = &self.identity {
            q.push(change);
        }
    }
}

/// Selects rustls's crypto provider for the process. Both providers are compiled in (rmqtt
/// and rumqttc pull different ones), and rustls refuses to guess; aws-lc-rs is the one rmqtt's
/// listener uses. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Starts everything and returns once all listeners are bound.
pub async fn start(cfg: ServeConfig) -> Result<RunningServer, ServeError> {
    install_crypto_provider();
    if cfg.http_tls.is_none() && !cfg.http_listen.ip().is_loopback() {
        // Access keys sign requests, but the API's answers (certificates, policies, alerts'
        // targets) and /healthz travel in the clear to whoever is on the path.
        tracing::warn!(
            addr = %cfg.http_listen,
            "the HTTP API listens beyond loopback without TLS: its answers cross the network \
             in the clear; set --http-tls-cert and --http-tls-key"
        );
    }
    let clock: Arc<dyn Clock> = Arc::new(ScaledClock::new(cfg.time_scale));
    let (store, ca, _) =
        fleetward_service::data_dir::open_with_clock(&cfg.data_dir, clock.clone()).await?;
    // Shared with the API, whose CreateKeysAndCertificate issues device certificates.
    let ca = Arc::new(ca);
    let store: Arc<dyn Store> = store;
    let mut supervisor = Supervisor::new();
    let (detection, detection_task) = DetectionService::with_config(
        store.clone(),
        crate::detection::DetectionConfig {
            clock: clock.clone(),
            ..crate::detection::DetectionConfig::default()
        },
    );
    let custom_types = crate::ingest::custom::CustomTypes::load(store.as_ref()).await?;
    supervisor.spawn(
        "custom-metric-types",
        custom_types
            .clone()
            .run_refresh(store.clone(), Duration::from_secs(5), supervisor.shutdown())
            .map(Ok),
    );
    let pipeline = Pipeline::start(
        store.clone(),
        PipelineConfig {
            min_interval: clock.scaled(cfg.min_report_interval),
            custom_types: Some(custom_types.clone()),
            ..PipelineConfig::default()
        },
        vec![detection.clone() as Arc<dyn crate::ingest::ReportSink>],
    )
    .await?;
    supervisor.spawn(
        "retention",
        crate::retention::run_retention(
            store.clone(),
            cfg.retention,
            crate::retention::DEFAULT_PRUNE_EVERY,
            supervisor.shutdown(),
        )
        .map(Ok),
    );

    let (mut broker, mut external, mut events_tx, mut identity) = (None, None, None, None);
    if let Some(ext) = cfg.external.clone() {
        external = Some(ExternalBroker::start(ext, cfg.prefix.clone(), pipeline.clone()).await?);
    } else {
        let tls = broker_tls(&cfg, &ca, store.as_ref()).await?;
        let (events, rx) = EventTx::channel(65_536);
        let window_ms = clock.scaled_ms(cfg.cloud_window_ms);
        supervisor.spawn(
            "cloud-metrics",
            cloud::run(
                rx,
                store.clone(),
                clock.clone(),
                window_ms,
                Duration::from_millis(250).min(Duration::from_millis(
                    u64::try_from(window_ms / 4).unwrap_or(250).max(10),
                )),
                Some(detection.clone() as Arc<dyn cloud::CloudSink>),
                supervisor.shutdown(),
            )
            .map(Ok),
        );
        let authz = Arc::new(Authorizer::new(
            store.clone(),
            Arns::new(cfg.region.clone(), cfg.account.clone()),
            &cfg.prefix,
        )?);
        let embedded = EmbeddedBroker::start(
            EmbeddedConfig {
                mqtt_listen: cfg.mqtt_listen.clone(),
                dev_listen: cfg.dev_listen,
                server_cert: tls.0,
                server_key: tls.1,
                client_ca: tls.2,
                prefix: cfg.prefix.clone(),
                max_packet_size: 256 * 1024,
                clock: clock.clone(),
                limits: cfg.limits,
            },
            authz,
            pipeline.clone(),
            events.clone(),
        )
        .await?;
        let queue = Arc::new(IdentityQueue::default());
        supervisor.spawn(
            "session-guard",
            embedded
                .guard(queue.clone(), sessions::SWEEP, supervisor.shutdown())
                .map(Ok),
        );
        identity = Some(queue);
        events_tx = Some(events);
        broker = Some(embedded);
    }

    // MQTT alert targets publish on the embedded broker; in external mode there is none, so
    // they fail (and are retried) with "no embedded broker to publish on".
    let mqtt = broker
        .as_ref()
        .map(|b: &EmbeddedBroker| b.publisher().into_mqtt_publish());
    let outbox = crate::alert::Outbox::new(
        store.clone(),
        crate::alert::OutboxConfig {
            clock: clock.clone(),
            ..crate::alert::OutboxConfig::default()
        },
        mqtt,
    );
    supervisor.spawn(
        "detection",
        detection_task
            .with_alert_wake(outbox.waker())
            .run(supervisor.shutdown())
            .map(Ok),
    );
    supervisor.spawn("alert-outbox", outbox.run(supervisor.shutdown()).map(Ok));

    let admin_key_file =
        fleetward_api::keys::ensure_admin_key(store.as_ref(), &cfg.data_dir, &cfg.region).await?;
    if let Some(path) = &admin_key_file {
        tracing::info!(path = %path.display(), "created the API admin access key");
    }
    let ctx = Ctx::new(store.clone())
        .with_scope(ArnScope::new(cfg.region.clone(), cfg.account.clone()))
        .with_clock(clock.clone())
        .with_changes(Arc::new(RunningChanges {
            targeting: detection.refresher(),
            custom_metrics: custom_types.refresher(),
            identity,
        }))
        .with_ca(ca.clone());
    let mut api = fleetward_api::ApiState::new(ctx.clone());
    api.limiter = Arc::new(fleetward_api::limit::RateLimits::new(cfg.api_rate_limits));
    let (http_addr, serving) = crate::http::serve_with(
        cfg.http_listen,
        crate::http::HttpState {
            store: store.clone(),
            ingest: pipeline.stats(),
            events: events_tx,
            detection: Some(detection.stats()),
            sessions: broker.as_ref().map(EmbeddedBroker::session_stats),
            metrics_public: cfg.metrics_public,
        },
        fleetward_api::router(api),
        cfg.http_tls.as_ref(),
        supervisor.shutdown(),
    )
    .await
    .map_err(|e| ServeError::Http {
        addr: cfg.http_listen,
        reason: e.to_string(),
    })?;
    supervisor.spawn("http", serving);

    Ok(RunningServer {
        mqtt_addr: broker.as_ref().and_then(|b| b.mqtt_addrs.first().copied()),
        mqtt_addrs: broker
            .as_ref()
            .map(|b| b.mqtt_addrs.clone())
            .unwrap_or_default(),
        dev_addr: broker.as_ref().and_then(|b| b.dev_addr),
        http_addr,
        admin_key_file,
        ca_path: ca.cert_path().to_owned(),
        store,
        pipeline,
        broker,
        external,
        detection,
        custom_types,
        ctx,
        supervisor,
    })
}

/// Writes the broker's certificate, key and client-CA bundle into `<data>/broker/`. The
/// certificate is the operator's (`mqtt_tls`), or one the Fleetward CA issues for
/// `server_names`, reused while it is valid for 30 more days and names the same hosts. The
/// bundle holds every ACTIVE registered CA, so devices of a registered CA can connect (a CA
/// registered while running takes effect at the next start).
async fn broker_tls(
    cfg: &ServeConfig,
    ca: &Ca,
    store: &dyn Store,
) -> Result<(PathBuf, PathBuf, PathBuf), ServeError> {
    let dir = cfg.data_dir.join("broker");
    let io = |path: &Path, e: std::io::Error| ServeError::DataDir {
        path: path.to_owned(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    let bundle = dir.join("client-ca.pem");
    let (cert, key) = match &cfg.mqtt_tls {
        Some(own) => (own.cert.clone(), own.key.clone()),
        None => {
            let (cert, key, names) = (
                dir.join("server.pem"),
                dir.join("server.key"),
                dir.join("server-names"),
            );
            let wanted = cfg.server_names.join("\n");
            let fresh = std::fs::read_to_string(&cert)
                .ok()
                .and_then(|pem| CertFacts::from_pem(&pem).ok())
                .is_some_and(|f| {
                    f.not_after > fleetward_core::aws::time::system_now_ms() + 30 * 24 * 3600 * 1000
                        && key.exists()
                })
                && std::fs::read_to_string(&names).unwrap_or_default() == wanted;
            if !fresh {
                let issued = ca.issue_server(&cfg.server_names).map_err(|e| match e {
                    e @ fleetward_service::pki::PkiError::InvalidName { .. } => {
                        ServeError::ServerName(e)
                    }
                    e => ServeError::Pki(e),
                })?;
                write_private(&key, issued.key_pem.as_bytes()).map_err(|e| io(&key, e))?;
                std::fs::write(&cert, format!("{}{}", issued.cert_pem, ca.pem()))
                    .map_err(|e| io(&cert, e))?;
                std::fs::write(&names, &wanted).map_err(|e| io(&names, e))?;
            }
            (cert, key)
        }
    };
    let mut pems = String::new();
    for c in store.list_cas().await? {
        if c.status == CertStatus::Active {
            pems.push_str(&c.pem);
            if !c.pem.ends_with('\n') {
                pems.push('\n');
            }
        }
    }
    std::fs::write(&bundle, pems).map_err(|e| io(&bundle, e))?;
    Ok((cert, key, bundle))
}
