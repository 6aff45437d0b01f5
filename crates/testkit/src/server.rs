//! Test harness for the server (feature `server`): a real server on ephemeral ports with a temporary data
//! directory, devices with real certificates from its CA, and an MQTT-over-TLS device client.

pub use crate::sigv4;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fleetward_proto::Format;
use fleetward_proto::answer::{self, Answer};
use fleetward_server::server::{RunningServer, ServeConfig};
use fleetward_service::pki::Ca;
use fleetward_store::{CertStatus, Certificate, NewThing, Store};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use tokio::sync::mpsc;

/// A server under test, and the temp dir it lives in.
pub struct TestServer {
    /// The started server.
    pub running: RunningServer,
    /// The temporary directory holding its data directory.
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's store.
    pub fn store(&self) -> &dyn Store {
        self.running.store.as_ref()
    }

    /// The embedded broker's mutual-TLS address.
    pub fn mqtt_addr(&self) -> SocketAddr {
        self.running.mqtt_addr.expect("embedded broker")
    }

    /// Registers `thing` with a fresh certificate from the server's CA.
    pub async fn provision(&self, thing: &str) -> DeviceCreds {
        provision(self.store(), &self.data_dir(), thing).await
    }
}

/// Starts a server with `tweak` applied to the defaults (ports 0, no throttle).
pub async fn start(tweak: impl FnOnce(&mut ServeConfig)) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = ServeConfig::new(dir.path().join("data"));
    cfg.mqtt_listen = vec!["127.0.0.1:0".parse().unwrap()];
    cfg.http_listen = "127.0.0.1:0".parse().unwrap();
    cfg.min_report_interval = Duration::ZERO;
    tweak(&mut cfg);
    let running = fleetward_server::server::start(cfg)
        .await
        .expect("server starts");
    TestServer { running, dir }
}

/// A device's credentials, PEM.
#[derive(Clone)]
pub struct DeviceCreds {
    /// The thing the certificate is attached to.
    pub thing: String,
    /// The certificate id.
    pub cert_id: String,
    /// The certificate.
    pub cert: String,
    /// Its private key.
    pub key: String,
    /// The CA certificate the server's broker presents.
    pub ca: String,
}

/// Issues a certificate from the data dir's CA, registers it ACTIVE and attaches it to `thing`
/// (created if missing), as `fleetward certs create` does.
pub async fn provision(store: &dyn Store, data_dir: &std::path::Path, thing: &str) -> DeviceCreds {
    let (ca, _) = Ca::load_or_create(&data_dir.join("ca")).expect("ca");
    if store.get_thing(thing).await.unwrap().is_none() {
        store
            .create_thing(&NewThing {
                name: thing.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let issued = ca.issue_device(thing).unwrap();
    let f = &issued.facts;
    store
        .insert_certificate(&Certificate {
            id: f.id.clone(),
            pem: issued.cert_pem.clone(),
            status: CertStatus::Active,
            ca_id: Some(ca.facts().id.clone()),
            subject: f.subject.clone(),
            serial: f.serial.clone(),
            not_after: f.not_after,
            created_at: 0,
        })
        .await
        .unwrap();
    store.attach_thing_principal(thing, &f.id).await.unwrap();
    DeviceCreds {
        thing: thing.into(),
        cert_id: f.id.clone(),
        cert: issued.cert_pem,
        key: issued.key_pem,
        ca: ca.pem().to_owned(),
    }
}

/// What a device's connection saw.
#[derive(Debug)]
pub enum Seen {
    /// CONNACK, accepted.
    Connected,
    /// CONNACK, refused with this code.
    Refused(String),
    /// SUBACK: which filters were granted.
    SubAck(Vec<bool>),
    /// A PUBLISH: topic and payload.
    Message(String, Vec<u8>),
    /// The connection ended, and why.
    Closed(String),
}

/// An MQTT 3.1.1 device over TLS (or plain TCP for the dev listener).
pub struct Device {
    /// The MQTT client.
    pub client: AsyncClient,
    /// What the connection saw, in order.
    pub seen: mpsc::UnboundedReceiver<Seen>,
    /// The thing it reports as.
    pub thing: String,
    /// The task polling the connection; stopping it closes the connection.
    pump: tokio::task::JoinHandle<()>,
}

impl Drop for Device {
    /// A dropped device's connection is closed, as a real device's would be.
    fn drop(&mut self) {
        self.pump.abort();
    }
}

impl Device {
    /// Disconnects as a well-behaved device does, and returns once DISCONNECT is written
    /// and the connection closed (rmqtt waits for the close, as MQTT lets it).
    pub async fn close(mut self) {
        if self.client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.pump).await;
        }
    }

    /// Connects with client certificate `creds` (or none) and waits for CONNACK or refusal.
    pub async fn connect(
        addr: SocketAddr,
        client_id: &str,
        creds: Option<&DeviceCreds>,
        ca: &str,
    ) -> Device {
        Self::connect_with(addr, client_id, creds, ca, |_| {}).await
    }

    /// [`Device::connect`] with the MQTT options changed by `tweak` first (a last will, a
    /// persistent session), as a hostile device would set them.
    pub async fn connect_with(
        addr: SocketAddr,
        client_id: &str,
        creds: Option<&DeviceCreds>,
        ca: &str,
        tweak: impl FnOnce(&mut MqttOptions),
    ) -> Device {
        let mut opts = MqttOptions::new(client_id, "127.0.0.1", addr.port());
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_max_packet_size(256 * 1024, 256 * 1024);
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
            ca: ca.as_bytes().to_vec(),
            alpn: None,
            client_auth: creds.map(|c| (c.cert.as_bytes().to_vec(), c.key.as_bytes().to_vec())),
        }));
        tweak(&mut opts);
        Self::start(opts, creds.map_or(client_id, |c| c.thing.as_str())).await
    }

    /// Connects to the plain dev listener.
    pub async fn connect_plain(addr: SocketAddr, client_id: &str) -> Device {
        let mut opts = MqttOptions::new(client_id, "127.0.0.1", addr.port());
        opts.set_max_packet_size(256 * 1024, 256 * 1024);
        Self::start(opts, client_id).await
    }

    async fn start(opts: MqttOptions, thing: &str) -> Device {
        let (client, mut eventloop) = AsyncClient::new(opts, 256);
        let (tx, seen) = mpsc::unbounded_channel();
        let pump = tokio::spawn(async move {
            loop {
                let item = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => Seen::Connected,
                    Ok(Event::Incoming(Packet::SubAck(s))) => Seen::SubAck(
                        s.return_codes
                            .iter()
                            .map(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)))
                            .collect(),
                    ),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        Seen::Message(p.topic.clone(), p.payload.to_vec())
                    }
                    // MQTT: after DISCONNECT the client closes the connection (rumqttc would
                    // keep it open); ending the loop drops it.
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => continue,
                    Err(rumqttc::ConnectionError::ConnectionRefused(code)) => {
                        Seen::Refused(format!("{code:?}"))
                    }
                    Err(e) => Seen::Closed(e.to_string()),
                };
                let stop = matches!(item, Seen::Refused(_) | Seen::Closed(_));
                if tx.send(item).is_err() || stop {
                    return;
                }
            }
        });
        let d = Device {
            client,
            seen,
            thing: thing.into(),
            pump,
        };
        // The first event says whether the connection was accepted; it is left for the test
        // to read (`expect_connected`, or a `Seen::Refused` from `next`).
        d
    }

    /// The next event within 10 s.
    pub async fn next(&mut self) -> Seen {
        match tokio::time::timeout(Duration::from_secs(10), self.seen.recv()).await {
            Ok(Some(s)) => s,
            Ok(None) => Seen::Closed("event loop ended".into()),
            Err(_) => panic!("no MQTT event within 10 s"),
        }
    }

    /// Asserts the connection was accepted.
    pub async fn expect_connected(&mut self) {
        match self.next().await {
            Seen::Connected => {}
            other => panic!("expected CONNACK success, got {other:?}"),
        }
    }

    /// Subscribes to this device's answer topics for `format` and waits for the SUBACK.
    pub async fn subscribe_answers(&mut self, format: Format) {
        let base = format!(
            "$aws/things/{}/defender/metrics/{}",
            self.thing,
            format.as_str()
        );
        self.client
            .subscribe(format!("{base}/accepted"), QoS::AtLeastOnce)
            .await
            .unwrap();
        self.client
            .subscribe(format!("{base}/rejected"), QoS::AtLeastOnce)
            .await
            .unwrap();
        for _ in 0..2 {
            match self.next().await {
                Seen::SubAck(ok) => assert!(ok.iter().all(|o| *o), "answer subscription refused"),
                other => panic!("expected SUBACK, got {other:?}"),
            }
        }
    }

    /// Publishes a report for `thing` and returns the answer topic and document.
    pub async fn report(
        &mut self,
        thing: &str,
        format: Format,
        payload: &[u8],
    ) -> (String, Answer) {
        let topic = format!("$aws/things/{thing}/defender/metrics/{}", format.as_str());
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .unwrap();
        self.answer(format).await
    }

    /// Waits for the next answer.
    pub async fn answer(&mut self, format: Format) -> (String, Answer) {
        loop {
            match self.next().await {
                Seen::Message(t, p) => {
                    let a =
                        answer::decode(&p, format).unwrap_or_else(|e| panic!("answer on {t}: {e}"));
                    return (t, a);
                }
                Seen::Closed(e) => panic!("connection closed while waiting for an answer: {e}"),
                _ => continue,
            }
        }
    }
}

/// Polls `f` until it returns `Some`, for up to 10 s.
pub async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}

/// The target ARN covering every thing.
pub const ALL_THINGS: &str = "arn:aws:iot:us-east-1:000000000000:all/things";

/// Creates the profile "ports" with one behavior, "few-ports" (at most one listening TCP port;
/// alarm and clear after one datapoint), alerting the target named `alert_target` through an
/// AWS-style SNS ARN, and attaches it to all things. Returns the behavior, as alerts carry it.
pub async fn ports_profile(store: &dyn Store, alert_target: &str) -> serde_json::Value {
    let behavior = few_ports_behavior();
    store
        .create_security_profile(&fleetward_store::NewSecurityProfile {
            name: "ports".into(),
            description: None,
            behaviors: serde_json::json!([behavior.clone()]),
            alert_targets: serde_json::json!({"SNS": {
                "alertTargetArn": format!("arn:aws:sns:us-east-1:123456789012:{alert_target}"),
                "roleArn": "arn:aws:iam::123456789012:role/defender"
            }}),
            additional_metrics: serde_json::json!([]),
        })
        .await
        .unwrap();
    store
        .attach_security_profile("ports", ALL_THINGS)
        .await
        .unwrap();
    behavior
}

/// The behavior "few-ports": at most one listening TCP port; alarm and clear after one
/// datapoint.
pub fn few_ports_behavior() -> serde_json::Value {
    serde_json::json!({
        "name": "few-ports",
        "metric": "aws:num-listening-tcp-ports",
        "criteria": {
            "comparisonOperator": "less-than-equals",
            "value": {"count": 1},
            "consecutiveDatapointsToAlarm": 1,
            "consecutiveDatapointsToClear": 1
        }
    })
}
