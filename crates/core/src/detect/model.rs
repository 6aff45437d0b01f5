//! AWS's `Behavior` document (service-side.md §1.3, Appendix A.2) as serde types.
//!
//! These types mirror the API JSON field for field so that documents written for AWS
//! (`aws iot create-security-profile --behaviors file://…`) deserialize unchanged and serialize
//! back identically. Value ranges that AWS reports through `ValidateSecurityProfileBehaviors`
//! (ports, counts, durations, datapoint counts) are deliberately kept wide here (`i64`) so that
//! [`super::validate`] can say *where* a value is wrong instead of serde failing the whole
//! document. Closed enums (operators, statistics, confidence levels, dimension operators) are
//! real enums: an unknown value is a deserialization error naming the allowed values.
//! Unknown fields are refused too, as everywhere in Fleetward: a misspelt `durationSecond`
//! would otherwise silently change what is monitored.

use serde::{Deserialize, Serialize};

/// One behavior of a security profile: what normal looks like for one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Behavior {
    /// Unique within the profile, 1–128 of `[a-zA-Z0-9:_-]`.
    pub name: String,
    /// `aws:…` or a registered custom metric name. Optional in the API shape, required by
    /// validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<String>,
    /// Restricts a message metric to topics selected by a TOPIC_FILTER dimension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_dimension: Option<MetricDimension>,
    /// Absent for a behavior that only retains the metric (inferred: AWS's console offers
    /// behaviors without criteria to collect a baseline first, §1.6 "Retention").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<BehaviorCriteria>,
    /// Violations are recorded but not sent to alert targets (§1.3, §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_alerts: Option<bool>,
    /// The metric goes to the metrics export stream (§1.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_metric: Option<bool>,
}

impl Behavior {
    /// Whether alerts are suppressed (absent means `false`, as in AWS).
    pub fn suppressed(&self) -> bool {
        self.suppress_alerts.unwrap_or(false)
    }
}

/// A reference to a dimension that filters which datapoints a behavior sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricDimension {
    /// The dimension's name.
    pub dimension_name: String,
    /// `IN` when absent (§1.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<DimensionOperator>,
}

impl MetricDimension {
    /// The operator, defaulting as AWS does.
    pub fn operator(&self) -> DimensionOperator {
        self.operator.unwrap_or(DimensionOperator::In)
    }
}

/// How a dimension's values select datapoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DimensionOperator {
    /// Only datapoints whose topic matches one of the filters.
    #[serde(rename = "IN")]
    In,
    /// Only datapoints whose topic matches none of the filters.
    #[serde(rename = "NOT_IN")]
    NotIn,
}

/// When a datapoint is compliant, and how many in a row change the alarm state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BehaviorCriteria {
    /// Absent only for ML behaviors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison_operator: Option<ComparisonOperator>,
    /// The static threshold (STATIC behaviors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<MetricValue>,
    /// The period over which the metric is accumulated before comparing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i64>,
    /// 1–10, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_datapoints_to_alarm: Option<i64>,
    /// 1–10, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_datapoints_to_clear: Option<i64>,
    /// The fleet-percentile threshold (STATISTICAL behaviors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistical_threshold: Option<StatisticalThreshold>,
    /// ML Detect (MACHINE_LEARNING behaviors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ml_detection_config: Option<MachineLearningDetectionConfig>,
}

/// The ten operators of `BehaviorCriteria.comparisonOperator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ComparisonOperator {
    /// `less-than`
    LessThan,
    /// `less-than-equals`
    LessThanEquals,
    /// `greater-than`
    GreaterThan,
    /// `greater-than-equals`
    GreaterThanEquals,
    /// `in-cidr-set`
    InCidrSet,
    /// `not-in-cidr-set`
    NotInCidrSet,
    /// `in-port-set`
    InPortSet,
    /// `not-in-port-set`
    NotInPortSet,
    /// `in-set`
    InSet,
    /// `not-in-set`
    NotInSet,
}

impl ComparisonOperator {
    /// Every operator, in the API's order.
    pub const ALL: [ComparisonOperator; 10] = [
        ComparisonOperator::LessThan,
        ComparisonOperator::LessThanEquals,
        ComparisonOperator::GreaterThan,
        ComparisonOperator::GreaterThanEquals,
        ComparisonOperator::InCidrSet,
        ComparisonOperator::NotInCidrSet,
        ComparisonOperator::InPortSet,
        ComparisonOperator::NotInPortSet,
        ComparisonOperator::InSet,
        ComparisonOperator::NotInSet,
    ];

    /// The API spelling, for messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            ComparisonOperator::LessThan => "less-than",
            ComparisonOperator::LessThanEquals => "less-than-equals",
            ComparisonOperator::GreaterThan => "greater-than",
            ComparisonOperator::GreaterThanEquals => "greater-than-equals",
            ComparisonOperator::InCidrSet => "in-cidr-set",
            ComparisonOperator::NotInCidrSet => "not-in-cidr-set",
            ComparisonOperator::InPortSet => "in-port-set",
            ComparisonOperator::NotInPortSet => "not-in-port-set",
            ComparisonOperator::InSet => "in-set",
            ComparisonOperator::NotInSet => "not-in-set",
        }
    }
}

/// A `MetricValue` as written in a behavior: several members may be present in a document,
/// validation requires exactly the one the metric uses.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricValue {
    /// Built-in numeric metrics (long, ≥ 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// IP addresses or CIDR blocks, IPv4 or IPv6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidrs: Option<Vec<String>>,
    /// Ports 0–65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<i64>>,
    /// Custom `number` metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<f64>,
    /// Custom `number-list` metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numbers: Option<Vec<f64>>,
    /// Custom `string-list` metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strings: Option<Vec<String>>,
}

/// A fleet-percentile threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatisticalThreshold {
    /// Optional in the API shape, required by validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<Statistic>,
}

/// The percentiles the API's pattern allows (Appendix A.2 `StatisticalThreshold`; §8 notes
/// it is a regex in the model, not an enum, and lists `p0.01` after `p0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Statistic {
    /// `p0`: the minimum.
    #[serde(rename = "p0")]
    P0,
    /// `p0.1`
    #[serde(rename = "p0.1")]
    P0_1,
    /// `p0.01`
    #[serde(rename = "p0.01")]
    P0_01,
    /// `p1`
    #[serde(rename = "p1")]
    P1,
    /// `p10`
    #[serde(rename = "p10")]
    P10,
    /// `p50`: the median.
    #[serde(rename = "p50")]
    P50,
    /// `p90`
    #[serde(rename = "p90")]
    P90,
    /// `p99`
    #[serde(rename = "p99")]
    P99,
    /// `p99.9`
    #[serde(rename = "p99.9")]
    P99_9,
    /// `p99.99`
    #[serde(rename = "p99.99")]
    P99_99,
    /// `p100`: the maximum.
    #[serde(rename = "p100")]
    P100,
}

impl Statistic {
    /// Every statistic, in the API pattern's order.
    pub const ALL: [Statistic; 11] = [
        Statistic::P0,
        Statistic::P0_1,
        Statistic::P0_01,
        Statistic::P1,
        Statistic::P10,
        Statistic::P50,
        Statistic::P90,
        Statistic::P99,
        Statistic::P99_9,
        Statistic::P99_99,
        Statistic::P100,
    ];

    /// The percentile rank in percent, e.g. 99.9 for `p99.9`.
    pub const fn percent(self) -> f64 {
        match self {
            Statistic::P0 => 0.0,
            Statistic::P0_1 => 0.1,
            Statistic::P0_01 => 0.01,
            Statistic::P1 => 1.0,
            Statistic::P10 => 10.0,
            Statistic::P50 => 50.0,
            Statistic::P90 => 90.0,
            Statistic::P99 => 99.0,
            Statistic::P99_9 => 99.9,
            Statistic::P99_99 => 99.99,
            Statistic::P100 => 100.0,
        }
    }
}

/// ML Detect settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MachineLearningDetectionConfig {
    /// Which of the model's three thresholds raises alarms.
    pub confidence_level: ConfidenceLevel,
}

/// ML confidence: `HIGH` alarms least often, `LOW` most (§2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConfidenceLevel {
    /// Most sensitive.
    Low,
    /// Medium sensitivity.
    Medium,
    /// Least sensitive.
    High,
}

/// The type a custom metric was registered with; it decides operators and value members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustomMetricType {
    /// `string-list`
    StringList,
    /// `ip-address-list`
    IpAddressList,
    /// `number-list`
    NumberList,
    /// `number`
    Number,
}

/// A named set of MQTT topic filters (§1.4), referenced by `metricDimension.dimensionName`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dimension {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    pub name: String,
    /// Always `TOPIC_FILTER` today.
    #[serde(rename = "type")]
    pub dimension_type: DimensionType,
    /// 1–100 topic filters, `+`/`#` wildcards and `${iot:ClientId}` allowed.
    pub string_values: Vec<String>,
}

/// The kinds of dimension AWS defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DimensionType {
    /// Values are MQTT topic filters.
    #[serde(rename = "TOPIC_FILTER")]
    TopicFilter,
}
