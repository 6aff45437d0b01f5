//! Detection running inside the server, driven by the clock and by the registry: cloud-side
//! counts over windows, statistical window ends over a small fleet, immediate invalidation on
//! detach and thing deletion, the silence sweep, custom metric types at ingest, and the
//! per-behavior counters on `/metrics`.
//!
//! These servers run with `time_scale` so a 5-minute AWS window lasts a second or less.

use fleetward_testkit::server as common;

use std::time::Duration;

use common::{ALL_THINGS, Device, eventually, start};
use fleetward_proto::Format;
use fleetward_proto::answer::{ErrorCode, Status};
use fleetward_store::{
    NewCustomMetric, NewSecurityProfile, NewThing, PageRequest, Store, ViolationEventFilter,
    ViolationEventType,
};
use serde_json::{Value, json};

fn page() -> PageRequest {
    PageRequest {
        next_token: None,
        max_results: Some(250),
    }
}

async fn profile(store: &dyn Store, name: &str, behaviors: Value) {
    store
        .create_security_profile(&NewSecurityProfile {
            name: name.into(),
            description: None,
            behaviors,
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

fn ports_behavior() -> Value {
    json!([common::few_ports_behavior()])
}

fn ports_report(report_id: u64, n: u16) -> Vec<u8> {
    let ports: Vec<String> = (0..n)
        .map(|p| format!(r#"{{"port":{}}}"#, 8000 + p))
        .collect();
    format!(
        r#"{{"header":{{"report_id":{report_id},"version":"1.0"}},"metrics":{{"listening_tcp_ports":{{"ports":[{}],"total":{n}}}}}}}"#,
        ports.join(",")
    )
    .into_bytes()
}

fn bytes_out_report(report_id: u64, bytes_out: u64) -> Vec<u8> {
    format!(
        r#"{{"header":{{"report_id":{report_id},"version":"1.0"}},"metrics":{{"network_stats":{{"bytes_in":1,"bytes_out":{bytes_out},"packets_in":1,"packets_out":1}}}}}}"#
    )
    .into_bytes()
}

async fn active_behaviors(store: &dyn Store, thing: &str) -> Vec<String> {
    store
        .list_active_violations(Some(thing), None, &page())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|v| v.behavior)
        .collect()
}

async fn event_kinds(store: &dyn Store, thing: &str) -> Vec<ViolationEventType> {
    store
        .list_violation_events(
            &ViolationEventFilter {
                thing: Some(thing.into()),
                profile: None,
                from_ms: 0,
                to_ms: i64::MAX,
            },
            &page(),
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

/// Waits until `thing` has no active violation, then checks its one alarm was invalidated.
async fn ends_invalidated(store: &dyn Store, thing: &str) {
    eventually(|| async {
        active_behaviors(store, thing)
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(
        event_kinds(store, thing).await,
        [
            ViolationEventType::InAlarm,
            ViolationEventType::AlarmInvalidated
        ]
    );
}

/// Connects `thing` on the dev listener (client id = thing name) and subscribes to its answers.
async fn dev_device(addr: std::net::SocketAddr, thing: &str) -> Device {
    let mut d = Device::connect_plain(addr, thing).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    d
}

async fn accepted(d: &mut Device, payload: &[u8]) {
    let thing = d.thing.clone();
    let (_, ans) = d.report(&thing, Format::Json, payload).await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorization_failure_storm_alarms_over_a_cloud_window_then_clears() {
    // 300x: the 5-minute cloud window and the 300 s duration are one second.
    let srv = start(|c| {
        c.time_scale = 300;
        c.dev_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    profile(
        srv.store(),
        "authz",
        json!([{
            "name": "authz-storm",
            "metric": "aws:num-authorization-failures",
            "criteria": {
                "comparisonOperator": "less-than-equals",
                "value": {"count": 3},
                "durationSeconds": 300,
                "consecutiveDatapointsToAlarm": 1,
                "consecutiveDatapointsToClear": 1
            }
        }]),
    )
    .await;
    let addr = srv.running.dev_addr.unwrap();
    let d = dev_device(addr, "storm-a").await;
    for i in 0..8 {
        d.client
            .publish(
                "$aws/things/storm-b/defender/metrics/json",
                rumqttc::QoS::AtMostOnce,
                false,
                ports_report(i + 1, 1),
            )
            .await
            .unwrap();
    }
    let v = eventually(|| async {
        let a = srv
            .store()
            .list_active_violations(Some("storm-a"), None, &page())
            .await
            .unwrap()
            .items;
        a.into_iter().next()
    })
    .await;
    assert_eq!(v.behavior, "authz-storm");
    assert_eq!(v.metric.as_deref(), Some("aws:num-authorization-failures"));
    let Some(Value::Object(last)) = &v.last_value else {
        panic!("{:?}", v.last_value)
    };
    assert!(last["count"].as_u64().unwrap() > 3, "{last:?}");
    // Quiet windows count zero, so the alarm clears once the storm leaves the duration.
    eventually(|| async {
        active_behaviors(srv.store(), "storm-a")
            .await
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(
        event_kinds(srv.store(), "storm-a").await,
        [
            ViolationEventType::InAlarm,
            ViolationEventType::AlarmCleared
        ]
    );
    // The innocent thing whose topic was targeted is not in alarm.
    assert!(active_behaviors(srv.store(), "storm-b").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statistical_threshold_judges_each_device_against_the_fleet_at_window_end() {
    let srv = start(|c| {
        c.time_scale = 300;
        c.dev_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    profile(
        srv.store(),
        "fleet",
        json!([{
            "name": "bytes-out-at-most-median",
            "metric": "aws:all-bytes-out",
            "criteria": {
                "comparisonOperator": "less-than-equals",
                "statisticalThreshold": {"statistic": "p50"},
                "durationSeconds": 300,
                "consecutiveDatapointsToAlarm": 1,
                "consecutiveDatapointsToClear": 1
            }
        }]),
    )
    .await;
    let addr = srv.running.dev_addr.unwrap();
    let mut fleet = Vec::new();
    for i in 0..5 {
        fleet.push(dev_device(addr, &format!("stat-{i}")).await);
    }
    // The window is 1 s, aligned to whole seconds: start right after a boundary so every
    // report lands in the same window.
    let now = fleetward_core::aws::time::system_now_ms();
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(1000 - now.rem_euclid(1000) + 20).unwrap(),
    ))
    .await;
    for (i, d) in fleet.iter_mut().enumerate() {
        let bytes = if i == 3 { 50_000 } else { 100 + i as u64 };
        accepted(d, &bytes_out_report(1, bytes)).await;
    }
    let alarmed = eventually(|| async {
        let mut alarmed = Vec::new();
        for i in 0..5 {
            let thing = format!("stat-{i}");
            if !active_behaviors(srv.store(), &thing).await.is_empty() {
                alarmed.push(thing);
            }
        }
        (!alarmed.is_empty()).then_some(alarmed)
    })
    .await;
    // Behaviors describe normal behavior: at most the fleet's median. p50 by nearest rank over
    // {100, 101, 102, 50000, 104} is 102, so stat-3 and stat-4 violate.
    assert_eq!(alarmed, ["stat-3", "stat-4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detaching_a_profile_and_deleting_a_thing_invalidate_at_once() {
    let srv = start(|c| {
        c.min_report_interval = Duration::ZERO;
        c.dev_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let store = srv.store();
    store
        .create_thing(&NewThing {
            name: "del-2".into(),
            ..NewThing::default()
        })
        .await
        .unwrap();
    profile(store, "ports", ports_behavior()).await;
    let addr = srv.running.dev_addr.unwrap();
    let mut d1 = dev_device(addr, "del-1").await;
    let mut d2 = dev_device(addr, "del-2").await;
    accepted(&mut d1, &ports_report(1, 3)).await;
    accepted(&mut d2, &ports_report(1, 3)).await;
    for thing in ["del-1", "del-2"] {
        eventually(|| async {
            (active_behaviors(store, thing).await == ["few-ports"]).then_some(())
        })
        .await;
    }

    // Deleting a registered thing ends its alarms without waiting for a report.
    store.delete_thing("del-2").await.unwrap();
    srv.running.detection.refresher().notify_one();
    ends_invalidated(store, "del-2").await;
    assert_eq!(active_behaviors(store, "del-1").await, ["few-ports"]);

    // Detaching the profile ends the remaining alarm the same way.
    store
        .detach_security_profile("ports", ALL_THINGS)
        .await
        .unwrap();
    srv.running.detection.refresher().notify_one();
    ends_invalidated(store, "del-1").await;

    // AWS's CloudWatch metrics, per profile and behavior, on /metrics.
    let body = reqwest::get(format!("http://{}/metrics", srv.running.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"fleetward_violations_total{security_profile_name="ports",behavior="few-ports"} 2"#,
        r#"fleetward_violations_invalidated_total{security_profile_name="ports",behavior="few-ports"} 2"#,
        r#"fleetward_violations_cleared_total{security_profile_name="ports",behavior="few-ports"} 0"#,
    ] {
        assert!(body.lines().any(|l| l == line), "{line} missing in\n{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thing_silent_for_two_days_has_its_alarms_invalidated() {
    // 86400x: two days last two seconds.
    let srv = start(|c| {
        c.time_scale = 86_400;
        c.dev_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let store = srv.store();
    profile(store, "ports", ports_behavior()).await;
    let addr = srv.running.dev_addr.unwrap();
    let mut d = dev_device(addr, "quiet-1").await;
    accepted(&mut d, &ports_report(1, 3)).await;
    eventually(|| async { (!active_behaviors(store, "quiet-1").await.is_empty()).then_some(()) })
        .await;
    d.client.disconnect().await.unwrap();
    ends_invalidated(store, "quiet-1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_metric_of_the_wrong_type_is_refused_at_ingest() {
    let srv = start(|c| {
        c.min_report_interval = Duration::ZERO;
        c.dev_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    srv.store()
        .create_custom_metric(&NewCustomMetric {
            name: "temperature".into(),
            display_name: None,
            metric_type: "number".into(),
        })
        .await
        .unwrap();
    srv.running
        .custom_types
        .refresh_from(srv.store())
        .await
        .unwrap();
    let addr = srv.running.dev_addr.unwrap();
    let mut d = dev_device(addr, "temp-1").await;
    let wrong = br#"{"header":{"report_id":1,"version":"1.0"},"custom_metrics":{"temperature":[{"number_list":[21.5]}]}}"#;
    let (_, ans) = d.report("temp-1", Format::Json, wrong).await;
    assert_eq!(ans.status, Status::Rejected);
    let details = ans.status_details.expect("rejection details");
    assert_eq!(details.error_code, ErrorCode::InvalidPayload);
    assert_eq!(
        details.error_message.as_str(),
        "custom_metrics.temperature: registered as number but the report sends number_list (expected number)"
    );
    assert_eq!(srv.store().count_reports().await.unwrap(), 0);
    let right = br#"{"header":{"report_id":2,"version":"1.0"},"custom_metrics":{"temperature":[{"number":21.5}],"not_registered":[{"string_list":["x"]}]}}"#;
    let (_, ans) = d.report("temp-1", Format::Json, right).await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");
}
