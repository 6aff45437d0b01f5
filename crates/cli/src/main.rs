//! The `fleetward` command line: argument parsing and dispatch to one module per command.
//! Each module parses its flags, calls the service layer (offline commands, on the data
//! directory) or starts the server or the simulator, and prints; no rule lives here.
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod admin;
mod alerts;
mod demo;
mod keys;
mod metrics;
mod offline;
mod output;
mod registry;
mod report;
mod serve;
mod signals;
mod simulate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Fleetward: detects compromised IoT devices; wire-compatible with AWS IoT Device Defender.
#[derive(Debug, Parser)]
#[command(name = "fleetward", version, about, after_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server: embedded MQTT broker (or a client of an external one), ingestion,
    /// storage and the HTTP listener.
    Serve(Box<serve::ServeArgs>),
    /// Run a fleet of simulated devices (own certificates, MQTT over TLS, attacks on a seeded
    /// schedule) against a running server.
    Simulate(Box<simulate::SimulateArgs>),
    /// Start a server with a simulated fleet under attack and show detection live.
    Demo(Box<demo::DemoArgs>),
    /// Work with device metric reports.
    #[command(subcommand)]
    Report(report::ReportCommand),
    /// Device certificates: create, register, update, list.
    Certs {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: registry::CertsCommand,
    },
    /// Things: create, list, delete.
    Things {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: registry::ThingsCommand,
    },
    /// Thing groups (nested): create, add-thing, list.
    Groups {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: registry::GroupsCommand,
    },
    /// Security profiles (AWS CreateSecurityProfile JSON): apply, list, show, attach, detach.
    Profiles {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: admin::ProfilesCommand,
    },
    /// Custom metrics: create, list.
    CustomMetrics {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: admin::CustomMetricsCommand,
    },
    /// Dimensions (MQTT topic filters): create, list.
    Dimensions {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: admin::DimensionsCommand,
    },
    /// Alert targets (webhook, MQTT, log) that profiles send alerts to: create, list, delete.
    AlertTargets {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: alerts::AlertTargetsCommand,
    },
    /// Access keys for the HTTP API (AWS SigV4): create, list, delete.
    Keys {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: keys::KeysCommand,
    },
    /// Metric values of a thing (ListMetricValues): get.
    Metrics {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: metrics::MetricsCommand,
    },
    /// Violations: list the active ones.
    Violations {
        #[command(flatten)]
        dir: offline::DataDir,
        #[command(subcommand)]
        cmd: admin::ViolationsCommand,
    },
}

/// Prints `text` and a newline to stdout, ignoring a closed pipe (`fleetward … | head` must not
/// panic).
pub(crate) fn out(text: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
}

/// Exit status for a command that could not run (bad arguments, unreadable file).
pub const EXIT_USAGE: u8 = 2;

/// The exit statuses scripts can rely on, shown by `fleetward --help`.
const EXIT_STATUS_HELP: &str = "\
Output: things, groups, certs, profiles, custom-metrics, dimensions, violations and metrics
print a table on a terminal and JSON (AWS's response shapes) when piped or with --json.

Exit status:
  0  success
  1  failure (storage, I/O, internal error)
  2  invalid input or usage (bad name, bad enum value, malformed document, unknown flag)
  3  not found (a thing, group, certificate, profile or violation the command names)";

/// Parses the process arguments and runs the command.
fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Report(cmd) = cli.command {
        return report::run(cmd);
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fleetward: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Simulate(args) => simulate::run(*args).await,
            Command::Demo(args) => demo::run(*args).await,
            Command::Certs { dir, cmd } => registry::certs(dir, cmd).await,
            Command::Things { dir, cmd } => registry::things(dir, cmd).await,
            Command::Groups { dir, cmd } => registry::groups(dir, cmd).await,
            Command::Profiles { dir, cmd } => admin::profiles(dir, cmd).await,
            Command::CustomMetrics { dir, cmd } => admin::custom_metrics(dir, cmd).await,
            Command::Dimensions { dir, cmd } => admin::dimensions(dir, cmd).await,
            Command::Violations { dir, cmd } => admin::violations(dir, cmd).await,
            Command::Metrics { dir, cmd } => metrics::metrics(dir, cmd).await,
            Command::Keys { dir, cmd } => keys::keys(dir, cmd).await,
            Command::AlertTargets { dir, cmd } => alerts::alert_targets(dir, cmd).await,
            Command::Report(cmd) => report::run(cmd),
        }
    })
}
