//! The simulator's IO: one real MQTT-over-TLS connection per virtual device, with its own
//! certificate, reporting the model's samples and carrying out the network-level attacks.
//!
//! A device behaves like an agent: it connects with client id = thing name, subscribes to its
//! `accepted`/`rejected` topics before it publishes, sends one report per tick (QoS 1) and
//! waits for the answer, and reconnects after a short pause when the broker drops it. The
//! attacks that are about the connection rather than the report happen here: refused publishes
//! to another thing's topic, deliberate reconnect cycles, a clone holding the same certificate
//! and client id (the broker's session takeover makes the two knock each other off), and
//! silence.
//!
//! rumqttc's event loop would reconnect by itself; here every connection attempt is explicit,
//! so the simulator decides exactly how many attempts and disconnects the broker sees.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use fleetward_proto::Format;
use fleetward_proto::answer::{self, ErrorCode, Status};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS, TlsConfiguration, Transport};
use rustls::ClientConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::class::DeviceSpec;
use super::clock::SimClock;
use super::scenario::{Attack, FLAPS_PER_TICK, STORM_PUBLISHES_PER_TICK, Scenario};
use super::seed::{self, purpose};

/// Shortest wait for a CONNACK or SUBACK.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the devices connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Broker host (a name in the server certificate: `localhost` or `127.0.0.1` for
    /// Fleetward's own).
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// The CA that signed the broker's certificate, PEM.
    pub ca_pem: String,
    /// The Defender topic prefix.
    pub prefix: String,
    /// Report format.
    pub format: Format,
}

/// A device's certificate and key, PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The certificate (chain).
    pub cert_pem: String,
    /// The private key.
    pub key_pem: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

/// Why a device could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The CA, certificate or key is unusable.
    #[error("TLS setup for {thing}: {reason}")]
    Tls {
        /// The device.
        thing: String,
        /// What is wrong.
        reason: String,
    },
}

/// Live counters of a run, shared by every device.
#[derive(Debug, Default)]
pub struct Counters {
    /// Connections currently up.
    pub connected: AtomicU64,
    /// Successful connections (CONNACK accepted), in total.
    pub connects: AtomicU64,
    /// Connection attempts that failed (refused, TLS error, timeout).
    pub connect_failures: AtomicU64,
    /// Connections the broker closed on a device.
    pub dropped: AtomicU64,
    /// Reports published.
    pub reports_sent: AtomicU64,
    /// Reports answered `ACCEPTED`.
    pub accepted: AtomicU64,
    /// Reports answered `REJECTED` (throttled ones included).
    pub rejected: AtomicU64,
    /// Of the rejected, `Throttled`.
    pub throttled: AtomicU64,
    /// Reports with no answer within the tick.
    pub unanswered: AtomicU64,
    /// Publishes to a topic the device may not use (attacks).
    pub forbidden_publishes: AtomicU64,
    /// The current tick.
    pub tick: AtomicU64,
    /// Attacks started.
    pub attacks_started: AtomicU64,
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// See [`Counters::connected`].
    pub connected: u64,
    /// See [`Counters::connects`].
    pub connects: u64,
    /// See [`Counters::connect_failures`].
    pub connect_failures: u64,
    /// See [`Counters::dropped`].
    pub dropped: u64,
    /// See [`Counters::reports_sent`].
    pub reports_sent: u64,
    /// See [`Counters::accepted`].
    pub accepted: u64,
    /// See [`Counters::rejected`].
    pub rejected: u64,
    /// See [`Counters::throttled`].
    pub throttled: u64,
    /// See [`Counters::unanswered`].
    pub unanswered: u64,
    /// See [`Counters::forbidden_publishes`].
    pub forbidden_publishes: u64,
    /// See [`Counters::tick`].
    pub tick: u64,
    /// See [`Counters::attacks_started`].
    pub attacks_started: u64,
}

impl Counters {
    /// The current values.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            connected: self.connected.load(Relaxed),
            connects: self.connects.load(Relaxed),
            connect_failures: self.connect_failures.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            reports_sent: self.reports_sent.load(Relaxed),
            accepted: self.accepted.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            throttled: self.throttled.load(Relaxed),
            unanswered: self.unanswered.load(Relaxed),
            forbidden_publishes: self.forbidden_publishes.load(Relaxed),
            tick: self.tick.load(Relaxed),
            attacks_started: self.attacks_started.load(Relaxed),
        }
    }
}

/// What the runner tells every device at each tick.
#[derive(Debug, Clone, Default)]
pub struct TickInfo {
    /// The tick.
    pub tick: u64,
    /// The attacks of the current wave (empty without attacks).
    pub attacks: Arc<Vec<Attack>>,
}

/// Everything a device task needs besides its own identity.
#[derive(Debug, Clone)]
pub struct Context {
    /// Where to connect.
    pub endpoint: Endpoint,
    /// Shared counters.
    pub counters: Arc<Counters>,
    /// The run's seed.
    pub seed: u64,
    /// The simulated clock.
    pub clock: SimClock,
    /// Real time per tick.
    pub tick: Duration,
    /// Thing names by fleet index (a storm publishes to a peer's topic).
    pub things: Arc<Vec<String>>,
}

impl Context {
    fn topic(&self, thing: &str, suffix: &str) -> String {
        format!(
            "{}{thing}/defender/metrics/{}{suffix}",
            self.endpoint.prefix,
            self.endpoint.format.as_str()
        )
    }

    /// How long to wait for an answer: about a tick, the time until the next report.
    fn timeout(&self) -> Duration {
        self.tick
            .clamp(Duration::from_millis(500), Duration::from_secs(10))
    }

    /// How long to wait for a CONNACK or SUBACK: a whole fleet connecting at once queues TLS
    /// handshakes, so this does not shrink with the tick.
    fn connect_timeout(&self) -> Duration {
        self.tick.max(CONNECT_TIMEOUT)
    }

    /// How long a device waits before reconnecting after the broker dropped it.
    fn reconnect_delay(&self) -> Duration {
        self.tick / 5
    }
}

/// Builds the rustls configuration of one device: the broker's CA and the device's
/// certificate. Built once per device and reused by every reconnect.
pub fn tls_config(
    thing: &str,
    ca_pem: &str,
    creds: &Credentials,
) -> Result<Arc<ClientConfig>, DeviceError> {
    let err = |reason: String| DeviceError::Tls {
        thing: thing.to_owned(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| err(format!("CA certificate: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| err(format!("CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err("no CA certificate".into()));
    }
    let chain = CertificateDer::pem_slice_iter(creds.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(format!("device certificate: {e}")))?;
    if chain.is_empty() {
        return Err(err("no device certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(creds.key_pem.as_bytes())
        .map_err(|e| err(format!("device key: {e}")))?;
    let config = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| err(e.to_string()))?
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .map_err(|e| err(format!("certificate and key: {e}")))?;
    Ok(Arc::new(config))
}

/// What a connection's event loop saw.
#[derive(Debug)]
enum LinkEvent {
    Connected,
    SubAck(bool),
    Message(Vec<u8>),
    Closed,
}

/// One MQTT connection and the task polling it. Dropping it closes the socket at once (as a
/// device losing power would); [`Link::close`] sends DISCONNECT first.
struct Link {
    client: AsyncClient,
    events: mpsc::UnboundedReceiver<LinkEvent>,
    poll: JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.poll.abort();
    }
}

/// Decrements `connected` when a connection that was up ends, however its task ends.
struct UpGuard(Arc<Counters>);

impl Drop for UpGuard {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Relaxed);
    }
}

impl Link {
    /// Connects and subscribes to the device's answer topics; `None` if either fails.
    async fn open(ctx: &Context, thing: &str, tls: &Arc<ClientConfig>) -> Option<Link> {
        let mut opts = MqttOptions::new(thing, ctx.endpoint.host.clone(), ctx.endpoint.port);
        opts.set_keep_alive(Duration::from_secs(30));
        opts.set_clean_session(true);
        opts.set_max_packet_size(256 * 1024, 256 * 1024);
        opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
            tls.clone(),
        )));
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let counters = ctx.counters.clone();
        let poll = tokio::spawn(async move {
            let mut _up = None;
            loop {
                let ev = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        counters.connected.fetch_add(1, Relaxed);
                        counters.connects.fetch_add(1, Relaxed);
                        _up = Some(UpGuard(counters.clone()));
                        LinkEvent::Connected
                    }
                    Ok(Event::Incoming(Packet::SubAck(s))) => LinkEvent::SubAck(
                        s.return_codes
                            .iter()
                            .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_))),
                    ),
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        LinkEvent::Message(p.payload.to_vec())
                    }
                    // Our DISCONNECT is on the wire: the connection is over (rumqttc would
                    // otherwise keep polling a socket the broker is closing).
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                        let _ = tx.send(LinkEvent::Closed);
                        return;
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        let _ = tx.send(LinkEvent::Closed);
                        return;
                    }
                };
                if tx.send(ev).is_err() {
                    return;
                }
            }
        });
        let mut link = Link {
            client,
            events,
            poll,
        };
        let connected = tokio::time::timeout(ctx.connect_timeout(), async {
            matches!(link.events.recv().await, Some(LinkEvent::Connected))
        })
        .await
        .unwrap_or(false);
        if !connected {
            ctx.counters.connect_failures.fetch_add(1, Relaxed);
            return None;
        }
        let topics = [ctx.topic(thing, "/accepted"), ctx.topic(thing, "/rejected")];
        let subscribed = link
            .client
            .subscribe_many(topics.map(|t| rumqttc::SubscribeFilter::new(t, QoS::AtLeastOnce)))
            .await
            .is_ok()
            && tokio::time::timeout(ctx.connect_timeout(), async {
                loop {
                    match link.events.recv().await {
                        Some(LinkEvent::SubAck(ok)) => return ok,
                        Some(LinkEvent::Closed) | None => return false,
                        Some(_) => {}
                    }
                }
            })
            .await
            .unwrap_or(false);
        subscribed.then_some(link)
    }

    /// Sends DISCONNECT and waits (briefly) for the connection to end.
    async fn close(mut self) {
        if self.client.disconnect().await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Some(ev) = self.events.recv().await {
                    if matches!(ev, LinkEvent::Closed) {
                        break;
                    }
                }
            })
            .await;
        }
    }

    /// Resolves when the connection ends; other events are discarded.
    async fn closed(&mut self) {
        loop {
            match self.events.recv().await {
                Some(LinkEvent::Closed) | None => return,
                Some(_) => {}
            }
        }
    }
}

/// How a report fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted,
    Rejected,
    Throttled,
    NoAnswer,
    LinkLost,
}

/// Publishes `payload` with `report_id` and waits for its answer.
async fn report(
    ctx: &Context,
    thing: &str,
    link: &mut Link,
    report_id: u64,
    payload: Vec<u8>,
) -> Outcome {
    let format = ctx.endpoint.format;
    if link
        .client
        .publish(ctx.topic(thing, ""), QoS::AtLeastOnce, false, payload)
        .await
        .is_err()
    {
        return Outcome::LinkLost;
    }
    ctx.counters.reports_sent.fetch_add(1, Relaxed);
    let wait = async {
        loop {
            match link.events.recv().await {
                Some(LinkEvent::Message(p)) => {
                    let Ok(a) = answer::decode(&p, format) else {
                        continue;
                    };
                    if a.report_id != Some(report_id) {
                        continue; // a late answer to an earlier report
                    }
                    return match (a.status, a.status_details.map(|d| d.error_code)) {
                        (Status::Accepted, _) => Outcome::Accepted,
                        (_, Some(ErrorCode::Throttled)) => Outcome::Throttled,
                        _ => Outcome::Rejected,
                    };
                }
                Some(LinkEvent::Closed) | None => return Outcome::LinkLost,
                Some(_) => {}
            }
        }
    };
    let outcome = tokio::time::timeout(ctx.timeout(), wait)
        .await
        .unwrap_or(Outcome::NoAnswer);
    let c = &ctx.counters;
    match outcome {
        Outcome::Accepted => c.accepted.fetch_add(1, Relaxed),
        Outcome::Rejected => c.rejected.fetch_add(1, Relaxed),
        Outcome::Throttled => {
            c.throttled.fetch_add(1, Relaxed);
            c.rejected.fetch_add(1, Relaxed)
        }
        Outcome::NoAnswer | Outcome::LinkLost => c.unanswered.fetch_add(1, Relaxed),
    };
    outcome
}

/// Waits for `link` to close; never resolves without a link.
async fn link_closed(link: &mut Option<Link>) {
    match link {
        Some(l) => l.closed().await,
        None => std::future::pending().await,
    }
}

/// Sleeps `d`; `false` if the run was stopped meanwhile.
async fn nap(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.changed() => false,
    }
}

/// Runs one device until `stop` turns true or the tick channel closes.
pub async fn run_device(
    ctx: Context,
    spec: DeviceSpec,
    tls: Arc<ClientConfig>,
    mut ticks: watch::Receiver<TickInfo>,
    mut stop: watch::Receiver<bool>,
) {
    let thing = spec.thing.clone();
    // Spread reports over the first 80% of each tick, the same offset every tick, so each
    // device's reports are one tick apart and the fleet's load is even.
    let offset = ctx
        .tick
        .mul_f64(0.8 * seed::unit(seed::hash(&[ctx.seed, spec.index as u64, purpose::OFFSET])));
    let mut link = Link::open(&ctx, &thing, &tls).await;
    let mut reconnect_at: Option<tokio::time::Instant> = None;
    let mut clone: Option<(watch::Sender<bool>, JoinHandle<()>)> = None;
    let mut silent = false;
    loop {
        if *stop.borrow() {
            stop_clone(&mut clone).await;
            if let Some(l) = link.take() {
                l.close().await;
            }
            return;
        }
        // Wait for the next tick; meanwhile, come back after a drop (an agent would).
        let info = loop {
            let again = reconnect_at;
            tokio::select! {
                r = ticks.changed() => {
                    if r.is_err() {
                        stop_clone(&mut clone).await;
                        return;
                    }
                    break Some(ticks.borrow_and_update().clone());
                }
                _ = stop.changed() => break None,
                _ = link_closed(&mut link) => {
                    link = None;
                    ctx.counters.dropped.fetch_add(1, Relaxed);
                    reconnect_at = Some(tokio::time::Instant::now() + ctx.reconnect_delay());
                }
                _ = async { tokio::time::sleep_until(again.unwrap_or_else(tokio::time::Instant::now)).await },
                    if again.is_some() && link.is_none() && !silent => {
                    reconnect_at = None;
                    link = Link::open(&ctx, &thing, &tls).await;
                }
            }
        };
        let Some(info) = info else {
            continue; // stopped: cleaned up at the top
        };
        if !nap(offset, &mut stop).await {
            continue;
        }
        let attack = info
            .attacks
            .iter()
            .find(|a| a.device == spec.index && a.covers(info.tick))
            .cloned();
        let scenario = attack.as_ref().map(|a| a.scenario);

        // A clone with this device's certificate runs for the attack's duration.
        if scenario == Some(Scenario::SharedCertificate) {
            if clone.is_none() {
                let (tx, rx) = watch::channel(false);
                let task = tokio::spawn(run_clone(ctx.clone(), thing.clone(), tls.clone(), rx));
                clone = Some((tx, task));
            }
        } else {
            stop_clone(&mut clone).await;
        }

        silent = scenario == Some(Scenario::Silent);
        if silent {
            // Off the network at once, without DISCONNECT: a dead device.
            link = None;
            reconnect_at = None;
            continue;
        }
        if link.is_none() {
            reconnect_at = None;
            link = Link::open(&ctx, &thing, &tls).await;
        }
        let Some(l) = link.as_mut() else {
            continue;
        };

        let mut sample = spec.baseline(ctx.seed, &ctx.clock, info.tick);
        if let Some(a) = &attack {
            a.scenario.apply(&mut sample, &spec, ctx.seed, a.start);
        }
        let report_id = ctx.clock.report_id(info.tick);
        match sample.encode(report_id, ctx.endpoint.format) {
            Ok(payload) => {
                let outcome = report(&ctx, &thing, l, report_id, payload.clone()).await;
                if outcome == Outcome::Throttled {
                    // Network jitter can bring two reports closer than a scaled minimum
                    // interval; one retry a little later gets the data in.
                    if nap(ctx.tick / 10, &mut stop).await {
                        let _ = report(&ctx, &thing, l, report_id, payload).await;
                    }
                }
            }
            Err(e) => tracing::error!(thing, error = %e, "report not encodable"),
        }

        match (scenario, &attack) {
            (Some(Scenario::AuthorizationFailureStorm), Some(a)) => {
                let peer = a
                    .peer
                    .and_then(|p| ctx.things.get(p))
                    .cloned()
                    .unwrap_or_else(|| format!("{thing}-neighbour"));
                let topic = ctx.topic(&peer, "");
                if let Some(l) = link.as_mut() {
                    for _ in 0..STORM_PUBLISHES_PER_TICK {
                        // QoS 0: the broker refuses silently and the device does not wait.
                        if l.client
                            .publish(topic.clone(), QoS::AtMostOnce, false, b"{}".to_vec())
                            .await
                            .is_ok()
                        {
                            ctx.counters.forbidden_publishes.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
            (Some(Scenario::ReconnectFlapping), _) => {
                let pause = ctx.tick / (4 * FLAPS_PER_TICK);
                for _ in 0..FLAPS_PER_TICK {
                    if let Some(l) = link.take() {
                        l.close().await;
                    }
                    if !nap(pause, &mut stop).await {
                        break;
                    }
                    link = Link::open(&ctx, &thing, &tls).await;
                }
            }
            _ => {}
        }
    }
}

async fn stop_clone(clone: &mut Option<(watch::Sender<bool>, JoinHandle<()>)>) {
    if let Some((tx, task)) = clone.take() {
        let _ = tx.send(true);
        let _ = task.await;
    }
}

/// A second device holding another's certificate and client id: it connects, is knocked off
/// when the owner reconnects (session takeover), and comes back, until stopped.
async fn run_clone(
    ctx: Context,
    thing: String,
    tls: Arc<ClientConfig>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let mut link = Link::open(&ctx, &thing, &tls).await;
        tokio::select! {
            _ = link_closed(&mut link) => {}
            _ = stop.changed() => {
                if let Some(l) = link.take() {
                    l.close().await;
                }
                return;
            }
        }
        if !nap(ctx.reconnect_delay(), &mut stop).await {
            return;
        }
    }
}
