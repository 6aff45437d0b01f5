//! Rules Detect wired into the server: device reports over MQTT raise and clear violations,
//! and behavior states survive a restart of the detection task.

use fleetward_testkit::server as common;

use std::sync::Arc;

use common::{Device, eventually, start};
use fleetward_proto::Format;
use fleetward_proto::answer::Status;
use fleetward_proto::decode::{AwsMetric, Datapoint, Metric, MetricValue};
use fleetward_server::detection::DetectionService;
use fleetward_server::ingest::ReportSink;
use fleetward_store::sqlite::SqliteStore;
use fleetward_store::{
    NewSecurityProfile, PageRequest, Store, StoredReport, ViolationEventFilter, ViolationEventType,
};
use serde_json::json;

const ALL_THINGS: &str = "arn:aws:iot:us-east-1:000000000000:all/things";

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

async fn create_profile(store: &dyn Store, name: &str, to_alarm: u8) {
    store
        .create_security_profile(&NewSecurityProfile {
            name: name.into(),
            description: None,
            behaviors: json!([{
                "name": "few-ports",
                "metric": "aws:num-listening-tcp-ports",
                "criteria": {
                    "comparisonOperator": "less-than-equals",
                    "value": {"count": 1},
                    "consecutiveDatapointsToAlarm": to_alarm,
                    "consecutiveDatapointsToClear": 1
                }
            }]),
            alert_targets: json!({}),
            additional_metrics: json!([]),
        })
        .await
        .unwrap();
    store
        .attach_security_profile(name, ALL_THINGS)
        .await
        .unwrap();
}

fn page() -> PageRequest {
    PageRequest {
        next_token: None,
        max_results: Some(100),
    }
}

async fn active(store: &dyn Store, thing: &str) -> Vec<fleetward_store::Violation> {
    store
        .list_active_violations(Some(thing), None, &page())
        .await
        .unwrap()
        .items
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_reports_raise_and_clear_a_violation() {
    let srv = start(|_| {}).await;
    let creds = srv.provision("cam-1").await;
    create_profile(srv.store(), "ports", 1).await;

    let mut d = Device::connect(srv.mqtt_addr(), "cam-1", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;

    let (_, ans) = d
        .report("cam-1", Format::Json, &ports_report(1, &[22, 80, 443]))
        .await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");
    let v = eventually(|| async {
        let a = active(srv.store(), "cam-1").await;
        (a.len() == 1).then(|| a.into_iter().next())?
    })
    .await;
    assert_eq!(v.profile, "ports");
    assert_eq!(v.behavior, "few-ports");
    assert_eq!(v.metric.as_deref(), Some("aws:num-listening-tcp-ports"));
    assert_eq!(v.last_value, Some(json!({"count": 3})));
    assert_eq!(v.violation_id.len(), 32);
    assert!(
        v.violation_id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{}",
        v.violation_id
    );

    let (_, ans) = d
        .report("cam-1", Format::Json, &ports_report(2, &[22]))
        .await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");
    let events = eventually(|| async {
        if !active(srv.store(), "cam-1").await.is_empty() {
            return None;
        }
        let events = srv
            .store()
            .list_violation_events(
                &ViolationEventFilter {
                    thing: Some("cam-1".into()),
                    profile: None,
                    from_ms: 0,
                    to_ms: i64::MAX,
                },
                &page(),
            )
            .await
            .unwrap()
            .items;
        events
            .iter()
            .any(|e| e.event_type == ViolationEventType::AlarmCleared)
            .then_some(events)
    })
    .await;
    let kinds: Vec<ViolationEventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        kinds,
        [
            ViolationEventType::InAlarm,
            ViolationEventType::AlarmCleared
        ]
    );
    assert!(events.iter().all(|e| e.violation_id == v.violation_id));
    let ended = srv
        .store()
        .get_violation(&v.violation_id)
        .await
        .unwrap()
        .unwrap();
    assert!(ended.ended_at.is_some());
}

fn stored(thing: &str, report_id: u64, at: i64, ports: u64) -> StoredReport {
    StoredReport {
        thing: thing.into(),
        report_id,
        received_at: at,
        format: Format::Json,
        size: 0,
        datapoints: vec![Datapoint {
            metric: Metric::Aws(AwsMetric::NumListeningTcpPorts),
            value: MetricValue::Count(ports),
        }],
    }
}

/// Feeds `reports` through a fresh detection service on `store` and waits for its task to
/// finish, as a server restart between them would.
async fn run_detection(store: Arc<dyn Store>, reports: &[StoredReport]) {
    let (service, task) = DetectionService::new(store, 16);
    let handle = tokio::spawn(task.run(fleetward_server::supervisor::Shutdown::never()));
    service.reports_stored(reports);
    assert_eq!(service.dropped(), 0);
    drop(service);
    handle.await.unwrap();
}

/// The server's broker cannot be stopped in process, so the restart is of the detection
/// service over the same database: what a server restart does to detection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_continues_a_consecutive_datapoint_run() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(&dir.path().join("fleetward.db"))
            .await
            .unwrap(),
    );
    create_profile(store.as_ref(), "ports2", 2).await;

    run_detection(store.clone(), &[stored("cam-2", 1, 1_000, 3)]).await;
    assert!(active(store.as_ref(), "cam-2").await.is_empty());
    assert_eq!(store.behavior_states("ports2").await.unwrap().len(), 1);

    run_detection(store.clone(), &[stored("cam-2", 2, 2_000, 3)]).await;
    let a = active(store.as_ref(), "cam-2").await;
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0].behavior, "few-ports");
    assert_eq!(a[0].started_at, 2_000);
}
