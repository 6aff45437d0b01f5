//! Every case in `../shared/conformance/cases.json`, decoded exactly as the server decodes it,
//! and every topic in `topics.json`.
#![cfg(feature = "alloc")]

use fleetward_proto::answer::{self, Answer, ErrorCode, Status};
use fleetward_proto::decode::decode_report;
use fleetward_proto::topic::{self, DEFAULT_PREFIX};
use fleetward_testkit::{Case, json_eq};
use serde_json::{Map, Value, json};

#[test]
fn every_report_case() {
    let cases = fleetward_testkit::cases();
    assert_eq!(cases.len(), 51, "the suite has 51 cases");
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check_case(c).err().map(|e| format!("{}: {e}", c.id)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn check_case(case: &Case) -> Result<(), String> {
    let payload = std::fs::read(&case.file).map_err(|e| e.to_string())?;
    let m = topic::parse(&case.topic, DEFAULT_PREFIX).ok_or("topic did not match")?;
    let expect = &case.expect;
    let result = decode_report(&payload, m.topic.format, m.thing);

    // The answer the server would publish, through the device-side decoder.
    let ans = match &result {
        Ok(r) => Answer::accepted(m.thing, r.report_id, 1),
        Err(rej) => Answer::rejected(m.thing, rej.report_id, rej.code, &rej.message, 1),
    };
    let wire = answer::to_vec(&ans, m.topic.format);
    let back = answer::decode(&wire, m.topic.format).map_err(|e| format!("answer: {e}"))?;
    if back != ans {
        return Err(format!("answer did not round-trip: {back:?}"));
    }

    match (expect["status"].as_str().unwrap_or_default(), result) {
        ("ACCEPTED", Ok(report)) => {
            if back.status != Status::Accepted {
                return Err("answer not ACCEPTED".into());
            }
            let got: Map<String, Value> = report
                .datapoints
                .iter()
                .map(|d| {
                    (
                        d.metric.name().to_string(),
                        serde_json::to_value(&d.value).unwrap(),
                    )
                })
                .collect();
            let got = Value::Object(got);
            if !json_eq(&got, &expect["datapoints"]) {
                return Err(format!(
                    "datapoints differ:\n got {got}\nwant {}",
                    expect["datapoints"]
                ));
            }
            Ok(())
        }
        ("REJECTED", Err(rej)) => {
            let want = expect["error_code"].as_str().unwrap_or_default();
            if rej.code.as_str() != want || back.error_code().map(ErrorCode::as_str) != Some(want) {
                return Err(format!("code {} ({}), want {want}", rej.code, rej.message));
            }
            for needle in expect["message_mentions"].as_array().into_iter().flatten() {
                let needle = needle.as_str().unwrap_or_default();
                if !rej.message.contains(needle) {
                    return Err(format!(
                        "message {:?} does not mention {needle:?}",
                        rej.message
                    ));
                }
            }
            let msg = back
                .status_details
                .as_ref()
                .map(|d| d.error_message.as_str());
            if msg.is_none_or(str::is_empty) {
                return Err("rejection without a message".into());
            }
            Ok(())
        }
        (want, got) => Err(format!("want {want}, got {got:?}")),
    }
}

#[test]
fn every_topic_case() {
    let topics = fleetward_testkit::topics();
    assert!(topics.len() >= 20);
    let mut buf = [0u8; 256];
    for t in &topics {
        let s = t["topic"].as_str().unwrap();
        let got = topic::parse(s, DEFAULT_PREFIX);
        match t["match"].as_str() {
            None => assert_eq!(got, None, "{s} must not match"),
            Some(name) => {
                let m = got.unwrap_or_else(|| panic!("{s} must match {name}"));
                assert_eq!(m.topic.name(), name, "{s}");
                assert_eq!(json!(m.thing), t["thing"], "{s}");
                // And building it back gives the same bytes.
                assert_eq!(
                    topic::build(&mut buf, DEFAULT_PREFIX, m.thing, m.topic).unwrap(),
                    s
                );
            }
        }
    }
}
