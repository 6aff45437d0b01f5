//! The offline door and the API agree: access keys made, listed and deleted by the CLI, and
//! quotas that refuse the same create through both with the same AWS error.

use fleetward_testkit::server as common;
use fleetward_testkit::sigv4::{Client, Key};
use serde_json::{Value, json};

use crate::run::fleetward as cli;

async fn server() -> (common::TestServer, Client) {
    let s = common::start(|c| {
        c.api_rate_limits = fleetward_api::limit::RateLimitConfig::UNLIMITED;
    })
    .await;
    let client = Client::new(
        format!("http://{}", s.running.http_addr),
        Key::admin(&s.data_dir()),
    );
    (s, client)
}

#[tokio::test]
async fn keys_cli_create_list_delete() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fleetward"))
            .args(args)
            .arg("--data-dir")
            .arg(&data)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["keys", "create", "--name", "ci"]);
    assert_eq!(code, Some(0), "{out}");
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["accessKeyId"].as_str().unwrap().to_owned();
    assert_eq!(created["secretAccessKey"].as_str().unwrap().len(), 40);
    let (code, out) = run(&["keys", "list"]);
    assert_eq!(code, Some(0));
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed["keys"][0]["accessKeyId"], id.as_str());
    assert_eq!(listed["keys"][0]["name"], "ci");
    assert!(!out.contains(created["secretAccessKey"].as_str().unwrap()));
    assert_eq!(run(&["keys", "delete", &id]).0, Some(0));
    assert_eq!(run(&["keys", "delete", &id]).0, Some(3));
    let (_, out) = run(&["keys", "list"]);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["keys"],
        json!([])
    );
}

/// The 101st custom metric and the 11th dimension are refused through the API and through the
/// CLI, with the same AWS error and message: the quota lives in the service layer once.
#[tokio::test]
async fn quotas_hold_through_the_api_and_the_cli_alike() {
    let (s, c) = server().await;
    for i in 0..100 {
        c.call(
            "POST",
            &format!("/custom-metric/m-{i:03}"),
            Some(json!({"metricType": "number", "clientRequestToken": format!("t-{i}")})),
        )
        .await
        .ok();
    }
    let api = c
        .call(
            "POST",
            "/custom-metric/m-100",
            Some(json!({"metricType": "number", "clientRequestToken": "t-100"})),
        )
        .await
        .error(410, "LimitExceededException");
    let out = cli(
        &s.data_dir(),
        &[
            "custom-metrics",
            "create",
            "--name",
            "m-101",
            "--type",
            "number",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("LimitExceededException: {api}")),
        "CLI said {stderr:?}, API said {api:?}"
    );

    for i in 0..10 {
        c.call(
            "POST",
            &format!("/dimensions/d-{i}"),
            Some(
                json!({"type": "TOPIC_FILTER", "stringValues": [format!("t/{i}/#")],
                        "clientRequestToken": format!("d-{i}")}),
            ),
        )
        .await
        .ok();
    }
    let api = c
        .call(
            "POST",
            "/dimensions/d-10",
            Some(json!({"type": "TOPIC_FILTER", "stringValues": ["t/10/#"],
                        "clientRequestToken": "d-10"})),
        )
        .await
        .error(410, "LimitExceededException");
    let out = cli(
        &s.data_dir(),
        &[
            "dimensions",
            "create",
            "--name",
            "d-11",
            "--values",
            "t/11/#",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("LimitExceededException: {api}")),
        "CLI said {stderr:?}, API said {api:?}"
    );
}
