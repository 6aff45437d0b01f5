//! Detection's IO edge: committed reports in, behavior states and violations out.
//!
//! [`fleetward_core::detect`] is pure; this module feeds it. The ingest writer hands every committed
//! batch to [`DetectionService`] (a [`ReportSink`]), which only copies the reports into a
//! bounded queue: the writer is on the path of every `ACCEPTED`, so detection must never slow
//! it down. When detection lags, reports are dropped from detection (they stay stored) and
//! counted, rather than stalling ingestion. [`DetectionTask`] drains the queue: it resolves
//! each thing's security profiles from the store, runs the [`Detector`], persists the touched
//! behavior states and the violation changes, and logs non-suppressed events and enqueues
//! their alerts in the store's outbox for the alert targets their profile names
//! ([`crate::alert`]).
//!
//! The profile catalog (profiles, their versions and targets) is re-read once per drained
//! batch rather than per report, so a burst of reports costs one catalog read; a profile is
//! recompiled only when its stored version changed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::supervisor::Shutdown;
use fleetward_core::aws::{Clock, SystemClock};
use fleetward_proto::decode::{Metric, MetricValue};
use tokio::sync::{Notify, mpsc};

use crate::ingest::ReportSink;
use crate::ingest::cloud::CloudSink;
use fleetward_core::detect::engine::{AlarmStatus, InvalidationReason, Point};
use fleetward_core::detect::model::DimensionType;
use fleetward_core::detect::runtime::{
    Detector, Origin, SILENCE_MS, StateKey, ViolationEvent as DetectEvent,
    ViolationEventType as DetectType,
};
use fleetward_core::detect::targets::{Target, ThingFacts, profiles_for_thing};
use fleetward_core::detect::{
    Behavior, BehaviorState, CustomMetricType, Dimension, compile_behaviors,
};
use fleetward_store::{
    CloudDatapoint, DetectionOp, NewAlert, NewViolation, Store, StoreResult, StoredBehaviorState,
    StoredReport, ViolationEvent, ViolationEventType,
};

/// Reports waiting for detection. Large enough to absorb a full ingest batch several times
/// over; beyond it detection is behind and dropping is better than blocking ingest.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

/// Most reports handled per catalog refresh, so a long backlog still sees profile edits.
const MAX_DRAIN: usize = 1024;

/// Tuning for detection.
#[derive(Debug, Clone)]
pub struct DetectionConfig {
    /// Reports (and cloud-side batches) waiting for detection before new ones are dropped.
    pub queue_capacity: usize,
    /// Where "now" comes from. A [`ScaledClock`](fleetward_core::aws::ScaledClock)
    /// (`fleetward serve --time-scale`) compresses behavior windows, statistical window ends
    /// and the 2-day silence; the system clock is AWS's time.
    pub clock: Arc<dyn Clock>,
    /// How often due statistical window ends and the silence sweep are looked for.
    pub tick: Duration,
    /// How often every monitored thing's targeting is re-resolved without being asked, which
    /// catches registry and attachment edits made by another process (the offline CLI).
    /// In-process edits ask at once through [`DetectionService::refresher`].
    pub reconcile_every: Duration,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            queue_capacity: DEFAULT_QUEUE_CAPACITY,
            clock: Arc::new(SystemClock),
            tick: Duration::from_secs(1),
            reconcile_every: Duration::from_secs(30),
        }
    }
}

/// Violation events per (profile, behavior), the parity of AWS's CloudWatch `Violations`,
/// `ViolationsCleared` and `ViolationsInvalidated` metrics, for `/metrics`.
#[derive(Debug, Default)]
pub struct DetectionStats {
    counts: Mutex<BTreeMap<(String, String), EventCounts>>,
    /// Reports evaluated.
    pub reports: AtomicU64,
    /// Cloud-side datapoints evaluated.
    pub cloud_datapoints: AtomicU64,
    /// Reports and cloud-side batches dropped because detection's queue was full.
    pub dropped: AtomicU64,
}

/// One (profile, behavior)'s event counts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EventCounts {
    /// `in-alarm` events.
    pub violations: u64,
    /// `alarm-cleared` events.
    pub cleared: u64,
    /// `alarm-invalidated` events.
    pub invalidated: u64,
}

impl DetectionStats {
    fn record(&self, e: &DetectEvent) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let c = counts
            .entry((e.profile.clone(), e.behavior.clone()))
            .or_default();
        match e.event_type {
            DetectType::InAlarm => c.violations += 1,
            DetectType::AlarmCleared => c.cleared += 1,
            DetectType::AlarmInvalidated => c.invalidated += 1,
        }
    }

    /// Every (profile, behavior) with its counts, sorted.
    pub fn snapshot(&self) -> Vec<((String, String), EventCounts)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// The [`ReportSink`] and [`CloudSink`] half: cheap, synchronous, never blocks.
#[derive(Debug)]
pub struct DetectionService {
    tx: mpsc::Sender<StoredReport>,
    cloud_tx: mpsc::Sender<Vec<CloudDatapoint>>,
    refresh: Arc<Notify>,
    stats: Arc<DetectionStats>,
}

impl DetectionService {
    /// A service with a queue of `capacity` reports, and the task that drains it; the caller
    /// spawns [`DetectionTask::run`].
    pub fn new(store: Arc<dyn Store>, capacity: usize) -> (Arc<DetectionService>, DetectionTask) {
        DetectionService::with_config(
            store,
            DetectionConfig {
                queue_capacity: capacity,
                ..DetectionConfig::default()
            },
        )
    }

    /// A service tuned by `cfg`, and the task that drains it.
    pub fn with_config(
        store: Arc<dyn Store>,
        cfg: DetectionConfig,
    ) -> (Arc<DetectionService>, DetectionTask) {
        let (tx, rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let (cloud_tx, cloud_rx) = mpsc::channel(cfg.queue_capacity.max(1));
        let refresh = Arc::new(Notify::new());
        let stats = Arc::new(DetectionStats::default());
        let service = Arc::new(DetectionService {
            tx,
            cloud_tx,
            refresh: refresh.clone(),
            stats: stats.clone(),
        });
        let task = DetectionTask {
            rx,
            cloud_rx,
            refresh,
            stats,
            store,
            detector: Detector::new(),
            versions: HashMap::new(),
            attachments: Vec::new(),
            alert_wake: None,
            last_seen: HashMap::new(),
            registered: HashSet::new(),
            window_ends: HashMap::new(),
            alert_targets: HashMap::new(),
            ops: Vec::new(),
            targeting: HashMap::new(),
            cfg,
        };
        (service, task)
    }

    /// Reports that never reached detection because its queue was full or closed.
    pub fn dropped(&self) -> u64 {
        self.stats.dropped.load(Ordering::Relaxed)
    }

    /// Detection's counters.
    pub fn stats(&self) -> Arc<DetectionStats> {
        self.stats.clone()
    }

    /// Notified after an in-process edit of profiles, attachments or the registry: detection
    /// re-reads its catalog and re-resolves targets at once, so a detached profile or a deleted
    /// thing ends its alarms immediately rather than at the next periodic reconcile.
    pub fn refresher(&self) -> Arc<Notify> {
        self.refresh.clone()
    }
}

impl CloudSink for DetectionService {
    fn cloud_datapoints(&self, points: &[CloudDatapoint]) {
        if points.is_empty() {
            return;
        }
        if self.cloud_tx.try_send(points.to_vec()).is_err() {
            let total = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(
                points = points.len(),
                dropped_total = total,
                "cloud-side datapoints not evaluated by detection: queue full"
            );
        }
    }
}

impl ReportSink for DetectionService {
    fn reports_stored(&self, reports: &[StoredReport]) {
        for report in reports {
            if let Err(e) = self.tx.try_send(report.clone()) {
                let total = self.stats.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                let reason = match e {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "detection stopped",
                };
                tracing::warn!(
                    thing = %report.thing,
                    report_id = report.report_id,
                    dropped_total = total,
                    reason,
                    "report not evaluated by detection"
                );
            }
        }
    }
}

/// The consuming half: owns the [`Detector`] and does all of detection's IO.
pub struct DetectionTask {
    rx: mpsc::Receiver<StoredReport>,
    cloud_rx: mpsc::Receiver<Vec<CloudDatapoint>>,
    refresh: Arc<Notify>,
    stats: Arc<DetectionStats>,
    cfg: DetectionConfig,
    /// When each thing last sent anything (report or cloud-side datapoint), for the silence
    /// sweep; seeded from the stored reports at start.
    last_seen: HashMap<String, i64>,
    /// Things seen registered, so one that disappears from the registry is known deleted.
    registered: HashSet<String>,
    /// The next window end of each statistical (profile, behavior).
    window_ends: HashMap<(String, String), i64>,
    /// Each profile's alert target names, read with the catalog.
    alert_targets: HashMap<String, Vec<String>>,
    /// Changes of the current step, written by [`DetectionTask::flush`].
    ops: Vec<DetectionOp>,
    /// The profiles targeting each thing seen since the last change of targeting.
    targeting: HashMap<String, Vec<String>>,
    store: Arc<dyn Store>,
    detector: Detector,
    /// Stored version of each installed (or refused) profile, to recompile only on change.
    versions: HashMap<String, i64>,
    /// Every (profile, target) attachment, in profile order.
    attachments: Vec<(String, Target)>,
    /// Woken after alerts are enqueued, so the outbox delivers them at once.
    alert_wake: Option<Arc<Notify>>,
}

impl DetectionTask {
    /// Wakes `wake` (the alert outbox's, [`crate::alert::Outbox::waker`]) whenever alerts were
    /// enqueued. Without it they are still delivered, at the outbox's next poll.
    pub fn with_alert_wake(mut self, wake: Arc<Notify>) -> DetectionTask {
        self.alert_wake = Some(wake);
        self
    }

    /// Restores the persisted state, then evaluates reports and cloud-side datapoints as they
    /// come, closes statistical windows when they end, sweeps silent things and re-resolves
    /// targets, until every sender is gone or `shutdown` fires. On shutdown it first evaluates
    /// what is already queued (ingest has drained into the queue by then), so a report that
    /// was stored before the stop is not left unevaluated by it.
    pub async fn run(mut self, mut shutdown: Shutdown) {
        if let Err(e) = self.restore().await {
            // Detection without the old state still works; alarms mid-sequence restart.
            tracing::error!(error = %e, "restoring detection state failed");
        }
        self.flush().await;
        let mut batch = Vec::with_capacity(MAX_DRAIN);
        let mut cloud = Vec::new();
        let mut cloud_open = true;
        let mut tick = tokio::time::interval(self.cfg.tick.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_reconcile = Instant::now();
        let mut last_sweep = Instant::now();
        let mut last_refresh = Instant::now();
        let sweep_every = self.cfg.clock.scaled(Duration::from_secs(60));
        loop {
            let refresh = self.refresh.clone();
            tokio::select! {
                () = shutdown.wait() => {
                    self.finish_queued().await;
                    break;
                }
                n = self.rx.recv_many(&mut batch, MAX_DRAIN) => {
                    if n == 0 {
                        break;
                    }
                    self.refresh_logged().await;
                    last_refresh = Instant::now();
                    for report in batch.drain(..) {
                        if let Err(e) = self.on_report(&report).await {
                            tracing::error!(
                                thing = %report.thing,
                                report_id = report.report_id,
                                error = %e,
                                "detection failed for a report"
                            );
                        }
                    }
                }
                n = self.cloud_rx.recv_many(&mut cloud, MAX_DRAIN), if cloud_open => {
                    if n == 0 {
                        cloud_open = false;
                        continue;
                    }
                    // Cloud windows close a window's length after their events, so a profile
                    // edit is seen in time with at most one catalog read per 100 ms here.
                    if last_refresh.elapsed() >= Duration::from_millis(100) {
                        self.refresh_logged().await;
                        last_refresh = Instant::now();
                    }
                    let points: Vec<CloudDatapoint> = cloud.drain(..).flatten().collect();
                    if let Err(e) = self.on_cloud(&points).await {
                        tracing::error!(error = %e, "detection failed for cloud-side datapoints");
                    }
                }
                () = refresh.notified() => {
                    self.refresh_logged().await;
                    self.reconcile_logged().await;
                    last_reconcile = Instant::now();
                }
                _ = tick.tick() => {
                    let now = self.cfg.clock.now_ms();
                    self.close_windows(now).await;
                    if last_sweep.elapsed() >= sweep_every {
                        self.sweep_silent(now).await;
                        last_sweep = Instant::now();
                    }
                    if last_reconcile.elapsed() >= self.cfg.reconcile_every {
                        self.refresh_logged().await;
                        self.reconcile_logged().await;
                        last_reconcile = Instant::now();
                    }
                }
            }
            self.flush().await;
        }
        self.flush().await;
    }

    /// Evaluates every report and cloud-side batch already in the queues, without waiting for
    /// more.
    async fn finish_queued(&mut self) {
        self.refresh_logged().await;
        while let Ok(report) = self.rx.try_recv() {
            if let Err(e) = self.on_report(&report).await {
                tracing::error!(thing = %report.thing, error = %e, "detection failed for a report");
            }
        }
        let mut points: Vec<CloudDatapoint> = Vec::new();
        while let Ok(batch) = self.cloud_rx.try_recv() {
            points.extend(batch);
        }
        if !points.is_empty()
            && let Err(e) = self.on_cloud(&points).await
        {
            tracing::error!(error = %e, "detection failed for cloud-side datapoints");
        }
    }

    async fn refresh_logged(&mut self) {
        if let Err(e) = self.refresh_catalog().await {
            tracing::error!(error = %e, "reading security profiles failed");
        }
    }

    async fn reconcile_logged(&mut self) {
        if let Err(e) = self.reconcile().await {
            tracing::error!(error = %e, "re-resolving security profile targets failed");
        }
    }

    /// The profiles targeting `thing` now, in attachment order.
    ///
    /// Resolved once and cached until the catalog's attachments change, an in-process edit
    /// pokes the refresher, or the periodic reconcile runs, so a report costs no registry
    /// reads; edits by another process therefore take effect within
    /// [`DetectionConfig::reconcile_every`].
    async fn profiles_of(&mut self, thing: &str) -> StoreResult<Vec<String>> {
        if let Some(cached) = self.targeting.get(thing) {
            return Ok(cached.clone());
        }
        let profiles = self.resolve_profiles(thing).await?;
        self.targeting.insert(thing.to_string(), profiles.clone());
        Ok(profiles)
    }

    /// [`DetectionTask::profiles_of`] read from the store.
    async fn resolve_profiles(&mut self, thing: &str) -> StoreResult<Vec<String>> {
        let facts = self.thing_facts(thing).await?;
        if facts.registered {
            self.registered.insert(thing.to_string());
        }
        let parents = self.group_parents(&facts).await?;
        Ok(
            profiles_for_thing(&facts, &self.attachments, &|g| parents.get(g).cloned())
                .into_iter()
                .map(String::from)
                .collect(),
        )
    }

    /// Re-resolves the targets of every thing detection holds state for: a thing deleted from
    /// the registry has its alarms invalidated (`ThingDeleted`), and a profile that no longer
    /// targets a thing (detached, group membership changed) ends that thing's alarms under it.
    async fn reconcile(&mut self) -> StoreResult<()> {
        self.targeting.clear();
        let now = self.cfg.clock.now_ms();
        let monitored: Vec<(String, Vec<String>)> = self
            .detector
            .monitored()
            .into_iter()
            .map(|(t, ps)| (t.to_string(), ps.into_iter().map(String::from).collect()))
            .collect();
        let mut drained = Vec::new();
        let mut before = Vec::new();
        for (thing, with_state) in monitored {
            let was_registered = self.registered.contains(&thing);
            let targeting = self.profiles_of(&thing).await?;
            if was_registered && !self.registered_now(&thing).await? {
                self.registered.remove(&thing);
                before.extend(self.detector.keys_where(|k| k.thing == thing));
                drained.extend(self.detector.invalidate_thing(
                    &thing,
                    InvalidationReason::ThingDeleted,
                    now,
                ));
                continue;
            }
            for profile in with_state.iter().filter(|p| !targeting.contains(p)) {
                before.extend(
                    self.detector
                        .keys_where(|k| k.thing == thing && &k.profile == profile),
                );
                drained.extend(self.detector.untarget(&thing, profile, now));
            }
        }
        self.persist_drained(&drained, before);
        Ok(())
    }

    async fn registered_now(&self, thing: &str) -> StoreResult<bool> {
        Ok(self.store.get_thing(thing).await?.is_some())
    }

    /// Closes every statistical window that has ended by `now`: the fleet percentile is
    /// computed and each device judged (see [`Detector::window_end`]). Window ends are aligned
    /// to multiples of the window, like AWS's aggregation periods.
    async fn close_windows(&mut self, now: i64) {
        let windows = self.detector.statistical_windows();
        let live: HashSet<(String, String)> = windows
            .iter()
            .map(|(p, b, _)| (p.clone(), b.clone()))
            .collect();
        self.window_ends.retain(|k, _| live.contains(k));
        for (profile, behavior, window) in windows {
            let window = window.max(1);
            let next = now - now.rem_euclid(window) + window;
            let end = *self
                .window_ends
                .entry((profile.clone(), behavior.clone()))
                .or_insert(next);
            if now < end {
                continue;
            }
            self.window_ends
                .insert((profile.clone(), behavior.clone()), next);
            let mut id_gen = new_violation_id;
            let events = self
                .detector
                .window_end(&profile, &behavior, end, &mut id_gen);
            let states = self.detector.behavior_states(&profile, &behavior);
            self.persist_outcome(&states, &events, end);
        }
    }

    /// Invalidates the alarms of things that sent nothing for two days (scaled).
    async fn sweep_silent(&mut self, now: i64) {
        let silence = self.cfg.clock.scaled_ms(SILENCE_MS);
        let last_seen = &self.last_seen;
        let is_silent = |t: &str| {
            last_seen
                .get(t)
                .is_some_and(|at| now.saturating_sub(*at) > silence)
        };
        let before = self.detector.keys_where(|k| is_silent(&k.thing));
        if before.is_empty() {
            return;
        }
        let events = self
            .detector
            .silent_sweep(now, silence, &|t| last_seen.get(t).copied());
        self.persist_drained(&events, before);
    }

    /// Evaluates cloud-side datapoints: grouped per (thing, metric, timestamp), one cloud
    /// window of per-topic points each, so a behavior sees the window's sum over the topics
    /// its dimension selects.
    async fn on_cloud(&mut self, points: &[CloudDatapoint]) -> StoreResult<()> {
        let mut groups: BTreeMap<(&str, i64, &str), Vec<&CloudDatapoint>> = BTreeMap::new();
        for p in points {
            groups
                .entry((p.thing.as_str(), p.timestamp, p.metric.name()))
                .or_default()
                .push(p);
        }
        let mut by_thing: BTreeMap<&str, Vec<Vec<&CloudDatapoint>>> = BTreeMap::new();
        for ((thing, _, _), group) in groups {
            by_thing.entry(thing).or_default().push(group);
        }
        for (thing, groups) in by_thing {
            self.stats.cloud_datapoints.fetch_add(
                groups.iter().map(Vec::len).sum::<usize>() as u64,
                Ordering::Relaxed,
            );
            let profiles = self.profiles_of(thing).await?;
            // A quiet window's zero count is not a sign of life.
            let latest = groups
                .iter()
                .flat_map(|g| g.iter())
                .filter(|p| p.value != MetricValue::Count(0))
                .map(|p| p.timestamp)
                .max();
            if let Some(latest) = latest {
                let seen = self.last_seen.entry(thing.to_string()).or_insert(latest);
                *seen = (*seen).max(latest);
            }
            if profiles.is_empty() {
                continue;
            }
            let names: Vec<&str> = profiles.iter().map(String::as_str).collect();
            let metrics: Vec<Metric> = groups.iter().map(|g| Metric::Aws(g[0].metric)).collect();
            let before = self.touched(thing, &names, &metrics);
            let mut events = Vec::new();
            for group in &groups {
                let first = group[0];
                let metric = Metric::Aws(first.metric);
                let pts: Vec<Point<'_>> = group
                    .iter()
                    .map(|p| Point {
                        value: &p.value,
                        topic: p.topic.as_deref(),
                    })
                    .collect();
                let mut id_gen = new_violation_id;
                events.extend(self.detector.on_cloud_window(
                    thing,
                    &names,
                    first.timestamp,
                    &metric,
                    &pts,
                    thing,
                    &mut id_gen,
                ));
            }
            let touched = changed(before, self.touched(thing, &names, &metrics));
            let at = groups
                .iter()
                .flat_map(|g| g.iter().map(|p| p.timestamp))
                .max()
                .unwrap_or_default();
            self.persist_outcome(&touched, &events, at);
        }
        Ok(())
    }

    /// The states of `thing` under `profiles` for behaviors on `metrics`.
    fn touched(
        &self,
        thing: &str,
        profiles: &[&str],
        metrics: &[Metric],
    ) -> Vec<(StateKey, BehaviorState)> {
        let mut touched = Vec::new();
        for profile in profiles {
            let Some(behaviors) = self.detector.profile(profile) else {
                continue;
            };
            for b in behaviors {
                if metrics.contains(b.metric()) {
                    let k = key(thing, profile, b.name());
                    if let Some(state) = self.detector.state(&k) {
                        touched.push((k, state.clone()));
                    }
                }
            }
        }
        touched
    }

    /// Installs every profile and reloads every persisted behavior state, so a restart in the
    /// middle of a `consecutiveDatapointsToAlarm` run continues it.
    async fn restore(&mut self) -> StoreResult<()> {
        for last in self.store.last_reports().await? {
            self.last_seen.insert(last.thing, last.received_at);
        }
        self.refresh_catalog().await?;
        let profiles: Vec<String> = self.versions.keys().cloned().collect();
        for profile in profiles {
            let stored = self.store.behavior_states(&profile).await?;
            let mut restored = Vec::with_capacity(stored.len());
            for s in stored {
                match serde_json::from_value::<BehaviorState>(s.state) {
                    Ok(state) => restored.push((
                        StateKey {
                            thing: s.thing,
                            profile: s.profile,
                            behavior: s.behavior,
                        },
                        state,
                    )),
                    Err(e) => tracing::warn!(
                        thing = %s.thing, profile = %s.profile, behavior = %s.behavior,
                        error = %e, "unreadable behavior state ignored"
                    ),
                }
            }
            self.detector.restore(restored);
        }
        Ok(())
    }

    /// Re-reads profiles and targets; recompiles changed profiles and removes deleted ones.
    async fn refresh_catalog(&mut self) -> StoreResult<()> {
        let now = self.cfg.clock.now_ms();
        let profiles = fleetward_store::all_pages(|page| {
            let store = self.store.clone();
            async move { store.list_security_profiles(&page).await }
        })
        .await?;
        let changed = profiles
            .iter()
            .any(|p| self.versions.get(&p.name) != Some(&p.version));
        let (custom, dimensions) = if changed {
            self.compile_context().await?
        } else {
            (HashMap::new(), HashMap::new())
        };
        let mut events = Vec::new();
        let mut before = Vec::new();
        let mut attachments = Vec::new();
        let mut present = BTreeSet::new();
        for p in &profiles {
            present.insert(p.name.clone());
            self.alert_targets.insert(
                p.name.clone(),
                crate::alert::alert_target_names(&p.alert_targets),
            );
            if self.versions.get(&p.name) != Some(&p.version) {
                match compile_profile(&p.behaviors, &custom, &dimensions) {
                    Ok(compiled) => {
                        let clock = self.cfg.clock.as_ref();
                        let compiled = compiled.into_iter().map(|b| b.on_clock(clock)).collect();
                        before.extend(self.detector.keys_where(|k| k.profile == p.name));
                        events.extend(self.detector.set_profile(&p.name, compiled, now))
                    }
                    // Stored profiles were validated on write; one that no longer compiles
                    // (e.g. its custom metric was deleted) keeps its previous behaviors.
                    Err(reason) => tracing::error!(
                        profile = %p.name, version = p.version, %reason,
                        "security profile does not compile; not evaluated at this version"
                    ),
                }
                self.versions.insert(p.name.clone(), p.version);
            }
            for arn in self.store.security_profile_targets(&p.name).await? {
                match Target::parse(&arn) {
                    Ok(t) => attachments.push((p.name.clone(), t)),
                    Err(e) => tracing::warn!(profile = %p.name, error = %e, "target ignored"),
                }
            }
        }
        let gone: Vec<String> = self
            .versions
            .keys()
            .filter(|name| !present.contains(*name))
            .cloned()
            .collect();
        for name in gone {
            self.versions.remove(&name);
            self.alert_targets.remove(&name);
            before.extend(self.detector.keys_where(|k| k.profile == name));
            events.extend(self.detector.remove_profile(&name, now));
        }
        if attachments != self.attachments {
            self.targeting.clear();
        }
        self.attachments = attachments;
        self.persist_drained(&events, before);
        Ok(())
    }

    /// Custom metric types and dimensions, which compiling behaviors needs.
    async fn compile_context(
        &self,
    ) -> StoreResult<(
        HashMap<String, CustomMetricType>,
        HashMap<String, Dimension>,
    )> {
        let metrics = fleetward_store::all_pages(|page| {
            let store = self.store.clone();
            async move { store.list_custom_metrics(&page).await }
        })
        .await?;
        let custom = metrics
            .into_iter()
            .filter_map(|m| {
                serde_json::from_value(serde_json::Value::String(m.metric_type))
                    .ok()
                    .map(|t| (m.name, t))
            })
            .collect();
        let dims = fleetward_store::all_pages(|page| {
            let store = self.store.clone();
            async move { store.list_dimensions(&page).await }
        })
        .await?;
        let dimensions = dims
            .into_iter()
            .filter(|d| d.dimension_type == "TOPIC_FILTER")
            .map(|d| {
                (
                    d.name.clone(),
                    Dimension {
                        name: d.name,
                        dimension_type: DimensionType::TopicFilter,
                        string_values: d.string_values,
                    },
                )
            })
            .collect();
        Ok((custom, dimensions))
    }

    /// Evaluates one committed report.
    async fn on_report(&mut self, report: &StoredReport) -> StoreResult<()> {
        self.stats.reports.fetch_add(1, Ordering::Relaxed);
        let seen = self
            .last_seen
            .entry(report.thing.clone())
            .or_insert(report.received_at);
        *seen = (*seen).max(report.received_at);
        let profiles = self.profiles_of(&report.thing).await?;

        // Profiles that stopped targeting this thing end its alarms under them.
        let mut drained = Vec::new();
        let mut before = Vec::new();
        let with_state: Vec<String> = self
            .detector
            .profiles_with_state(&report.thing)
            .into_iter()
            .map(String::from)
            .collect();
        for profile in with_state.iter().filter(|p| !profiles.contains(p)) {
            before.extend(
                self.detector
                    .keys_where(|k| k.thing == report.thing && &k.profile == profile),
            );
            drained.extend(
                self.detector
                    .untarget(&report.thing, profile, report.received_at),
            );
        }
        self.persist_drained(&drained, before);

        if profiles.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = profiles.iter().map(String::as_str).collect();
        let metrics: Vec<Metric> = report.datapoints.iter().map(|d| d.metric.clone()).collect();
        let before = self.touched(&report.thing, &names, &metrics);
        let mut id_gen = new_violation_id;
        let events = self.detector.on_datapoints(
            &report.thing,
            &names,
            report.received_at,
            &report.datapoints,
            Origin {
                topic: None,
                client_id: &report.thing,
            },
            &mut id_gen,
        );
        let touched = changed(before, self.touched(&report.thing, &names, &metrics));
        self.persist_outcome(&touched, &events, report.received_at);
        Ok(())
    }

    /// Records what one evaluation step did, for [`DetectionTask::flush`]: the active
    /// violations of the states in alarm, the violation events, then the states themselves.
    fn persist_outcome(
        &mut self,
        touched: &[(StateKey, BehaviorState)],
        events: &[DetectEvent],
        at_ms: i64,
    ) {
        for (k, state) in touched {
            if let AlarmStatus::InAlarm {
                violation_id,
                started_ms,
                last_value,
                last_ms,
            } = &state.status
            {
                // A violation this step opened is written by its `in-alarm` event below.
                let opened = events.iter().any(|e| {
                    e.event_type == DetectType::InAlarm && &e.violation_id == violation_id
                });
                if !opened {
                    let v = self.violation_row(
                        k,
                        violation_id,
                        (*started_ms, *last_ms),
                        serde_json::to_value(last_value).ok(),
                    );
                    self.ops.push(DetectionOp::UpsertViolation(v));
                }
            }
        }
        for event in events {
            self.persist_event(event);
        }
        for (k, st) in touched {
            if let Some(row) = stored_state(k, st, at_ms) {
                self.ops.push(DetectionOp::UpsertState(row));
            }
        }
    }

    /// Writes the recorded changes in one transaction ([`Store::apply_detection`]), so a
    /// crash keeps all of a step or none of it, and one fsync covers a whole batch of
    /// reports. A failed write is retried once; if it fails again the step's changes are
    /// lost to the store (the in-memory state still has them, and the next datapoint of each
    /// behavior rewrites its state and active violation).
    async fn flush(&mut self) {
        if self.ops.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.ops);
        let mut result = self
            .store
            .apply_detection(&ops, self.cfg.clock.now_ms())
            .await;
        if let Err(e) = &result {
            tracing::warn!(error = %e, ops = ops.len(), "storing detection changes failed; retrying");
            tokio::time::sleep(Duration::from_millis(100)).await;
            result = self
                .store
                .apply_detection(&ops, self.cfg.clock.now_ms())
                .await;
        }
        match result {
            Ok(applied) => {
                for reason in &applied.skipped {
                    tracing::warn!(%reason, "detection change skipped");
                }
                if applied.alerts_enqueued > 0
                    && let Some(wake) = &self.alert_wake
                {
                    wake.notify_one();
                }
            }
            Err(e) => tracing::error!(
                error = %e,
                ops = ops.len(),
                "storing detection changes failed; violations and states of this step are not persisted"
            ),
        }
    }

    /// Whether the thing is registered, and its direct groups.
    async fn thing_facts(&self, thing: &str) -> StoreResult<ThingFacts> {
        let registered = self.store.get_thing(thing).await?.is_some();
        let groups = if registered {
            self.store.groups_of_thing(thing).await?
        } else {
            Vec::new()
        };
        Ok(ThingFacts { registered, groups })
    }

    /// Each ancestor group's parent, read up front because target resolution is synchronous.
    /// Stops at a group already seen, so a cyclic hierarchy cannot loop here either.
    async fn group_parents(&self, facts: &ThingFacts) -> StoreResult<BTreeMap<String, String>> {
        let mut parents = BTreeMap::new();
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = facts.groups.clone();
        while let Some(group) = todo.pop() {
            if !seen.insert(group.clone()) {
                continue;
            }
            if let Some(parent) = self.store.get_group(&group).await?.and_then(|g| g.parent) {
                parents.insert(group, parent.clone());
                todo.push(parent);
            }
        }
        Ok(parents)
    }

    /// The installed behavior `name` of `profile`, as written.
    fn behavior(&self, profile: &str, name: &str) -> Option<Behavior> {
        self.detector
            .profile(profile)?
            .iter()
            .find(|b| b.name() == name)
            .map(|b| b.behavior().clone())
    }

    fn behavior_json(&self, profile: &str, name: &str) -> Option<serde_json::Value> {
        self.behavior(profile, name)
            .and_then(|b| serde_json::to_value(b).ok())
    }

    /// The active-violation row of state `k`: `times` is (started, last datapoint).
    fn violation_row(
        &self,
        k: &StateKey,
        violation_id: &str,
        times: (i64, i64),
        last_value: Option<serde_json::Value>,
    ) -> NewViolation {
        NewViolation {
            violation_id: violation_id.to_string(),
            thing: k.thing.clone(),
            profile: k.profile.clone(),
            behavior: k.behavior.clone(),
            metric: self
                .behavior(&k.profile, &k.behavior)
                .and_then(|b| b.metric),
            behavior_definition: self
                .behavior_json(&k.profile, &k.behavior)
                .unwrap_or(serde_json::Value::Null),
            last_value,
            started_at: times.0,
            last_at: times.1,
        }
    }

    /// Records one violation change, logs it and, unless suppressed, its alerts.
    fn persist_event(&mut self, e: &DetectEvent) {
        self.stats.record(e);
        let value = serde_json::to_value(&e.value).ok();
        match e.event_type {
            DetectType::InAlarm => {
                let k = key(&e.thing, &e.profile, &e.behavior);
                let row =
                    self.violation_row(&k, &e.violation_id, (e.at_ms, e.at_ms), value.clone());
                let definition = Some(row.behavior_definition.clone()).filter(|d| !d.is_null());
                self.ops.push(DetectionOp::UpsertViolation(row));
                self.ops.push(DetectionOp::InsertEvent(ViolationEvent {
                    violation_id: e.violation_id.clone(),
                    thing: e.thing.clone(),
                    profile: e.profile.clone(),
                    behavior: e.behavior.clone(),
                    behavior_definition: definition,
                    event_type: ViolationEventType::InAlarm,
                    event_time: e.at_ms,
                    value,
                    verification_state: None,
                    verification_description: None,
                }));
            }
            DetectType::AlarmCleared | DetectType::AlarmInvalidated => {
                let event_type = if e.event_type == DetectType::AlarmCleared {
                    ViolationEventType::AlarmCleared
                } else {
                    ViolationEventType::AlarmInvalidated
                };
                self.ops.push(DetectionOp::CloseViolation {
                    violation_id: e.violation_id.clone(),
                    event_type,
                    at_ms: e.at_ms,
                    value,
                });
            }
        }
        if !e.suppressed {
            tracing::warn!(
                target: "fleetward::alert",
                thing = %e.thing,
                profile = %e.profile,
                behavior = %e.behavior,
                event = e.event_type.as_str(),
                violation_id = %e.violation_id,
                value = ?e.value,
                reason = ?e.reason,
                "violation event"
            );
            self.enqueue_alerts(e);
        }
    }

    /// Records `e`'s alert once for each alert target its profile names
    /// (`alertTargets.SNS.alertTargetArn`, by last ARN segment), in the same transaction as
    /// the event: an alert exists exactly when its event is stored.
    fn enqueue_alerts(&mut self, e: &DetectEvent) {
        let Some(targets) = self.alert_targets.get(&e.profile) else {
            return;
        };
        if targets.is_empty() {
            return;
        }
        let body =
            crate::alert::sns_message(e, self.behavior_json(&e.profile, &e.behavior)).to_string();
        for t in targets {
            self.ops.push(DetectionOp::EnqueueAlert(NewAlert {
                target: t.clone(),
                idempotency_key: crate::alert::idempotency_key(e, t),
                body: body.clone(),
            }));
        }
    }

    /// Persists events of states the detector dropped (profile changed, removed, detached,
    /// thing deleted or silent) and deletes from the store every state of `before` the
    /// detector no longer holds, so a restart cannot bring a dropped state back.
    fn persist_drained(&mut self, events: &[DetectEvent], before: Vec<StateKey>) {
        for e in events {
            self.persist_event(e);
        }
        for k in before {
            if self.detector.state(&k).is_none() {
                self.ops
                    .push(DetectionOp::DeleteState(k.thing, k.profile, k.behavior));
            }
        }
    }
}

/// The states of `after` that differ from `before`: a compliant datapoint of a static
/// behavior leaves its state as it was, and rewriting it would cost a store write per
/// behavior per datapoint for nothing.
fn changed(
    before: Vec<(StateKey, BehaviorState)>,
    after: Vec<(StateKey, BehaviorState)>,
) -> Vec<(StateKey, BehaviorState)> {
    let before: HashMap<StateKey, BehaviorState> = before.into_iter().collect();
    after
        .into_iter()
        .filter(|(k, s)| before.get(k) != Some(s))
        .collect()
}

/// A new violation's id: 32 lowercase hex digits, like AWS's.
fn new_violation_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

fn key(thing: &str, profile: &str, behavior: &str) -> StateKey {
    StateKey {
        thing: thing.to_string(),
        profile: profile.to_string(),
        behavior: behavior.to_string(),
    }
}

fn stored_state(k: &StateKey, s: &BehaviorState, at_ms: i64) -> Option<StoredBehaviorState> {
    match serde_json::to_value(s) {
        Ok(state) => Some(StoredBehaviorState {
            thing: k.thing.clone(),
            profile: k.profile.clone(),
            behavior: k.behavior.clone(),
            state,
            updated_at: at_ms,
        }),
        Err(e) => {
            tracing::error!(error = %e, "behavior state does not serialize");
            None
        }
    }
}

/// Parses and compiles a stored profile's behaviors; the error says why, for the log.
fn compile_profile(
    behaviors: &serde_json::Value,
    custom: &HashMap<String, CustomMetricType>,
    dimensions: &HashMap<String, Dimension>,
) -> Result<Vec<fleetward_core::detect::CompiledBehavior>, String> {
    let parsed: Vec<Behavior> = if behaviors.is_null() {
        Vec::new()
    } else {
        serde_json::from_value(behaviors.clone()).map_err(|e| e.to_string())?
    };
    compile_behaviors(&parsed, &|m| custom.get(m).copied(), &|d| dimensions.get(d))
        .map_err(|errors| format!("{errors:?}"))
}
