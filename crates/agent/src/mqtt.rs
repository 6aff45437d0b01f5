//! The MQTT side: TLS setup, one client type over MQTT 3.1.1 and 5, reconnect backoff and
//! the service's answers.
//!
//! rumqttc has separate v4 and v5 APIs; [`Link`] hides the difference behind the few calls
//! the agent makes, so the reporter is written once.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fleetward_proto::Format;
use fleetward_proto::answer::{self, Answer};
use fleetward_proto::topic::{self, Kind, Topic, TopicError};
use rumqttc::{Outgoing, QoS, TlsConfiguration, Transport};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{Config, Protocol};

/// Why the MQTT side failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MqttError {
    /// A certificate, key or CA file could not be read or used.
    Tls(String),
    /// A topic could not be built (the thing name is invalid).
    Topic(String),
    /// The connection failed or dropped.
    Connection(String),
    /// The broker refused a subscription.
    Subscribe(String),
    /// A request could not be queued to the client.
    Client(String),
}

impl std::fmt::Display for MqttError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MqttError::Tls(m) => write!(f, "TLS setup failed: {m}"),
            MqttError::Topic(m) => write!(f, "cannot build the topic: {m}"),
            MqttError::Connection(m) => write!(f, "MQTT connection failed: {m}"),
            MqttError::Subscribe(m) => write!(f, "the broker refused a subscription: {m}"),
            MqttError::Client(m) => write!(f, "MQTT client error: {m}"),
        }
    }
}

impl std::error::Error for MqttError {}

/// A rustls client config with the ring provider: the server's CA, an optional client
/// certificate (mutual TLS) and ALPN protocols.
pub fn tls_config(
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
    alpn: &[String],
) -> Result<Arc<ClientConfig>, MqttError> {
    let mut roots = rustls::RootCertStore::empty();
    let cas = read_certs(ca_file)?;
    let (added, _) = roots.add_parsable_certificates(cas);
    if added == 0 {
        return Err(MqttError::Tls(format!(
            "{}: no usable CA certificate",
            ca_file.display()
        )));
    }
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| MqttError::Tls(e.to_string()))?
            .with_root_certificates(roots);
    let mut config = match client {
        Some((cert, key)) => {
            let chain = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| MqttError::Tls(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| MqttError::Tls(format!("client certificate and key: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|a| a.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, MqttError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| MqttError::Tls(format!("{}: {e}", path.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| MqttError::Tls(format!("{}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(MqttError::Tls(format!(
            "{}: no PEM certificate in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// The three topics a reporter uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Where reports go.
    pub publish: String,
    /// Where the service accepts them.
    pub accepted: String,
    /// Where the service rejects them.
    pub rejected: String,
}

impl Topics {
    /// The topics of `thing` under `prefix` for `format`.
    pub fn new(prefix: &str, thing: &str, format: Format) -> Result<Self, MqttError> {
        let one = |kind| -> Result<String, MqttError> {
            let t = Topic { format, kind };
            let mut buf = vec![0u8; t.len(prefix, thing.len())];
            topic::build(&mut buf, prefix, thing, t)
                .map(str::to_owned)
                .map_err(|e: TopicError| MqttError::Topic(e.to_string()))
        };
        Ok(Topics {
            publish: one(Kind::Publish)?,
            accepted: one(Kind::Accepted)?,
            rejected: one(Kind::Rejected)?,
        })
    }
}

/// What the event loop reported, the same for both protocol versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Connected (CONNACK success).
    Connected,
    /// The broker answered our subscription; `refused` lists refused filters' reasons.
    Subscribed {
        /// Reasons, one per refused filter; empty when all were granted.
        refused: Vec<String>,
    },
    /// A message arrived.
    Message {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// A QoS 1 publish was written with this packet id.
    PublishSent(u16),
    /// The broker acknowledged the QoS 1 publish with this packet id.
    PubAck(u16),
    /// Our DISCONNECT was written.
    DisconnectSent,
    /// Anything else (pings, our own acks).
    Other,
}

/// Connection settings for [`Link::new`].
#[derive(Clone)]
pub struct LinkOptions {
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// MQTT version.
    pub protocol: Protocol,
    /// TLS, or plain TCP when `None`.
    pub tls: Option<Arc<ClientConfig>>,
    /// Client id.
    pub client_id: String,
    /// Keep-alive.
    pub keep_alive: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
}

impl LinkOptions {
    /// The options a config asks for, loading its TLS files.
    pub fn from_config(c: &Config) -> Result<Self, MqttError> {
        let m = &c.mqtt;
        let tls = if m.tls {
            let ca = m
                .ca_file
                .as_deref()
                .ok_or_else(|| MqttError::Tls("mqtt.ca_file is required with TLS".to_owned()))?;
            let client = m.cert_file.as_deref().zip(m.key_file.as_deref());
            Some(tls_config(ca, client, &m.alpn)?)
        } else {
            None
        };
        Ok(LinkOptions {
            host: m.host.clone(),
            port: m.port,
            protocol: m.protocol,
            tls,
            client_id: m.client_id.clone().unwrap_or_else(|| c.thing_name.clone()),
            keep_alive: Duration::from_secs(m.keep_alive_secs),
            connect_timeout: Duration::from_secs(m.connect_timeout_secs),
        })
    }
}

/// The client half: queues requests for the event loop task.
pub enum Link {
    /// MQTT 3.1.1.
    V4(rumqttc::AsyncClient),
    /// MQTT 5.
    V5(rumqttc::v5::AsyncClient),
}

/// The event loop half, driven by its own task.
// One lives for the agent's lifetime, so the size difference costs nothing.
#[allow(clippy::large_enum_variant)]
enum Driver {
    V4(rumqttc::EventLoop),
    V5(rumqttc::v5::EventLoop),
}

/// One event from the driver task; after an error it waits `retry_in` before reconnecting.
#[derive(Debug)]
pub struct Driven {
    /// What happened.
    pub event: Result<LinkEvent, MqttError>,
    /// The backoff delay that follows an error.
    pub retry_in: Duration,
}

/// Requests the reporter may queue at once (subscribe, publish, disconnect).
const CHANNEL: usize = 16;

impl Link {
    /// Spawns the event loop in its own task and returns the client and the loop's events.
    ///
    /// The loop runs apart from the reporter so that nothing ever cancels it halfway through
    /// a TLS handshake (a `select!` on a timer would). The session is clean: reports are only
    /// useful now, so nothing from an old session should be redelivered. After an error the
    /// task waits `backoff(attempt, initial, max)` with jitter before reconnecting, and it
    /// ends after our DISCONNECT is written or when the receiver is dropped.
    pub fn spawn(
        o: &LinkOptions,
        initial: Duration,
        max: Duration,
    ) -> (Link, mpsc::Receiver<Driven>, JoinHandle<()>) {
        let transport = match &o.tls {
            Some(cfg) => Transport::tls_with_config(TlsConfiguration::Rustls(cfg.clone())),
            None => Transport::tcp(),
        };
        let timeout = o.connect_timeout.as_secs().max(1);
        let (link, driver) = match o.protocol {
            Protocol::V311 => {
                let mut opts = rumqttc::MqttOptions::new(&o.client_id, &o.host, o.port);
                opts.set_keep_alive(o.keep_alive)
                    .set_clean_session(true)
                    .set_transport(transport);
                let (client, mut el) = rumqttc::AsyncClient::new(opts, CHANNEL);
                let mut net = el.network_options();
                net.set_connection_timeout(timeout);
                el.set_network_options(net);
                (Link::V4(client), Driver::V4(el))
            }
            Protocol::V5 => {
                let mut opts = rumqttc::v5::MqttOptions::new(&o.client_id, &o.host, o.port);
                opts.set_keep_alive(o.keep_alive)
                    .set_clean_start(true)
                    .set_transport(transport)
                    .set_connection_timeout(timeout);
                let (client, el) = rumqttc::v5::AsyncClient::new(opts, CHANNEL);
                (Link::V5(client), Driver::V5(el))
            }
        };
        let (tx, rx) = mpsc::channel(CHANNEL);
        let task = tokio::spawn(drive(driver, tx, initial, max));
        (link, rx, task)
    }
    /// Queues one SUBSCRIBE for both answer topics at QoS 1.
    pub fn subscribe(&self, topics: &Topics) -> Result<(), MqttError> {
        let filters = [topics.accepted.clone(), topics.rejected.clone()];
        let r = match self {
            Link::V4(c) => c
                .try_subscribe_many(
                    filters
                        .into_iter()
                        .map(|f| rumqttc::SubscribeFilter::new(f, QoS::AtLeastOnce)),
                )
                .map_err(|e| e.to_string()),
            Link::V5(c) => c
                .try_subscribe_many(filters.into_iter().map(|f| {
                    rumqttc::v5::mqttbytes::v5::Filter::new(
                        f,
                        rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    )
                }))
                .map_err(|e| e.to_string()),
        };
        r.map_err(MqttError::Client)
    }

    /// Queues a QoS 1 publish.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> Result<(), MqttError> {
        let r = match self {
            Link::V4(c) => c
                .try_publish(topic, QoS::AtLeastOnce, false, payload)
                .map_err(|e| e.to_string()),
            Link::V5(c) => c
                .try_publish(
                    topic,
                    rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
                    false,
                    payload,
                )
                .map_err(|e| e.to_string()),
        };
        r.map_err(MqttError::Client)
    }

    /// Queues a DISCONNECT.
    pub fn disconnect(&self) -> Result<(), MqttError> {
        let r = match self {
            Link::V4(c) => c.try_disconnect().map_err(|e| e.to_string()),
            Link::V5(c) => c.try_disconnect().map_err(|e| e.to_string()),
        };
        r.map_err(MqttError::Client)
    }
}

impl Driver {
    /// Drives the connection; connects first if needed. An error means the connection is
    /// down; polling again reconnects.
    async fn poll(&mut self) -> Result<LinkEvent, MqttError> {
        match self {
            Driver::V4(el) => {
                use rumqttc::{Event, Packet, SubscribeReasonCode};
                let ev = el
                    .poll()
                    .await
                    .map_err(|e| MqttError::Connection(e.to_string()))?;
                Ok(match ev {
                    Event::Incoming(Packet::ConnAck(_)) => LinkEvent::Connected,
                    Event::Incoming(Packet::SubAck(s)) => LinkEvent::Subscribed {
                        refused: s
                            .return_codes
                            .iter()
                            .filter(|c| matches!(c, SubscribeReasonCode::Failure))
                            .map(|c| format!("{c:?}"))
                            .collect(),
                    },
                    Event::Incoming(Packet::Publish(p)) => LinkEvent::Message {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                    },
                    Event::Incoming(Packet::PubAck(a)) => LinkEvent::PubAck(a.pkid),
                    Event::Outgoing(Outgoing::Publish(pkid)) => LinkEvent::PublishSent(pkid),
                    Event::Outgoing(Outgoing::Disconnect) => LinkEvent::DisconnectSent,
                    _ => LinkEvent::Other,
                })
            }
            Driver::V5(el) => {
                use rumqttc::v5::Event;
                use rumqttc::v5::mqttbytes::v5::{Packet, SubscribeReasonCode};
                let ev = el
                    .poll()
                    .await
                    .map_err(|e| MqttError::Connection(e.to_string()))?;
                Ok(match ev {
                    Event::Incoming(Packet::ConnAck(_)) => LinkEvent::Connected,
                    Event::Incoming(Packet::SubAck(s)) => LinkEvent::Subscribed {
                        refused: s
                            .return_codes
                            .iter()
                            .filter(|c| !matches!(c, SubscribeReasonCode::Success(_)))
                            .map(|c| format!("{c:?}"))
                            .collect(),
                    },
                    Event::Incoming(Packet::Publish(p)) => LinkEvent::Message {
                        topic: String::from_utf8_lossy(&p.topic).into_owned(),
                        payload: p.payload.to_vec(),
                    },
                    Event::Incoming(Packet::PubAck(a)) => LinkEvent::PubAck(a.pkid),
                    Event::Outgoing(Outgoing::Publish(pkid)) => LinkEvent::PublishSent(pkid),
                    Event::Outgoing(Outgoing::Disconnect) => LinkEvent::DisconnectSent,
                    _ => LinkEvent::Other,
                })
            }
        }
    }
}

async fn drive(mut driver: Driver, tx: mpsc::Sender<Driven>, initial: Duration, max: Duration) {
    let mut attempt: u32 = 0;
    loop {
        let event = driver.poll().await;
        let retry_in = match &event {
            Ok(LinkEvent::Connected) => {
                attempt = 0;
                Duration::ZERO
            }
            Ok(_) => Duration::ZERO,
            Err(_) => {
                let d = backoff(attempt, initial, max, fastrand::f64());
                attempt = attempt.saturating_add(1);
                d
            }
        };
        let done = matches!(event, Ok(LinkEvent::DisconnectSent));
        if tx.send(Driven { event, retry_in }).await.is_err() || done {
            return;
        }
        if !retry_in.is_zero() {
            tokio::time::sleep(retry_in).await;
        }
    }
}

/// Reconnect delay before attempt `attempt` (0-based): exponential from `initial`, capped at
/// `max`, with "equal jitter" (half fixed, half random, `unit` in `[0, 1)`), so a fleet that
/// lost its broker together does not come back in lockstep, yet never retries at once.
pub fn backoff(attempt: u32, initial: Duration, max: Duration, unit: f64) -> Duration {
    let exp = initial.saturating_mul(1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX));
    let ceiling = exp.min(max);
    let half = ceiling / 2;
    half + half.mul_f64(unit.clamp(0.0, 1.0))
}

/// A decoded answer to one of our reports.
pub fn decode_answer(payload: &[u8], format: Format) -> Result<Answer, MqttError> {
    answer::decode(payload, format).map_err(|e| MqttError::Client(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let s = Duration::from_secs;
        assert_eq!(backoff(0, s(1), s(300), 0.0), Duration::from_millis(500));
        assert_eq!(backoff(0, s(1), s(300), 0.999_999).as_millis(), 999);
        assert_eq!(backoff(3, s(1), s(300), 0.0), s(4));
        assert_eq!(backoff(20, s(1), s(300), 0.0), s(150));
        assert!(backoff(20, s(1), s(300), 1.0) <= s(300));
        assert_eq!(backoff(u32::MAX, s(1), s(300), 0.5), s(225));
        // Jitter spreads a fleet.
        assert_ne!(backoff(5, s(1), s(300), 0.1), backoff(5, s(1), s(300), 0.9));
    }

    #[test]
    fn topics_for_a_thing() {
        let t = Topics::new("$aws/things/", "dev-1", Format::Cbor).unwrap();
        assert_eq!(t.publish, "$aws/things/dev-1/defender/metrics/cbor");
        assert_eq!(
            t.accepted,
            "$aws/things/dev-1/defender/metrics/cbor/accepted"
        );
        assert_eq!(
            t.rejected,
            "$aws/things/dev-1/defender/metrics/cbor/rejected"
        );
        assert!(matches!(
            Topics::new("$aws/things/", "bad/name", Format::Json),
            Err(MqttError::Topic(_))
        ));
    }

    #[test]
    fn tls_errors_name_the_file() {
        let e = tls_config(Path::new("/nonexistent/ca.pem"), None, &[]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("empty.pem");
        std::fs::write(&p, "not a pem").unwrap();
        let e = tls_config(&p, None, &[]).unwrap_err();
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
    }
}
