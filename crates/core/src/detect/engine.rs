//! The deterministic core of Rules Detect: one behavior's alarm state machine for one thing.
//!
//! [`evaluate`] takes the state, an [`Input`] and the [`CompiledBehavior`] and returns what
//! happened. It reads no clock (times come in the input), draws no random numbers (violation
//! ids come from the caller's generator) and, for count and number metrics, allocates nothing
//! per datapoint: thresholds, sets and CIDRs are parsed once by [`CompiledBehavior::compile`].
//!
//! Semantics (service-side.md section numbers):
//! - A datapoint that satisfies the criteria is compliant, otherwise violating (§1.1).
//!   `consecutiveDatapointsToAlarm` violating datapoints in a row raise the alarm,
//!   `consecutiveDatapointsToClear` compliant ones in a row clear it; each kind of datapoint
//!   resets the other's run (§1.1 "Alarm state machine").
//! - List operators (§1.1 examples, §1.2): `in-*-set` is violated when *any* reported element
//!   is outside the set, `not-in-*-set` when any reported element is inside it. An IP is in a
//!   CIDR set when it lies in any of its blocks.
//! - An empty port or IP list conforms and clears an active violation at once, whatever
//!   `consecutiveDatapointsToClear` says (§1.1 "Empty list metrics": "If the behavior was in
//!   violation, the violation is cleared"). Empty number/string lists are merely compliant:
//!   the reference states the rule for ports and IPs only.
//! - `durationSeconds` is "the period of time over which the behavior is evaluated" (§1.3): on
//!   each datapoint we compare the aggregate of the datapoints in the trailing window
//!   `(at - duration, at]`. Deltas and per-window counts ([`Aggregation::Sum`]) are summed, so
//!   for device metrics reported every 300 s a 300 s duration is exactly one datapoint and a
//!   600 s one is the last two; levels ([`Aggregation::Gauge`]) comply only if every datapoint
//!   in the window does. Each datapoint still counts once towards the consecutive runs.
//! - Statistical behaviors (§1.1 "Statistical thresholds") accumulate the device's datapoints
//!   over a tumbling window ([`CompiledBehavior::window_ms`]); at the window's end the caller
//!   collects every targeted device's [`BehaviorState::window_value`], computes [`percentile`]
//!   and sends [`Input::WindowEnd`]; the device's value is then compared with the percentile.
//!   A window in which the device sent nothing is not a datapoint.
//! - Negative values make percentiles unavailable (§1.1): validation accepts a statistic on a
//!   custom `number` metric, but [`percentile`] returns `None` when any value is negative and
//!   the window end is then skipped without touching the alarm state.
//! - Invalidation (§1.1 IN_ALARM → INVALIDATED): a thing silent for two days, a detached
//!   profile or a deleted thing ends an active violation with `alarm-invalidated`; from NORMAL
//!   it only forgets runs and windows.
//! - ML behaviors are accepted but report [`ModelStatus::PendingBuild`] and never alarm (§2).
//! - `suppressAlerts` changes nothing in the state machine, it only marks the events (§1.3).

use std::collections::VecDeque;

use fleetward_proto::decode::{Metric, MetricValue};
use serde::{Deserialize, Serialize};

use super::catalog::{Aggregation, MetricSpec, ValueKind};
use super::model::{
    Behavior, ComparisonOperator, ConfidenceLevel, CustomMetricType, Dimension, DimensionOperator,
    Statistic,
};
use super::topic::dimension_matches;
use super::validate::{
    Checked, CheckedCriteria, Threshold, ValidationError, check_behavior, check_profile, fold_zero,
};

/// The window for statistical behaviors without `durationSeconds`: the device reporting
/// interval AWS enforces (§1.10) and the cloud-side aggregation period (§6).
pub const DEFAULT_WINDOW_MS: i64 = 300_000;

/// At most this many datapoints are kept per duration window. Device metrics need at most 12
/// (3600 s / 300 s); per-message metrics could need more, and then the newest datapoints are
/// merged so memory stays bounded (a merged value stays in the window slightly longer).
pub const MAX_WINDOW_POINTS: usize = 1024;

/// What the behavior compares, once compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum Criteria {
    /// No criteria: the metric is only retained.
    RetainOnly,
    /// A fixed threshold.
    Static {
        /// The operator.
        operator: ComparisonOperator,
        /// The threshold.
        threshold: Threshold,
    },
    /// A fleet percentile.
    Statistical {
        /// The operator.
        operator: ComparisonOperator,
        /// Which percentile.
        statistic: Statistic,
    },
    /// ML Detect (models are not built yet).
    MachineLearning {
        /// The configured confidence.
        confidence: ConfidenceLevel,
    },
}

/// AWS's `behaviorCriteriaType` filter values (§1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BehaviorCriteriaType {
    /// `value` is set.
    Static,
    /// `statisticalThreshold` is set.
    Statistical,
    /// `mlDetectionConfig` is set.
    MachineLearning,
}

/// `BehaviorModelTrainingSummary.modelStatus` (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ModelStatus {
    /// Collecting data.
    PendingBuild,
    /// Making decisions.
    Active,
    /// Not refreshed within the model retention.
    Expired,
}

/// A behavior ready for evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledBehavior {
    behavior: Behavior,
    metric: Metric,
    spec: MetricSpec,
    criteria: Criteria,
    duration_ms: Option<i64>,
    /// The statistical window when there is no `durationSeconds`.
    default_window_ms: i64,
    to_alarm: u8,
    to_clear: u8,
    dimension: Option<(Vec<String>, DimensionOperator)>,
}

impl CompiledBehavior {
    /// Validates and compiles `behaviors[index]` (the index only names it in errors).
    pub fn compile<'d>(
        index: usize,
        behavior: &Behavior,
        custom: &dyn Fn(&str) -> Option<CustomMetricType>,
        dimensions: &dyn Fn(&str) -> Option<&'d Dimension>,
    ) -> Result<CompiledBehavior, Vec<ValidationError>> {
        let mut errors = Vec::new();
        match check_behavior(index, behavior, custom, dimensions, &mut errors) {
            Some(checked) if errors.is_empty() => Ok(Self::from_checked(behavior, checked)),
            _ => Err(errors),
        }
    }

    fn from_checked(behavior: &Behavior, c: Checked) -> CompiledBehavior {
        let criteria = match c.criteria {
            CheckedCriteria::RetainOnly => Criteria::RetainOnly,
            CheckedCriteria::Static(operator, threshold) => Criteria::Static {
                operator,
                threshold,
            },
            CheckedCriteria::Statistical(operator, statistic) => Criteria::Statistical {
                operator,
                statistic,
            },
            CheckedCriteria::Ml(confidence) => Criteria::MachineLearning { confidence },
        };
        CompiledBehavior {
            behavior: behavior.clone(),
            metric: c.metric,
            spec: c.spec,
            criteria,
            duration_ms: c.duration_ms,
            default_window_ms: DEFAULT_WINDOW_MS,
            to_alarm: c.to_alarm,
            to_clear: c.to_clear,
            dimension: c.dimension,
        }
    }

    /// The behavior as written, for violation records and alerts.
    pub fn behavior(&self) -> &Behavior {
        &self.behavior
    }

    /// The behavior's name.
    pub fn name(&self) -> &str {
        &self.behavior.name
    }

    /// The metric whose datapoints the caller routes here.
    pub fn metric(&self) -> &Metric {
        &self.metric
    }

    /// The metric's catalog row.
    pub fn spec(&self) -> MetricSpec {
        self.spec
    }

    /// What is compared.
    pub fn criteria(&self) -> &Criteria {
        &self.criteria
    }

    /// STATIC, STATISTICAL or MACHINE_LEARNING; `None` for retain-only behaviors.
    pub fn criteria_type(&self) -> Option<BehaviorCriteriaType> {
        match self.criteria {
            Criteria::RetainOnly => None,
            Criteria::Static { .. } => Some(BehaviorCriteriaType::Static),
            Criteria::Statistical { .. } => Some(BehaviorCriteriaType::Statistical),
            Criteria::MachineLearning { .. } => Some(BehaviorCriteriaType::MachineLearning),
        }
    }

    /// For ML behaviors, the model's status: always pending, models are not built yet.
    pub fn model_status(&self) -> Option<ModelStatus> {
        matches!(self.criteria, Criteria::MachineLearning { .. })
            .then_some(ModelStatus::PendingBuild)
    }

    /// How often the caller must send [`Input::WindowEnd`] to a statistical behavior.
    pub fn window_ms(&self) -> i64 {
        self.duration_ms.unwrap_or(self.default_window_ms)
    }

    /// The behavior's time windows as they run on `clock`: a
    /// [`ScaledClock`](crate::aws::ScaledClock) (`fleetward serve --time-scale`) compresses
    /// them for demos and benchmarks that run a 5-minute report interval every second. The
    /// behavior as written, and so its violations and alerts, keep AWS's seconds.
    pub fn on_clock(mut self, clock: &dyn crate::aws::Clock) -> CompiledBehavior {
        self.duration_ms = self.duration_ms.map(|d| clock.scaled_ms(d));
        self.default_window_ms = clock.scaled_ms(self.default_window_ms);
        self
    }

    /// Whether alert targets must not be notified.
    pub fn suppressed(&self) -> bool {
        self.behavior.suppressed()
    }

    /// Datapoints in a row that raise the alarm.
    pub fn datapoints_to_alarm(&self) -> u8 {
        self.to_alarm
    }

    /// Datapoints in a row that clear it.
    pub fn datapoints_to_clear(&self) -> u8 {
        self.to_clear
    }
}

/// Validates a whole profile's behaviors and compiles them all, or says everything wrong.
pub fn compile_behaviors<'d>(
    behaviors: &[Behavior],
    custom: &dyn Fn(&str) -> Option<CustomMetricType>,
    dimensions: &dyn Fn(&str) -> Option<&'d Dimension>,
) -> Result<Vec<CompiledBehavior>, Vec<ValidationError>> {
    let mut errors = Vec::new();
    check_profile(behaviors, &mut errors);
    let mut compiled = Vec::with_capacity(behaviors.len());
    for (i, b) in behaviors.iter().enumerate() {
        if let Some(c) = check_behavior(i, b, custom, dimensions, &mut errors) {
            compiled.push(CompiledBehavior::from_checked(b, c));
        }
    }
    if errors.is_empty() {
        Ok(compiled)
    } else {
        Err(errors)
    }
}

/// A numeric observation: counts stay integers so `count` thresholds compare exactly.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Scalar {
    /// From `count`.
    Count(u64),
    /// From `number`.
    Number(f64),
}

impl Scalar {
    fn of(value: &MetricValue) -> Option<Scalar> {
        match value {
            MetricValue::Count(n) => Some(Scalar::Count(*n)),
            MetricValue::Number(n) => Some(Scalar::Number(*n)),
            _ => None,
        }
    }

    /// As a double, for percentiles.
    pub fn as_f64(self) -> f64 {
        match self {
            // Precision loss above 2^53 is irrelevant for a percentile comparison.
            #[allow(clippy::cast_precision_loss)]
            Scalar::Count(n) => n as f64,
            Scalar::Number(n) => n,
        }
    }

    fn value(self) -> MetricValue {
        match self {
            Scalar::Count(n) => MetricValue::Count(n),
            Scalar::Number(n) => MetricValue::Number(n),
        }
    }

    fn add(self, other: Scalar) -> Scalar {
        match (self, other) {
            (Scalar::Count(a), Scalar::Count(b)) => Scalar::Count(a.saturating_add(b)),
            (a, b) => Scalar::Number(a.as_f64() + b.as_f64()),
        }
    }

    /// Whether `self op other` holds.
    fn satisfies(self, op: ComparisonOperator, other: Scalar) -> bool {
        use ComparisonOperator as Op;
        let ord = match (self, other) {
            (Scalar::Count(a), Scalar::Count(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        };
        let Some(ord) = ord else {
            return false;
        };
        match op {
            Op::LessThan => ord.is_lt(),
            Op::LessThanEquals => ord.is_le(),
            Op::GreaterThan => ord.is_gt(),
            Op::GreaterThanEquals => ord.is_ge(),
            _ => false,
        }
    }

    /// Of two gauge values, the one more likely to violate `op`.
    fn worst(self, other: Scalar, op: ComparisonOperator) -> Scalar {
        let larger = other.satisfies(ComparisonOperator::GreaterThan, self);
        let want_larger = matches!(
            op,
            ComparisonOperator::LessThan | ComparisonOperator::LessThanEquals
        );
        if larger == want_larger { other } else { self }
    }
}

/// Where a behavior's alarm stands for one thing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub enum AlarmStatus {
    /// No active violation.
    #[default]
    Normal,
    /// An active violation.
    InAlarm {
        /// Its id, from the caller's generator.
        violation_id: String,
        /// When it started (epoch ms).
        started_ms: i64,
        /// The latest violating value (`lastViolationValue`).
        last_value: MetricValue,
        /// When that was (`lastViolationTime`, epoch ms).
        last_ms: i64,
    },
}

/// Everything [`evaluate`] remembers between inputs; plain data, so it can be persisted.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BehaviorState {
    /// The alarm.
    pub status: AlarmStatus,
    /// Violating datapoints in a row (saturates at 255).
    pub violating_run: u8,
    /// Compliant datapoints in a row (saturates at 255).
    pub compliant_run: u8,
    /// Datapoints within `durationSeconds`, oldest first.
    pub(super) window: VecDeque<(i64, Scalar)>,
    /// The statistical window's accumulated value.
    pub(super) bucket: Option<Scalar>,
}

impl BehaviorState {
    /// The device's accumulated value in the current statistical window, which the caller
    /// feeds to [`percentile`] together with every other targeted device's.
    pub fn window_value(&self) -> Option<f64> {
        self.bucket.map(Scalar::as_f64)
    }

    /// Whether an alarm is active.
    pub fn in_alarm(&self) -> bool {
        matches!(self.status, AlarmStatus::InAlarm { .. })
    }
}

/// Why an active violation was invalidated (§1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InvalidationReason {
    /// No metrics for more than two days.
    Silent,
    /// The profile no longer targets the thing.
    ProfileDetached,
    /// The thing was deleted.
    ThingDeleted,
    /// The behavior was removed or changed.
    BehaviorChanged,
}

/// A datapoint's value and topic, within a cloud-side window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point<'a> {
    /// The value.
    pub value: &'a MetricValue,
    /// The MQTT topic for message metrics.
    pub topic: Option<&'a str>,
}

/// Something that happened to a thing, for one behavior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input<'a> {
    /// One datapoint (a device report's value, a message's size, a connection's IP).
    Datapoint {
        /// When it was measured (epoch ms).
        at_ms: i64,
        /// The value.
        value: &'a MetricValue,
        /// Its MQTT topic, for dimensions.
        topic: Option<&'a str>,
        /// The thing's MQTT client id, for `${iot:ClientId}` in dimensions.
        client_id: &'a str,
    },
    /// One cloud-side aggregation window of one metric: the broker counts per topic, but a
    /// behavior sees one value per window, the sum over the topics its dimension selects.
    CloudWindow {
        /// The window's timestamp (epoch ms).
        at_ms: i64,
        /// The window's datapoints for this thing and metric.
        points: &'a [Point<'a>],
        /// The thing's MQTT client id.
        client_id: &'a str,
    },
    /// A statistical window closed; `percentile_value` is the fleet's statistic, `None` when
    /// it is unavailable (no values, or negative ones).
    WindowEnd {
        /// The window's end (epoch ms).
        at_ms: i64,
        /// The fleet percentile.
        percentile_value: Option<f64>,
    },
    /// The thing stops being monitored by this behavior.
    Invalidate {
        /// When (epoch ms).
        at_ms: i64,
        /// Why.
        reason: InvalidationReason,
    },
}

/// A violation event (`violationEventType`, §1.8).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `in-alarm`: a new active violation.
    InAlarm {
        /// The new violation's id.
        violation_id: String,
        /// The violating value.
        value: MetricValue,
        /// When (epoch ms).
        at_ms: i64,
        /// `suppressAlerts`: record it, send nothing.
        suppressed: bool,
    },
    /// `alarm-cleared`.
    AlarmCleared {
        /// The violation that ended.
        violation_id: String,
        /// The compliant value that cleared it.
        value: MetricValue,
        /// When (epoch ms).
        at_ms: i64,
        /// When the violation started.
        started_ms: i64,
        /// `suppressAlerts`.
        suppressed: bool,
    },
    /// `alarm-invalidated`.
    AlarmInvalidated {
        /// The violation that ended.
        violation_id: String,
        /// The last violating value.
        last_value: MetricValue,
        /// Why.
        reason: InvalidationReason,
        /// When (epoch ms).
        at_ms: i64,
        /// When the violation started.
        started_ms: i64,
        /// `suppressAlerts`.
        suppressed: bool,
    },
}

impl Event {
    /// The API's `violationEventType`.
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::InAlarm { .. } => "in-alarm",
            Event::AlarmCleared { .. } => "alarm-cleared",
            Event::AlarmInvalidated { .. } => "alarm-invalidated",
        }
    }

    /// Whether alert targets must not be notified.
    pub fn suppressed(&self) -> bool {
        match self {
            Event::InAlarm { suppressed, .. }
            | Event::AlarmCleared { suppressed, .. }
            | Event::AlarmInvalidated { suppressed, .. } => *suppressed,
        }
    }

    /// The violation it is about.
    pub fn violation_id(&self) -> &str {
        match self {
            Event::InAlarm { violation_id, .. }
            | Event::AlarmCleared { violation_id, .. }
            | Event::AlarmInvalidated { violation_id, .. } => violation_id,
        }
    }
}

/// Why an input changed nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// The topic is not selected by the behavior's dimension.
    Dimension,
    /// The value's type is not the metric's (a routing bug upstream).
    ValueType,
    /// No datapoint in the statistical window.
    NoData,
    /// The fleet percentile is unavailable.
    StatisticUnavailable,
    /// ML model not built yet.
    ModelPendingBuild,
    /// The behavior has no criteria.
    RetainOnly,
    /// A window end for a non-statistical behavior.
    NotStatistical,
}

/// What an input meant for the behavior.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Evaluated and compliant.
    Compliant,
    /// Evaluated and violating.
    Violating,
    /// Added to the statistical window, evaluated at its end.
    Accumulated,
    /// The state was reset by an invalidation.
    Invalidated,
    /// Nothing happened.
    Skipped(Skip),
}

/// The result of one [`evaluate`] call: at most one event per input.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What the input meant.
    pub verdict: Verdict,
    /// The state transition, if any.
    pub event: Option<Event>,
}

impl Outcome {
    fn skipped(skip: Skip) -> Outcome {
        Outcome {
            verdict: Verdict::Skipped(skip),
            event: None,
        }
    }
}

/// Applies one input to one behavior's state. `new_violation_id` is called once per
/// `in-alarm` event, so id generation (and its randomness) stays with the caller.
pub fn evaluate(
    state: &mut BehaviorState,
    behavior: &CompiledBehavior,
    input: Input<'_>,
    new_violation_id: &mut dyn FnMut() -> String,
) -> Outcome {
    if let Input::Invalidate { at_ms, reason } = input {
        return invalidate(state, behavior, at_ms, reason);
    }
    match &behavior.criteria {
        Criteria::RetainOnly => Outcome::skipped(Skip::RetainOnly),
        Criteria::MachineLearning { .. } => Outcome::skipped(Skip::ModelPendingBuild),
        Criteria::Static {
            operator,
            threshold,
        } => match input {
            Input::WindowEnd { .. } => Outcome::skipped(Skip::NotStatistical),
            Input::Datapoint {
                at_ms,
                value,
                topic,
                client_id,
            } => {
                if !selected(behavior, topic, client_id) {
                    return Outcome::skipped(Skip::Dimension);
                }
                match judge_one(behavior, *operator, threshold, state, at_ms, value) {
                    Some(j) => step(state, behavior, j, at_ms, new_violation_id),
                    None => Outcome::skipped(Skip::ValueType),
                }
            }
            Input::CloudWindow {
                at_ms,
                points,
                client_id,
            } => match combine(behavior, Some(*operator), points, client_id) {
                Combined::Scalar(s) => {
                    let j = judge_scalar(behavior, *operator, threshold, state, at_ms, s);
                    step(state, behavior, j, at_ms, new_violation_id)
                }
                Combined::Lists => {
                    match judge_lists(behavior, *operator, threshold, points, client_id) {
                        Some(j) => step(state, behavior, j, at_ms, new_violation_id),
                        None => Outcome::skipped(Skip::ValueType),
                    }
                }
                Combined::Nothing => Outcome::skipped(Skip::Dimension),
                Combined::WrongType => Outcome::skipped(Skip::ValueType),
            },
            Input::Invalidate { .. } => Outcome::skipped(Skip::NotStatistical),
        },
        Criteria::Statistical { operator, .. } => match input {
            Input::Datapoint {
                value,
                topic,
                client_id,
                ..
            } => {
                if !selected(behavior, topic, client_id) {
                    return Outcome::skipped(Skip::Dimension);
                }
                match Scalar::of(value) {
                    Some(s) => accumulate(state, behavior, *operator, s),
                    None => Outcome::skipped(Skip::ValueType),
                }
            }
            Input::CloudWindow {
                points, client_id, ..
            } => match combine(behavior, Some(*operator), points, client_id) {
                Combined::Scalar(s) => accumulate(state, behavior, *operator, s),
                Combined::Nothing => Outcome::skipped(Skip::Dimension),
                Combined::Lists | Combined::WrongType => Outcome::skipped(Skip::ValueType),
            },
            Input::WindowEnd {
                at_ms,
                percentile_value,
            } => {
                let Some(device) = state.bucket.take() else {
                    return Outcome::skipped(Skip::NoData);
                };
                let Some(p) = percentile_value.filter(|p| p.is_finite()) else {
                    return Outcome::skipped(Skip::StatisticUnavailable);
                };
                let judgement = Judgement {
                    violating: !device.satisfies(*operator, Scalar::Number(p)),
                    clears_now: false,
                    value: device.value(),
                };
                step(state, behavior, judgement, at_ms, new_violation_id)
            }
            Input::Invalidate { .. } => Outcome::skipped(Skip::NotStatistical),
        },
    }
}

/// Whether the behavior's dimension selects a datapoint. A datapoint without a topic matches
/// no filter: `IN` drops it, `NOT_IN` keeps it.
fn selected(behavior: &CompiledBehavior, topic: Option<&str>, client_id: &str) -> bool {
    match (&behavior.dimension, topic) {
        (None, _) => true,
        (Some((filters, op)), Some(topic)) => dimension_matches(filters, *op, topic, client_id),
        (Some((_, op)), None) => *op == DimensionOperator::NotIn,
    }
}

/// One evaluated datapoint.
struct Judgement {
    violating: bool,
    /// An empty port or IP list: clears an alarm without waiting for the clear run.
    clears_now: bool,
    value: MetricValue,
}

fn judge_one(
    behavior: &CompiledBehavior,
    op: ComparisonOperator,
    threshold: &Threshold,
    state: &mut BehaviorState,
    at_ms: i64,
    value: &MetricValue,
) -> Option<Judgement> {
    if let Some(s) = Scalar::of(value) {
        if !matches!(behavior.spec.kind, ValueKind::Count | ValueKind::Number) {
            return None;
        }
        return Some(judge_scalar(behavior, op, threshold, state, at_ms, s));
    }
    let violating = list_violates(op, threshold, value)?;
    Some(Judgement {
        violating,
        clears_now: is_empty_address_list(value),
        value: value.clone(),
    })
}

fn judge_scalar(
    behavior: &CompiledBehavior,
    op: ComparisonOperator,
    threshold: &Threshold,
    state: &mut BehaviorState,
    at_ms: i64,
    s: Scalar,
) -> Judgement {
    let observed = match behavior.duration_ms {
        Some(d) => push_window(state, behavior, op, at_ms, d, s),
        None => s,
    };
    let violating = match threshold {
        Threshold::Count(n) => !observed.satisfies(op, Scalar::Count(*n)),
        Threshold::Number(n) => !observed.satisfies(op, Scalar::Number(*n)),
        // Validation pairs numeric metrics with numeric thresholds; a mismatch violates
        // nothing rather than raising a false alarm.
        _ => false,
    };
    Judgement {
        violating,
        clears_now: false,
        value: observed.value(),
    }
}

/// Adds `s` to the trailing duration window and returns the window's value.
fn push_window(
    state: &mut BehaviorState,
    behavior: &CompiledBehavior,
    op: ComparisonOperator,
    at_ms: i64,
    duration_ms: i64,
    s: Scalar,
) -> Scalar {
    // Late datapoints are treated as arriving now, so the window stays ordered.
    let at = state.window.back().map_or(at_ms, |(t, _)| (*t).max(at_ms));
    let cutoff = at.saturating_sub(duration_ms);
    while state.window.front().is_some_and(|(t, _)| *t <= cutoff) {
        state.window.pop_front();
    }
    let sum = behavior.spec.aggregation == Aggregation::Sum;
    if state.window.len() >= MAX_WINDOW_POINTS {
        if let Some(last) = state.window.back_mut() {
            last.0 = at;
            last.1 = if sum {
                last.1.add(s)
            } else {
                last.1.worst(s, op)
            };
        }
    } else {
        state.window.push_back((at, s));
    }
    // Recomputed rather than kept running: at most a dozen datapoints for device metrics, and
    // no drift between the state and its persisted form.
    if sum {
        state
            .window
            .iter()
            .fold(Scalar::Count(0), |acc, (_, v)| acc.add(*v))
    } else {
        state.window.iter().fold(s, |acc, (_, v)| acc.worst(*v, op))
    }
}

fn accumulate(
    state: &mut BehaviorState,
    behavior: &CompiledBehavior,
    op: ComparisonOperator,
    s: Scalar,
) -> Outcome {
    state.bucket = Some(match state.bucket {
        None => s,
        Some(acc) if behavior.spec.aggregation == Aggregation::Sum => acc.add(s),
        Some(acc) => acc.worst(s, op),
    });
    Outcome {
        verdict: Verdict::Accumulated,
        event: None,
    }
}

enum Combined {
    Scalar(Scalar),
    Lists,
    Nothing,
    WrongType,
}

/// Combines a cloud window's selected points into the behavior's one value for the window.
fn combine(
    behavior: &CompiledBehavior,
    op: Option<ComparisonOperator>,
    points: &[Point<'_>],
    client_id: &str,
) -> Combined {
    if behavior.spec.kind.is_list() {
        return if points
            .iter()
            .any(|p| selected(behavior, p.topic, client_id))
        {
            Combined::Lists
        } else {
            Combined::Nothing
        };
    }
    let mut acc: Option<Scalar> = None;
    for p in points {
        if !selected(behavior, p.topic, client_id) {
            continue;
        }
        let Some(s) = Scalar::of(p.value) else {
            return Combined::WrongType;
        };
        acc = Some(match (acc, op) {
            (None, _) => s,
            (Some(a), _) if behavior.spec.aggregation == Aggregation::Sum => a.add(s),
            (Some(a), Some(op)) => a.worst(s, op),
            (Some(a), None) => a,
        });
    }
    acc.map_or(Combined::Nothing, Combined::Scalar)
}

/// A cloud window of list values violates when any selected point does.
fn judge_lists(
    behavior: &CompiledBehavior,
    op: ComparisonOperator,
    threshold: &Threshold,
    points: &[Point<'_>],
    client_id: &str,
) -> Option<Judgement> {
    let mut last: Option<&MetricValue> = None;
    let mut all_empty = true;
    for p in points {
        if !selected(behavior, p.topic, client_id) {
            continue;
        }
        if list_violates(op, threshold, p.value)? {
            return Some(Judgement {
                violating: true,
                clears_now: false,
                value: p.value.clone(),
            });
        }
        all_empty &= is_empty_address_list(p.value);
        last = Some(p.value);
    }
    last.map(|v| Judgement {
        violating: false,
        clears_now: all_empty,
        value: v.clone(),
    })
}

fn is_empty_address_list(value: &MetricValue) -> bool {
    match value {
        MetricValue::Ports(p) => p.is_empty(),
        MetricValue::Cidrs(c) => c.is_empty(),
        _ => false,
    }
}

/// Whether a list value violates a set operator; `None` when value and threshold disagree.
fn list_violates(
    op: ComparisonOperator,
    threshold: &Threshold,
    value: &MetricValue,
) -> Option<bool> {
    use ComparisonOperator as Op;
    // `in-*-set`: violated by an element outside the set; `not-in-*-set`: by one inside.
    let inside_violates = match op {
        Op::InPortSet | Op::InCidrSet | Op::InSet => false,
        Op::NotInPortSet | Op::NotInCidrSet | Op::NotInSet => true,
        _ => return None,
    };
    let violates = match (threshold, value) {
        (Threshold::Ports(set), MetricValue::Ports(ports)) => ports
            .iter()
            .any(|p| set.binary_search(p).is_ok() == inside_violates),
        (Threshold::Cidrs(set), MetricValue::Cidrs(ips)) => ips
            .iter()
            .any(|ip| set.iter().any(|c| c.contains(*ip)) == inside_violates),
        (Threshold::Numbers(set), MetricValue::Numbers(ns)) => ns.iter().any(|n| {
            let n = fold_zero(*n);
            set.binary_search_by(|x| x.total_cmp(&n)).is_ok() == inside_violates
        }),
        (Threshold::Strings(set), MetricValue::Strings(ss)) => ss
            .iter()
            .any(|s| set.binary_search(s).is_ok() == inside_violates),
        _ => return None,
    };
    Some(violates)
}

/// The alarm state machine.
fn step(
    state: &mut BehaviorState,
    behavior: &CompiledBehavior,
    j: Judgement,
    at_ms: i64,
    new_violation_id: &mut dyn FnMut() -> String,
) -> Outcome {
    let suppressed = behavior.suppressed();
    if j.violating {
        state.compliant_run = 0;
        state.violating_run = state.violating_run.saturating_add(1);
        let event = match &mut state.status {
            AlarmStatus::InAlarm {
                last_value,
                last_ms,
                ..
            } => {
                *last_value = j.value;
                *last_ms = at_ms;
                None
            }
            AlarmStatus::Normal if state.violating_run >= behavior.to_alarm => {
                let violation_id = new_violation_id();
                state.status = AlarmStatus::InAlarm {
                    violation_id: violation_id.clone(),
                    started_ms: at_ms,
                    last_value: j.value.clone(),
                    last_ms: at_ms,
                };
                Some(Event::InAlarm {
                    violation_id,
                    value: j.value,
                    at_ms,
                    suppressed,
                })
            }
            AlarmStatus::Normal => None,
        };
        return Outcome {
            verdict: Verdict::Violating,
            event,
        };
    }
    state.violating_run = 0;
    state.compliant_run = state.compliant_run.saturating_add(1);
    let clear = state.in_alarm() && (j.clears_now || state.compliant_run >= behavior.to_clear);
    let event = if clear {
        match core::mem::take(&mut state.status) {
            AlarmStatus::InAlarm {
                violation_id,
                started_ms,
                ..
            } => Some(Event::AlarmCleared {
                violation_id,
                value: j.value,
                at_ms,
                started_ms,
                suppressed,
            }),
            AlarmStatus::Normal => None,
        }
    } else {
        None
    };
    Outcome {
        verdict: Verdict::Compliant,
        event,
    }
}

fn invalidate(
    state: &mut BehaviorState,
    behavior: &CompiledBehavior,
    at_ms: i64,
    reason: InvalidationReason,
) -> Outcome {
    let event = match core::mem::take(state).status {
        AlarmStatus::InAlarm {
            violation_id,
            started_ms,
            last_value,
            ..
        } => Some(Event::AlarmInvalidated {
            violation_id,
            last_value,
            reason,
            at_ms,
            started_ms,
            suppressed: behavior.suppressed(),
        }),
        AlarmStatus::Normal => None,
    };
    Outcome {
        verdict: Verdict::Invalidated,
        event,
    }
}

/// The fleet's `statistic` over every targeted device's window value, by nearest rank: the
/// smallest value with at least `p`% of the values at or below it (`p0` is the minimum,
/// `p100` the maximum). Ranks are computed in integer hundredths of a percent so `p99.9` of
/// 1000 values is exactly the 999th. `None` when there are no values or any is negative
/// (AWS: percentiles are unavailable then, §1.1) or not a number. Sorts `values`.
pub fn percentile(values: &mut [f64], statistic: Statistic) -> Option<f64> {
    if values.is_empty() || values.iter().any(|v| v.is_nan() || *v < 0.0) {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    let basis_points: usize = match statistic {
        Statistic::P0 => 0,
        Statistic::P0_01 => 1,
        Statistic::P0_1 => 10,
        Statistic::P1 => 100,
        Statistic::P10 => 1000,
        Statistic::P50 => 5000,
        Statistic::P90 => 9000,
        Statistic::P99 => 9900,
        Statistic::P99_9 => 9990,
        Statistic::P99_99 => 9999,
        Statistic::P100 => 10_000,
    };
    let rank = (basis_points.saturating_mul(n))
        .div_ceil(10_000)
        .clamp(1, n);
    values.get(rank - 1).copied()
}
