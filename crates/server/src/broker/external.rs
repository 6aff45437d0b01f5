//! External-broker mode: Fleetward as a client of an existing broker (Mosquitto, EMQX,
//! HiveMQ, …), for fleets that outgrow one machine.
//!
//! Fleetward joins the shared subscription `$share/<group>/<prefix>+/defender/metrics/+`, so
//! several Fleetward instances split the load, and answers on the same broker. (Mosquitto does
//! not deliver `$` topics to shared subscriptions: use a prefix without `$`, or one instance
//! with a plain subscription; see [`ExternalConfig::group`].) In this mode:
//! - identity comes from the topic: the broker's ACLs decide who may publish for which thing;
//! - there are no cloud-side metrics: a client cannot see other clients' connections;
//! - reports are acknowledged to the broker (QoS 1, manual acks) only after they are stored
//!   or answered, so a report in flight when Fleetward dies is redelivered by the broker and,
//!   being a redelivery, stored once.

use std::sync::Arc;
use std::time::Duration;

use fleetward_proto::answer::{self, Status};
use fleetward_proto::topic::{self, Kind, Topic};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{Packet, Publish};
use rumqttc::v5::{AsyncClient, Event, EventLoop, MqttOptions};
use rumqttc::{TlsConfiguration, Transport};
use tokio::sync::Semaphore;

use crate::ingest::Pipeline;

/// How to reach the external broker.
#[derive(Debug, Clone)]
pub struct ExternalConfig {
    /// `mqtt://host:port` or `mqtts://host:port`.
    pub url: String,
    /// CA certificate (PEM) to verify an `mqtts` broker.
    pub ca: Option<std::path::PathBuf>,
    /// Client certificate and key (PEM), for brokers that require mutual TLS.
    pub client_cert: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// The MQTT client id (unique per Fleetward instance).
    pub client_id: String,
    /// The shared-subscription group instances split the load in; `None` subscribes plainly
    /// (one instance only). Mosquitto (2.0) does not route `$`-prefixed topics such as
    /// `$aws/things/…` to shared subscriptions: there, either configure a prefix without `$`
    /// (devices must use it too) or run one instance without sharing.
    pub group: Option<String>,
}

/// Why external mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    /// The URL is not `mqtt://host:port` or `mqtts://host:port`.
    #[error("--broker {0}: expected mqtt://host:port or mqtts://host:port")]
    Url(String),
    /// TLS material could not be read.
    #[error("--broker-ca/--broker-cert/--broker-key: {0}")]
    Tls(String),
}

/// A running external-broker client.
pub struct ExternalBroker {
    client: AsyncClient,
}

/// Reports being processed at once; beyond it, reading from the broker pauses.
const IN_FLIGHT: usize = 1024;

impl ExternalBroker {
    /// Connects (in the background, with retries) and starts ingesting.
    pub async fn start(
        cfg: ExternalConfig,
        prefix: String,
        pipeline: Pipeline,
    ) -> Result<ExternalBroker, ExternalError> {
        let (tls, rest) = if let Some(r) = cfg.url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = cfg.url.strip_prefix("mqtt://") {
            (false, r)
        } else {
            return Err(ExternalError::Url(cfg.url.clone()));
        };
        let (host, port) = match rest.trim_end_matches('/').rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| ExternalError::Url(cfg.url.clone()))?,
            ),
            None => (rest.trim_end_matches('/'), if tls { 8883 } else { 1883 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(ExternalError::Url(cfg.url.clone()));
        }
        let mut opts = MqttOptions::new(cfg.client_id.clone(), host, port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_manual_acks(true);
        opts.set_clean_start(false);
        opts.set_max_packet_size(Some(256 * 1024));
        if tls {
            let read = |p: &std::path::Path| {
                std::fs::read(p).map_err(|e| ExternalError::Tls(format!("{}: {e}", p.display())))
            };
            let ca = match &cfg.ca {
                Some(p) => read(p)?,
                None => return Err(ExternalError::Tls("mqtts needs --broker-ca".into())),
            };
            let client_auth = match &cfg.client_cert {
                Some((c, k)) => Some((read(c)?, read(k)?)),
                None => None,
            };
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Simple {
                ca,
                alpn: None,
                client_auth,
            }));
        }
        let (client, eventloop) = AsyncClient::new(opts, IN_FLIGHT);
        let filter = match &cfg.group {
            Some(group) => format!("$share/{group}/{prefix}+/defender/metrics/+"),
            None => format!("{prefix}+/defender/metrics/+"),
        };
        tokio::spawn(run(client.clone(), eventloop, filter, prefix, pipeline));
        Ok(ExternalBroker { client })
    }

    /// Disconnects from the broker.
    pub async fn stop(&self) {
        let _ = self.client.disconnect().await;
    }
}

async fn run(
    client: AsyncClient,
    mut eventloop: EventLoop,
    filter: String,
    prefix: String,
    pipeline: Pipeline,
) {
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut backoff = Duration::from_millis(200);
    loop {
        match eventloop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                backoff = Duration::from_millis(200);
                tracing::info!(filter, "connected to the external broker");
                if let Err(e) = client.subscribe(filter.clone(), QoS::AtLeastOnce).await {
                    tracing::error!(error = %e, "subscribe failed");
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let (client, prefix, pipeline) = (client.clone(), prefix.clone(), pipeline.clone());
                tokio::spawn(async move {
                    handle(&client, &prefix, &pipeline, &p).await;
                    drop(permit);
                });
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "external broker connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
}

async fn handle(client: &AsyncClient, prefix: &str, pipeline: &Pipeline, p: &Publish) {
    let topic_str = String::from_utf8_lossy(&p.topic);
    let Some(m) = topic::parse(&topic_str, prefix).filter(|m| m.topic.kind == Kind::Publish) else {
        // Not a report topic (the filter is broad): acknowledge and ignore.
        let _ = client.ack(p).await;
        return;
    };
    let now = fleetward_core::aws::time::system_now_ms();
    match pipeline
        .ingest(m.thing, m.topic.format, &p.payload, now)
        .await
    {
        Ok(ans) => {
            let kind = if ans.status == Status::Accepted {
                Kind::Accepted
            } else {
                Kind::Rejected
            };
            let mut buf = [0u8; 256];
            if let Ok(reply) = topic::build(
                &mut buf,
                prefix,
                m.thing,
                Topic {
                    format: m.topic.format,
                    kind,
                },
            ) {
                let payload = answer::to_vec(&ans, m.topic.format);
                if let Err(e) = client
                    .publish(reply, QoS::AtLeastOnce, false, payload)
                    .await
                {
                    tracing::warn!(error = %e, "answer not published");
                }
            }
            let _ = client.ack(p).await;
        }
        // Not stored: leave it unacknowledged so the broker redelivers it.
        Err(e) => {
            tracing::error!(thing = m.thing, error = %e, "report not stored; leaving it to the broker to redeliver")
        }
    }
}
