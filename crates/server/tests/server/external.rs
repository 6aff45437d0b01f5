//! External-broker mode against the real Mosquitto at 127.0.0.1:1883: Fleetward joins the
//! shared subscription, stores reports and answers on the same broker.

use fleetward_testkit::server as common;

use std::time::Duration;

use fleetward_proto::Format;
use fleetward_proto::answer::{self, ErrorCode, Status};
use fleetward_server::broker::external::ExternalConfig;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const MOSQUITTO: &str = "127.0.0.1:1883";

/// Shared subscription (scale-out) with a prefix Mosquitto shares.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_subscription_with_a_custom_prefix() {
    round_trip("dd/things/", true).await;
}

/// AWS's own `$aws/things/` prefix, one instance, plain subscription.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_prefix_with_a_plain_subscription() {
    round_trip("$aws/things/", false).await;
}

async fn round_trip(prefix: &str, shared: bool) {
    assert!(
        std::net::TcpStream::connect(MOSQUITTO).is_ok(),
        "Mosquitto is not running at {MOSQUITTO}; .ci/run starts it"
    );
    let unique = format!(
        "{}-{}-{}",
        std::process::id(),
        u8::from(shared),
        fleetward_core::aws::time::system_now_ms()
    );
    let srv = common::start(|c| {
        c.external = Some(ExternalConfig {
            url: format!("mqtt://{MOSQUITTO}"),
            ca: None,
            client_cert: None,
            client_id: format!("fleetward-test-{unique}"),
            // A group of its own, so no other Fleetward on this broker takes our reports.
            group: shared.then(|| format!("fw-test-{unique}")),
        });
        c.prefix = prefix.to_owned();
    })
    .await;
    assert!(
        srv.running.mqtt_addr.is_none(),
        "no embedded broker in external mode"
    );

    let thing = format!("ext-{unique}");
    let mut opts = MqttOptions::new(format!("dev-{unique}"), "127.0.0.1", 1883);
    opts.set_max_packet_size(256 * 1024, 256 * 1024);
    let (client, mut el) = AsyncClient::new(opts, 64);
    let base = format!("{prefix}{thing}/defender/metrics/json");
    client
        .subscribe(format!("{base}/accepted"), QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .subscribe(format!("{base}/rejected"), QoS::AtLeastOnce)
        .await
        .unwrap();

    let mut answers = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut sent = false;
    while answers.len() < 2 {
        let ev = tokio::time::timeout_at(deadline, el.poll())
            .await
            .expect("answers within 20 s")
            .expect("mosquitto connection");
        match ev {
            Event::Incoming(Packet::SubAck(_)) if !sent => {
                // Give Fleetward's shared subscription time to be in place on first start.
                tokio::time::sleep(Duration::from_millis(500)).await;
                let good = std::fs::read(
                    fleetward_testkit::shared_dir()
                        .join("conformance/reports/accept-long-full.json"),
                )
                .unwrap();
                client
                    .publish(base.clone(), QoS::AtLeastOnce, false, good)
                    .await
                    .unwrap();
                client
                    .publish(
                        base.clone(),
                        QoS::AtLeastOnce,
                        false,
                        b"{\"header\":{}}".to_vec(),
                    )
                    .await
                    .unwrap();
                sent = true;
            }
            Event::Incoming(Packet::Publish(p)) => {
                answers.push((
                    p.topic.clone(),
                    answer::decode(&p.payload, Format::Json).unwrap(),
                ));
            }
            _ => {}
        }
    }
    answers.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(answers[0].0, format!("{base}/accepted"));
    assert_eq!(answers[0].1.status, Status::Accepted);
    assert_eq!(answers[1].0, format!("{base}/rejected"));
    assert_eq!(answers[1].1.error_code(), Some(ErrorCode::MissingHeader));
    assert_eq!(srv.store().count_reports().await.unwrap(), 1);
}
