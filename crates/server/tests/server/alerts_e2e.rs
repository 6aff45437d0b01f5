//! Alerts end to end: a violating report over MQTT makes the server POST a signed AWS Detect
//! SNS message to a webhook alert target named by the profile's SNS ARN, retrying after a
//! failure; a compliant report sends `alarm-cleared`.

use fleetward_testkit::server as common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Device, eventually, start};
use fleetward_proto::Format;
use fleetward_proto::answer::Status;
use fleetward_store::prelude::*;
use fleetward_store::{AlertTargetKind, NewAlertTarget};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "s3cret";

#[derive(Clone, Debug)]
struct Received {
    signature: Option<String>,
    timestamp: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<Received>>>,
    /// How many of the first requests to answer with 500.
    fail_first: Arc<AtomicUsize>,
}

async fn hook(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    r.requests.lock().unwrap().push(Received {
        signature: h("x-fleetward-signature"),
        timestamp: h("x-fleetward-timestamp"),
        idempotency_key: h("idempotency-key"),
        content_type: h("content-type"),
        body,
    });
    let failing = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn start_receiver(fail_first: usize) -> (String, Receiver) {
    let r = Receiver::default();
    r.fail_first.store(fail_first, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), r)
}

fn ports_report(report_id: u64, ports: &[u16]) -> Vec<u8> {
    let list: Vec<String> = ports
        .iter()
        .map(|p| format!(r#"{{"port":{p},"interface":"eth0"}}"#))
        .collect();
    format!(
        r#"{{"header":{{"report_id":{report_id},"version":"1.0"}},"metrics":{{"listening_tcp_ports":{{"ports":[{}],"total":{}}}}}}}"#,
        list.join(","),
        ports.len()
    )
    .into_bytes()
}

/// The signature a receiver computes for a request: HMAC-SHA256 of "<timestamp>.<body>",
/// computed here independently of the server's signing code.
fn expected_signature(r: &Received) -> String {
    let ts = r
        .timestamp
        .as_deref()
        .expect("X-Fleetward-Timestamp header");
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{ts}.{}", r.body).as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The signed time is now, by the wall clock, so the receiver's replay window accepts it.
fn assert_fresh(r: &Received) {
    let ts: i64 = r.timestamp.as_deref().unwrap().parse().unwrap();
    let now = fleetward_core::aws::time::system_now_ms() / 1000;
    assert!((now - ts).abs() <= 60, "signed at {ts}, now {now}");
    assert_eq!(
        fleetward_core::alert::verify(
            SECRET.as_bytes(),
            r.timestamp.as_deref().unwrap(),
            r.signature.as_deref().unwrap(),
            r.body.as_bytes(),
            now,
            fleetward_core::alert::sign::DEFAULT_TOLERANCE_SECS,
        ),
        Ok(())
    );
}

/// The successful deliveries' bodies: each request after the failed ones.
fn received(r: &Receiver) -> Vec<Received> {
    r.requests.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_alerts_reach_a_signed_webhook_after_a_retry() {
    let (url, receiver) = start_receiver(1).await;
    let srv = start(|_| {}).await;
    let creds = srv.provision("cam-1").await;
    let store: &dyn Store = srv.store();
    store
        .create_alert_target(&NewAlertTarget {
            name: "ops-hook".into(),
            kind: AlertTargetKind::Webhook,
            url: Some(url),
            secret: Some(SECRET.into()),
            topic: None,
        })
        .await
        .unwrap();
    let behavior = common::ports_profile(store, "ops-hook").await;

    let mut d = Device::connect(srv.mqtt_addr(), "cam-1", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    let (_, ans) = d
        .report("cam-1", Format::Json, &ports_report(1, &[22, 80, 443]))
        .await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");

    // The first POST fails with 500; the retry (after about a second) succeeds.
    let got = eventually(|| async {
        let got = received(&receiver);
        (got.len() >= 2).then_some(got)
    })
    .await;
    assert_eq!(got[0].body, got[1].body, "a retry sends the same alert");
    assert_eq!(got[0].idempotency_key, got[1].idempotency_key);
    let alert = &got[1];
    assert_eq!(alert.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        alert.signature.as_deref(),
        Some(expected_signature(alert).as_str())
    );
    assert_fresh(alert);
    let msg: Value = serde_json::from_str(&alert.body).unwrap();
    assert_eq!(msg["violationEventType"], "in-alarm");
    assert_eq!(msg["thingName"], "cam-1");
    assert_eq!(msg["securityProfileName"], "ports");
    assert_eq!(msg["behavior"], behavior);
    assert_eq!(msg["metricValue"], json!({"count": 3}));
    assert!(msg["violationEventTime"].as_i64().unwrap() > 1_600_000_000_000);
    let violation_id = msg["violationId"].as_str().unwrap().to_owned();
    assert_eq!(violation_id.len(), 32);
    assert_eq!(
        alert.idempotency_key.as_deref(),
        Some(format!("{violation_id}:in-alarm:ops-hook").as_str())
    );
    let _ = srv
        .store()
        .get_violation(&violation_id)
        .await
        .unwrap()
        .unwrap();

    // A compliant report clears the alarm, and that is alerted too.
    let (_, ans) = d
        .report("cam-1", Format::Json, &ports_report(2, &[22]))
        .await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");
    let cleared = eventually(|| async { received(&receiver).get(2).cloned() }).await;
    assert_eq!(
        cleared.signature.as_deref(),
        Some(expected_signature(&cleared).as_str())
    );
    assert_fresh(&cleared);
    let msg: Value = serde_json::from_str(&cleared.body).unwrap();
    assert_eq!(msg["violationEventType"], "alarm-cleared");
    assert_eq!(msg["violationId"], violation_id.as_str());
    assert_eq!(msg["metricValue"], json!({"count": 1}));
    assert_eq!(
        cleared.idempotency_key.as_deref(),
        Some(format!("{violation_id}:alarm-cleared:ops-hook").as_str())
    );

    // Nothing is left to deliver, and nothing is delivered twice.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(received(&receiver).len(), 3);
    assert!(store.due_alerts(i64::MAX, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_outbox_survives_reopening_and_ignores_duplicate_keys() {
    use fleetward_store::NewAlert;
    use fleetward_store::sqlite::SqliteStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.sqlite");
    let a = |key: &str| NewAlert {
        target: "t".into(),
        idempotency_key: key.into(),
        body: "{}".into(),
    };
    {
        let s = SqliteStore::open(&path).await.unwrap();
        assert_eq!(
            s.enqueue_alerts(&[a("k1"), a("k2"), a("k1")], 100)
                .await
                .unwrap(),
            2
        );
        assert_eq!(s.enqueue_alerts(&[a("k2")], 100).await.unwrap(), 0);
        let due = s.due_alerts(100, 10).await.unwrap();
        assert_eq!(due.len(), 2);
        s.mark_alert_failed(due[0].id, "HTTP 500", 5_000)
            .await
            .unwrap();
        s.mark_alert_delivered(due[1].id, 150).await.unwrap();
        assert!(s.due_alerts(4_999, 10).await.unwrap().is_empty());
        s.close().await;
    }
    let s = SqliteStore::open(&path).await.unwrap();
    let due = s.due_alerts(5_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].idempotency_key, "k1");
    assert_eq!(due[0].attempts, 1);
    assert_eq!(due[0].next_attempt_at, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_violation_s_alerts_arrive_in_order_even_across_a_failed_delivery() {
    use fleetward_server::alert::{Outbox, OutboxConfig};
    use fleetward_store::NewAlert;
    use fleetward_store::sqlite::SqliteStore;
    use std::time::Duration;
    let (url, receiver) = start_receiver(1).await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("db")).await.unwrap());
    store
        .create_alert_target(&NewAlertTarget {
            name: "hook".into(),
            kind: AlertTargetKind::Webhook,
            url: Some(url),
            secret: Some(SECRET.into()),
            topic: None,
        })
        .await
        .unwrap();
    // Two violations, each raised then cleared; the very first POST fails.
    let alert = |vid: &str, event: &str| NewAlert {
        target: "hook".into(),
        idempotency_key: format!("{vid}:{event}:hook"),
        body: json!({"violationId": vid, "violationEventType": event}).to_string(),
    };
    store
        .enqueue_alerts(
            &[
                alert("v1", "in-alarm"),
                alert("v2", "in-alarm"),
                alert("v1", "alarm-cleared"),
                alert("v2", "alarm-cleared"),
            ],
            0,
        )
        .await
        .unwrap();
    let outbox = Outbox::new(
        store.clone(),
        OutboxConfig {
            base_backoff: Duration::from_millis(50),
            poll: Duration::from_millis(20),
            concurrency: 4,
            ..OutboxConfig::default()
        },
        None,
    );
    tokio::spawn(outbox.run(fleetward_server::supervisor::Shutdown::never()));
    let got = eventually(|| async {
        let ok: Vec<Value> = {
            let all = received(&receiver);
            all.iter()
                .skip(1) // the failed one
                .map(|r| serde_json::from_str(&r.body).unwrap())
                .collect()
        };
        (ok.len() == 4).then_some(ok)
    })
    .await;
    for vid in ["v1", "v2"] {
        let order: Vec<&str> = got
            .iter()
            .filter(|b| b["violationId"] == vid)
            .map(|b| b["violationEventType"].as_str().unwrap())
            .collect();
        assert_eq!(order, ["in-alarm", "alarm-cleared"], "{vid}: {got:?}");
    }
    assert!(store.due_alerts(i64::MAX, 10).await.unwrap().is_empty());
}
