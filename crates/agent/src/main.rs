//! `fleetward-agent`: the command line around the library.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use fleetward_agent::collect::DirSource;
use fleetward_agent::collect::ifaces::SystemInterfaces;
use fleetward_agent::config::{self, Config, LogLevel};
use fleetward_agent::report::{self, BuildError};
use fleetward_agent::reporter::{Pipeline, Reporter, RunOptions, Sources};
use fleetward_agent::{AgentError, Event};
use fleetward_proto::Format;
use fleetward_proto::answer::Status;
use tracing::{error, info};

/// Where the config is read from when `--config` is not given, if it exists.
const DEFAULT_CONFIG: &str = "/etc/fleetward-agent/agent.toml";

/// Reports AWS IoT Device Defender metrics from /proc over MQTT with mutual TLS.
///
/// Settings come from the TOML file, then FLEETWARD_AGENT_* environment variables
/// (FLEETWARD_AGENT_MQTT_HOST for mqtt.host), then flags.
#[derive(Debug, Parser)]
#[command(name = "fleetward-agent", version)]
struct Cli {
    /// TOML config file (default /etc/fleetward-agent/agent.toml if it exists).
    #[arg(long, env = "FLEETWARD_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Send one report, wait for the answer, exit (0 accepted, 3 rejected).
    #[arg(long)]
    once: bool,
    /// Print reports instead of connecting.
    #[arg(long)]
    dry_run: bool,
    /// Print the effective configuration and exit.
    #[arg(long)]
    print_config: bool,
    /// Set any key, e.g. --set mqtt.port=8883 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Shorthand for --set thing_name=...
    #[arg(long)]
    thing_name: Option<String>,
    /// Shorthand for --set proc_root=...
    #[arg(long)]
    proc_root: Option<String>,
    /// Shorthand for --set interval_secs=...
    #[arg(long)]
    interval_secs: Option<String>,
    /// Shorthand for --set format=... (json, cbor)
    #[arg(long)]
    format: Option<String>,
    /// Shorthand for --set keys=... (long, short)
    #[arg(long)]
    keys: Option<String>,
    /// Shorthand for --set mqtt.host=...
    #[arg(long)]
    host: Option<String>,
    /// Shorthand for --set mqtt.port=...
    #[arg(long)]
    port: Option<String>,
    /// Shorthand for --set log_level=... (error, warn, info, debug, trace)
    #[arg(long)]
    log_level: Option<String>,
}

impl Cli {
    fn sets(&self) -> Result<Vec<(String, String)>, config::ConfigError> {
        let mut out = Vec::new();
        for s in &self.set {
            let Some((k, v)) = s.split_once('=') else {
                return Err(config::ConfigError {
                    key: s.clone(),
                    message: "--set needs KEY=VALUE, e.g. --set mqtt.port=8883".to_owned(),
                });
            };
            out.push((k.trim().to_owned(), v.to_owned()));
        }
        let short = [
            ("thing_name", &self.thing_name),
            ("proc_root", &self.proc_root),
            ("interval_secs", &self.interval_secs),
            ("format", &self.format),
            ("keys", &self.keys),
            ("mqtt.host", &self.host),
            ("mqtt.port", &self.port),
            ("log_level", &self.log_level),
        ];
        for (k, v) in short {
            if let Some(v) = v {
                out.push((k.to_owned(), v.clone()));
            }
        }
        Ok(out)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fleetward-agent: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    init_logging(config.log_level);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fleetward-agent: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli, config))
}

fn load(cli: &Cli) -> Result<Config, config::ConfigError> {
    let file = cli.config.clone().or_else(|| {
        Path::new(DEFAULT_CONFIG)
            .exists()
            .then(|| DEFAULT_CONFIG.into())
    });
    config::load(file.as_deref(), std::env::vars(), &cli.sets()?)
}

fn init_logging(level: LogLevel) {
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        // Colour only on a terminal, not in the journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn run(cli: Cli, config: Config) -> ExitCode {
    let sources = Sources {
        proc: Arc::new(DirSource::new(&config.proc_root)),
        ifaces: Arc::new(SystemInterfaces),
    };
    if cli.dry_run {
        return dry_run(&config, &sources, cli.once).await;
    }
    let on_event = Arc::new(|e: &Event| {
        if let Event::MqttFailure { .. } | Event::BuildFailure { .. } = e {
            // Already logged by the reporter; the embedding API is where events matter.
        }
    });
    let run = RunOptions {
        first_delay: cli.once.then_some(Duration::ZERO),
        once: cli.once,
    };
    let reporter = match Reporter::start(&config, sources, run, on_event) {
        Ok(r) => r,
        Err(e) => {
            error!("{e}");
            return match e {
                AgentError::Config(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            };
        }
    };
    if cli.once {
        let limit = Duration::from_secs(config.mqtt.connect_timeout_secs + 30);
        return match tokio::time::timeout(limit, reporter.wait()).await {
            Ok(Ok(Some(Status::Accepted))) => ExitCode::SUCCESS,
            Ok(Ok(Some(Status::Rejected))) => ExitCode::from(3),
            Ok(Ok(None)) => ExitCode::FAILURE,
            Ok(Err(e)) => {
                error!("{e}");
                ExitCode::FAILURE
            }
            Err(_) => {
                error!("no answer within {} s", limit.as_secs());
                ExitCode::FAILURE
            }
        };
    }
    wait_for_signal().await;
    info!("stopping");
    match reporter.stop().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// SIGTERM (systemd) or SIGINT (a terminal).
async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!("cannot watch SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// Prints reports as indented JSON instead of publishing them; each printed report counts
/// as sent, so the next one carries deltas.
async fn dry_run(config: &Config, sources: &Sources, once: bool) -> ExitCode {
    let mut settings = config.report_settings();
    if settings.format == Format::Cbor {
        info!("format = cbor: shown as JSON; the agent would send the same report as CBOR");
        settings.format = Format::Json;
    }
    let mut pipeline = Pipeline::new(sources, config.collect_options(), settings);
    if config.builtins.cpu_usage {
        // Give cpu_usage a window to measure.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut ticker = tokio::time::interval(config.interval());
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let stop = wait_for_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return ExitCode::SUCCESS,
            _ = ticker.tick() => {}
        }
        match pipeline.prepare().await {
            Ok(p) => {
                println!("{}", report::pretty_json(&p.payload));
                pipeline.sent(&p);
            }
            Err(BuildError::Empty) if !once => {
                info!("nothing to report yet (network_stats needs a baseline)");
            }
            Err(e) => {
                error!("report not built: {e}");
                if once {
                    return ExitCode::FAILURE;
                }
            }
        }
        if once {
            return ExitCode::SUCCESS;
        }
    }
}
