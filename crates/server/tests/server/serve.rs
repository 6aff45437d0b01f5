//! `fleetward serve` end to end: a real server on ephemeral ports, devices over mutual TLS
//! with certificates from its CA.

use fleetward_testkit::server as common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Device, Seen, eventually, start};
use fleetward_proto::Format;
use fleetward_proto::answer::{ErrorCode, Status};
use fleetward_proto::decode::{AwsMetric, Metric, MetricValue};
use fleetward_proto::topic::{self, DEFAULT_PREFIX};
use fleetward_store::{CertStatus, PageRequest, Store};

fn report_json(report_id: u64, bytes_in: u64) -> Vec<u8> {
    format!(
        r#"{{"header":{{"report_id":{report_id},"version":"1.0"}},"metrics":{{"network_stats":{{"bytes_in":{bytes_in},"bytes_out":1,"packets_in":1,"packets_out":1}}}}}}"#
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_conformance_case_through_the_broker() {
    let srv = start(|_| {}).await;
    let cases = fleetward_testkit::cases();
    let mut devices: BTreeMap<String, Device> = BTreeMap::new();
    for case in &cases {
        let m = topic::parse(&case.topic, DEFAULT_PREFIX).expect("case topic");
        let thing = m.thing.to_owned();
        if !devices.contains_key(&thing) {
            let creds = srv.provision(&thing).await;
            let mut d = Device::connect(srv.mqtt_addr(), &thing, Some(&creds), &creds.ca).await;
            d.expect_connected().await;
            d.subscribe_answers(Format::Json).await;
            d.subscribe_answers(Format::Cbor).await;
            devices.insert(thing.clone(), d);
        }
        let d = devices.get_mut(&thing).expect("device");
        let payload = std::fs::read(&case.file).unwrap();
        let (answer_topic, ans) = d.report(&thing, m.topic.format, &payload).await;
        let want = case.expect["status"].as_str().unwrap();
        let kind = if want == "ACCEPTED" {
            "accepted"
        } else {
            "rejected"
        };
        assert_eq!(
            answer_topic,
            format!("{}/{kind}", case.topic),
            "{}",
            case.id
        );
        assert_eq!(ans.thing_name.as_str(), thing, "{}", case.id);
        match want {
            "ACCEPTED" => assert_eq!(ans.status, Status::Accepted, "{}: {ans:?}", case.id),
            _ => {
                assert_eq!(ans.status, Status::Rejected, "{}", case.id);
                let code = ans.error_code().map(ErrorCode::as_str);
                assert_eq!(
                    code,
                    case.expect["error_code"].as_str(),
                    "{}: {ans:?}",
                    case.id
                );
            }
        }
    }
    // Accepted reports with distinct (thing, report_id) were stored once each.
    let stored = srv.store().count_reports().await.unwrap();
    assert!(stored >= 2, "stored {stored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_for_another_thing_is_refused_and_counted() {
    let srv = start(|c| c.cloud_window_ms = 500).await;
    let a = srv.provision("auth-a").await;
    srv.provision("auth-b").await;
    let mut d = Device::connect(srv.mqtt_addr(), "auth-a", Some(&a), &a.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    // Subscribing to another thing's answers is refused too.
    d.client
        .subscribe(
            "$aws/things/auth-b/defender/metrics/json/accepted",
            rumqttc::QoS::AtLeastOnce,
        )
        .await
        .unwrap();
    match d.next().await {
        Seen::SubAck(ok) => assert_eq!(ok, vec![false]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    for i in 0..2 {
        d.client
            .publish(
                "$aws/things/auth-b/defender/metrics/json",
                rumqttc::QoS::AtMostOnce,
                false,
                report_json(10 + i, 1),
            )
            .await
            .unwrap();
    }
    // Its own report still goes through afterwards.
    let (_, ans) = d.report("auth-a", Format::Json, &report_json(1, 1)).await;
    assert_eq!(ans.status, Status::Accepted);
    let store = srv.running.store.clone();
    let failures = eventually(|| {
        let store = store.clone();
        async move {
            let n = sum_counts(
                store.as_ref(),
                "auth-a",
                AwsMetric::NumAuthorizationFailures,
            )
            .await;
            (n >= 3).then_some(n)
        }
    })
    .await;
    assert_eq!(failures, 3, "one subscribe and two publishes were denied");
    // Nothing was stored for auth-b.
    let b = metric(store.as_ref(), "auth-b", Metric::Aws(AwsMetric::AllBytesIn)).await;
    assert!(b.is_empty(), "auth-b got {b:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_unregistered_and_missing_certificates_cannot_connect() {
    let srv = start(|c| c.cloud_window_ms = 500).await;
    let good = srv.provision("cert-a").await;
    srv.store()
        .set_certificate_status(&good.cert_id, CertStatus::Inactive)
        .await
        .unwrap();
    let mut d = Device::connect(srv.mqtt_addr(), "cert-a", Some(&good), &good.ca).await;
    assert!(
        matches!(d.next().await, Seen::Refused(_) | Seen::Closed(_)),
        "INACTIVE must not connect"
    );

    // Signed by the CA but never registered.
    let (ca, _) = fleetward_service::pki::Ca::load_or_create(&srv.data_dir().join("ca")).unwrap();
    let rogue = ca.issue_device("cert-a").unwrap();
    let creds = common::DeviceCreds {
        cert: rogue.cert_pem,
        key: rogue.key_pem,
        ..good.clone()
    };
    let mut d = Device::connect(srv.mqtt_addr(), "cert-a", Some(&creds), &good.ca).await;
    assert!(
        matches!(d.next().await, Seen::Refused(_) | Seen::Closed(_)),
        "unregistered must not connect"
    );

    // No client certificate: the TLS handshake itself fails.
    let mut d = Device::connect(srv.mqtt_addr(), "cert-a", None, &good.ca).await;
    assert!(
        matches!(d.next().await, Seen::Closed(_) | Seen::Refused(_)),
        "no certificate must not connect"
    );

    // Reactivated, it connects; the refused attempt was counted for its thing.
    srv.store()
        .set_certificate_status(&good.cert_id, CertStatus::Active)
        .await
        .unwrap();
    let mut d = Device::connect(srv.mqtt_addr(), "cert-a", Some(&good), &good.ca).await;
    d.expect_connected().await;
    let store = srv.running.store.clone();
    let attempts = eventually(|| {
        let store = store.clone();
        async move {
            let n = sum_counts(store.as_ref(), "cert-a", AwsMetric::NumConnectionAttempts).await;
            (n >= 2).then_some(n)
        }
    })
    .await;
    assert_eq!(
        attempts, 2,
        "the refused INACTIVE attempt and the accepted one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloud_side_metrics_follow_a_scripted_sequence() {
    let srv = start(|c| c.cloud_window_ms = 500).await;
    let creds = srv.provision("cloud-a").await;
    let store = srv.running.store.clone();
    // connect, publish two reports, disconnect, reconnect.
    let mut d = Device::connect(srv.mqtt_addr(), "cloud-a", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    let p1 = report_json(1, 5);
    let p2 = report_json(2, 6);
    d.report("cloud-a", Format::Json, &p1).await;
    d.report("cloud-a", Format::Json, &p2).await;
    d.client.disconnect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut d = Device::connect(srv.mqtt_addr(), "cloud-a", Some(&creds), &creds.ca).await;
    d.expect_connected().await;

    let (attempts, disconnects, sent) = eventually(|| {
        let store = store.clone();
        async move {
            let a = sum_counts(store.as_ref(), "cloud-a", AwsMetric::NumConnectionAttempts).await;
            let d = sum_counts(store.as_ref(), "cloud-a", AwsMetric::NumDisconnects).await;
            let s = sum_counts(store.as_ref(), "cloud-a", AwsMetric::NumMessagesSent).await;
            (a >= 2 && d >= 1 && s >= 2).then_some((a, d, s))
        }
    })
    .await;
    assert_eq!((attempts, disconnects, sent), (2, 1, 2));
    let sizes = metric(
        store.as_ref(),
        "cloud-a",
        Metric::Aws(AwsMetric::MessageByteSize),
    )
    .await;
    let mut sizes: Vec<u64> = sizes
        .iter()
        .map(|v| match v {
            MetricValue::Count(n) => *n,
            o => panic!("{o:?}"),
        })
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![p1.len() as u64, p2.len() as u64]);
    let ips = metric(
        store.as_ref(),
        "cloud-a",
        Metric::Aws(AwsMetric::SourceIpAddress),
    )
    .await;
    assert_eq!(ips.len(), 2);
    assert!(
        ips.iter()
            .all(|v| *v == MetricValue::Cidrs(vec!["127.0.0.1".parse().unwrap()]))
    );
    // Answers delivered to the device count as messages it received.
    let received = sum_counts(store.as_ref(), "cloud-a", AwsMetric::NumMessagesReceived).await;
    assert_eq!(received, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttle_redelivery_and_restart() {
    let srv = start(|c| c.min_report_interval = Duration::from_secs(300)).await;
    let creds = srv.provision("thr-a").await;
    let mut d = Device::connect(srv.mqtt_addr(), "thr-a", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    let (_, a) = d.report("thr-a", Format::Json, &report_json(100, 1)).await;
    assert_eq!(a.status, Status::Accepted);
    // QoS 1 redelivery of the same report: ACCEPTED again, stored once.
    let (_, a) = d.report("thr-a", Format::Json, &report_json(100, 1)).await;
    assert_eq!(a.status, Status::Accepted);
    // A new report inside the interval: Throttled, with its id.
    let (t, a) = d.report("thr-a", Format::Json, &report_json(101, 1)).await;
    assert!(t.ends_with("/rejected"));
    assert_eq!(
        (a.error_code(), a.report_id),
        (Some(ErrorCode::Throttled), Some(101))
    );
    assert_eq!(srv.store().count_reports().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_listener_identifies_by_client_id() {
    let srv = start(|c| c.dev_listen = Some("127.0.0.1:0".parse().unwrap())).await;
    let addr = srv.running.dev_addr.expect("dev listener");
    let mut d = Device::connect_plain(addr, "dev-plain").await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    let (_, a) = d
        .report("dev-plain", Format::Json, &report_json(1, 1))
        .await;
    assert_eq!(a.status, Status::Accepted);
    // Still least privilege: no publishing for others.
    d.client
        .publish(
            "$aws/things/other/defender/metrics/json",
            rumqttc::QoS::AtMostOnce,
            false,
            report_json(2, 1),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(srv.store().count_reports().await.unwrap(), 1);
}

async fn metric(store: &dyn Store, thing: &str, m: Metric) -> Vec<MetricValue> {
    let page = store
        .metric_values(
            thing,
            &m,
            0,
            i64::MAX,
            &PageRequest {
                next_token: None,
                max_results: Some(250),
            },
        )
        .await
        .unwrap();
    page.items.into_iter().map(|d| d.value).collect()
}

async fn sum_counts(store: &dyn Store, thing: &str, m: AwsMetric) -> u64 {
    metric(store, thing, Metric::Aws(m))
        .await
        .iter()
        .map(|v| match v {
            MetricValue::Count(n) => *n,
            _ => 0,
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_device_is_throttled_and_others_still_report() {
    let srv = start(|c| c.min_report_interval = Duration::from_secs(300)).await;
    let flood = srv.provision("flood-a").await;
    let calm = srv.provision("calm-b").await;
    let mut f = Device::connect(srv.mqtt_addr(), "flood-a", Some(&flood), &flood.ca).await;
    f.expect_connected().await;
    f.subscribe_answers(Format::Json).await;
    let mut c = Device::connect(srv.mqtt_addr(), "calm-b", Some(&calm), &calm.ca).await;
    c.expect_connected().await;
    c.subscribe_answers(Format::Json).await;

    // 1,000 distinct reports from one device, as fast as the client can send them.
    const N: u64 = 1000;
    let client = f.client.clone();
    let sender = tokio::spawn(async move {
        for id in 1..=N {
            client
                .publish(
                    "$aws/things/flood-a/defender/metrics/json",
                    rumqttc::QoS::AtMostOnce,
                    false,
                    report_json(id, id),
                )
                .await
                .unwrap();
        }
    });
    // Meanwhile the calm device's report is accepted.
    let (_, a) = c.report("calm-b", Format::Json, &report_json(7, 7)).await;
    assert_eq!(a.status, Status::Accepted);
    sender.await.unwrap();

    // The flood got answers too: one accepted, the rest throttled (QoS 0 may drop a few).
    let (mut accepted, mut throttled) = (0, 0);
    while accepted + throttled < N {
        match tokio::time::timeout(Duration::from_secs(5), f.seen.recv()).await {
            Ok(Some(Seen::Message(_, p))) => {
                match fleetward_proto::answer::decode(&p, Format::Json)
                    .unwrap()
                    .error_code()
                {
                    None => accepted += 1,
                    Some(ErrorCode::Throttled) => throttled += 1,
                    Some(other) => panic!("unexpected {other}"),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert_eq!(
        accepted, 1,
        "only the first report of the interval is accepted"
    );
    assert!(throttled >= N * 9 / 10, "{throttled} throttled answers");
    // Stored: flood-a's first report and calm-b's.
    assert_eq!(srv.store().count_reports().await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_racing_its_original_is_answered_after_the_commit() {
    let srv = start(|_| {}).await;
    let creds = srv.provision("race-a").await;
    let mut d = Device::connect(srv.mqtt_addr(), "race-a", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    // Both copies are in the pipeline at once (reports of a connection run concurrently).
    for _ in 0..2 {
        d.client
            .publish(
                "$aws/things/race-a/defender/metrics/json",
                rumqttc::QoS::AtLeastOnce,
                false,
                report_json(42, 1),
            )
            .await
            .unwrap();
    }
    for _ in 0..2 {
        let (_, a) = d.answer(Format::Json).await;
        assert_eq!((a.status, a.report_id), (Status::Accepted, Some(42)));
        // ACCEPTED means stored, for the copy answered first too.
        assert_eq!(srv.store().count_reports().await.unwrap(), 1);
    }
}
