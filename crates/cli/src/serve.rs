//! `fleetward serve`: run the server until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use fleetward_server::broker::external::ExternalConfig;
use fleetward_server::server::{
    self, DEFAULT_DEV_LISTEN, DEFAULT_HTTP_LISTEN, DEFAULT_MQTT_LISTEN, ServeConfig,
};

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Where the database, the CA and the broker certificate live.
    #[arg(long, env = "FLEETWARD_DATA_DIR", default_value = "./fleetward-data")]
    data_dir: PathBuf,
    /// The embedded broker's mutual-TLS MQTT listener. Repeat it to listen on several
    /// addresses: `--mqtt-listen 0.0.0.0:8883 --mqtt-listen 0.0.0.0:443` also serves devices
    /// using the AWS IoT SDKs' default, port 443 (their ALPN `x-amzn-mqtt-ca` is not needed:
    /// no protocol is negotiated and the handshake goes on).
    #[arg(long, default_value = DEFAULT_MQTT_LISTEN, action = clap::ArgAction::Append)]
    mqtt_listen: Vec<SocketAddr>,
    /// A DNS name or IP address devices reach the broker by (repeatable). The broker
    /// certificate Fleetward issues names these beside localhost, 127.0.0.1 and ::1, so remote
    /// devices pass their hostname check. Ignored with --mqtt-tls-cert.
    #[arg(long = "server-name", value_name = "NAME", action = clap::ArgAction::Append)]
    server_names: Vec<String>,
    /// The broker's own server certificate chain (PEM), instead of one Fleetward issues:
    /// for devices that verify the broker against another CA (AWS's endpoint CA is not
    /// ours to use, so devices moving from AWS get a certificate of a CA they trust).
    #[arg(long, requires = "mqtt_tls_key", value_name = "PEM")]
    mqtt_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --mqtt-tls-cert.
    #[arg(long, requires = "mqtt_tls_cert", value_name = "PEM")]
    mqtt_tls_key: Option<PathBuf>,
    /// The HTTP listener (/healthz, /metrics).
    #[arg(long, default_value = DEFAULT_HTTP_LISTEN)]
    http_listen: SocketAddr,
    /// Also listen on plain TCP without certificates (client id = thing name). For local
    /// development only; loopback by default.
    #[arg(long, num_args = 0..=1, default_missing_value = DEFAULT_DEV_LISTEN, value_name = "ADDR")]
    dev_listener: Option<SocketAddr>,
    /// Use an existing broker instead of the embedded one: mqtt://host:port or mqtts://host:port.
    #[arg(long, value_name = "URL")]
    broker: Option<String>,
    /// CA certificate (PEM) to verify an mqtts:// broker.
    #[arg(long, requires = "broker")]
    broker_ca: Option<PathBuf>,
    /// Client certificate (PEM) for an mqtts:// broker that requires one.
    #[arg(long, requires_all = ["broker", "broker_key"])]
    broker_cert: Option<PathBuf>,
    /// Client key (PEM) for --broker-cert.
    #[arg(long, requires = "broker_cert")]
    broker_key: Option<PathBuf>,
    /// MQTT client id on the external broker (unique per instance).
    #[arg(long, default_value = "fleetward-1", requires = "broker")]
    broker_client_id: String,
    /// Shared-subscription group the instances split reports in.
    #[arg(long, default_value = "fleetward", requires = "broker")]
    broker_group: String,
    /// Subscribe without a shared subscription (a single instance). Needed on brokers that do
    /// not route `$` topics to shared subscriptions (Mosquitto) when keeping `$aws/things/`.
    #[arg(long, requires = "broker")]
    broker_no_share: bool,
    /// Minimum seconds between accepted reports of one thing (AWS: 300). 0 disables throttling
    /// (demos and benchmarks).
    #[arg(long, default_value_t = 300)]
    min_report_interval: u64,
    /// Days of reports and datapoints to keep.
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u64).range(1..=3650))]
    retention_days: u64,
    /// Topic prefix devices publish under (when a broker reserves `$` topics).
    #[arg(long, default_value = fleetward_proto::topic::DEFAULT_PREFIX)]
    topic_prefix: String,
    /// Region segment of the ARNs policies are matched against.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Account segment of the ARNs.
    #[arg(long, default_value = "000000000000")]
    account: String,
    /// Serve HTTP (the API, /healthz, /metrics) over TLS with this certificate chain (PEM).
    #[arg(long, requires = "http_tls_key", value_name = "PEM")]
    http_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --http-tls-cert.
    #[arg(long, requires = "http_tls_cert", value_name = "PEM")]
    http_tls_key: Option<PathBuf>,
    /// API calls per second per access key and operation, for most operations (AWS: 10);
    /// 0 disables the limit.
    #[arg(long, default_value_t = 10)]
    api_tps: u32,
    /// Calls per second for DescribeSecurityProfile and DescribeCustomMetric (AWS: 25).
    #[arg(long, default_value_t = 25)]
    api_tps_describe: u32,
    /// Calls per second for ListMetricValues (AWS: 15).
    #[arg(long, default_value_t = 15)]
    api_tps_metric_values: u32,
    /// Run time N times faster: the report throttle, the 5-minute cloud-side window, behavior
    /// durations, statistical windows and the 2-day silence are divided by N. A demo and
    /// benchmark setting (`fleetward demo` uses 300: one report interval per second); never
    /// for production.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=86_400))]
    time_scale: u32,
    /// Serve /metrics to every host that reaches the HTTP listener, not only loopback. Its
    /// labels name security profiles and behaviors, which tell an attacker what is watched.
    #[arg(long)]
    metrics_public: bool,
    /// Most MQTT sessions the embedded broker holds; further CONNECTs are refused (and
    /// counted on /metrics). Size it to memory: docs/benchmarks.md has the RSS per session.
    #[arg(long, default_value_t = server::DEFAULT_MAX_SESSIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    max_sessions: usize,
    /// Most MQTT sessions from one source IP address (0: no limit). Devices behind one NAT
    /// share an address; raise it for a site with more.
    #[arg(long, default_value_t = server::DEFAULT_MAX_SESSIONS_PER_ADDRESS)]
    max_sessions_per_address: u32,
}

pub(super) async fn run(a: ServeArgs) -> ExitCode {
    let mut signals = super::signals::StopSignals::install();
    let mut cfg = ServeConfig::new(a.data_dir);
    cfg.mqtt_listen = a.mqtt_listen;
    cfg.server_names = a.server_names;
    cfg.mqtt_tls = a
        .mqtt_tls_cert
        .zip(a.mqtt_tls_key)
        .map(|(cert, key)| fleetward_server::http::TlsFiles { cert, key });
    cfg.http_listen = a.http_listen;
    cfg.metrics_public = a.metrics_public;
    cfg.limits = fleetward_server::broker::sessions::Limits {
        max_sessions: a.max_sessions,
        max_per_address: a.max_sessions_per_address,
    };
    cfg.dev_listen = a.dev_listener;
    cfg.min_report_interval = Duration::from_secs(a.min_report_interval);
    cfg.retention = Duration::from_secs(a.retention_days * 24 * 3600);
    cfg.prefix = a.topic_prefix;
    cfg.region = a.region;
    cfg.account = a.account;
    cfg.http_tls = a
        .http_tls_cert
        .zip(a.http_tls_key)
        .map(|(cert, key)| fleetward_server::http::TlsFiles { cert, key });
    let https = cfg.http_tls.is_some();
    cfg.api_rate_limits = fleetward_api::limit::RateLimitConfig {
        default_tps: a.api_tps,
        describe_tps: a.api_tps_describe,
        metric_values_tps: a.api_tps_metric_values,
    };
    cfg.time_scale = a.time_scale;
    cfg.external = a.broker.map(|url| ExternalConfig {
        url,
        ca: a.broker_ca,
        client_cert: a.broker_cert.zip(a.broker_key),
        client_id: a.broker_client_id,
        group: (!a.broker_no_share).then_some(a.broker_group),
    });
    let external = cfg.external.as_ref().map(|e| e.url.clone());
    let mut running = match server::start(cfg).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fleetward: {e}");
            return ExitCode::FAILURE;
        }
    };
    match (running.mqtt_addrs.as_slice(), external) {
        (addrs @ [_, ..], _) => {
            for addr in addrs {
                super::out(&format!("MQTT (mutual TLS) listening on {addr}"));
            }
        }
        ([], Some(url)) => super::out(&format!("MQTT: client of {url} (shared subscription)")),
        ([], None) => {}
    }
    if let Some(addr) = running.dev_addr {
        super::out(&format!(
            "MQTT dev listener (no TLS, client id = thing name) on {addr}"
        ));
    }
    let scheme = if https { "https" } else { "http" };
    super::out(&format!(
        "HTTP (AWS IoT API, /openapi.json, /healthz, /metrics) listening on {scheme}://{}",
        running.http_addr
    ));
    if let Some(path) = &running.admin_key_file {
        super::out(&format!(
            "API admin access key written to {} (fleetward keys create makes more)",
            path.display()
        ));
    }
    super::out(&format!("CA certificate: {}", running.ca_path.display()));
    super::out("Provision a device: fleetward certs create --thing NAME --out DIR");
    // Runs until SIGTERM or SIGINT, or until a task fails: then everything stops in order
    // (see `RunningServer::stop`) and the exit status says which it was.
    let failed = tokio::select! {
        () = signals.recv() => None,
        f = running.watch() => Some(f),
    };
    match &failed {
        None => super::out("shutting down"),
        Some(f) => eprintln!("fleetward: {f}; shutting down"),
    }
    let problems = running.stop().await;
    for p in &problems {
        eprintln!("fleetward: while stopping: {p}");
    }
    if failed.is_some() || !problems.is_empty() {
        return ExitCode::FAILURE;
    }
    super::out("stopped cleanly");
    ExitCode::SUCCESS
}
