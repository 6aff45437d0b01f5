//! MQTT alert targets: a violating report makes the server publish the AWS Detect SNS message
//! on the target's topic of the embedded broker, where a device allowed to subscribe gets it.

use fleetward_testkit::server as common;

use common::{Device, Seen, start};
use fleetward_proto::Format;
use fleetward_proto::answer::Status;
use fleetward_store::{AlertTargetKind, NewAlertTarget, NewPolicy, Store};
use rumqttc::QoS;
use serde_json::{Value, json};

const ALERT_TOPIC: &str = "fleetward/alerts";
const SUBSCRIBE_POLICY: &str = "alerts-subscriber";

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

/// The default device policy allows only Defender topics; the subscriber also needs the
/// alert topic.
fn subscribe_policy() -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": format!("arn:aws:iot:*:*:topic/{ALERT_TOPIC}")
            },
            {
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": format!("arn:aws:iot:*:*:topicfilter/{ALERT_TOPIC}")
            }
        ]
    })
    .to_string()
}

/// The next message on `topic`, skipping other events.
async fn message_on(d: &mut Device, topic: &str) -> Vec<u8> {
    loop {
        match d.next().await {
            Seen::Message(t, p) if t == topic => return p,
            Seen::Closed(e) => panic!("connection closed while waiting on {topic}: {e}"),
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violation_alerts_are_published_on_the_embedded_broker() {
    let srv = start(|_| {}).await;
    let creds = srv.provision("cam-1").await;
    let ops = srv.provision("ops-console").await;
    let store: &dyn Store = srv.store();
    store
        .create_policy(&NewPolicy {
            name: SUBSCRIBE_POLICY.into(),
            document: subscribe_policy(),
        })
        .await
        .unwrap();
    store
        .attach_policy(SUBSCRIBE_POLICY, &ops.cert_id)
        .await
        .unwrap();
    store
        .create_alert_target(&NewAlertTarget {
            name: "ops-mqtt".into(),
            kind: AlertTargetKind::Mqtt,
            url: None,
            secret: None,
            topic: Some(ALERT_TOPIC.into()),
        })
        .await
        .unwrap();
    let behavior = common::ports_profile(store, "ops-mqtt").await;

    let mut sub = Device::connect(srv.mqtt_addr(), "ops-console", Some(&ops), &ops.ca).await;
    sub.expect_connected().await;
    sub.client
        .subscribe(ALERT_TOPIC, QoS::AtLeastOnce)
        .await
        .unwrap();
    match sub.next().await {
        Seen::SubAck(ok) => assert_eq!(ok, vec![true], "alert subscription refused"),
        other => panic!("expected SUBACK, got {other:?}"),
    }

    let mut d = Device::connect(srv.mqtt_addr(), "cam-1", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    let (_, ans) = d
        .report("cam-1", Format::Json, &ports_report(1, &[22, 80, 443]))
        .await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");

    let body = message_on(&mut sub, ALERT_TOPIC).await;
    let msg: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(msg["violationEventType"], "in-alarm");
    assert_eq!(msg["thingName"], "cam-1");
    assert_eq!(msg["securityProfileName"], "ports");
    assert_eq!(msg["behavior"], behavior);
    assert_eq!(msg["metricValue"], json!({"count": 3}));
    let violation_id = msg["violationId"].as_str().unwrap().to_owned();
    assert_eq!(violation_id.len(), 32);

    // A compliant report clears the alarm, and that is published too.
    let (_, ans) = d
        .report("cam-1", Format::Json, &ports_report(2, &[22]))
        .await;
    assert_eq!(ans.status, Status::Accepted, "{ans:?}");
    let body = message_on(&mut sub, ALERT_TOPIC).await;
    let msg: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(msg["violationEventType"], "alarm-cleared");
    assert_eq!(msg["violationId"], violation_id.as_str());

    // Both were delivered once: nothing is left in the outbox.
    common::eventually(|| async {
        store
            .due_alerts(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty()
            .then_some(())
    })
    .await;
}
