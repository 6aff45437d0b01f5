//! The binary: dry run, printed config, config errors, SIGTERM.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fleetward_proto::Format;
use fleetward_proto::decode::decode_report;

fn agent() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fleetward-agent"));
    // Only what the test sets: no stray FLEETWARD_AGENT_* from the environment.
    c.env_clear().env("PATH", "/usr/bin:/bin");
    c
}

#[test]
fn once_dry_run_prints_one_valid_pretty_report() {
    let proc = FixtureProc::new();
    let out = agent()
        .args(["--once", "--dry-run", "--keys", "short", "--format", "cbor"])
        .arg("--proc-root")
        .arg(proc.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\n  \"hed\": {"),
        "pretty, short keys: {text}"
    );
    let d = decode_report(text.as_bytes(), Format::Json, "t").unwrap();
    assert!(d.report_id > 1_577_836_800_000);
}

#[test]
fn print_config_shows_env_and_flag_overrides() {
    let out = agent()
        .env(
            "FLEETWARD_AGENT_MQTT_HOST",
            "example.iot.us-east-1.amazonaws.com",
        )
        .args([
            "--print-config",
            "--set",
            "mqtt.port=443",
            "--set",
            "mqtt.alpn=x-amzn-mqtt-ca",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("host = \"example.iot.us-east-1.amazonaws.com\""),
        "{text}"
    );
    assert!(text.contains("port = 443"), "{text}");
    assert!(text.contains("alpn = [\"x-amzn-mqtt-ca\"]"), "{text}");
}

#[test]
fn config_errors_exit_2_and_name_the_key() {
    let out = agent()
        .args(["--print-config", "--interval-secs", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("interval_secs") && err.contains("allow_short_interval"),
        "{err}"
    );
    let out = agent()
        .env("FLEETWARD_AGENT_FORMAT", "xml")
        .arg("--print-config")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("FLEETWARD_AGENT_FORMAT") && err.contains("json, cbor"),
        "{err}"
    );
}

#[tokio::test]
async fn sigterm_disconnects_and_exits_zero() {
    let mut resp = responder(SHARED_BROKER_PORT).await;
    let proc = FixtureProc::new();
    let thing = unique_thing("sigterm");
    let mut child = agent()
        .args([
            "--thing-name",
            &thing,
            "--host",
            "127.0.0.1",
            "--port",
            "1883",
        ])
        .args([
            "--set",
            "mqtt.tls=false",
            "--set",
            "allow_short_interval=true",
        ])
        .args(["--interval-secs", "1"])
        .arg("--proc-root")
        .arg(proc.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&mut resp.seen, 20, "a report from the binary", |s| {
        s.thing == thing
    })
    .await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the agent did not exit within 10 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(code.success(), "{code:?}: {err}");
    assert!(err.contains("disconnected"), "{err}");
}

#[test]
fn the_shipped_sample_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/agent.toml");
    let c = fleetward_agent::config::load(Some(&path), Vec::new(), &[]).unwrap();
    assert_eq!(c.custom_metrics.len(), 2);
    c.validate_for_mqtt().unwrap();
}

fn once_over_mqtt(thing: &str, proc: &FixtureProc) -> std::process::Output {
    agent()
        .args([
            "--once",
            "--thing-name",
            thing,
            "--host",
            "127.0.0.1",
            "--port",
            "1883",
        ])
        .args(["--set", "mqtt.tls=false", "--set", "mqtt.protocol=5"])
        .arg("--proc-root")
        .arg(proc.path())
        .output()
        .unwrap()
}

#[tokio::test]
async fn once_exits_0_when_accepted_and_3_when_rejected() {
    let mut resp = responder(SHARED_BROKER_PORT).await;
    let proc = FixtureProc::new();
    let thing = unique_thing("once");
    let t = thing.clone();
    let proc2 = FixtureProc::new();
    let out = tokio::task::spawn_blocking(move || once_over_mqtt(&t, &proc2))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(&mut resp.seen, 20, "the once report", |s| s.thing == thing).await;

    let thing = unique_thing("once-reject");
    let t = thing.clone();
    let out = tokio::task::spawn_blocking(move || once_over_mqtt(&t, &proc))
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("ErrorCode=Throttled"), "{err}");
}
