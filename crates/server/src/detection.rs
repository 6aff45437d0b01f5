//! Detection's IO edge: committed reports in, behavior states and violations out.
//!
//! [`crate::detect`] is pure; this module feeds it. The ingest writer hands every committed
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{Notify, mpsc};

use crate::detect::engine::AlarmStatus;
use crate::detect::model::DimensionType;
use crate::detect::runtime::{
    Detector, Origin, StateKey, ViolationEvent as DetectEvent, ViolationEventType as DetectType,
};
use crate::detect::targets::{Target, ThingFacts, profiles_for_thing};
use crate::detect::{Behavior, BehaviorState, CustomMetricType, Dimension, compile_behaviors};
use crate::ingest::ReportSink;
use crate::store::{
    NewAlert, NewViolation, PageRequest, Store, StoreResult, StoredBehaviorState, StoredReport,
    ViolationEvent, ViolationEventType,
};

/// Reports waiting for detection. Large enough to absorb a full ingest batch several times
/// over; beyond it detection is behind and dropping is better than blocking ingest.
pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

/// Most reports handled per catalog refresh, so a long backlog still sees profile edits.
const MAX_DRAIN: usize = 1024;

/// The [`ReportSink`] half: cheap, synchronous, never blocks.
#[derive(Debug)]
pub struct DetectionService {
    tx: mpsc::Sender<StoredReport>,
    dropped: AtomicU64,
}

impl DetectionService {
    /// A service with a queue of `capacity` reports, and the task that drains it; the caller
    /// spawns [`DetectionTask::run`].
    pub fn new(store: Arc<dyn Store>, capacity: usize) -> (Arc<DetectionService>, DetectionTask) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let service = Arc::new(DetectionService {
            tx,
            dropped: AtomicU64::new(0),
        });
        let task = DetectionTask {
            rx,
            store,
            detector: Detector::new(),
            versions: HashMap::new(),
            attachments: Vec::new(),
            alert_wake: None,
        };
        (service, task)
    }

    /// Reports that never reached detection because its queue was full or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl ReportSink for DetectionService {
    fn reports_stored(&self, reports: &[StoredReport]) {
        for report in reports {
            if let Err(e) = self.tx.try_send(report.clone()) {
                let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
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

    /// Restores the persisted state, then evaluates reports until every sender is gone.
    pub async fn run(mut self) {
        if let Err(e) = self.restore().await {
            // Detection without the old state still works; alarms mid-sequence restart.
            tracing::error!(error = %e, "restoring detection state failed");
        }
        let mut batch = Vec::with_capacity(MAX_DRAIN);
        while self.rx.recv_many(&mut batch, MAX_DRAIN).await > 0 {
            if let Err(e) = self.refresh_catalog().await {
                tracing::error!(error = %e, "reading security profiles failed");
            }
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
    }

    /// Installs every profile and reloads every persisted behavior state, so a restart in the
    /// middle of a `consecutiveDatapointsToAlarm` run continues it.
    async fn restore(&mut self) -> StoreResult<()> {
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
        let now = crate::broker::now_ms();
        let profiles = all_pages(|page| {
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
        let mut attachments = Vec::new();
        let mut present = BTreeSet::new();
        for p in &profiles {
            present.insert(p.name.clone());
            if self.versions.get(&p.name) != Some(&p.version) {
                match compile_profile(&p.behaviors, &custom, &dimensions) {
                    Ok(compiled) => {
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
            events.extend(self.detector.remove_profile(&name, now));
        }
        self.attachments = attachments;
        self.persist_drained(&events).await;
        Ok(())
    }

    /// Custom metric types and dimensions, which compiling behaviors needs.
    async fn compile_context(
        &self,
    ) -> StoreResult<(
        HashMap<String, CustomMetricType>,
        HashMap<String, Dimension>,
    )> {
        let metrics = all_pages(|page| {
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
        let dims = all_pages(|page| {
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
        let facts = self.thing_facts(&report.thing).await?;
        let parents = self.group_parents(&facts).await?;
        let profiles: Vec<String> =
            profiles_for_thing(&facts, &self.attachments, &|g| parents.get(g).cloned())
                .into_iter()
                .map(String::from)
                .collect();

        // Profiles that stopped targeting this thing end its alarms under them.
        let mut drained = Vec::new();
        let installed: Vec<String> = self.versions.keys().cloned().collect();
        for profile in installed.iter().filter(|p| !profiles.contains(p)) {
            let has_state = self.detector.profile(profile).is_some_and(|bs| {
                bs.iter().any(|b| {
                    self.detector
                        .state(&key(&report.thing, profile, b.name()))
                        .is_some()
                })
            });
            if has_state {
                drained.extend(
                    self.detector
                        .untarget(&report.thing, profile, report.received_at),
                );
            }
        }
        self.persist_drained(&drained).await;

        if profiles.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = profiles.iter().map(String::as_str).collect();
        let mut id_gen = || format!("{:032x}", fastrand::u128(..));
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

        // The states the datapoints reached: behaviors of these profiles on these metrics.
        let mut touched = Vec::new();
        for profile in &names {
            let Some(behaviors) = self.detector.profile(profile) else {
                continue;
            };
            for b in behaviors {
                if report.datapoints.iter().any(|dp| &dp.metric == b.metric()) {
                    let k = key(&report.thing, profile, b.name());
                    if let Some(state) = self.detector.state(&k) {
                        touched.push((k, state.clone()));
                    }
                }
            }
        }

        // Violations first: an active violation whose state was not saved is refreshed by the
        // next datapoint, while a saved alarm state without its violation could never close.
        for (k, state) in &touched {
            if let AlarmStatus::InAlarm {
                violation_id,
                started_ms,
                last_value,
                last_ms,
            } = &state.status
            {
                let v = NewViolation {
                    violation_id: violation_id.clone(),
                    thing: k.thing.clone(),
                    profile: k.profile.clone(),
                    behavior: k.behavior.clone(),
                    metric: self
                        .behavior(&k.profile, &k.behavior)
                        .and_then(|b| b.metric),
                    behavior_definition: self
                        .behavior_json(&k.profile, &k.behavior)
                        .unwrap_or(serde_json::Value::Null),
                    last_value: serde_json::to_value(last_value).ok(),
                    started_at: *started_ms,
                    last_at: *last_ms,
                };
                if let Err(e) = self.store.upsert_violation(&v).await {
                    tracing::error!(violation_id = %v.violation_id, error = %e, "storing violation failed");
                }
            }
        }
        for event in &events {
            self.persist_event(event).await;
        }
        let rows: Vec<StoredBehaviorState> = touched
            .iter()
            .filter_map(|(k, s)| stored_state(k, s, report.received_at))
            .collect();
        if !rows.is_empty() {
            self.store.upsert_behavior_states(&rows).await?;
        }
        Ok(())
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

    /// Stores one violation change and logs it unless suppressed. Failures are logged, not
    /// returned: one lost event must not stop the others of the same report.
    async fn persist_event(&self, e: &DetectEvent) {
        let value = serde_json::to_value(&e.value).ok();
        let result = match e.event_type {
            DetectType::InAlarm => {
                let definition = self.behavior_json(&e.profile, &e.behavior);
                let v = NewViolation {
                    violation_id: e.violation_id.clone(),
                    thing: e.thing.clone(),
                    profile: e.profile.clone(),
                    behavior: e.behavior.clone(),
                    metric: self
                        .behavior(&e.profile, &e.behavior)
                        .and_then(|b| b.metric),
                    behavior_definition: definition.clone().unwrap_or(serde_json::Value::Null),
                    last_value: value.clone(),
                    started_at: e.at_ms,
                    last_at: e.at_ms,
                };
                match self.store.upsert_violation(&v).await {
                    Ok(()) => {
                        self.store
                            .insert_violation_event(&ViolationEvent {
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
                            })
                            .await
                    }
                    Err(err) => Err(err),
                }
            }
            DetectType::AlarmCleared | DetectType::AlarmInvalidated => {
                let kind = if e.event_type == DetectType::AlarmCleared {
                    ViolationEventType::AlarmCleared
                } else {
                    ViolationEventType::AlarmInvalidated
                };
                self.store
                    .close_violation(&e.violation_id, kind, e.at_ms, value.as_ref())
                    .await
            }
        };
        if let Err(err) = result {
            tracing::error!(
                violation_id = %e.violation_id, event = e.event_type.as_str(), error = %err,
                "storing violation event failed"
            );
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
            self.enqueue_alerts(e).await;
        }
    }

    /// Puts `e`'s alert in the outbox once for each alert target its profile names
    /// (`alertTargets.SNS.alertTargetArn`, by last ARN segment). Failures are logged.
    async fn enqueue_alerts(&self, e: &DetectEvent) {
        let targets = match self.store.get_security_profile(&e.profile).await {
            Ok(Some(p)) => crate::alert::alert_target_names(&p.alert_targets),
            Ok(None) => Vec::new(),
            Err(err) => {
                tracing::error!(profile = %e.profile, error = %err, "reading alert targets failed");
                return;
            }
        };
        if targets.is_empty() {
            return;
        }
        let body = crate::alert::sns_message(e, self.behavior_json(&e.profile, &e.behavior));
        let body = body.to_string();
        let alerts: Vec<NewAlert> = targets
            .iter()
            .map(|t| NewAlert {
                target: t.clone(),
                idempotency_key: crate::alert::idempotency_key(e, t),
                body: body.clone(),
            })
            .collect();
        match self
            .store
            .enqueue_alerts(&alerts, crate::broker::now_ms())
            .await
        {
            Ok(_) => {
                if let Some(wake) = &self.alert_wake {
                    wake.notify_one();
                }
            }
            Err(err) => tracing::error!(
                violation_id = %e.violation_id, event = e.event_type.as_str(), error = %err,
                "enqueueing alerts failed"
            ),
        }
    }

    /// Persists events of states the detector dropped (profile changed, removed, detached),
    /// and overwrites those states with a fresh one: the store cannot delete a single state,
    /// and a restart must not bring the dropped alarm back.
    async fn persist_drained(&self, events: &[DetectEvent]) {
        if events.is_empty() {
            return;
        }
        let mut rows = Vec::new();
        for e in events {
            self.persist_event(e).await;
            let k = key(&e.thing, &e.profile, &e.behavior);
            rows.extend(stored_state(&k, &BehaviorState::default(), e.at_ms));
        }
        if let Err(err) = self.store.upsert_behavior_states(&rows).await {
            tracing::error!(error = %err, "storing reset behavior states failed");
        }
    }
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
) -> Result<Vec<crate::detect::CompiledBehavior>, String> {
    let parsed: Vec<Behavior> = if behaviors.is_null() {
        Vec::new()
    } else {
        serde_json::from_value(behaviors.clone()).map_err(|e| e.to_string())?
    };
    compile_behaviors(&parsed, &|m| custom.get(m).copied(), &|d| dimensions.get(d))
        .map_err(|errors| format!("{errors:?}"))
}

/// Every item of a paged listing.
async fn all_pages<T, F, Fut>(mut fetch: F) -> StoreResult<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = StoreResult<crate::store::Page<T>>>,
{
    let mut items = Vec::new();
    let mut next_token = None;
    loop {
        let page = fetch(PageRequest {
            next_token,
            max_results: Some(PageRequest::MAX_LIMIT),
        })
        .await?;
        items.extend(page.items);
        match page.next_token {
            Some(t) => next_token = Some(t),
            None => return Ok(items),
        }
    }
}
