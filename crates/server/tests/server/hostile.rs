//! Hostile and revoked devices against a real server over mutual TLS: what a compromised
//! device must not get away with, and how fast an operator's edit contains it.
//!
//! Revocation: a session lives only while its certificate is ACTIVE and attached to its
//! thing. An edit through the API closes the session at once; an edit the offline CLI makes
//! to the data directory (another process: here, the store written behind the server's back)
//! closes it within the guard's sweep. Each close is counted on `/metrics`.

use fleetward_proto::Format;
use fleetward_proto::answer::Status;
use fleetward_store::CertStatus;
use fleetward_testkit::server::{self as common, Device, DeviceCreds, Seen, TestServer};
use fleetward_testkit::sigv4::{Client, Key};
use rumqttc::QoS;
use serde_json::json;

fn report(report_id: u64) -> Vec<u8> {
    format!(
        r#"{{"header":{{"report_id":{report_id},"version":"1.0"}},"metrics":{{"network_stats":{{"bytes_in":1,"bytes_out":1,"packets_in":1,"packets_out":1}}}}}}"#
    )
    .into_bytes()
}

async fn server() -> (TestServer, Client) {
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

/// A provisioned device, connected, with its answers subscribed and one report ACCEPTED.
async fn connected(s: &TestServer, thing: &str) -> (DeviceCreds, Device) {
    let creds = s.provision(thing).await;
    let mut d = Device::connect(s.mqtt_addr(), thing, Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    let (_, a) = d.report(thing, Format::Json, &report(1)).await;
    assert_eq!(a.status, Status::Accepted);
    (creds, d)
}

/// Waits for the connection to end (within `Device::next`'s 10 s), skipping other events.
async fn expect_closed(d: &mut Device) {
    loop {
        match d.next().await {
            Seen::Closed(_) | Seen::Refused(_) => return,
            _ => continue,
        }
    }
}

/// Connecting again with the same certificate is refused.
async fn expect_refused(s: &TestServer, creds: &DeviceCreds) {
    let mut again = Device::connect(s.mqtt_addr(), &creds.thing, Some(creds), &creds.ca).await;
    match again.next().await {
        Seen::Refused(_) | Seen::Closed(_) => {}
        other => panic!("a reconnect with the edited certificate got {other:?}"),
    }
}

/// `fleetward_sessions_closed_total{reason="…"}` on `/metrics`.
async fn closed_count(s: &TestServer, reason: &str) -> u64 {
    metric(
        s,
        &format!("fleetward_sessions_closed_total{{reason=\"{reason}\"}} "),
    )
    .await
}

/// The value of the `/metrics` line starting with `prefix`.
async fn metric(s: &TestServer, prefix: &str) -> u64 {
    let body = reqwest::get(format!("http://{}/metrics", s.running.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    body.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in /metrics:\n{body}"))
        .trim()
        .parse()
        .unwrap()
}

/// Creates policy `name` with `statements` and attaches it to `creds`' certificate.
async fn grant(api: &Client, creds: &DeviceCreds, name: &str, statements: serde_json::Value) {
    let document = json!({"Version": "2012-10-17", "Statement": statements});
    api.call(
        "POST",
        &format!("/policies/{name}"),
        Some(json!({"policyDocument": document.to_string()})),
    )
    .await
    .ok();
    api.call(
        "PUT",
        &format!("/target-policies/{name}"),
        Some(json!({"target": cert_arn(creds)})),
    )
    .await
    .ok();
}

fn cert_arn(creds: &DeviceCreds) -> String {
    format!("arn:aws:iot:us-east-1:000000000000:cert/{}", creds.cert_id)
}

/// `fleetward_connections_refused_total{reason="…"}` on `/metrics`.
async fn refused_count(s: &TestServer, reason: &str) -> u64 {
    metric(
        s,
        &format!("fleetward_connections_refused_total{{reason=\"{reason}\"}} "),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_or_deactivating_a_certificate_closes_its_live_session() {
    let (s, api) = server().await;
    for (i, status) in ["REVOKED", "INACTIVE"].into_iter().enumerate() {
        let thing = format!("cam-{i}");
        let (creds, mut d) = connected(&s, &thing).await;
        api.call(
            "PUT",
            &format!("/certificates/{}?newStatus={status}", creds.cert_id),
            None,
        )
        .await
        .ok();
        expect_closed(&mut d).await;
        expect_refused(&s, &creds).await;
    }
    assert_eq!(closed_count(&s, "certificate_not_active").await, 2);
    // The other devices' sessions are untouched.
    let (_, mut other) = connected(&s, "cam-other").await;
    let (_, a) = other.report("cam-other", Format::Json, &report(2)).await;
    assert_eq!(a.status, Status::Accepted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detaching_the_certificate_from_its_thing_closes_the_session() {
    let (s, api) = server().await;
    let (creds, mut d) = connected(&s, "cam-1").await;
    let principal = format!("arn:aws:iot:us-east-1:000000000000:cert/{}", creds.cert_id);
    let mut headers = api.sign(
        "DELETE",
        "/things/cam-1/principals",
        b"",
        std::time::SystemTime::now(),
    );
    headers.push(("x-amzn-principal".to_owned(), principal));
    let reply = api
        .send("DELETE", "/things/cam-1/principals", headers, Vec::new())
        .await;
    reply.ok();
    expect_closed(&mut d).await;
    expect_refused(&s, &creds).await;
    assert_eq!(closed_count(&s, "detached").await, 1);
}

/// The offline CLI edits the data directory from another process, which cannot poke the
/// server: the guard's sweep finds the revoked certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_written_behind_the_servers_back_closes_the_session_within_the_sweep() {
    let (s, _api) = server().await;
    let (creds, mut d) = connected(&s, "cam-1").await;
    s.store()
        .set_certificate_status(&creds.cert_id, CertStatus::Revoked)
        .await
        .unwrap();
    expect_closed(&mut d).await;
    assert_eq!(closed_count(&s, "certificate_not_active").await, 1);
}

/// A policy attached while the device is connected takes effect on the live session: a
/// subscription the default policy denies is granted afterwards, without reconnecting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_attached_while_connected_applies_to_the_live_session() {
    let (s, api) = server().await;
    let (creds, mut d) = connected(&s, "cam-1").await;
    let topic = "telemetry/cam-1";
    d.client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    match d.next().await {
        Seen::SubAck(ok) => assert_eq!(ok, [false], "the default policy granted {topic}"),
        other => panic!("expected SUBACK, got {other:?}"),
    }

    let document = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "iot:Subscribe",
            "Resource": "arn:aws:iot:us-east-1:000000000000:topicfilter/telemetry/${iot:Connection.Thing.ThingName}"
        }]
    });
    api.call(
        "POST",
        "/policies/telemetry",
        Some(json!({"policyDocument": document.to_string()})),
    )
    .await
    .ok();
    api.call(
        "PUT",
        "/target-policies/telemetry",
        Some(
            json!({"target": format!("arn:aws:iot:us-east-1:000000000000:cert/{}", creds.cert_id)}),
        ),
    )
    .await
    .ok();
    // The re-check runs as soon as the guard is poked; subscribe until it has (10 s at most).
    let mut granted = false;
    for _ in 0..200 {
        d.client.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
        match d.next().await {
            Seen::SubAck(ok) if ok[0] => {
                granted = true;
                break;
            }
            Seen::SubAck(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }
    assert!(
        granted,
        "the attached policy never reached the live session"
    );
    assert_eq!(closed_count(&s, "connect_denied").await, 0);
}

/// A last will on a topic the device may not publish on is a forgery waiting for the
/// connection to drop (another thing's answer, an alert topic): the CONNECT is refused. A will
/// on the device's own topics is fine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_will_on_a_topic_the_device_may_not_publish_on_is_refused() {
    let (s, _api) = server().await;
    s.provision("victim").await;
    let creds = s.provision("attacker").await;
    for topic in [
        "$aws/things/victim/defender/metrics/json/accepted",
        "fleetward/alerts",
    ] {
        let mut d = Device::connect_with(s.mqtt_addr(), "attacker", Some(&creds), &creds.ca, |o| {
            o.set_last_will(rumqttc::LastWill::new(
                topic,
                b"{}".to_vec(),
                QoS::AtLeastOnce,
                false,
            ));
        })
        .await;
        match d.next().await {
            Seen::Refused(_) | Seen::Closed(_) => {}
            other => panic!("a will on {topic} was accepted: {other:?}"),
        }
    }
    let own = "$aws/things/attacker/defender/metrics/json";
    let mut d = Device::connect_with(s.mqtt_addr(), "attacker", Some(&creds), &creds.ca, |o| {
        o.set_last_will(rumqttc::LastWill::new(
            own,
            b"{}".to_vec(),
            QoS::AtLeastOnce,
            false,
        ));
    })
    .await;
    d.expect_connected().await;
}

/// A client id longer than AWS's 128 bytes is refused at CONNECT, before anything keys a map
/// by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_client_id_is_refused() {
    let (s, _api) = server().await;
    let creds = s.provision("cam-1").await;
    let long = "c".repeat(129);
    let mut d = Device::connect(s.mqtt_addr(), &long, Some(&creds), &creds.ca).await;
    match d.next().await {
        Seen::Refused(_) | Seen::Closed(_) => {}
        other => panic!("a 129-byte client id was accepted: {other:?}"),
    }
}

/// One device cannot take another's client id: the CONNECT is refused and the victim's
/// session stays up and answered, with or without a persistent session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_take_over_another_devices_client_id() {
    let (s, api) = server().await;
    let (_, mut victim) = connected(&s, "victim").await;
    let attacker = s.provision("attacker").await;
    for persistent in [false, true] {
        let mut d = Device::connect_with(
            s.mqtt_addr(),
            "victim",
            Some(&attacker),
            &attacker.ca,
            |o| {
                o.set_clean_session(!persistent);
            },
        )
        .await;
        match d.next().await {
            Seen::Refused(_) | Seen::Closed(_) => {}
            other => panic!("the takeover (persistent: {persistent}) was accepted: {other:?}"),
        }
    }
    // A policy letting the attacker connect with any client id does not let it take over a
    // live session of another device either; the refusal is counted.
    grant(
        &api,
        &attacker,
        "any-client-id",
        json!([{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]),
    )
    .await;
    for persistent in [false, true] {
        let mut d = Device::connect_with(
            s.mqtt_addr(),
            "victim",
            Some(&attacker),
            &attacker.ca,
            |o| {
                o.set_clean_session(!persistent);
            },
        )
        .await;
        match d.next().await {
            Seen::Refused(_) | Seen::Closed(_) => {}
            other => panic!("the takeover with Connect on * was accepted: {other:?}"),
        }
    }
    assert_eq!(refused_count(&s, "takeover").await, 2);
    let (_, a) = victim.report("victim", Format::Json, &report(2)).await;
    assert_eq!(a.status, Status::Accepted);
}

/// Even with a policy that lets it publish anywhere, a device cannot file a report under
/// another thing (which would clear that thing's alarms) or publish that thing's answers:
/// identity is the certificate's thing, never the topic's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_cannot_report_as_another_thing_even_with_a_permissive_policy() {
    let (s, api) = server().await;
    s.provision("victim").await;
    let creds = s.provision("attacker").await;
    let anywhere = json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "iot:Publish", "Resource": "*"}]
    });
    api.call(
        "POST",
        "/policies/anywhere",
        Some(json!({"policyDocument": anywhere.to_string()})),
    )
    .await
    .ok();
    api.call(
        "PUT",
        "/target-policies/anywhere",
        Some(
            json!({"target": format!("arn:aws:iot:us-east-1:000000000000:cert/{}", creds.cert_id)}),
        ),
    )
    .await
    .ok();
    // Connected after the policy is attached, so the session has it from the start.
    let mut d = Device::connect(s.mqtt_addr(), "attacker", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    for topic in [
        "$aws/things/victim/defender/metrics/json",
        "$aws/things/victim/defender/metrics/json/accepted",
    ] {
        d.client
            .publish(topic, QoS::AtLeastOnce, false, report(7))
            .await
            .unwrap();
    }
    // The device's own next report is answered after anything it published before was
    // handled (one connection's publishes are taken in order, and stored in order).
    let (_, a) = d.report("attacker", Format::Json, &report(8)).await;
    assert_eq!(a.status, Status::Accepted);
    let filed: Vec<String> = s
        .store()
        .last_reports()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.thing)
        .collect();
    assert_eq!(filed, ["attacker"]);
}

/// Detaching a policy takes back what it granted from the live session: a device connected
/// with a client id only that policy allowed is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detaching_the_policy_that_allowed_the_connection_closes_the_session() {
    let (s, api) = server().await;
    let creds = s.provision("cam-1").await;
    grant(
        &api,
        &creds,
        "debug-client",
        json!([{
            "Effect": "Allow",
            "Action": "iot:Connect",
            "Resource": "arn:aws:iot:us-east-1:000000000000:client/cam-1-debug"
        }]),
    )
    .await;
    let mut d = Device::connect(s.mqtt_addr(), "cam-1-debug", Some(&creds), &creds.ca).await;
    d.expect_connected().await;
    api.call(
        "POST",
        "/target-policies/debug-client",
        Some(json!({"target": cert_arn(&creds)})),
    )
    .await
    .ok();
    expect_closed(&mut d).await;
    assert_eq!(closed_count(&s, "connect_denied").await, 1);
    // Detached, the policy can be deleted; attached, it could not have been.
    api.call("DELETE", "/policies/debug-client", None)
        .await
        .ok();
}

/// A policy cannot be deleted while attached: the live session it grants is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attached_policy_cannot_be_deleted_from_under_a_session() {
    let (s, api) = server().await;
    let (creds, mut d) = connected(&s, "cam-1").await;
    grant(
        &api,
        &creds,
        "extra",
        json!([{"Effect": "Allow", "Action": "iot:Subscribe", "Resource": "*"}]),
    )
    .await;
    api.call("DELETE", "/policies/extra", None)
        .await
        .error(409, "DeleteConflictException");
    let (_, a) = d.report("cam-1", Format::Json, &report(2)).await;
    assert_eq!(a.status, Status::Accepted);
}

/// `iot:Receive` is checked on every delivery: a subscription the policies grant delivers
/// only the topics they let the device receive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_delivers_only_what_the_device_may_receive() {
    let (s, api) = server().await;
    let listener = s.provision("listener").await;
    let talker = s.provision("talker").await;
    grant(
        &api,
        &listener,
        "listen",
        json!([
            {"Effect": "Allow", "Action": "iot:Subscribe",
             "Resource": "arn:aws:iot:us-east-1:000000000000:topicfilter/telemetry/*"},
            {"Effect": "Allow", "Action": "iot:Receive",
             "Resource": "arn:aws:iot:us-east-1:000000000000:topic/telemetry/ok"}
        ]),
    )
    .await;
    grant(
        &api,
        &talker,
        "talk",
        json!([{"Effect": "Allow", "Action": "iot:Publish",
                "Resource": "arn:aws:iot:us-east-1:000000000000:topic/telemetry/*"}]),
    )
    .await;
    let mut l = Device::connect(s.mqtt_addr(), "listener", Some(&listener), &listener.ca).await;
    l.expect_connected().await;
    l.client
        .subscribe("telemetry/+", QoS::AtLeastOnce)
        .await
        .unwrap();
    match l.next().await {
        Seen::SubAck(ok) => assert_eq!(ok, [true]),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    let mut t = Device::connect(s.mqtt_addr(), "talker", Some(&talker), &talker.ca).await;
    t.expect_connected().await;
    // Published in order by one client: "secret" reaches the listener's session first.
    for topic in ["telemetry/secret", "telemetry/ok"] {
        t.client
            .publish(topic, QoS::AtLeastOnce, false, topic.as_bytes().to_vec())
            .await
            .unwrap();
    }
    loop {
        match l.next().await {
            Seen::Message(topic, _) => {
                assert_eq!(topic, "telemetry/ok", "delivered without iot:Receive");
                break;
            }
            Seen::Closed(why) | Seen::Refused(why) => panic!("listener closed: {why}"),
            _ => continue,
        }
    }
}

/// One source address holds at most `max_per_address` sessions; past it, CONNECTs are
/// refused and counted, and a slot freed is a slot open again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_per_source_address_are_capped() {
    let s = common::start(|c| {
        c.limits.max_per_address = 1;
    })
    .await;
    let (_, first) = connected(&s, "cam-1").await;
    let creds = s.provision("cam-2").await;
    let mut d = Device::connect(s.mqtt_addr(), "cam-2", Some(&creds), &creds.ca).await;
    match d.next().await {
        Seen::Refused(_) | Seen::Closed(_) => {}
        other => panic!("a second session from one address was accepted: {other:?}"),
    }
    assert_eq!(refused_count(&s, "address_limit").await, 1);
    first.close().await;
    common::eventually(|| async {
        let mut d = Device::connect(s.mqtt_addr(), "cam-2", Some(&creds), &creds.ca).await;
        matches!(d.next().await, Seen::Connected).then_some(())
    })
    .await;
}
