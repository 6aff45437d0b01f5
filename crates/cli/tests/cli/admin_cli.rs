//! The admin CLI end to end: the real binary on a temporary data directory, documents in
//! AWS's CreateSecurityProfile format.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::run::{fleetward as run, ok_json, stderr};

const ALL_THINGS: &str = "arn:aws:iot:us-east-1:000000000000:all/things";

fn apply(data: &Path, dir: &Path, doc: &Value) -> Output {
    let file = dir.join("profile.json");
    std::fs::write(&file, serde_json::to_vec_pretty(doc).expect("serialize")).expect("write");
    run(
        data,
        &[
            "profiles",
            "apply",
            "-f",
            file.to_str().expect("utf-8 path"),
        ],
    )
}

fn profile(name: &str) -> Value {
    json!({
        "securityProfileName": name,
        "securityProfileDescription": "edge gateways",
        "behaviors": [
            {"name": "auth-failures", "metric": "aws:num-authorization-failures",
             "criteria": {"comparisonOperator": "less-than", "value": {"count": 5},
                          "durationSeconds": 300, "consecutiveDatapointsToAlarm": 1,
                          "consecutiveDatapointsToClear": 1}},
            {"name": "msg-size", "metric": "aws:message-byte-size",
             "criteria": {"comparisonOperator": "less-than-equals",
                          "statisticalThreshold": {"statistic": "p90"},
                          "durationSeconds": 300, "consecutiveDatapointsToAlarm": 1,
                          "consecutiveDatapointsToClear": 1}},
            {"name": "temperature", "metric": "temperature",
             "criteria": {"comparisonOperator": "less-than", "value": {"number": 80.5},
                          "consecutiveDatapointsToAlarm": 2,
                          "consecutiveDatapointsToClear": 2}}
        ],
        "alertTargets": {"SNS": {"alertTargetArn": "arn:aws:sns:us-east-1:000000000000:alerts",
                                 "roleArn": "arn:aws:iam::000000000000:role/alerts"}},
        "additionalMetricsToRetainV2": [{"metric": "aws:num-connection-attempts"}],
        "tags": [{"Key": "team", "Value": "edge"}]
    })
}

#[test]
fn profiles_custom_metrics_targets_and_violations() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");

    // The custom metric the profile uses must exist first.
    let out = run(
        &data,
        &[
            "custom-metrics",
            "create",
            "--name",
            "temperature",
            "--type",
            "number",
            "--display-name",
            "Temperature (C)",
        ],
    );
    let v = ok_json(&out);
    assert_eq!(v["metricName"], "temperature");
    assert_eq!(
        v["metricArn"],
        "arn:aws:iot:us-east-1:000000000000:custommetric/temperature"
    );
    let v = ok_json(&run(&data, &["custom-metrics", "list"]));
    assert_eq!(v["customMetrics"][0]["metricType"], "number");
    assert_eq!(v["customMetrics"][0]["displayName"], "Temperature (C)");

    // Create, then update: version 2.
    let v = ok_json(&apply(&data, tmp.path(), &profile("gateways")));
    assert_eq!(v["securityProfileName"], "gateways");
    assert_eq!(v["version"], 1);
    assert_eq!(
        v["securityProfileArn"],
        "arn:aws:iot:us-east-1:000000000000:securityprofile/gateways"
    );
    let mut changed = profile("gateways");
    changed["securityProfileDescription"] = json!("edge gateways, v2");
    let v = ok_json(&apply(&data, tmp.path(), &changed));
    assert_eq!(v["version"], 2);
    let v = ok_json(&run(&data, &["profiles", "show", "gateways"]));
    assert_eq!(v["version"], 2);
    assert_eq!(v["securityProfileDescription"], "edge gateways, v2");
    assert_eq!(v["behaviors"].as_array().map(Vec::len), Some(3));

    // An invalid behavior: exit 2, every problem named by its path, nothing stored.
    let mut bad = profile("broken");
    bad["behaviors"][0]["criteria"]["durationSeconds"] = json!(-1);
    bad["behaviors"][2]["metric"] = json!("not-registered");
    let out = apply(&data, tmp.path(), &bad);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("InvalidRequestException"), "{err}");
    assert!(
        err.contains("behaviors[0].criteria.durationSeconds"),
        "{err}"
    );
    assert!(err.contains("behaviors[2]"), "{err}");
    let out = run(&data, &["profiles", "show", "broken"]);
    // Not found has its own exit status (3), documented in `fleetward --help`.
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("ResourceNotFoundException"));

    // Invalid JSON: exit 2 naming the file, line and column.
    let file = tmp.path().join("typo.json");
    std::fs::write(&file, "{\n  \"securityProfileName\": \"x\",\n  oops\n}").expect("write");
    let out = run(
        &data,
        &["profiles", "apply", "-f", file.to_str().expect("utf-8")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("typo.json:3:"), "{}", stderr(&out));

    // Attach, up to five profiles per target; the sixth is refused.
    ok_json(&run(
        &data,
        &["profiles", "attach", "gateways", "--target", ALL_THINGS],
    ));
    // Re-attaching is idempotent, not a second slot.
    ok_json(&run(
        &data,
        &["profiles", "attach", "gateways", "--target", ALL_THINGS],
    ));
    for i in 2..=6 {
        let name = format!("p{i}");
        ok_json(&apply(&data, tmp.path(), &profile(&name)));
        let out = run(
            &data,
            &["profiles", "attach", &name, "--target", ALL_THINGS],
        );
        if i <= 5 {
            ok_json(&out);
        } else {
            assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
            assert!(
                stderr(&out).contains("LimitExceededException"),
                "{}",
                stderr(&out)
            );
        }
    }
    let v = ok_json(&run(&data, &["profiles", "show", "gateways"]));
    assert_eq!(v["securityProfileTargets"], json!([{ "arn": ALL_THINGS }]));
    let v = ok_json(&run(&data, &["profiles", "list"]));
    assert_eq!(
        v["securityProfileIdentifiers"].as_array().map(Vec::len),
        Some(6)
    );

    // A bad ARN is the user's mistake.
    let out = run(
        &data,
        &[
            "profiles",
            "attach",
            "gateways",
            "--target",
            "arn:aws:iot:x",
        ],
    );
    assert_eq!(out.status.code(), Some(2));

    // Detach frees the slot.
    ok_json(&run(
        &data,
        &["profiles", "detach", "gateways", "--target", ALL_THINGS],
    ));
    ok_json(&run(
        &data,
        &["profiles", "attach", "p6", "--target", ALL_THINGS],
    ));

    // Custom metric names: `aws:` is reserved, types are AWS's four.
    let out = run(
        &data,
        &[
            "custom-metrics",
            "create",
            "--name",
            "aws:mine",
            "--type",
            "number",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("aws:"), "{}", stderr(&out));
    let out = run(
        &data,
        &[
            "custom-metrics",
            "create",
            "--name",
            "t2",
            "--type",
            "float",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run(
        &data,
        &[
            "custom-metrics",
            "create",
            "--name",
            "temperature",
            "--type",
            "number",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ResourceAlreadyExistsException"));

    // Dimensions.
    let v = ok_json(&run(
        &data,
        &[
            "dimensions",
            "create",
            "--name",
            "telemetry",
            "--values",
            "dt/+/telemetry",
            "cmd/#",
        ],
    ));
    assert_eq!(v["name"], "telemetry");
    let v = ok_json(&run(&data, &["dimensions", "list"]));
    assert_eq!(v["dimensionNames"], json!(["telemetry"]));

    // No reports, no violations.
    let v = ok_json(&run(&data, &["violations", "list"]));
    assert_eq!(v["activeViolations"], json!([]));
    let v = ok_json(&run(
        &data,
        &[
            "violations",
            "list",
            "--thing",
            "t1",
            "--profile",
            "gateways",
        ],
    ));
    assert_eq!(v["activeViolations"], json!([]));
}
