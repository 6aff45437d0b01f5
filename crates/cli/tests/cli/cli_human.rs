//! The human CLI end to end: the real binary on a temporary data directory. JSON when piped
//! or with `--json` (AWS's response shapes), tables on a terminal (a real pseudo-terminal from
//! util-linux `script`), and the documented exit statuses: 0 ok, 2 invalid input or usage,
//! 3 not found.

use std::path::Path;
use std::process::{Command, Output};

use fleetward_proto::Format;
use fleetward_proto::decode::{AwsMetric, Datapoint, Metric, MetricValue};
use fleetward_store::prelude::*;
use fleetward_store::sqlite::SqliteStore;
use fleetward_store::{NewViolation, StoredReport};
use serde_json::{Value, json};

use crate::run::{fleetward as run, ok_json};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_fleetward")
}

#[track_caller]
fn fails(out: &Output, code: i32, name: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.contains(name), "{name} in stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
}

/// Runs the command on a pseudo-terminal of 160 columns, as a person would, and returns what
/// it printed. `script` is util-linux's; a missing one fails the test.
fn on_tty(data: &Path, args: &str) -> String {
    let command = format!(
        "stty cols 160; RUST_LOG=warn {} {args} --data-dir {}",
        bin(),
        data.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("util-linux `script` runs the CLI on a pseudo-terminal");
    assert!(out.status.success(), "{args}: {out:?}");
    String::from_utf8_lossy(&out.stdout).replace('\r', "")
}

#[test]
fn registry_commands_print_json_or_tables_and_exit_meaningfully() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");

    let created = ok_json(&run(&data, &["things", "create", "cam-1"]));
    assert_eq!(
        created["thingArn"],
        "arn:aws:iot:us-east-1:000000000000:thing/cam-1"
    );
    ok_json(&run(&data, &["things", "create", "cam-2"]));
    ok_json(&run(&data, &["groups", "create", "site"]));
    ok_json(&run(
        &data,
        &["groups", "create", "floor-1", "--parent", "site"],
    ));
    ok_json(&run(&data, &["groups", "add-thing", "floor-1", "cam-1"]));
    let cert = ok_json(&run(
        &data,
        &[
            "certs",
            "create",
            "--thing",
            "cam-1",
            "--out",
            tmp.path().join("cam-1").to_str().unwrap(),
        ],
    ));
    let cert_id = cert["certificateId"].as_str().unwrap().to_owned();

    // Piped: JSON in AWS's shapes.
    let things = ok_json(&run(&data, &["things", "list"]));
    let names: Vec<&str> = things["things"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["thingName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cam-1", "cam-2"]);
    let shown = ok_json(&run(&data, &["things", "show", "cam-1"]));
    assert_eq!(shown["thingGroups"], json!(["floor-1"]));
    assert_eq!(
        shown["principals"],
        json!([format!("arn:aws:iot:us-east-1:000000000000:cert/{cert_id}")])
    );
    let group = ok_json(&run(&data, &["groups", "show", "site"]));
    assert_eq!(group["things"], json!(["cam-1"]));
    let c = ok_json(&run(&data, &["certs", "show", &cert_id]));
    assert_eq!(c["status"], "ACTIVE");
    assert_eq!(c["things"], json!(["cam-1"]));
    ok_json(&run(
        &data,
        &["certs", "attach", &cert_id, "--thing", "cam-2"],
    ));
    let c = ok_json(&run(&data, &["certs", "show", &cert_id]));
    assert_eq!(c["things"], json!(["cam-1", "cam-2"]));

    // On a terminal: tables, unless --json.
    let table = on_tty(&data, "things list");
    for want in ["THING", "VERSION", "cam-1", "cam-2", "2 items"] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    assert!(!table.contains('{'), "no JSON on a terminal:\n{table}");
    let table = on_tty(&data, &format!("certs show {cert_id}"));
    for want in ["Status", "ACTIVE", "ATTACHED TO THING", "cam-2"] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    let table = on_tty(&data, "groups show site");
    assert!(
        table.contains("floor-1") || table.contains("cam-1"),
        "{table}"
    );
    let forced: Value =
        serde_json::from_str(on_tty(&data, "things list --json").trim()).expect("--json on a tty");
    assert_eq!(forced["things"].as_array().unwrap().len(), 2);

    // Exit statuses: 2 invalid input or usage, 3 not found.
    fails(
        &run(&data, &["things", "create", "bad name"]),
        2,
        "InvalidRequestException",
    );
    fails(
        &run(&data, &["things", "show", "nope"]),
        3,
        "ResourceNotFoundException",
    );
    fails(
        &run(&data, &["groups", "add-thing", "nope", "cam-1"]),
        3,
        "ResourceNotFoundException",
    );
    fails(
        &run(&data, &["certs", "update", &cert_id, "--status", "BOGUS"]),
        2,
        "InvalidRequestException",
    );
    fails(
        &run(&data, &["certs", "show", &"0".repeat(64)]),
        3,
        "ResourceNotFoundException",
    );
    // A thing with a certificate attached is not deleted (AWS's rule).
    fails(
        &run(&data, &["things", "delete", "cam-2"]),
        2,
        "still attached",
    );
    let usage = run(&data, &["things", "frobnicate"]);
    assert_eq!(usage.status.code(), Some(2));
    ok_json(&run(&data, &["groups", "remove-thing", "floor-1", "cam-1"]));
    let group = ok_json(&run(&data, &["groups", "show", "site"]));
    assert_eq!(group["things"], json!([]));
    fails(&run(&data, &["groups", "delete", "site"]), 2, "child");
    ok_json(&run(&data, &["groups", "delete", "floor-1"]));
    ok_json(&run(&data, &["groups", "delete", "site"]));
    assert_eq!(
        ok_json(&run(&data, &["groups", "list"]))["thingGroups"],
        json!([])
    );

    let help = Command::new(bin()).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit status") && help.contains("3  not found"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn detect_commands_tables_and_metrics_get() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    ok_json(&run(&data, &["things", "create", "cam-1"]));
    let profile = tmp.path().join("p.json");
    std::fs::write(
        &profile,
        json!({
            "securityProfileName": "ports",
            "behaviors": [{"name": "few-ports", "metric": "aws:num-listening-tcp-ports",
                           "criteria": {"comparisonOperator": "less-than-equals",
                                        "value": {"count": 5},
                                        "consecutiveDatapointsToAlarm": 1,
                                        "consecutiveDatapointsToClear": 1}}]
        })
        .to_string(),
    )
    .unwrap();
    ok_json(&run(
        &data,
        &["profiles", "apply", "-f", profile.to_str().unwrap()],
    ));
    ok_json(&run(
        &data,
        &[
            "profiles",
            "attach",
            "ports",
            "--target",
            "arn:aws:iot:us-east-1:000000000000:all/things",
        ],
    ));

    // A report's datapoints and a violation, written where the server would write them.
    let now = fleetward_core::aws::time::system_now_ms();
    {
        let store = SqliteStore::open(&data.join("fleetward.db")).await.unwrap();
        store
            .insert_reports(&[StoredReport {
                thing: "cam-1".into(),
                report_id: 1,
                received_at: now - 60_000,
                format: Format::Json,
                size: 0,
                datapoints: vec![Datapoint {
                    metric: Metric::Aws(AwsMetric::NumListeningTcpPorts),
                    value: MetricValue::Count(9),
                }],
            }])
            .await
            .unwrap();
        store
            .upsert_violation(&NewViolation {
                violation_id: "0123456789abcdef0123456789abcdef".into(),
                thing: "cam-1".into(),
                profile: "ports".into(),
                behavior: "few-ports".into(),
                metric: Some("aws:num-listening-tcp-ports".into()),
                behavior_definition: json!({"name": "few-ports",
                                            "metric": "aws:num-listening-tcp-ports"}),
                last_value: Some(json!({"count": 9})),
                started_at: now - 60_000,
                last_at: now - 60_000,
            })
            .await
            .unwrap();
    }

    let values = ok_json(&run(
        &data,
        &[
            "metrics",
            "get",
            "--thing",
            "cam-1",
            "--metric",
            "aws:num-listening-tcp-ports",
        ],
    ));
    assert_eq!(values["metricDatumList"][0]["value"], json!({"count": 9}));
    let old = ok_json(&run(
        &data,
        &[
            "metrics",
            "get",
            "--thing",
            "cam-1",
            "--metric",
            "aws:num-listening-tcp-ports",
            "--to",
            "2020-01-01T00:00:00Z",
            "--since",
            "1d",
        ],
    ));
    assert_eq!(old["metricDatumList"], json!([]));
    let table = on_tty(
        &data,
        "metrics get --thing cam-1 --metric aws:num-listening-tcp-ports --since 2h",
    );
    for want in ["TIME", "VALUE", "count: 9", "1 item"] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    fails(
        &run(
            &data,
            &[
                "metrics",
                "get",
                "--thing",
                "cam-1",
                "--metric",
                "aws:bogus",
            ],
        ),
        2,
        "InvalidRequestException",
    );
    fails(
        &run(
            &data,
            &[
                "metrics",
                "get",
                "--thing",
                "cam-1",
                "--metric",
                "temperature",
            ],
        ),
        3,
        "ResourceNotFoundException",
    );
    fails(
        &run(
            &data,
            &[
                "metrics",
                "get",
                "--thing",
                "cam-1",
                "--metric",
                "aws:num-listening-tcp-ports",
                "--since",
                "forever",
            ],
        ),
        2,
        "--since",
    );

    let violations = ok_json(&run(&data, &["violations", "list"]));
    assert_eq!(violations["activeViolations"][0]["thingName"], "cam-1");
    let table = on_tty(&data, "violations list");
    for want in ["THING", "BEHAVIOR", "few-ports", "count: 9", "1 item"] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    let table = on_tty(&data, "profiles list");
    assert!(
        table.contains("PROFILE") && table.contains("ports"),
        "{table}"
    );
    let table = on_tty(&data, "profiles show ports");
    for want in [
        "Version",
        "BEHAVIOR",
        "few-ports",
        "less-than-equals",
        "count: 5",
    ] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    fails(
        &run(&data, &["profiles", "show", "nope"]),
        3,
        "ResourceNotFoundException",
    );
}
