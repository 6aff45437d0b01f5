//! The in-memory detection runtime: every (thing, profile, behavior) state machine of the
//! fleet, driven by the caller.
//!
//! [`evaluate`] runs one behavior for one thing; [`Detector`] does the bookkeeping around it
//! that every caller would otherwise repeat: routing each datapoint to the behaviors watching
//! its metric, collecting a statistical behavior's fleet values at the window's end,
//! invalidating alarms when a thing goes silent or a profile is detached, and handing its
//! state out for persistence. It stays pure (no clock, no randomness, no IO): times and
//! violation ids come from the caller, so a replay gives the same events and the runtime can
//! be tested without a broker or a database.

use std::collections::{BTreeMap, BTreeSet};

use fleetward_proto::decode::{Datapoint, Metric, MetricValue};
use serde::{Deserialize, Serialize};

use super::engine::{
    AlarmStatus, BehaviorState, CompiledBehavior, Criteria, Event, Input, InvalidationReason,
    Point, evaluate, percentile,
};

/// A thing silent for longer than this has its active violations invalidated (§1.1).
pub const SILENCE_MS: i64 = 2 * 24 * 3_600_000;

/// Which state machine: one per thing, profile and behavior.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StateKey {
    /// The thing (or unregistered client id).
    pub thing: String,
    /// The security profile.
    pub profile: String,
    /// The behavior's name, unique within the profile.
    pub behavior: String,
}

/// `violationEventType`, without the payload the [`ViolationEvent`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ViolationEventType {
    /// `in-alarm`.
    InAlarm,
    /// `alarm-cleared`.
    AlarmCleared,
    /// `alarm-invalidated`.
    AlarmInvalidated,
}

impl ViolationEventType {
    /// The API's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationEventType::InAlarm => "in-alarm",
            ViolationEventType::AlarmCleared => "alarm-cleared",
            ViolationEventType::AlarmInvalidated => "alarm-invalidated",
        }
    }
}

/// One violation event with the names the engine's [`Event`] lacks, ready to be stored as a
/// `ViolationEvent` and, unless suppressed, alerted on.
#[derive(Debug, Clone, PartialEq)]
pub struct ViolationEvent {
    /// The thing.
    pub thing: String,
    /// The security profile.
    pub profile: String,
    /// The behavior's name.
    pub behavior: String,
    /// What happened.
    pub event_type: ViolationEventType,
    /// The violating value (in-alarm, and the last one for alarm-invalidated) or the compliant
    /// one that cleared the alarm.
    pub value: MetricValue,
    /// When (epoch ms).
    pub at_ms: i64,
    /// When the violation started, for cleared and invalidated ones.
    pub started_ms: Option<i64>,
    /// Why an alarm was invalidated.
    pub reason: Option<InvalidationReason>,
    /// The violation's id.
    pub violation_id: String,
    /// `suppressAlerts`: store the event, notify nobody.
    pub suppressed: bool,
}

impl ViolationEvent {
    fn new(key: &StateKey, event: Event) -> ViolationEvent {
        let (event_type, violation_id, value, at_ms, started_ms, reason, suppressed) = match event {
            Event::InAlarm {
                violation_id,
                value,
                at_ms,
                suppressed,
            } => (
                ViolationEventType::InAlarm,
                violation_id,
                value,
                at_ms,
                None,
                None,
                suppressed,
            ),
            Event::AlarmCleared {
                violation_id,
                value,
                at_ms,
                started_ms,
                suppressed,
            } => (
                ViolationEventType::AlarmCleared,
                violation_id,
                value,
                at_ms,
                Some(started_ms),
                None,
                suppressed,
            ),
            Event::AlarmInvalidated {
                violation_id,
                last_value,
                reason,
                at_ms,
                started_ms,
                suppressed,
            } => (
                ViolationEventType::AlarmInvalidated,
                violation_id,
                last_value,
                at_ms,
                Some(started_ms),
                Some(reason),
                suppressed,
            ),
        };
        ViolationEvent {
            thing: key.thing.clone(),
            profile: key.profile.clone(),
            behavior: key.behavior.clone(),
            event_type,
            value,
            at_ms,
            started_ms,
            reason,
            violation_id,
            suppressed,
        }
    }
}

/// Where a thing's datapoints came from, for behaviors with a topic-filter dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin<'a> {
    /// The MQTT topic of the message measured, for message metrics; `None` for device reports.
    pub topic: Option<&'a str>,
    /// The thing's MQTT client id, for `${iot:ClientId}` in dimension filters.
    pub client_id: &'a str,
}

/// The fleet's detection state: compiled profiles and one [`BehaviorState`] per
/// (thing, profile, behavior) that has seen an input.
///
/// Maps are ordered so that every sweep emits its events in the same order on every run.
#[derive(Debug, Clone, Default)]
pub struct Detector {
    profiles: BTreeMap<String, Vec<CompiledBehavior>>,
    states: BTreeMap<StateKey, BehaviorState>,
}

impl Detector {
    /// An empty runtime: no profiles, no state.
    pub fn new() -> Detector {
        Detector::default()
    }

    /// Installs or replaces a profile's compiled behaviors. State of behaviors that were
    /// removed or changed is dropped and their active alarms invalidated (`BehaviorChanged`),
    /// because a violation raised under other criteria no longer means anything; unchanged
    /// behaviors keep their runs and windows.
    pub fn set_profile(
        &mut self,
        profile: &str,
        behaviors: Vec<CompiledBehavior>,
        at_ms: i64,
    ) -> Vec<ViolationEvent> {
        let old = self.profiles.insert(profile.to_string(), behaviors);
        let Some(old) = old else {
            return Vec::new();
        };
        let new = self.profiles.get(profile).map(Vec::as_slice).unwrap_or(&[]);
        let stale: Vec<&CompiledBehavior> = old
            .iter()
            .filter(|o| !new.iter().any(|n| n == *o))
            .collect();
        let mut events = Vec::new();
        self.drain_states(
            |k| k.profile == profile && stale.iter().any(|b| b.name() == k.behavior),
            &old,
            at_ms,
            InvalidationReason::BehaviorChanged,
            &mut events,
        );
        events
    }

    /// Deletes a profile: its alarms are invalidated as if it were detached everywhere.
    pub fn remove_profile(&mut self, profile: &str, at_ms: i64) -> Vec<ViolationEvent> {
        let events = self.detach(profile, at_ms);
        self.profiles.remove(profile);
        events
    }

    /// The compiled behaviors of a profile, if installed.
    pub fn profile(&self, profile: &str) -> Option<&[CompiledBehavior]> {
        self.profiles.get(profile).map(Vec::as_slice)
    }

    /// Routes a device report's (or a message's) datapoints to the behaviors of `profiles`
    /// whose metric matches, in datapoint, profile and behavior order. `profiles` is the
    /// caller's target resolution (see [`super::targets::profiles_for_thing`]); unknown
    /// profile names are ignored, since a profile may be deleted while a report is in flight.
    pub fn on_datapoints(
        &mut self,
        thing: &str,
        profiles: &[&str],
        at_ms: i64,
        datapoints: &[Datapoint],
        origin: Origin<'_>,
        id_gen: &mut dyn FnMut() -> String,
    ) -> Vec<ViolationEvent> {
        let mut events = Vec::new();
        for dp in datapoints {
            let input = Input::Datapoint {
                at_ms,
                value: &dp.value,
                topic: origin.topic,
                client_id: origin.client_id,
            };
            self.route(thing, profiles, &dp.metric, input, id_gen, &mut events);
        }
        events
    }

    /// Feeds one cloud-side aggregation window of `metric` for a thing. The engine wants the
    /// whole window's per-topic points at once (a behavior sees one value per window, the sum
    /// over the topics its dimension selects), so the caller groups by (thing, metric,
    /// window) and calls this once per group.
    #[allow(clippy::too_many_arguments)]
    pub fn on_cloud_window(
        &mut self,
        thing: &str,
        profiles: &[&str],
        at_ms: i64,
        metric: &Metric,
        points: &[Point<'_>],
        client_id: &str,
        id_gen: &mut dyn FnMut() -> String,
    ) -> Vec<ViolationEvent> {
        let mut events = Vec::new();
        let input = Input::CloudWindow {
            at_ms,
            points,
            client_id,
        };
        self.route(thing, profiles, metric, input, id_gen, &mut events);
        events
    }

    fn route(
        &mut self,
        thing: &str,
        profiles: &[&str],
        metric: &Metric,
        input: Input<'_>,
        id_gen: &mut dyn FnMut() -> String,
        events: &mut Vec<ViolationEvent>,
    ) {
        for (i, profile) in profiles.iter().enumerate() {
            // A profile listed twice must not see the datapoint twice.
            if profiles[..i].contains(profile) {
                continue;
            }
            let Some(behaviors) = self.profiles.get(*profile) else {
                continue;
            };
            for b in behaviors.iter().filter(|b| b.metric() == metric) {
                let key = StateKey {
                    thing: thing.to_string(),
                    profile: (*profile).to_string(),
                    behavior: b.name().to_string(),
                };
                let state = self.states.entry(key.clone()).or_default();
                if let Some(event) = evaluate(state, b, input, id_gen).event {
                    events.push(ViolationEvent::new(&key, event));
                }
            }
        }
    }

    /// Closes a statistical behavior's window: the fleet percentile over every device that
    /// has state for it is computed once and each device is judged against it. Devices with
    /// nothing in the window are not datapoints and neither count towards the percentile nor
    /// change state. Static, retain-only, ML and unknown behaviors yield nothing.
    pub fn window_end(
        &mut self,
        profile: &str,
        behavior: &str,
        at_ms: i64,
        id_gen: &mut dyn FnMut() -> String,
    ) -> Vec<ViolationEvent> {
        let Some(b) = self
            .profiles
            .get(profile)
            .and_then(|bs| bs.iter().find(|b| b.name() == behavior))
        else {
            return Vec::new();
        };
        let Criteria::Statistical { statistic, .. } = b.criteria() else {
            return Vec::new();
        };
        let targeted = |k: &StateKey| k.profile == profile && k.behavior == behavior;
        let mut values: Vec<f64> = self
            .states
            .iter()
            .filter(|(k, _)| targeted(k))
            .filter_map(|(_, s)| s.window_value())
            .collect();
        let percentile_value = percentile(&mut values, *statistic);
        let input = Input::WindowEnd {
            at_ms,
            percentile_value,
        };
        let mut events = Vec::new();
        for (key, state) in self.states.iter_mut().filter(|(k, _)| targeted(k)) {
            if let Some(event) = evaluate(state, b, input, id_gen).event {
                events.push(ViolationEvent::new(key, event));
            }
        }
        events
    }

    /// Stops monitoring a thing under every profile (deleted, or whatever `reason` says):
    /// its state is dropped and active alarms become `alarm-invalidated`.
    pub fn invalidate_thing(
        &mut self,
        thing: &str,
        reason: InvalidationReason,
        at_ms: i64,
    ) -> Vec<ViolationEvent> {
        let mut events = Vec::new();
        self.drain_states(|k| k.thing == thing, &[], at_ms, reason, &mut events);
        events
    }

    /// The profile no longer targets `thing` (its group changed, or one target was
    /// detached while others remain): that thing's state for the profile is dropped.
    pub fn untarget(&mut self, thing: &str, profile: &str, at_ms: i64) -> Vec<ViolationEvent> {
        let mut events = Vec::new();
        self.drain_states(
            |k| k.thing == thing && k.profile == profile,
            &[],
            at_ms,
            InvalidationReason::ProfileDetached,
            &mut events,
        );
        events
    }

    /// The profile targets nothing any more: every thing's state for it is dropped and its
    /// active alarms invalidated (`ProfileDetached`). The compiled profile stays installed,
    /// ready to be attached again.
    pub fn detach(&mut self, profile: &str, at_ms: i64) -> Vec<ViolationEvent> {
        let mut events = Vec::new();
        self.drain_states(
            |k| k.profile == profile,
            &[],
            at_ms,
            InvalidationReason::ProfileDetached,
            &mut events,
        );
        events
    }

    /// Invalidates every thing whose last report is more than `silence_ms` ([`SILENCE_MS`] but
    /// for time-compressed demos) before `now_ms`. A thing `last_report_at` knows nothing
    /// about is left alone: losing an alarm on missing bookkeeping is worse than keeping it
    /// until the next sweep.
    pub fn silent_sweep(
        &mut self,
        now_ms: i64,
        silence_ms: i64,
        last_report_at: &dyn Fn(&str) -> Option<i64>,
    ) -> Vec<ViolationEvent> {
        let mut silent: Vec<String> = Vec::new();
        for key in self.states.keys() {
            if silent.last() == Some(&key.thing) {
                continue;
            }
            if last_report_at(&key.thing).is_some_and(|t| now_ms.saturating_sub(t) > silence_ms) {
                silent.push(key.thing.clone());
            }
        }
        let mut events = Vec::new();
        for thing in silent {
            events.extend(self.invalidate_thing(&thing, InvalidationReason::Silent, now_ms));
        }
        events
    }

    /// Every installed statistical behavior as (profile, behavior, window length in ms): the
    /// window ends the caller must schedule with [`Detector::window_end`].
    pub fn statistical_windows(&self) -> Vec<(String, String, i64)> {
        let mut out = Vec::new();
        for (profile, behaviors) in &self.profiles {
            for b in behaviors {
                if matches!(b.criteria(), Criteria::Statistical { .. }) {
                    out.push((profile.clone(), b.name().to_string(), b.window_ms()));
                }
            }
        }
        out
    }

    /// The keys of the states `selected` picks, for a caller that must know which states an
    /// operation drops (compare with [`Detector::state`] afterwards).
    pub fn keys_where(&self, selected: impl Fn(&StateKey) -> bool) -> Vec<StateKey> {
        self.states
            .keys()
            .filter(|k| selected(k))
            .cloned()
            .collect()
    }

    /// The profiles `thing` has state under, found by a range scan of the ordered state map
    /// (keys sort by thing first), so the cost is that thing's states, not the fleet's.
    pub fn profiles_with_state(&self, thing: &str) -> BTreeSet<&str> {
        let from = StateKey {
            thing: thing.to_string(),
            profile: String::new(),
            behavior: String::new(),
        };
        self.states
            .range(from..)
            .take_while(|(k, _)| k.thing == thing)
            .map(|(k, _)| k.profile.as_str())
            .collect()
    }

    /// Every thing with at least one state, and the profiles it has state under.
    pub fn monitored(&self) -> BTreeMap<&str, BTreeSet<&str>> {
        let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for k in self.states.keys() {
            out.entry(k.thing.as_str())
                .or_default()
                .insert(k.profile.as_str());
        }
        out
    }

    /// The states of one statistical behavior across the fleet, as [`Detector::window_end`]
    /// left them, for the caller to persist.
    pub fn behavior_states(&self, profile: &str, behavior: &str) -> Vec<(StateKey, BehaviorState)> {
        self.states
            .iter()
            .filter(|(k, _)| k.profile == profile && k.behavior == behavior)
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }

    /// Every state machine's state, for the caller to persist. Plain serde data.
    pub fn states(&self) -> Vec<(StateKey, BehaviorState)> {
        self.states
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect()
    }

    /// One state machine's state, if it has seen an input.
    pub fn state(&self, key: &StateKey) -> Option<&BehaviorState> {
        self.states.get(key)
    }

    /// Reloads persisted states after a restart, replacing any held under the same keys.
    /// States of profiles not (yet) installed are kept: profiles may be loaded after them.
    pub fn restore(&mut self, states: impl IntoIterator<Item = (StateKey, BehaviorState)>) {
        self.states.extend(states);
    }

    /// Removes the states `selected` picks, invalidating each against its behavior (looked up
    /// in the installed profiles, then in `fallback` for behaviors being replaced).
    fn drain_states(
        &mut self,
        selected: impl Fn(&StateKey) -> bool,
        fallback: &[CompiledBehavior],
        at_ms: i64,
        reason: InvalidationReason,
        events: &mut Vec<ViolationEvent>,
    ) {
        let keys: Vec<StateKey> = self
            .states
            .keys()
            .filter(|k| selected(k))
            .cloned()
            .collect();
        let mut no_ids = || String::new();
        for key in keys {
            let Some(mut state) = self.states.remove(&key) else {
                continue;
            };
            let behavior = fallback
                .iter()
                .find(|b| b.name() == key.behavior)
                .or_else(|| {
                    self.profiles
                        .get(&key.profile)
                        .and_then(|bs| bs.iter().find(|b| b.name() == key.behavior))
                });
            // Without its behavior (a state restored for a profile never installed) the
            // engine cannot run, but an active violation must still end with an event or it
            // would stay active in the store forever; the suppress flag is unknown, so alert.
            let Some(behavior) = behavior else {
                if let AlarmStatus::InAlarm {
                    violation_id,
                    started_ms,
                    last_value,
                    ..
                } = state.status
                {
                    let event = Event::AlarmInvalidated {
                        violation_id,
                        last_value,
                        reason,
                        at_ms,
                        started_ms,
                        suppressed: false,
                    };
                    events.push(ViolationEvent::new(&key, event));
                }
                continue;
            };
            let input = Input::Invalidate { at_ms, reason };
            if let Some(event) = evaluate(&mut state, behavior, input, &mut no_ids).event {
                events.push(ViolationEvent::new(&key, event));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use fleetward_proto::decode::{AwsMetric, MetricValue as Mv};
    use serde_json::{Value, json};

    use super::*;
    use crate::detect::model::Behavior;

    fn compile(behaviors: Value) -> Vec<CompiledBehavior> {
        let behaviors: Vec<Behavior> = serde_json::from_value(behaviors).unwrap();
        super::super::engine::compile_behaviors(&behaviors, &|_| None, &|_| None).unwrap()
    }

    fn count_behavior(name: &str, metric: &str, op: &str, count: u64, alarm: u8) -> Value {
        json!({"name": name, "metric": metric,
            "criteria": {"comparisonOperator": op, "value": {"count": count},
                         "consecutiveDatapointsToAlarm": alarm, "consecutiveDatapointsToClear": 1}})
    }

    fn dp(metric: AwsMetric, value: Mv) -> Datapoint {
        Datapoint {
            metric: Metric::Aws(metric),
            value,
        }
    }

    /// Numbers violations v1, v2, … so events are predictable.
    struct Ids(u32);

    impl Ids {
        fn next(&mut self) -> impl FnMut() -> String + '_ {
            || {
                self.0 += 1;
                format!("v{}", self.0)
            }
        }
    }

    const ORIGIN: Origin<'static> = Origin {
        topic: None,
        client_id: "client",
    };

    fn report(
        d: &mut Detector,
        ids: &mut Ids,
        thing: &str,
        profiles: &[&str],
        at_ms: i64,
        dps: &[Datapoint],
    ) -> Vec<(String, String, &'static str)> {
        d.on_datapoints(thing, profiles, at_ms, dps, ORIGIN, &mut ids.next())
            .into_iter()
            .map(|e| (e.profile, e.behavior, e.event_type.as_str()))
            .collect()
    }

    fn key(thing: &str, profile: &str, behavior: &str) -> StateKey {
        StateKey {
            thing: thing.into(),
            profile: profile.into(),
            behavior: behavior.into(),
        }
    }

    fn ev(profile: &str, behavior: &str, t: &'static str) -> (String, String, &'static str) {
        (profile.into(), behavior.into(), t)
    }

    #[test]
    fn datapoints_are_routed_by_metric() {
        let mut d = Detector::new();
        let mut ids = Ids(0);
        d.set_profile(
            "p",
            compile(json!([
                count_behavior("bytes", "aws:all-bytes-in", "less-than", 100, 1),
                count_behavior("ports", "aws:num-listening-tcp-ports", "less-than", 5, 1),
            ])),
            0,
        );
        let events = d.on_datapoints(
            "t1",
            &["p"],
            1_000,
            &[dp(AwsMetric::AllBytesIn, Mv::Count(500))],
            ORIGIN,
            &mut ids.next(),
        );
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(
            (e.thing.as_str(), e.profile.as_str(), e.behavior.as_str()),
            ("t1", "p", "bytes")
        );
        assert_eq!(e.event_type, ViolationEventType::InAlarm);
        assert_eq!(e.value, Mv::Count(500));
        assert_eq!(e.at_ms, 1_000);
        assert_eq!(e.violation_id, "v1");
        assert!(!e.suppressed);
        // The ports behavior never saw a datapoint: it has no state.
        assert!(d.state(&key("t1", "p", "ports")).is_none());
        assert!(d.state(&key("t1", "p", "bytes")).unwrap().in_alarm());
        // Both metrics in one report: each reaches its own behavior only.
        let got = report(
            &mut d,
            &mut ids,
            "t1",
            &["p"],
            301_000,
            &[
                dp(AwsMetric::AllBytesIn, Mv::Count(5)),
                dp(AwsMetric::NumListeningTcpPorts, Mv::Count(9)),
            ],
        );
        assert_eq!(
            got,
            [
                ev("p", "bytes", "alarm-cleared"),
                ev("p", "ports", "in-alarm")
            ]
        );
        // Another thing's state is its own.
        assert_eq!(
            report(
                &mut d,
                &mut ids,
                "t2",
                &["p"],
                301_000,
                &[dp(AwsMetric::AllBytesIn, Mv::Count(5))]
            ),
            []
        );
    }

    #[test]
    fn a_thing_is_evaluated_under_each_of_its_profiles() {
        let mut d = Detector::new();
        let mut ids = Ids(0);
        d.set_profile(
            "strict",
            compile(json!([count_behavior(
                "b",
                "aws:all-bytes-in",
                "less-than",
                100,
                1
            )])),
            0,
        );
        d.set_profile(
            "lax",
            compile(json!([count_behavior(
                "b",
                "aws:all-bytes-in",
                "less-than",
                1000,
                1
            )])),
            0,
        );
        let bytes = |n| [dp(AwsMetric::AllBytesIn, Mv::Count(n))];
        // A duplicate and an unknown profile change nothing.
        let profiles = ["strict", "lax", "strict", "deleted"];
        assert_eq!(
            report(&mut d, &mut ids, "t", &profiles, 1, &bytes(500)),
            [ev("strict", "b", "in-alarm")]
        );
        assert_eq!(
            report(&mut d, &mut ids, "t", &profiles, 2, &bytes(5000)),
            [ev("lax", "b", "in-alarm")]
        );
        // Only the profiles the caller resolved for this report are evaluated.
        assert_eq!(
            report(&mut d, &mut ids, "t", &["lax"], 3, &bytes(5)),
            [ev("lax", "b", "alarm-cleared")]
        );
        assert!(d.state(&key("t", "strict", "b")).unwrap().in_alarm());
    }

    #[test]
    fn cloud_windows_are_routed_by_metric() {
        let mut d = Detector::new();
        let mut ids = Ids(0);
        d.set_profile(
            "p",
            compile(json!([
                count_behavior("sent", "aws:num-messages-sent", "less-than", 10, 1),
                count_behavior(
                    "failures",
                    "aws:num-authorization-failures",
                    "less-than",
                    1,
                    1
                ),
            ])),
            0,
        );
        let (a, b) = (Mv::Count(6), Mv::Count(7));
        let points = [
            Point {
                value: &a,
                topic: Some("x"),
            },
            Point {
                value: &b,
                topic: Some("y"),
            },
        ];
        let events = d.on_cloud_window(
            "t",
            &["p"],
            300_000,
            &Metric::Aws(AwsMetric::NumMessagesSent),
            &points,
            "t",
            &mut ids.next(),
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].behavior, "sent");
        assert_eq!(events[0].value, Mv::Count(13));
        assert!(d.state(&key("t", "p", "failures")).is_none());
    }

    #[test]
    fn statistical_window_end_alarms_only_the_outliers() {
        let mut d = Detector::new();
        let mut ids = Ids(0);
        d.set_profile(
            "p",
            compile(json!([
                {"name": "out", "metric": "aws:all-bytes-out",
                 "criteria": {"comparisonOperator": "less-than-equals",
                              "statisticalThreshold": {"statistic": "p90"}}},
                count_behavior("static", "aws:all-bytes-in", "less-than", 100, 1),
            ])),
            0,
        );
        // Nine ordinary devices send 10..90, one outlier 5000: p90 (nearest rank 9) is 90.
        let sent = [10, 20, 30, 40, 50, 60, 70, 80, 90, 5000];
        for (i, n) in sent.iter().enumerate() {
            let thing = format!("dev-{i}");
            let accumulated = report(
                &mut d,
                &mut ids,
                &thing,
                &["p"],
                100_000,
                &[dp(AwsMetric::AllBytesOut, Mv::Count(*n))],
            );
            assert_eq!(accumulated, []);
        }
        let events = d.window_end("p", "out", 300_000, &mut ids.next());
        let alarmed: Vec<(&str, &str, &Mv)> = events
            .iter()
            .map(|e| (e.thing.as_str(), e.event_type.as_str(), &e.value))
            .collect();
        assert_eq!(alarmed, [("dev-9", "in-alarm", &Mv::Count(5000))]);
        assert!(events.iter().all(|e| e.at_ms == 300_000));
        // The window restarted: nobody sent anything, nothing is evaluated.
        assert_eq!(d.window_end("p", "out", 600_000, &mut ids.next()), []);
        // Static and unknown behaviors have no window.
        assert_eq!(d.window_end("p", "static", 600_000, &mut ids.next()), []);
        assert_eq!(d.window_end("p", "nope", 600_000, &mut ids.next()), []);
        assert_eq!(d.window_end("nope", "out", 600_000, &mut ids.next()), []);
    }

    fn alarmed_detector(ids: &mut Ids) -> Detector {
        let mut d = Detector::new();
        for p in ["a", "b"] {
            d.set_profile(
                p,
                compile(json!([count_behavior(
                    "b",
                    "aws:all-bytes-in",
                    "less-than",
                    100,
                    1
                )])),
                0,
            );
        }
        for t in ["t1", "t2"] {
            report(
                &mut d,
                ids,
                t,
                &["a", "b"],
                1_000,
                &[dp(AwsMetric::AllBytesIn, Mv::Count(500))],
            );
        }
        d
    }

    #[test]
    fn detaching_a_profile_invalidates_its_alarms() {
        let mut ids = Ids(0);
        let mut d = alarmed_detector(&mut ids);
        let events = d.detach("a", 5_000);
        let got: Vec<(&str, &str, Option<InvalidationReason>, Option<i64>)> = events
            .iter()
            .map(|e| {
                assert_eq!(e.event_type, ViolationEventType::AlarmInvalidated);
                assert_eq!(e.value, Mv::Count(500));
                assert_eq!(e.at_ms, 5_000);
                (e.thing.as_str(), e.profile.as_str(), e.reason, e.started_ms)
            })
            .collect();
        let detached = Some(InvalidationReason::ProfileDetached);
        assert_eq!(
            got,
            [
                ("t1", "a", detached, Some(1_000)),
                ("t2", "a", detached, Some(1_000))
            ]
        );
        assert!(d.state(&key("t1", "a", "b")).is_none());
        assert!(d.state(&key("t1", "b", "b")).unwrap().in_alarm());
        // Detaching again finds nothing; the profile is still installed for a re-attach.
        assert_eq!(d.detach("a", 6_000), []);
        assert!(d.profile("a").is_some());
        // One thing leaving one profile.
        let events = d.untarget("t2", "b", 7_000);
        assert_eq!(events.len(), 1);
        assert_eq!(
            (events[0].thing.as_str(), events[0].profile.as_str()),
            ("t2", "b")
        );
        // A deleted thing loses everything.
        let events = d.invalidate_thing("t1", InvalidationReason::ThingDeleted, 8_000);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].reason, Some(InvalidationReason::ThingDeleted));
        assert!(d.states().is_empty());
    }

    #[test]
    fn silent_things_are_invalidated_after_two_days() {
        let mut ids = Ids(0);
        let mut d = alarmed_detector(&mut ids);
        let now = 10 * SILENCE_MS;
        let last = |t: &str| match t {
            "t1" => Some(now - SILENCE_MS - 1),
            "t2" => Some(now - SILENCE_MS),
            _ => None,
        };
        let events = d.silent_sweep(now, SILENCE_MS, &last);
        let got: Vec<(&str, &str, Option<InvalidationReason>)> = events
            .iter()
            .map(|e| (e.thing.as_str(), e.profile.as_str(), e.reason))
            .collect();
        let silent = Some(InvalidationReason::Silent);
        assert_eq!(got, [("t1", "a", silent), ("t1", "b", silent)]);
        assert!(events.iter().all(|e| e.at_ms == now));
        // Exactly two days is not "more than two days"; unknown things are left alone.
        assert!(d.state(&key("t2", "a", "b")).unwrap().in_alarm());
        assert_eq!(d.silent_sweep(now, SILENCE_MS, &|_| None), []);
        assert_eq!(d.states().len(), 2);
    }

    #[test]
    fn profiles_with_state_are_found_per_thing() {
        let behaviors = || {
            compile(json!([count_behavior(
                "b",
                "aws:all-bytes-in",
                "less-than",
                100,
                3
            )]))
        };
        let mut d = Detector::new();
        d.set_profile("p1", behaviors(), 0);
        d.set_profile("p2", behaviors(), 0);
        let bytes = [dp(AwsMetric::AllBytesIn, Mv::Count(5))];
        let mut ids = Ids(0);
        // "t" sorts between "s" and "t2": the range scan must stop at its own keys.
        report(&mut d, &mut ids, "s", &["p1"], 1, &bytes);
        report(&mut d, &mut ids, "t", &["p1", "p2"], 1, &bytes);
        report(&mut d, &mut ids, "t2", &["p2"], 1, &bytes);
        let of = |t: &str| d.profiles_with_state(t).into_iter().collect::<Vec<_>>();
        assert_eq!(of("t"), ["p1", "p2"]);
        assert_eq!(of("s"), ["p1"]);
        assert_eq!(of("t2"), ["p2"]);
        assert!(of("u").is_empty());
        for (thing, profiles) in d.monitored() {
            assert_eq!(d.profiles_with_state(thing), profiles);
        }
    }

    #[test]
    fn state_survives_a_restart() {
        let profile = || {
            compile(json!([count_behavior(
                "b",
                "aws:all-bytes-in",
                "less-than",
                100,
                3
            )]))
        };
        let bytes = [dp(AwsMetric::AllBytesIn, Mv::Count(500))];
        let mut ids = Ids(0);
        let mut before = Detector::new();
        before.set_profile("p", profile(), 0);
        assert_eq!(report(&mut before, &mut ids, "t", &["p"], 1, &bytes), []);
        assert_eq!(report(&mut before, &mut ids, "t", &["p"], 2, &bytes), []);
        // Persisted as plain serde data, as a store would.
        let saved = serde_json::to_string(&before.states()).unwrap();
        drop(before);

        let mut after = Detector::new();
        after.set_profile("p", profile(), 0);
        after.restore(serde_json::from_str::<Vec<(StateKey, BehaviorState)>>(&saved).unwrap());
        assert_eq!(
            report(&mut after, &mut ids, "t", &["p"], 3, &bytes),
            [ev("p", "b", "in-alarm")]
        );
        // Without the snapshot the third datapoint would only start a run.
        let mut fresh = Detector::new();
        fresh.set_profile("p", profile(), 0);
        assert_eq!(report(&mut fresh, &mut ids, "t", &["p"], 3, &bytes), []);
    }

    #[test]
    fn restored_alarms_of_unknown_profiles_still_end_with_an_event() {
        let mut ids = Ids(0);
        let saved = alarmed_detector(&mut ids).states();
        let mut d = Detector::new();
        d.restore(saved);
        let events = d.invalidate_thing("t1", InvalidationReason::ThingDeleted, 9);
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| e.event_type == ViolationEventType::AlarmInvalidated)
        );
    }

    #[test]
    fn suppressed_behaviors_mark_their_events() {
        let mut d = Detector::new();
        let mut ids = Ids(0);
        d.set_profile(
            "p",
            compile(json!([
                {"name": "quiet", "metric": "aws:all-bytes-in", "suppressAlerts": true,
                 "criteria": {"comparisonOperator": "less-than", "value": {"count": 100}}},
                count_behavior("loud", "aws:all-bytes-in", "less-than", 100, 1),
            ])),
            0,
        );
        let events = d.on_datapoints(
            "t",
            &["p"],
            1,
            &[dp(AwsMetric::AllBytesIn, Mv::Count(500))],
            ORIGIN,
            &mut ids.next(),
        );
        let flags: Vec<(&str, bool)> = events
            .iter()
            .map(|e| (e.behavior.as_str(), e.suppressed))
            .collect();
        assert_eq!(flags, [("quiet", true), ("loud", false)]);
        let flags: Vec<(String, bool)> = d
            .detach("p", 2)
            .into_iter()
            .map(|e| (e.behavior, e.suppressed))
            .collect();
        assert_eq!(
            flags,
            [("loud".to_string(), false), ("quiet".to_string(), true)]
        );
    }

    #[test]
    fn changing_a_profile_invalidates_only_changed_behaviors() {
        let mut d = Detector::new();
        let mut ids = Ids(0);
        let keep = count_behavior("keep", "aws:all-bytes-in", "less-than", 100, 1);
        d.set_profile(
            "p",
            compile(json!([
                keep,
                count_behavior("edit", "aws:all-bytes-in", "less-than", 100, 1)
            ])),
            0,
        );
        report(
            &mut d,
            &mut ids,
            "t",
            &["p"],
            1,
            &[dp(AwsMetric::AllBytesIn, Mv::Count(500))],
        );
        let events = d.set_profile(
            "p",
            compile(json!([
                keep,
                count_behavior("edit", "aws:all-bytes-in", "less-than", 1000, 1)
            ])),
            2,
        );
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].behavior, "edit");
        assert_eq!(events[0].reason, Some(InvalidationReason::BehaviorChanged));
        assert!(d.state(&key("t", "p", "keep")).unwrap().in_alarm());
        let events = d.remove_profile("p", 3);
        assert_eq!(events.len(), 1);
        assert!(d.profile("p").is_none());
    }
}
