//! The embeddable reporter: start it, receive its events, stop it.
//!
//! In the spirit of AWS's FreeRTOS Defender library (`DefenderAgentStart`/`Stop`, a callback
//! for accepted and rejected), but asynchronous: [`Reporter::start`] spawns one tokio task
//! that owns the MQTT connection, the collector and the delta baseline.

use std::sync::Arc;
use std::time::Duration;

use fleetward_proto::Format;
use fleetward_proto::answer::{ErrorCode, Status};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};
use tracing::{debug, error, info, warn};

use crate::clock::ReportClock;
use crate::collect::ifaces::{InterfaceSource, SystemInterfaces};
use crate::collect::{CollectOptions, Collector, DirSource, ProcSource};
use crate::config::{Config, ConfigError};
use crate::deltas::{CounterSet, DeltaTracker};
use crate::mqtt::{self, Driven, Link, LinkEvent, LinkOptions, MqttError, Topics};
use crate::report::{self, BuildError, ReportSettings};

/// Any error the agent can report, each with a human sentence (its `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentError {
    /// The configuration is invalid.
    Config(ConfigError),
    /// The MQTT connection, TLS or a subscription failed.
    Mqtt(MqttError),
    /// A report could not be built.
    Build(BuildError),
    /// The reporter task ended abnormally.
    Task(String),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Config(e) => write!(f, "configuration error: {e}"),
            AgentError::Mqtt(e) => e.fmt(f),
            AgentError::Build(e) => write!(f, "report not built: {e}"),
            AgentError::Task(m) => write!(f, "reporter task failed: {m}"),
        }
    }
}

impl std::error::Error for AgentError {}

impl From<ConfigError> for AgentError {
    fn from(e: ConfigError) -> Self {
        AgentError::Config(e)
    }
}
impl From<MqttError> for AgentError {
    fn from(e: MqttError) -> Self {
        AgentError::Mqtt(e)
    }
}
impl From<BuildError> for AgentError {
    fn from(e: BuildError) -> Self {
        AgentError::Build(e)
    }
}

/// What happened, for the embedding application.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Connected to the broker.
    Connected,
    /// Subscribed to the accepted and rejected topics; reports can go out.
    Ready,
    /// The broker acknowledged a report (QoS 1 PUBACK); its counters are the new baseline.
    Published {
        /// The report's id.
        report_id: u64,
        /// Its size in bytes.
        bytes: usize,
    },
    /// The service accepted a report.
    Accepted {
        /// The report's id.
        report_id: Option<u64>,
    },
    /// The service rejected a report.
    Rejected {
        /// The report's id, when the service could read it.
        report_id: Option<u64>,
        /// AWS's error code.
        code: ErrorCode,
        /// Why.
        message: String,
    },
    /// A report was due while offline (or while the previous one still awaited its PUBACK)
    /// and was not sent: AWS accepts only current metrics, and the next report covers the gap.
    SkippedOffline,
    /// The connection failed or dropped; a reconnect follows after `retry_in`.
    MqttFailure {
        /// What failed.
        error: AgentError,
        /// The backoff delay.
        retry_in: Duration,
    },
    /// A report could not be built.
    BuildFailure {
        /// Why.
        error: AgentError,
    },
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Connected => f.write_str("connected"),
            Event::Ready => f.write_str("subscribed to the answer topics"),
            Event::Published { report_id, bytes } => {
                write!(
                    f,
                    "report {report_id} ({bytes} bytes) acknowledged by the broker"
                )
            }
            Event::Accepted { report_id } => match report_id {
                Some(id) => write!(f, "report {id} accepted"),
                None => f.write_str("a report was accepted"),
            },
            Event::Rejected {
                report_id,
                code,
                message,
            } => match report_id {
                Some(id) => write!(f, "report {id} rejected: {code}: {message}"),
                None => write!(f, "a report was rejected: {code}: {message}"),
            },
            Event::SkippedOffline => {
                f.write_str("report skipped while offline; the next one covers the gap")
            }
            Event::MqttFailure { error, retry_in } => {
                write!(f, "{error}; retrying in {:.1} s", retry_in.as_secs_f64())
            }
            Event::BuildFailure { error } => error.fmt(f),
        }
    }
}

/// The event callback.
pub type EventHandler = Arc<dyn Fn(&Event) + Send + Sync>;

/// Where the metrics are read from.
#[derive(Clone)]
pub struct Sources {
    /// The proc root.
    pub proc: Arc<dyn ProcSource>,
    /// IPv4 interface addresses.
    pub ifaces: Arc<dyn InterfaceSource>,
}

impl Sources {
    /// The running system, with `/proc` at `proc_root`.
    pub fn system(proc_root: &std::path::Path) -> Self {
        Sources {
            proc: Arc::new(DirSource::new(proc_root)),
            ifaces: Arc::new(SystemInterfaces),
        }
    }
}

/// A report ready to publish, and the counters that become the baseline once it is sent.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The report id.
    pub report_id: u64,
    /// The encoded report.
    pub payload: Vec<u8>,
    /// The cumulative counters it was computed from.
    pub counters: Option<CounterSet>,
}

/// Collection, deltas, ids and encoding: everything from `/proc` to a payload, no network.
pub struct Pipeline {
    collector: Collector,
    deltas: DeltaTracker,
    clock: ReportClock,
    settings: ReportSettings,
}

impl Pipeline {
    /// A pipeline over `sources`.
    pub fn new(sources: &Sources, opts: CollectOptions, settings: ReportSettings) -> Self {
        let mut collector = Collector::new(sources.proc.clone(), sources.ifaces.clone(), opts);
        collector.prime();
        Pipeline {
            collector,
            deltas: DeltaTracker::new(),
            clock: ReportClock::new(),
            settings,
        }
    }

    /// The settings reports are written with.
    pub fn settings(&self) -> ReportSettings {
        self.settings
    }

    /// Collects and encodes the next report.
    pub async fn prepare(&mut self) -> Result<Prepared, BuildError> {
        let snap = self.collector.collect().await;
        let stats = snap.counters.as_ref().and_then(|c| self.deltas.pending(c));
        let report_id = self.clock.next_now();
        match report::build(&snap, stats, report_id, &self.settings) {
            Ok(payload) => Ok(Prepared {
                report_id,
                payload,
                counters: snap.counters,
            }),
            Err(BuildError::Empty) if !self.deltas.has_baseline() => {
                // Only network_stats is on and there is no baseline yet: this cycle can only
                // take one, so the next report has deltas to send.
                if let Some(c) = snap.counters {
                    debug!("network_stats baseline taken; the next report carries deltas");
                    self.deltas.commit(c);
                }
                Err(BuildError::Empty)
            }
            Err(e) => Err(e),
        }
    }

    /// Records that `prepared` was sent: its counters become the delta baseline.
    pub fn sent(&mut self, prepared: &Prepared) {
        if let Some(c) = &prepared.counters {
            self.deltas.commit(c.clone());
        }
    }
}

/// How a reporter runs beyond its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunOptions {
    /// The delay before the first report; `None` picks a random one within the interval.
    pub first_delay: Option<Duration>,
    /// Send one report, wait for its answer, and stop.
    pub once: bool,
}

/// The delay before the first report: `unit` (in `[0, 1)`) of the interval, so a fleet that
/// restarts together (a power cut, a rollout) spreads its first reports over the interval.
pub fn first_report_delay(interval: Duration, unit: f64) -> Duration {
    interval.mul_f64(unit.clamp(0.0, 1.0))
}

/// A running reporter.
pub struct Reporter {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<Option<Status>, AgentError>>,
}

impl Reporter {
    /// Starts reporting in a tokio task. Must be called inside a tokio runtime.
    ///
    /// Fails at once on configuration and TLS file errors; connection errors are retried
    /// and reported through `on_event`.
    pub fn start(
        config: &Config,
        sources: Sources,
        run: RunOptions,
        on_event: EventHandler,
    ) -> Result<Reporter, AgentError> {
        config.validate()?;
        config.validate_for_mqtt()?;
        let link = LinkOptions::from_config(config)?;
        let settings = config.report_settings();
        let topics = Topics::new(
            &config.mqtt.topic_prefix,
            &config.thing_name,
            settings.format,
        )?;
        let pipeline = Pipeline::new(&sources, config.collect_options(), settings);
        let interval = config.interval();
        let first_delay = run
            .first_delay
            .unwrap_or_else(|| first_report_delay(interval, fastrand::f64()));
        let (stop, stop_rx) = watch::channel(false);
        let (client, events, driver) = Link::spawn(
            &link,
            Duration::from_secs(config.mqtt.backoff_initial_secs),
            Duration::from_secs(config.mqtt.backoff_max_secs),
        );
        let state = Loop {
            pipeline,
            link: client,
            events,
            driver,
            topics,
            format: settings.format,
            interval,
            once: run.once,
            on_event,
        };
        let task = tokio::spawn(state.run(first_delay, stop_rx));
        Ok(Reporter { stop, task })
    }

    /// Stops reporting: disconnects cleanly and waits for the task.
    pub async fn stop(self) -> Result<(), AgentError> {
        let _ = self.stop.send(true);
        self.wait().await.map(|_| ())
    }

    /// Waits for the task to end by itself (in `once` mode: after the answer). Returns the
    /// answer's status in `once` mode.
    pub async fn wait(self) -> Result<Option<Status>, AgentError> {
        match self.task.await {
            Ok(r) => r,
            Err(e) => Err(AgentError::Task(e.to_string())),
        }
    }
}

/// The report in flight: published, waiting for its PUBACK.
struct InFlight {
    prepared: Prepared,
    pkid: Option<u16>,
}

struct Loop {
    pipeline: Pipeline,
    link: Link,
    events: mpsc::Receiver<Driven>,
    driver: JoinHandle<()>,
    topics: Topics,
    format: Format,
    interval: Duration,
    once: bool,
    on_event: EventHandler,
}

impl Loop {
    fn emit(&self, e: Event) {
        (self.on_event)(&e);
    }

    async fn run(
        mut self,
        first_delay: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> Result<Option<Status>, AgentError> {
        let mut next = Instant::now() + first_delay;
        let mut connected = false;
        let mut ready = false;
        let mut inflight: Option<InFlight> = None;
        let mut once_sent: Option<u64> = None;
        info!(
            "first report in {:.1} s, then every {} s",
            first_delay.as_secs_f64(),
            self.interval.as_secs()
        );
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                _ = sleep_until(next) => {
                    let now = Instant::now();
                    next += self.interval;
                    if next <= now {
                        next = now + self.interval;
                    }
                    if self.once && once_sent.is_some() {
                        continue;
                    }
                    if !ready {
                        if self.once {
                            next = now + Duration::from_millis(100);
                        } else {
                            warn!("not connected: report skipped (no backlog: AWS accepts only current metrics); the next report covers the gap");
                            self.emit(Event::SkippedOffline);
                        }
                        continue;
                    }
                    if inflight.is_some() {
                        // A second report now would count the first one's traffic again if
                        // both arrive; the next report covers this interval instead.
                        warn!("the previous report is not acknowledged yet: report skipped");
                        self.emit(Event::SkippedOffline);
                        continue;
                    }
                    match self.pipeline.prepare().await {
                        Ok(p) => {
                            debug!(report_id = p.report_id, bytes = p.payload.len(), "publishing report");
                            match self.link.publish(&self.topics.publish, p.payload.clone()) {
                                Ok(()) => {
                                    once_sent = Some(p.report_id);
                                    inflight = Some(InFlight { prepared: p, pkid: None });
                                }
                                Err(e) => {
                                    error!("{e}");
                                    self.emit(Event::MqttFailure { error: e.into(), retry_in: Duration::ZERO });
                                }
                            }
                        }
                        Err(BuildError::Empty) if self.once => {
                            return Err(AgentError::Build(BuildError::Empty));
                        }
                        Err(e) => {
                            error!("report not built: {e}");
                            self.emit(Event::BuildFailure { error: e.into() });
                        }
                    }
                }
                driven = self.events.recv() => {
                    let Some(Driven { event, retry_in }) = driven else { break };
                    match event {
                        Ok(LinkEvent::Connected) => {
                            info!("connected");
                            connected = true;
                            ready = false;
                            self.emit(Event::Connected);
                            // Subscribe before the first publish, or an answer could be missed.
                            if let Err(e) = self.link.subscribe(&self.topics) {
                                error!("{e}");
                            }
                        }
                        Ok(LinkEvent::Subscribed { refused }) => {
                            if !refused.is_empty() {
                                let e = MqttError::Subscribe(format!(
                                    "{} or {}: {}; reports still go out but answers cannot be read",
                                    self.topics.accepted, self.topics.rejected, refused.join(", ")
                                ));
                                warn!("{e}");
                                self.emit(Event::MqttFailure { error: e.into(), retry_in: Duration::ZERO });
                            }
                            ready = true;
                            self.emit(Event::Ready);
                        }
                        Ok(LinkEvent::PublishSent(pkid)) => {
                            if let Some(f) = inflight.as_mut().filter(|f| f.pkid.is_none()) {
                                f.pkid = Some(pkid);
                            }
                        }
                        Ok(LinkEvent::PubAck(pkid)) => {
                            if inflight.as_ref().is_some_and(|f| f.pkid == Some(pkid))
                                && let Some(f) = inflight.take()
                            {
                                self.pipeline.sent(&f.prepared);
                                info!(report_id = f.prepared.report_id, "report published");
                                self.emit(Event::Published {
                                    report_id: f.prepared.report_id,
                                    bytes: f.prepared.payload.len(),
                                });
                            }
                        }
                        Ok(LinkEvent::Message { topic, payload }) => {
                            if let Some(status) = self.answer(&topic, &payload)
                                && self.once
                            {
                                let id = mqtt::decode_answer(&payload, self.format).ok().and_then(|a| a.report_id);
                                if id.is_none() || id == once_sent {
                                    self.shutdown(connected).await;
                                    return Ok(Some(status));
                                }
                            }
                        }
                        Ok(LinkEvent::Other | LinkEvent::DisconnectSent) => {}
                        Err(e) => {
                            connected = false;
                            ready = false;
                            // Its PUBACK will never come: the report is lost, the baseline stays,
                            // and the next report covers its traffic too.
                            inflight = None;
                            if self.once && once_sent.is_some() {
                                once_sent = None;
                                next = Instant::now();
                            }
                            warn!("{e}; reconnecting in {:.1} s", retry_in.as_secs_f64());
                            self.emit(Event::MqttFailure { error: e.into(), retry_in });
                        }
                    }
                }
            }
        }
        self.shutdown(connected).await;
        Ok(None)
    }

    /// Logs and reports an answer; returns its status if it was one of ours.
    fn answer(&self, topic: &str, payload: &[u8]) -> Option<Status> {
        if topic != self.topics.accepted && topic != self.topics.rejected {
            debug!(topic, "ignoring a message on an unexpected topic");
            return None;
        }
        let a = match mqtt::decode_answer(payload, self.format) {
            Ok(a) => a,
            Err(e) => {
                warn!(topic, "undecodable answer: {e}");
                return None;
            }
        };
        match a.status {
            Status::Accepted => {
                info!(report_id = a.report_id, "report accepted");
                self.emit(Event::Accepted {
                    report_id: a.report_id,
                });
            }
            Status::Rejected => {
                let (code, message) = match &a.status_details {
                    Some(d) => (d.error_code, d.error_message.as_str().to_owned()),
                    None => (ErrorCode::Unknown, String::new()),
                };
                warn!(
                    report_id = a.report_id,
                    "report rejected: ErrorCode={code} ErrorMessage={message:?}"
                );
                self.emit(Event::Rejected {
                    report_id: a.report_id,
                    code,
                    message,
                });
            }
        }
        Some(a.status)
    }

    /// Sends DISCONNECT and waits until it is written (at most 2 s), then ends the driver.
    async fn shutdown(&mut self, connected: bool) {
        if connected && self.link.disconnect().is_ok() {
            let events = &mut self.events;
            let drain = async {
                while let Some(d) = events.recv().await {
                    if matches!(d.event, Ok(LinkEvent::DisconnectSent) | Err(_)) {
                        break;
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(2), drain)
                .await
                .is_ok()
            {
                info!("disconnected");
            }
        }
        self.driver.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_report_is_spread_over_the_interval() {
        let i = Duration::from_secs(300);
        assert_eq!(first_report_delay(i, 0.0), Duration::ZERO);
        assert_eq!(first_report_delay(i, 0.5), Duration::from_secs(150));
        assert!(first_report_delay(i, 0.999_999) < i);
        assert_eq!(first_report_delay(i, f64::NAN.max(2.0)), i);
        let a: Vec<Duration> = (0..50)
            .map(|_| first_report_delay(i, fastrand::f64()))
            .collect();
        assert!(a.iter().all(|d| *d < i));
        assert!(a.iter().any(|d| *d != a[0]), "random, not constant");
    }

    #[test]
    fn every_error_has_a_sentence() {
        let errors = [
            AgentError::Config(ConfigError {
                key: "mqtt.port".into(),
                message: "0 is not a port".into(),
            }),
            AgentError::Mqtt(MqttError::Connection("refused".into())),
            AgentError::Mqtt(MqttError::Tls("ca.pem: no certificate".into())),
            AgentError::Mqtt(MqttError::Subscribe("not authorized".into())),
            AgentError::Mqtt(MqttError::Topic("bad".into())),
            AgentError::Mqtt(MqttError::Client("full".into())),
            AgentError::Build(BuildError::Empty),
            AgentError::Build(BuildError::TooLarge { len: 200_000 }),
            AgentError::Task("panicked".into()),
        ];
        for e in errors {
            let s = e.to_string();
            assert!(s.len() > 10 && !s.contains("Error("), "{s}");
        }
        let ev = Event::MqttFailure {
            error: AgentError::Mqtt(MqttError::Connection("refused".into())),
            retry_in: Duration::from_millis(1500),
        };
        assert_eq!(
            ev.to_string(),
            "MQTT connection failed: refused; retrying in 1.5 s"
        );
    }
}
