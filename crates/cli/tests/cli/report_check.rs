//! `fleetward report check` on every conformance case file: the exit status, the answer and
//! the datapoints must be what the server would produce.

use std::process::Command;

use fleetward_testkit::json_eq;
use serde_json::Value;

fn check(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args(["report", "check"])
        .args(args)
        .output()
        .expect("run fleetward");
    let code = out.status.code().expect("exit code");
    let doc = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, doc)
}

#[test]
fn every_case_file() {
    let cases = fleetward_testkit::cases();
    assert_eq!(cases.len(), 51);
    for case in &cases {
        let thing = case.topic.split('/').nth(2).expect("thing in topic");
        let format = if case.topic.ends_with("/cbor") {
            "cbor"
        } else {
            "json"
        };
        let file = case.file.to_str().expect("utf-8 path");
        let (code, doc) = check(&[file, "--format", format, "--thing", thing]);
        let answer = &doc["answer"];
        assert_eq!(answer["thingName"], thing, "{}", case.id);
        assert!(
            answer["timestamp"]
                .as_u64()
                .is_some_and(|t| t > 1_600_000_000_000),
            "{}",
            case.id
        );
        match case.expect["status"].as_str() {
            Some("ACCEPTED") => {
                assert_eq!(code, 0, "{}: {doc}", case.id);
                assert_eq!(answer["status"], "ACCEPTED", "{}", case.id);
                assert!(answer["reportId"].as_u64().is_some(), "{}", case.id);
                assert!(
                    json_eq(&doc["datapoints"], &case.expect["datapoints"]),
                    "{}: {} vs {}",
                    case.id,
                    doc["datapoints"],
                    case.expect["datapoints"]
                );
            }
            _ => {
                assert_eq!(code, 1, "{}: {doc}", case.id);
                assert_eq!(answer["status"], "REJECTED", "{}", case.id);
                assert_eq!(
                    answer["statusDetails"]["ErrorCode"], case.expect["error_code"],
                    "{}",
                    case.id
                );
                assert!(doc.get("datapoints").is_none(), "{}", case.id);
            }
        }
    }
}

#[test]
fn format_follows_the_file_extension() {
    let dir = fleetward_testkit::shared_dir().join("conformance/reports");
    let cbor = dir.join("accept-cbor-long.cbor");
    let (code, doc) = check(&[cbor.to_str().unwrap()]);
    assert_eq!(code, 0, "{doc}");
    // The same bytes forced onto the JSON topic are not JSON.
    let (code, doc) = check(&[cbor.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 1);
    assert_eq!(doc["answer"]["statusDetails"]["ErrorCode"], "Malformed");
}

#[test]
fn bad_thing_name_and_missing_file() {
    let dir = fleetward_testkit::shared_dir().join("conformance/reports");
    let f = dir.join("accept-long-full.json");
    let (code, doc) = check(&[f.to_str().unwrap(), "--thing", "no/slashes"]);
    assert_eq!(code, 1);
    assert_eq!(
        doc["answer"]["statusDetails"]["ErrorCode"],
        "InvalidPayload"
    );
    let (code, _) = check(&["/nonexistent/report.json"]);
    assert_eq!(code, 2);
}
