//! `fleetward demo`: one command that shows Fleetward at work. It starts the server in process
//! (embedded defaults, compressed time), provisions a simulated fleet in thing groups by class,
//! attaches the starter security profiles and runs the simulation with attacks, printing what
//! happens live; Ctrl-C stops it cleanly.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use super::simulate::{Switch, parse_duration, run_simulation};
use fleetward_sim::demo::{Demo, DemoOptions};

#[derive(Debug, Args)]
pub(super) struct DemoArgs {
    /// Keep the server's data (database, CA, device keys, ground truth) here; a temporary
    /// directory, removed on exit, without it.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Simulated devices (3 cameras, 1 gateway and 6 sensors in every 10).
    #[arg(long, default_value_t = 200)]
    devices: usize,
    /// Stop after this long (e.g. 90s, 10m); runs until Ctrl-C without it.
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Real time per simulated 5-minute report interval.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    tick: Duration,
    /// Seeds the traffic and the attack schedule.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Inject attacks.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    attacks: Switch,
    /// MQTT listener; default 127.0.0.1:8883, or any free port if that one is taken.
    #[arg(long)]
    mqtt_listen: Option<SocketAddr>,
    /// HTTP listener; default 127.0.0.1:8780, or any free port if that one is taken.
    #[arg(long)]
    http_listen: Option<SocketAddr>,
}

/// `preferred` if it can be bound now, else the same address with port 0 (any free port).
fn free_or_any(preferred: SocketAddr) -> SocketAddr {
    match TcpListener::bind(preferred) {
        Ok(l) => {
            drop(l);
            preferred
        }
        Err(_) => SocketAddr::new(preferred.ip(), 0),
    }
}

pub(super) async fn run(a: DemoArgs) -> ExitCode {
    let (data_dir, temporary) = match a.data_dir.clone() {
        Some(d) => (d, false),
        None => (
            std::env::temp_dir().join(format!(
                "fleetward-demo-{}-{}",
                std::process::id(),
                fleetward_core::aws::time::system_now_ms()
            )),
            true,
        ),
    };
    let result = run_demo(&a, data_dir.clone(), temporary).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("fleetward: {msg}");
            ExitCode::FAILURE
        }
    }
}

async fn run_demo(a: &DemoArgs, data_dir: PathBuf, temporary: bool) -> Result<(), String> {
    let mut opts = DemoOptions::new(&data_dir);
    opts.devices = a.devices;
    opts.tick = a.tick;
    opts.seed = a.seed;
    opts.attacks = a.attacks == Switch::On;
    opts.mqtt_listen = a
        .mqtt_listen
        .unwrap_or_else(|| free_or_any(SocketAddr::from(([127, 0, 0, 1], 8883))));
    opts.http_listen = a
        .http_listen
        .unwrap_or_else(|| free_or_any(SocketAddr::from(([127, 0, 0, 1], 8780))));
    super::out(&format!(
        "Fleetward demo: starting the server and provisioning {} devices …",
        a.devices
    ));
    let demo = Demo::start(opts).await.map_err(|e| e.to_string())?;
    let ticks = a
        .duration
        .map(|d| (d.as_secs_f64() / a.tick.as_secs_f64()).floor() as u64);
    print_intro(&demo, &data_dir, temporary);
    let store = demo.running.store.clone();
    run_simulation(demo.sim_config(ticks), Some(store)).await?;
    if let Some(t) = &demo.options.truth
        && !temporary
    {
        super::out(&format!("ground truth: {}", t.display()));
    }
    // The same ordered stop as `fleetward serve` on SIGTERM, so a kept data dir is left clean.
    let problems = demo.running.stop().await;
    match problems.first() {
        None => Ok(()),
        Some(p) => Err(format!("while stopping: {p}")),
    }
}

fn print_intro(demo: &Demo, data_dir: &std::path::Path, temporary: bool) {
    let mqtt = demo
        .running
        .mqtt_addr
        .map_or_else(|| "-".to_owned(), |a| a.to_string());
    let http = demo.running.http_addr;
    let dir = data_dir.display();
    let keep = if temporary {
        " (temporary, removed on exit; pass --data-dir to keep it)"
    } else {
        ""
    };
    let tick = demo.options.tick;
    let key = data_dir.join(fleetward_api::keys::ADMIN_KEY_FILE);
    let key = key.display();
    let lines = [
        format!("MQTT (mutual TLS): {mqtt}    HTTP: http://{http}    data: {dir}{keep}"),
        format!(
            "time runs {}x faster: one {tick:?} tick is one 5-minute report interval",
            demo.time_scale
        ),
        format!(
            "security profiles {} attached to thing groups cameras, gateways, sensors",
            demo.profiles.join(", ")
        ),
        "attacks: backdoor port, exfiltration, command and control, port scan, authorization-failure storm, reconnect flapping, shared certificate, silence".to_owned(),
        String::new(),
        "Query it while it runs (another terminal):".to_owned(),
        format!("  fleetward violations list --data-dir {dir}"),
        format!("  fleetward profiles show camera-baseline --data-dir {dir}"),
        format!("  curl -s http://{http}/metrics | grep fleetward_"),
        "  # the AWS CLI, with the admin access key the server wrote:".to_owned(),
        format!(
            "  export AWS_ACCESS_KEY_ID=$(jq -r .aws_access_key_id {key}) AWS_SECRET_ACCESS_KEY=$(jq -r .aws_secret_access_key {key})"
        ),
        format!(
            "  aws iot list-active-violations --endpoint-url http://{http} --region us-east-1"
        ),
        format!(
            "  aws iot list-violation-events --start-time 2020-01-01 --end-time 2100-01-01 --endpoint-url http://{http} --region us-east-1"
        ),
        format!("  ground truth (what was injected): {}", demo.options.truth.as_ref().map_or_else(|| "-".to_owned(), |t| t.display().to_string())),
        String::new(),
        "Ctrl-C stops the demo.".to_owned(),
    ];
    for l in lines {
        super::out(&l);
    }
}
