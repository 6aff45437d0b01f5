//! The in-process broker: rmqtt behind our hooks.
//!
//! rmqtt was chosen (ARCHITECTURE.md says why) because its hooks see everything the cloud-side
//! metrics need: connect attempts with the source address and the TLS client certificate,
//! CONNACK refusals, publish and subscribe ACL decisions, deliveries and disconnects. All of
//! that is translated here into [`Principal`]s, [`BrokerEvent`]s and calls to the ingest
//! pipeline; no other module sees rmqtt's types.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytestring::ByteString;
use fleetward_proto::Format;
use fleetward_proto::answer::{self, Status};
use fleetward_proto::topic::{self, Kind, Topic};
use rmqtt::codec::types::{Publish as CodecPublish, QoS};
use rmqtt::codec::v5::SubscribeAckReason;
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;
use rmqtt::session::Session;
use rmqtt::types::{AuthResult, From, Id, LastWill, Publish, PublishAclResult, SubscribeReturn};
use tokio::sync::Semaphore;

use super::authz::{Authorizer, Principal};
use super::sessions::{Conn, Guard, IdentityQueue, Key, Limits, SessionStats, Sessions};
use super::{BrokerEvent, EventTx, now_ms};
use crate::ingest::Pipeline;
use fleetward_core::aws::Clock;
use fleetward_core::identity::Action;

/// Listener ids: the dev listener's, and the first mutual-TLS one's (each further one takes the
/// next id).
const FIRST_TLS_LISTENER: u16 = 3;
/// Reports one connection may have in the pipeline at once: enough to fill commit batches,
/// few enough that one flooding device cannot take the whole pipeline.
const CONN_IN_FLIGHT: usize = 32;
/// Reports in the pipeline across all connections.
const GLOBAL_IN_FLIGHT: usize = 4096;
const DEV_LISTENER: u16 = 2;
/// Longest client id accepted, in bytes: AWS IoT's limit. rmqtt refuses a longer one at
/// CONNECT (identifier rejected), before any hook keys a map by it.
pub const MAX_CLIENT_ID_LEN: usize = 128;
/// How long a connection may take from TCP accept to CONNECT, TLS handshake included, before
/// it is dropped: a half-open handshake holds a slot only this long.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections in the TLS handshake or before CONNECT at once, across all sources.
const MAX_HANDSHAKING: usize = 4096;

/// Where and how the embedded broker listens.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The mutual-TLS listeners (8883, and 443 for devices that only get out on HTTPS's port:
    /// the AWS IoT SDKs default to 443).
    pub mqtt_listen: Vec<SocketAddr>,
    /// The plain-TCP loopback listener without certificates (client id = thing), if enabled.
    pub dev_listen: Option<SocketAddr>,
    /// The broker's certificate chain (PEM).
    pub server_cert: PathBuf,
    /// The broker's private key (PEM).
    pub server_key: PathBuf,
    /// CA certificates device certificates must chain to (PEM bundle).
    pub client_ca: PathBuf,
    /// The Defender topic prefix.
    pub prefix: String,
    /// Largest MQTT packet accepted, in bytes (reports are at most 128 KiB).
    pub max_packet_size: u32,
    /// The clock broker events are stamped with (the server's, so `--time-scale` and the
    /// cloud-side windows agree).
    pub clock: Arc<dyn Clock>,
    /// How many sessions, in all and per source address.
    pub limits: Limits,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// A listener could not bind; `flag` names the option that sets its address.
    #[error("cannot listen on {addr} ({reason}); choose another address with {flag}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        reason: String,
        /// The flag to change it.
        flag: &'static str,
    },
    /// TLS material could not be loaded.
    #[error("TLS setup failed: {0}")]
    Tls(String),
}

/// A running embedded broker.
pub struct EmbeddedBroker {
    /// Where the mutual-TLS listeners are bound, in `mqtt_listen`'s order.
    pub mqtt_addrs: Vec<SocketAddr>,
    /// Where the dev listener is bound, if enabled.
    pub dev_addr: Option<SocketAddr>,
    scx: ServerContext,
    hooks: Arc<Hooks>,
}

impl EmbeddedBroker {
    /// Binds the listeners, registers the hooks and starts serving.
    pub async fn start(
        cfg: EmbeddedConfig,
        authz: Arc<Authorizer>,
        pipeline: Pipeline,
        events: EventTx,
    ) -> Result<EmbeddedBroker, BrokerError> {
        let scx = ServerContext::new().build().await;
        let hooks = Arc::new(Hooks {
            authz,
            pipeline,
            events,
            sessions: Arc::new(Sessions::new(cfg.limits)),
            session_stats: Arc::new(SessionStats::default()),
            inflight: Arc::new(Semaphore::new(GLOBAL_IN_FLIGHT)),
            closing: std::sync::atomic::AtomicBool::new(false),
            prefix: cfg.prefix.clone(),
            clock: cfg.clock.clone(),
            scx: scx.clone(),
        });
        let register = scx.extends.hook_mgr().register();
        for typ in [
            Type::ClientAuthenticate,
            Type::ClientSubscribeCheckAcl,
            Type::MessagePublishCheckAcl,
            Type::MessagePublish,
            Type::MessageDelivered,
            Type::MessageExpiryCheck,
            Type::ClientDisconnected,
            Type::ClientConnack,
        ] {
            register
                .add(typ, Box::new(HookHandler(hooks.clone())))
                .await;
        }
        register.start().await;

        let mut server = MqttServer::new(scx.clone());
        let mut mqtt_addrs = Vec::with_capacity(cfg.mqtt_listen.len());
        for (lid, &addr) in (FIRST_TLS_LISTENER..).zip(&cfg.mqtt_listen) {
            let tls = base(&cfg, "fleetward/mqtts", addr)
                .tls_cross_certificate(true)
                .tls_cert(Some(cfg.server_cert.to_string_lossy()))
                .tls_key(Some(cfg.server_key.to_string_lossy()))
                .tls_client_ca_certs(Some(cfg.client_ca.to_string_lossy()))
                .collect_cert_info(true)
                .bind()
                .map_err(|e| bind_error(addr, &e, "--mqtt-listen"))?;
            mqtt_addrs.push(tls.local_addr().unwrap_or(addr));
            let tls = tls.tls().map_err(|e| BrokerError::Tls(e.to_string()))?;
            server = server.listener_by_id(tls, lid);
        }

        let mut dev_addr = None;
        if let Some(addr) = cfg.dev_listen {
            let dev = base(&cfg, "fleetward/dev", addr)
                .bind()
                .map_err(|e| bind_error(addr, &e, "--dev-listener"))?;
            dev_addr = Some(dev.local_addr().unwrap_or(addr));
            let dev = dev
                .tcp()
                .map_err(|e| bind_error(addr, &e, "--dev-listener"))?;
            server = server.listener_by_id(dev, DEV_LISTENER);
        }
        server.build().start();
        Ok(EmbeddedBroker {
            mqtt_addrs,
            dev_addr,
            scx,
            hooks,
        })
    }

    /// The first step of stopping: refuses new connections and new reports, then waits (up to
    /// `grace`) until every report already taken has been stored and answered. Returns how
    /// many were still in flight when `grace` ran out (0 when all finished). rmqtt has no way
    /// to close its listeners, so they stay bound until the process exits, refusing everyone.
    pub async fn drain(&self, grace: std::time::Duration) -> usize {
        self.hooks
            .closing
            .store(true, std::sync::atomic::Ordering::Release);
        let all = u32::try_from(GLOBAL_IN_FLIGHT).unwrap_or(u32::MAX);
        match tokio::time::timeout(grace, self.hooks.inflight.acquire_many(all)).await {
            Ok(Ok(_permits)) => 0,
            _ => GLOBAL_IN_FLIGHT.saturating_sub(self.hooks.inflight.available_permits()),
        }
    }

    /// Publishes `payload` on `topic` at QoS 1 to whoever subscribes (alerts, tests).
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) {
        publish(&self.scx, topic, payload).await;
    }

    /// The guard that closes live sessions an identity edit no longer allows: re-checks the
    /// sessions each change in `queue` names at once, and every session every `sweep`. Run it
    /// under the supervisor.
    pub fn guard(
        &self,
        queue: Arc<IdentityQueue>,
        sweep: std::time::Duration,
        shutdown: crate::supervisor::Shutdown,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let hooks = self.hooks.clone();
        let close = move |conn: Conn<Id>| {
            let hooks = hooks.clone();
            async move {
                let id = conn.handle.clone();
                hooks.ended(conn);
                kick(&hooks.scx, id).await;
            }
        };
        Guard {
            sessions: self.hooks.sessions.clone(),
            authz: self.hooks.authz.clone(),
            queue,
            stats: self.hooks.session_stats.clone(),
            close,
            sweep,
        }
        .run(shutdown)
    }

    /// How many sessions the guard closed, by reason.
    pub fn session_stats(&self) -> Arc<SessionStats> {
        self.hooks.session_stats.clone()
    }

    /// A cloneable handle publishing on this broker, for tasks that outlive a borrow of it
    /// (the alert outbox).
    pub fn publisher(&self) -> Publisher {
        Publisher {
            scx: self.scx.clone(),
        }
    }
}

/// Publishes on the embedded broker as the system (not as a device); see
/// [`EmbeddedBroker::publisher`].
#[derive(Clone)]
pub struct Publisher {
    scx: ServerContext,
}

impl Publisher {
    /// Publishes `payload` on `topic` at QoS 1 to whoever subscribes.
    pub async fn publish(&self, topic: &str, payload: Vec<u8>) {
        publish(&self.scx, topic, payload).await;
    }

    /// This handle as the alert outbox's MQTT publish function.
    pub fn into_mqtt_publish(self) -> crate::alert::MqttPublish {
        Arc::new(move |topic: String, payload: Vec<u8>| {
            let p = self.clone();
            Box::pin(async move { p.publish(&topic, payload).await })
        })
    }
}

/// Listener settings shared by both listeners. `nodelay`: an answer and the PUBACK before it
/// are small writes in quick succession, and with Nagle's algorithm the second waits for the
/// device's delayed ACK (up to 40 ms on Linux); measured with bench_ingest, disabling it cut
/// the paced p50 from about 26 ms to a few ms.
fn base(cfg: &EmbeddedConfig, name: &str, addr: SocketAddr) -> Builder {
    Builder::new()
        .name(name)
        .laddr(addr)
        .nodelay(true)
        .allow_anonymous(false)
        .max_packet_size(cfg.max_packet_size)
        // Sessions are capped by `Limits` at CONNECT; this also bounds connections still in
        // their handshake.
        .max_connections(cfg.limits.max_sessions.saturating_add(MAX_HANDSHAKING))
        .max_handshaking_limit(MAX_HANDSHAKING)
        .handshake_timeout(HANDSHAKE_TIMEOUT)
        .max_clientid_len(MAX_CLIENT_ID_LEN)
        // A restart right after devices were connected finds the port in TIME_WAIT; without
        // SO_REUSEADDR the bind fails for about a minute.
        .reuseaddr(Some(true))
}

fn bind_error(addr: SocketAddr, e: &impl std::fmt::Display, flag: &'static str) -> BrokerError {
    BrokerError::Bind {
        addr,
        reason: e.to_string(),
        flag,
    }
}

async fn publish(scx: &ServerContext, topic: &str, payload: Vec<u8>) {
    let p = CodecPublish {
        dup: false,
        retain: false,
        qos: QoS::AtLeastOnce,
        topic: ByteString::from(topic),
        packet_id: None,
        payload: payload.into(),
        properties: None,
    };
    let mut p = Publish::from(p);
    p.create_time = Some(now_ms());
    let from = From::from_system(Id::from(
        scx.node.id(),
        ByteString::from_static("fleetward"),
    ));
    if let Err((_, failed)) = scx.extends.shared().await.forwards(None, from, p).await {
        tracing::warn!(
            topic,
            failed = failed.len(),
            "answer not delivered to every subscriber"
        );
    }
}

/// Closes the session `id` names, if it is still the one holding its client id (a newer
/// connection may have taken the id over meanwhile), and drops its subscriptions.
async fn kick(scx: &ServerContext, id: Id) {
    let mut entry = scx.extends.shared().await.entry(id.clone());
    if entry.id_same() != Some(true) {
        return;
    }
    if let Err(e) = entry.kick(true, true, true).await {
        tracing::warn!(client_id = %id.client_id, error = %e, "closing a session failed");
    }
}

struct Hooks {
    authz: Arc<Authorizer>,
    pipeline: Pipeline,
    events: EventTx,
    /// Live sessions: their principals, in-flight bounds and handles, by certificate too.
    sessions: Arc<Sessions<Id>>,
    /// Sessions the guard closed, by reason.
    session_stats: Arc<SessionStats>,
    /// Reports being ingested across all connections; when storage lags, permits run out and
    /// the broker stops reading (backpressure).
    inflight: Arc<Semaphore>,
    /// Set when the server stops: new connections are refused and reports no longer taken.
    closing: std::sync::atomic::AtomicBool,
    prefix: String,
    /// When connections, messages and failures happen, for the cloud-side windows.
    clock: Arc<dyn Clock>,
    scx: ServerContext,
}

struct HookHandler(Arc<Hooks>);

#[async_trait]
impl Handler for HookHandler {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        let h = &self.0;
        match param {
            Parameter::ClientAuthenticate(_) if h.is_closing() => (
                false,
                Some(HookResult::AuthResult(AuthResult::NotAuthorized)),
            ),
            Parameter::ClientAuthenticate(ci) => {
                let id = ci.id();
                let will = ci.last_will().map(|w| match w {
                    LastWill::V3(w) => w.topic.to_string(),
                    LastWill::V5(w) => w.topic.to_string(),
                });
                let allowed = h
                    .authenticate(
                        id,
                        ci.cert()
                            .map(|c| (c.subject.as_str(), c.serial.as_deref().unwrap_or(""))),
                        will.as_deref(),
                    )
                    .await;
                let result = if allowed {
                    AuthResult::Allow(false, None)
                } else {
                    AuthResult::NotAuthorized
                };
                (false, Some(HookResult::AuthResult(result)))
            }
            Parameter::MessagePublishCheckAcl(s, p) => {
                if h.may(s, Action::Publish, &p.inner.topic) {
                    (true, acc)
                } else {
                    let r = PublishAclResult::rejected(
                        false,
                        Some(ByteString::from_static("not authorized")),
                    );
                    (false, Some(HookResult::PublishAclResult(r)))
                }
            }
            Parameter::ClientSubscribeCheckAcl(s, sub) => {
                if h.may(s, Action::Subscribe, &sub.topic_filter) {
                    (true, acc)
                } else {
                    let r = SubscribeReturn::new_failure(SubscribeAckReason::NotAuthorized);
                    (false, Some(HookResult::SubscribeAclResult(r)))
                }
            }
            Parameter::MessagePublish(Some(s), _, p) => {
                h.on_publish(s, p).await;
                (true, acc)
            }
            // rmqtt asks this before every delivery, queued and inflight ones included: the
            // point where `iot:Receive` is enforced, as AWS checks it on each message. A
            // subscription granted once (or inherited with a taken-over persistent session)
            // delivers only what the policies let the session receive now.
            Parameter::MessageExpiryCheck(s, _, p) => {
                if h.may_receive(s, &p.inner.topic) {
                    (true, acc)
                } else {
                    (false, Some(HookResult::MessageExpiry))
                }
            }
            Parameter::MessageDelivered(s, _, p) => {
                if let Some(thing) = h.thing_of(s) {
                    h.events.emit(BrokerEvent::MessageToDevice {
                        thing,
                        topic: p.inner.topic.to_string(),
                        size: p.inner.payload.len(),
                        at: h.clock.now_ms(),
                    });
                }
                (true, acc)
            }
            // A CONNECT that authenticated but was then refused (or failed) leaves no session
            // behind; only an accepted one is disconnected later.
            Parameter::ClientConnack(ci, reason) if !reason.success() => {
                h.sessions.remove(&key_of_id(ci.id()));
                (true, acc)
            }
            Parameter::ClientDisconnected(s, _) => {
                if let Some(conn) = h.sessions.remove(&key_of(s)) {
                    h.ended(conn);
                }
                (true, acc)
            }
            _ => (true, acc),
        }
    }
}

/// A session's key in [`Sessions`].
fn key_of(s: &Session) -> Key {
    key_of_id(&s.id)
}

/// The key of the session `id` names (at CONNECT, before a `Session` exists).
fn key_of_id(id: &Id) -> Key {
    (id.client_id.to_string(), id.create_time)
}

impl Hooks {
    fn is_closing(&self) -> bool {
        self.closing.load(std::sync::atomic::Ordering::Acquire)
    }
    /// Decides a CONNECT: who the connection is, and, when it carries a last will, whether
    /// its policies let it publish on the will's topic. rmqtt publishes a will without the
    /// publish ACL, so an unchecked will would let a device forge a message on any topic (an
    /// answer, an alert) by dropping its connection; AWS refuses such a CONNECT too.
    async fn authenticate(&self, id: &Id, cert: Option<(&str, &str)>, will: Option<&str>) -> bool {
        let client_id = id.client_id.to_string();
        let ip = id.remote_addr.map(|a| a.ip());
        let result = if id.lid == DEV_LISTENER {
            let p = self.authz.dev_principal(&client_id);
            if p.thing.is_some() {
                Ok(p)
            } else {
                Err((super::authz::AuthFailure::NoThing, None))
            }
        } else {
            self.authz.authenticate(&client_id, cert).await
        };
        let result = result.and_then(|p| match will {
            Some(topic) if !self.authz.allows(&p, Action::Publish, topic) => Err((
                super::authz::AuthFailure::WillDenied(topic.to_owned()),
                p.thing,
            )),
            _ => Ok(p),
        });
        let result = result.and_then(|p| {
            let thing = p.thing.clone();
            let conn = Conn {
                principal: p,
                inflight: Arc::new(Semaphore::new(CONN_IN_FLIGHT)),
                handle: id.clone(),
                ip,
                failures: Default::default(),
            };
            match self.sessions.try_insert(key_of_id(id), conn) {
                Ok(()) => Ok(thing),
                Err(why) => Err((why, thing)),
            }
        });
        let at = self.clock.now_ms();
        match result {
            Ok(thing) => {
                self.events.emit(BrokerEvent::Connect {
                    thing,
                    ip,
                    success: true,
                    at,
                });
                true
            }
            Err((why, thing)) => {
                tracing::info!(client_id, ?ip, %why, "connection refused");
                self.session_stats.count_refusal(&why);
                self.events.emit(BrokerEvent::Connect {
                    thing,
                    ip,
                    success: false,
                    at,
                });
                false
            }
        }
    }

    fn principal(&self, s: &Session) -> Option<Principal> {
        self.sessions.principal(&key_of(s))
    }

    fn thing_of(&self, s: &Session) -> Option<String> {
        self.principal(s).and_then(|p| p.thing)
    }

    /// Decides and, on denial, counts an authorization failure (as an event, within the
    /// connection's budget; see [`FailureBudget`](super::sessions::FailureBudget)).
    fn may(&self, s: &Session, action: Action, target: &str) -> bool {
        let key = key_of(s);
        let Some(p) = self.sessions.principal(&key) else {
            return false;
        };
        let ok = self.authz.allows(&p, action, target);
        if let (false, Some(thing)) = (ok, p.thing) {
            let at = self.clock.now_ms();
            if let Some(suppressed) = self.sessions.record_failure(&key, at) {
                self.events.emit(BrokerEvent::AuthorizationFailure {
                    thing,
                    topic: target.to_owned(),
                    suppressed,
                    at,
                });
            }
        }
        ok
    }

    /// Whether the session may receive a message on `topic` (`iot:Receive`). A denied
    /// delivery is dropped, not counted as the device's failure: the device asked for
    /// nothing, another party published.
    fn may_receive(&self, s: &Session, topic: &str) -> bool {
        self.principal(s)
            .is_some_and(|p| self.authz.allows(&p, Action::Receive, topic))
    }

    /// A session has ended (disconnected, or closed by the guard): its disconnect is
    /// counted, and failures its budget held back are sent.
    fn ended(&self, conn: Conn<Id>) {
        let Some(thing) = conn.principal.thing else {
            return;
        };
        let at = self.clock.now_ms();
        let suppressed = conn
            .failures
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .take_suppressed();
        if suppressed > 0 {
            self.events.emit(BrokerEvent::AuthorizationFailure {
                thing: thing.clone(),
                topic: fleetward_core::ingest::cloud::OVERFLOW_TOPIC.to_owned(),
                suppressed: suppressed - 1,
                at,
            });
        }
        self.events.emit(BrokerEvent::Disconnect { thing, at });
    }

    /// rmqtt runs this before the publish ACL, so ingest only what the policy allows; the
    /// ACL hook then refuses (and counts) the rest.
    async fn on_publish(self: &Arc<Self>, s: &Session, p: &Publish) {
        let Some((principal, conn_inflight)) = self.sessions.principal_and_inflight(&key_of(s))
        else {
            return;
        };
        let topic: &str = &p.inner.topic;
        if !self.authz.allows(&principal, Action::Publish, topic) {
            return;
        }
        let at = self.clock.now_ms();
        if let Some(thing) = principal.thing {
            self.events.emit(BrokerEvent::MessageFromDevice {
                thing,
                topic: topic.to_owned(),
                size: p.inner.payload.len(),
                at,
            });
        }
        let Some(m) = topic::parse(topic, &self.prefix) else {
            return;
        };
        if m.topic.kind != Kind::Publish || self.is_closing() {
            // A report that arrives while the server stops gets no answer; the device sends
            // it again to the next server, which stores it.
            return;
        }
        // Waiting for permits here is the backpressure: rmqtt reads this connection's next
        // packet only when the hook returns. Within the bounds, reports of one connection are
        // ingested concurrently so commit batches fill up; the answer still waits for the
        // commit inside `Pipeline::ingest`.
        let (Ok(conn_permit), Ok(global_permit)) = (
            conn_inflight.acquire_owned().await,
            self.inflight.clone().acquire_owned().await,
        ) else {
            return;
        };
        let (hooks, thing, format, payload) = (
            self.clone(),
            m.thing.to_owned(),
            m.topic.format,
            p.inner.payload.clone(),
        );
        tokio::spawn(async move {
            hooks.ingest_and_answer(&thing, format, &payload, at).await;
            drop((conn_permit, global_permit));
        });
    }

    async fn ingest_and_answer(&self, thing: &str, format: Format, payload: &[u8], at: i64) {
        match self.pipeline.ingest(thing, format, payload, at).await {
            Ok(ans) => {
                let kind = if ans.status == Status::Accepted {
                    Kind::Accepted
                } else {
                    Kind::Rejected
                };
                let mut buf = [0u8; 256];
                let t = Topic { format, kind };
                if let Ok(reply) = topic::build(&mut buf, &self.prefix, thing, t) {
                    publish(&self.scx, reply, answer::to_vec(&ans, format)).await;
                }
            }
            Err(e) => tracing::error!(thing, error = %e, "report not answered"),
        }
    }
}
