//! What each metric supports: the table of service-side.md §1.2 as code.
//!
//! Validation and the engine both read this one table, so an operator that validation accepts
//! is always one the engine knows how to evaluate.

use fleetward_proto::decode::AwsMetric;

use super::model::{ComparisonOperator, CustomMetricType};

/// The `MetricValue` member a metric's datapoints and thresholds use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// `count`: unsigned integer.
    Count,
    /// `number`: double (custom `number`).
    Number,
    /// `ports`.
    Ports,
    /// `cidrs`: IPs in datapoints, CIDR blocks or IPs in thresholds.
    Cidrs,
    /// `numbers` (custom `number-list`).
    Numbers,
    /// `strings` (custom `string-list`).
    Strings,
}

impl ValueKind {
    /// The member's API name.
    pub const fn member(self) -> &'static str {
        match self {
            ValueKind::Count => "count",
            ValueKind::Number => "number",
            ValueKind::Ports => "ports",
            ValueKind::Cidrs => "cidrs",
            ValueKind::Numbers => "numbers",
            ValueKind::Strings => "strings",
        }
    }

    /// Whether the metric is a list, for which AWS refuses `durationSeconds` (§1.1).
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            ValueKind::Ports | ValueKind::Cidrs | ValueKind::Numbers | ValueKind::Strings
        )
    }

    /// Whether `op` may be used with this kind (§1.2 "Operators" column).
    pub const fn allows(self, op: ComparisonOperator) -> bool {
        use ComparisonOperator as Op;
        match self {
            ValueKind::Count | ValueKind::Number => matches!(
                op,
                Op::LessThan | Op::LessThanEquals | Op::GreaterThan | Op::GreaterThanEquals
            ),
            ValueKind::Ports => matches!(op, Op::InPortSet | Op::NotInPortSet),
            ValueKind::Cidrs => matches!(op, Op::InCidrSet | Op::NotInCidrSet),
            ValueKind::Numbers | ValueKind::Strings => matches!(op, Op::InSet | Op::NotInSet),
        }
    }

    /// The allowed operators, for messages.
    pub const fn operators(self) -> &'static str {
        match self {
            ValueKind::Count | ValueKind::Number => {
                "less-than, less-than-equals, greater-than, greater-than-equals"
            }
            ValueKind::Ports => "in-port-set, not-in-port-set",
            ValueKind::Cidrs => "in-cidr-set, not-in-cidr-set",
            ValueKind::Numbers | ValueKind::Strings => "in-set, not-in-set",
        }
    }
}

/// How datapoints combine over a `durationSeconds` window or a statistical window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aggregation {
    /// Per-interval deltas and per-window counts: the window's value is their sum.
    Sum,
    /// Levels (port counts, connection counts, message sizes, custom numbers): summing them
    /// would be meaningless, so the window complies only if every datapoint does, i.e. the
    /// largest value is compared for `less-than*` and the smallest for `greater-than*`.
    Gauge,
    /// List metrics: each datapoint stands alone (no duration allowed).
    List,
}

/// One row of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricSpec {
    /// The value member.
    pub kind: ValueKind,
    /// How values combine over time.
    pub aggregation: Aggregation,
    /// `durationSeconds` allowed.
    pub duration: bool,
    /// `statisticalThreshold` allowed ("Stat").
    pub statistical: bool,
    /// `mlDetectionConfig` allowed ("ML").
    pub ml: bool,
    /// A TOPIC_FILTER `metricDimension` allowed ("Dim").
    pub dimension: bool,
    /// Whether the broker measures it (cloud side) rather than the device reporting it.
    pub cloud: bool,
}

const fn count(aggregation: Aggregation, cloud: bool, dimension: bool) -> MetricSpec {
    MetricSpec {
        kind: ValueKind::Count,
        aggregation,
        duration: true,
        statistical: true,
        ml: true,
        dimension,
        cloud,
    }
}

const fn list(kind: ValueKind, cloud: bool, dimension: bool) -> MetricSpec {
    MetricSpec {
        kind,
        aggregation: Aggregation::List,
        duration: false,
        statistical: false,
        ml: false,
        dimension,
        cloud,
    }
}

/// The catalog row of an AWS metric.
///
/// `aws:disconnect-duration` is unconfirmed in the reference (§9): only a third party says
/// lt/lte only. We accept what the other counts accept (all four comparisons, a duration) so
/// that no document valid for AWS is refused, but not statistics or ML, which the reference
/// lists as unsupported.
pub const fn aws_spec(metric: AwsMetric) -> MetricSpec {
    use Aggregation::{Gauge, Sum};
    match metric {
        AwsMetric::AllBytesIn
        | AwsMetric::AllBytesOut
        | AwsMetric::AllPacketsIn
        | AwsMetric::AllPacketsOut => count(Sum, false, false),
        AwsMetric::NumListeningTcpPorts
        | AwsMetric::NumListeningUdpPorts
        | AwsMetric::NumEstablishedTcpConnections => count(Gauge, false, false),
        AwsMetric::ListeningTcpPorts | AwsMetric::ListeningUdpPorts => {
            list(ValueKind::Ports, false, false)
        }
        AwsMetric::DestinationIpAddresses => list(ValueKind::Cidrs, false, false),
        AwsMetric::NumMessagesSent
        | AwsMetric::NumMessagesReceived
        | AwsMetric::NumAuthorizationFailures => count(Sum, true, true),
        AwsMetric::MessageByteSize => count(Gauge, true, true),
        AwsMetric::NumConnectionAttempts | AwsMetric::NumDisconnects => count(Sum, true, false),
        AwsMetric::DisconnectDuration => MetricSpec {
            statistical: false,
            ml: false,
            ..count(Gauge, true, false)
        },
        AwsMetric::SourceIpAddress => list(ValueKind::Cidrs, true, true),
    }
}

/// The catalog row of a custom metric type. Dimensions never apply to custom metrics (§1.4).
pub const fn custom_spec(metric_type: CustomMetricType) -> MetricSpec {
    match metric_type {
        CustomMetricType::Number => MetricSpec {
            kind: ValueKind::Number,
            aggregation: Aggregation::Gauge,
            duration: true,
            statistical: true,
            ml: true,
            dimension: false,
            cloud: false,
        },
        CustomMetricType::NumberList => list(ValueKind::Numbers, false, false),
        CustomMetricType::StringList => list(ValueKind::Strings, false, false),
        CustomMetricType::IpAddressList => list(ValueKind::Cidrs, false, false),
    }
}

/// The `durationSeconds` values AWS accepts (§1.2).
pub const DURATIONS: [i64; 5] = [300, 600, 900, 1800, 3600];
