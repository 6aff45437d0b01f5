//! `ValidateSecurityProfileBehaviors` (service-side.md §1.3): every reason a list of behaviors
//! cannot be evaluated, each naming the field it is about.
//!
//! The same checks produce the checked form the engine compiles from, so a behavior that
//! validates always compiles and the two can never disagree.

use core::fmt;

use fleetward_proto::decode::{AwsMetric, Metric};

use super::catalog::{DURATIONS, MetricSpec, ValueKind, aws_spec, custom_spec};
use super::cidr::Cidr;
use super::model::{
    Behavior, BehaviorCriteria, ComparisonOperator, ConfidenceLevel, CustomMetricType, Dimension,
    DimensionOperator, MetricValue, Statistic,
};

/// A static threshold, parsed and sorted once.
#[derive(Debug, Clone, PartialEq)]
pub enum Threshold {
    /// `count`.
    Count(u64),
    /// `number`.
    Number(f64),
    /// `ports`, sorted and distinct.
    Ports(Vec<u16>),
    /// `cidrs`.
    Cidrs(Vec<Cidr>),
    /// `numbers`, sorted by total order, `-0` folded into `0`.
    Numbers(Vec<f64>),
    /// `strings`, sorted and distinct.
    Strings(Vec<String>),
}

impl Threshold {
    /// A port set.
    pub fn ports(mut ports: Vec<u16>) -> Threshold {
        ports.sort_unstable();
        ports.dedup();
        Threshold::Ports(ports)
    }

    /// A number set.
    pub fn numbers(numbers: Vec<f64>) -> Threshold {
        let mut numbers: Vec<f64> = numbers.into_iter().map(fold_zero).collect();
        numbers.sort_unstable_by(f64::total_cmp);
        numbers.dedup_by(|a, b| a.total_cmp(b).is_eq());
        Threshold::Numbers(numbers)
    }

    /// A string set.
    pub fn strings(mut strings: Vec<String>) -> Threshold {
        strings.sort_unstable();
        strings.dedup();
        Threshold::Strings(strings)
    }
}

/// `-0` as `0`, so number sets compare and search the way AWS compares values.
pub(super) fn fold_zero(n: f64) -> f64 {
    if n == 0.0 { 0.0 } else { n }
}

/// At most this many behaviors per profile (§1.6, §6).
pub const MAX_BEHAVIORS: usize = 100;
/// At most this many threshold elements (counts, IPs, ports, …) per profile (§6).
pub const MAX_VALUE_ELEMENTS: usize = 1000;
/// Longest behavior name (§1.3).
pub const MAX_NAME_LEN: usize = 128;

/// One problem: where (`behaviors[2].criteria.durationSeconds`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The JSON path in the request, API field names.
    pub path: String,
    /// What is wrong and, where it helps, what is allowed.
    pub message: String,
}

impl ValidationError {
    fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    /// The API's `errorMessage`: path, colon, message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for ValidationError {}

/// Checks behaviors as `ValidateSecurityProfileBehaviors` does. `custom` gives the registered
/// type of a custom metric, `dimensions` a dimension by name. An empty result means valid.
pub fn validate_behaviors<'d>(
    behaviors: &[Behavior],
    custom: &dyn Fn(&str) -> Option<CustomMetricType>,
    dimensions: &dyn Fn(&str) -> Option<&'d Dimension>,
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    check_profile(behaviors, &mut errors);
    for (i, b) in behaviors.iter().enumerate() {
        let _ = check_behavior(i, b, custom, dimensions, &mut errors);
    }
    errors
}

/// Profile-wide rules: count, unique names, threshold elements.
pub(crate) fn check_profile(behaviors: &[Behavior], errors: &mut Vec<ValidationError>) {
    if behaviors.len() > MAX_BEHAVIORS {
        errors.push(ValidationError::new(
            "behaviors",
            format!(
                "at most {MAX_BEHAVIORS} behaviors per security profile, got {}",
                behaviors.len()
            ),
        ));
    }
    for (i, b) in behaviors.iter().enumerate() {
        if let Some(first) = behaviors[..i].iter().position(|o| o.name == b.name) {
            errors.push(ValidationError::new(
                format!("behaviors[{i}].name"),
                format!(
                    "duplicate behavior name `{}` (also behaviors[{first}])",
                    b.name
                ),
            ));
        }
    }
    let elements: usize = behaviors
        .iter()
        .filter_map(|b| b.criteria.as_ref()?.value.as_ref())
        .map(value_elements)
        .sum();
    if elements > MAX_VALUE_ELEMENTS {
        errors.push(ValidationError::new(
            "behaviors",
            format!(
                "at most {MAX_VALUE_ELEMENTS} metric value elements (counts, IPs, ports, numbers, strings) per security profile, got {elements}"
            ),
        ));
    }
}

fn value_elements(v: &MetricValue) -> usize {
    usize::from(v.count.is_some())
        + usize::from(v.number.is_some())
        + v.cidrs.as_ref().map_or(0, Vec::len)
        + v.ports.as_ref().map_or(0, Vec::len)
        + v.numbers.as_ref().map_or(0, Vec::len)
        + v.strings.as_ref().map_or(0, Vec::len)
}

/// What a valid behavior means, in the engine's terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Checked {
    pub metric: Metric,
    pub spec: MetricSpec,
    pub criteria: CheckedCriteria,
    pub duration_ms: Option<i64>,
    pub to_alarm: u8,
    pub to_clear: u8,
    pub dimension: Option<(Vec<String>, DimensionOperator)>,
}

/// The three behavior kinds (§1.3), plus retain-only behaviors without criteria.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CheckedCriteria {
    RetainOnly,
    Static(ComparisonOperator, Threshold),
    Statistical(ComparisonOperator, Statistic),
    Ml(ConfidenceLevel),
}

/// Checks one behavior, appending its problems; returns its meaning only if it has none.
pub(crate) fn check_behavior<'d>(
    i: usize,
    b: &Behavior,
    custom: &dyn Fn(&str) -> Option<CustomMetricType>,
    dimensions: &dyn Fn(&str) -> Option<&'d Dimension>,
    errors: &mut Vec<ValidationError>,
) -> Option<Checked> {
    let before = errors.len();
    let at = |field: &str| format!("behaviors[{i}].{field}");

    if !valid_name(&b.name) {
        errors.push(ValidationError::new(
            at("name"),
            format!(
                "`{}` must be 1-{MAX_NAME_LEN} characters of a-z, A-Z, 0-9, ':', '_' or '-'",
                b.name
            ),
        ));
    }

    let resolved = match b.metric.as_deref() {
        None => {
            errors.push(ValidationError::new(at("metric"), "is required"));
            None
        }
        Some(name) if name.starts_with("aws:") => match AwsMetric::from_name(name) {
            Some(m) => Some((Metric::Aws(m), aws_spec(m), kind_label(aws_spec(m).kind))),
            None => {
                errors.push(ValidationError::new(
                    at("metric"),
                    format!("`{name}` is not an AWS metric"),
                ));
                None
            }
        },
        Some(name) => match custom(name) {
            Some(t) => Some((
                Metric::Custom(name.to_owned()),
                custom_spec(t),
                custom_label(t),
            )),
            None => {
                errors.push(ValidationError::new(
                    at("metric"),
                    format!("`{name}` is not a registered custom metric"),
                ));
                None
            }
        },
    };
    let metric_name = b.metric.as_deref().unwrap_or("");
    let spec = resolved.as_ref().map(|r| r.1);
    let what = |label: &str| format!("{metric_name} ({label})");

    let dimension = match (&b.metric_dimension, &resolved) {
        (None, _) => None,
        (Some(d), resolved) => {
            if let Some((metric, spec, _)) = resolved
                && !spec.dimension
            {
                let why = if matches!(metric, Metric::Custom(_)) {
                    "dimensions can't be used with custom metrics"
                } else {
                    "TOPIC_FILTER dimensions apply only to aws:num-messages-sent, aws:num-messages-received, aws:message-byte-size, aws:num-authorization-failures and aws:source-ip-address"
                };
                errors.push(ValidationError::new(
                    at("metricDimension"),
                    format!("not allowed for {metric_name}: {why}"),
                ));
            }
            match dimensions(&d.dimension_name) {
                Some(dim) => Some((dim.string_values.clone(), d.operator())),
                None => {
                    errors.push(ValidationError::new(
                        at("metricDimension.dimensionName"),
                        format!("dimension `{}` does not exist", d.dimension_name),
                    ));
                    None
                }
            }
        }
    };

    let Some(c) = &b.criteria else {
        let (metric, spec, _) = resolved?;
        return (errors.len() == before).then_some(Checked {
            metric,
            spec,
            criteria: CheckedCriteria::RetainOnly,
            duration_ms: None,
            to_alarm: 1,
            to_clear: 1,
            dimension,
        });
    };

    let to_alarm = check_consecutive(
        c.consecutive_datapoints_to_alarm,
        at("criteria.consecutiveDatapointsToAlarm"),
        errors,
    );
    let to_clear = check_consecutive(
        c.consecutive_datapoints_to_clear,
        at("criteria.consecutiveDatapointsToClear"),
        errors,
    );

    let duration_ms = match c.duration_seconds {
        None => None,
        Some(d) => {
            if let Some((_, spec, label)) = &resolved
                && !spec.duration
            {
                let why = if spec.kind.is_list() {
                    "a list metric"
                } else {
                    *label
                };
                errors.push(ValidationError::new(
                    at("criteria.durationSeconds"),
                    format!("not allowed for {}", what(why)),
                ));
            }
            if !DURATIONS.contains(&d) {
                errors.push(ValidationError::new(
                    at("criteria.durationSeconds"),
                    format!("{d} is not allowed; use 300, 600, 900, 1800 or 3600"),
                ));
            }
            Some(d.saturating_mul(1000))
        }
    };

    let kinds: Vec<&str> = [
        c.value.is_some().then_some("value"),
        c.statistical_threshold
            .is_some()
            .then_some("statisticalThreshold"),
        c.ml_detection_config
            .is_some()
            .then_some("mlDetectionConfig"),
    ]
    .into_iter()
    .flatten()
    .collect();
    if kinds.len() > 1 {
        errors.push(ValidationError::new(
            at("criteria"),
            format!(
                "value, statisticalThreshold and mlDetectionConfig are mutually exclusive, found {}",
                kinds.join(" and ")
            ),
        ));
        return None;
    }

    let op = check_operator(c, spec, &resolved, metric_name, &at, errors);

    let criteria = if let Some(ml) = &c.ml_detection_config {
        if let Some((_, spec, label)) = &resolved
            && !spec.ml
        {
            errors.push(ValidationError::new(
                at("criteria.mlDetectionConfig"),
                format!("ML Detect does not support {}", what(label)),
            ));
        }
        Some(CheckedCriteria::Ml(ml.confidence_level))
    } else if let Some(st) = &c.statistical_threshold {
        if let Some((_, spec, label)) = &resolved
            && !spec.statistical
        {
            errors.push(ValidationError::new(
                at("criteria.statisticalThreshold"),
                format!(
                    "statistical thresholds are not supported for {}",
                    what(label)
                ),
            ));
        }
        match st.statistic {
            Some(s) => op.map(|op| CheckedCriteria::Statistical(op, s)),
            None => {
                errors.push(ValidationError::new(
                    at("criteria.statisticalThreshold.statistic"),
                    "is required (p0, p0.1, p0.01, p1, p10, p50, p90, p99, p99.9, p99.99 or p100)",
                ));
                None
            }
        }
    } else if let Some(v) = &c.value {
        let threshold = spec.and_then(|s| check_value(v, s.kind, &what, &at, errors));
        match (op, threshold) {
            (Some(op), Some(t)) => Some(CheckedCriteria::Static(op, t)),
            _ => None,
        }
    } else {
        errors.push(ValidationError::new(
            at("criteria"),
            "one of value, statisticalThreshold or mlDetectionConfig is required",
        ));
        None
    };

    let (metric, spec, _) = resolved?;
    let criteria = criteria?;
    (errors.len() == before).then_some(Checked {
        metric,
        spec,
        criteria,
        duration_ms,
        to_alarm,
        to_clear,
        dimension,
    })
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

fn kind_label(kind: ValueKind) -> &'static str {
    match kind {
        ValueKind::Count => "a count metric",
        ValueKind::Number => "a number metric",
        ValueKind::Ports => "a port list metric",
        ValueKind::Cidrs => "an IP address list metric",
        ValueKind::Numbers => "a number list metric",
        ValueKind::Strings => "a string list metric",
    }
}

fn custom_label(t: CustomMetricType) -> &'static str {
    match t {
        CustomMetricType::Number => "a custom number metric",
        CustomMetricType::NumberList => "a custom number-list metric",
        CustomMetricType::StringList => "a custom string-list metric",
        CustomMetricType::IpAddressList => "a custom ip-address-list metric",
    }
}

fn check_consecutive(v: Option<i64>, path: String, errors: &mut Vec<ValidationError>) -> u8 {
    match v {
        None => 1,
        Some(n) => match u8::try_from(n) {
            Ok(n @ 1..=10) => n,
            _ => {
                errors.push(ValidationError::new(path, format!("{n} is not in 1-10")));
                1
            }
        },
    }
}

fn check_operator(
    c: &BehaviorCriteria,
    spec: Option<MetricSpec>,
    resolved: &Option<(Metric, MetricSpec, &'static str)>,
    metric_name: &str,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ValidationError>,
) -> Option<ComparisonOperator> {
    match c.comparison_operator {
        None if c.ml_detection_config.is_some() => None,
        None => {
            errors.push(ValidationError::new(
                at("criteria.comparisonOperator"),
                "is required",
            ));
            None
        }
        Some(op) => {
            if let (Some(spec), Some((_, _, label))) = (spec, resolved)
                && !spec.kind.allows(op)
            {
                errors.push(ValidationError::new(
                    at("criteria.comparisonOperator"),
                    format!(
                        "{} is not allowed for {metric_name} ({label}); use {}",
                        op.as_str(),
                        spec.kind.operators()
                    ),
                ));
                return None;
            }
            Some(op)
        }
    }
}

fn check_value(
    v: &MetricValue,
    kind: ValueKind,
    what: &dyn Fn(&str) -> String,
    at: &dyn Fn(&str) -> String,
    errors: &mut Vec<ValidationError>,
) -> Option<Threshold> {
    let present = [
        ("count", v.count.is_some()),
        ("cidrs", v.cidrs.is_some()),
        ("ports", v.ports.is_some()),
        ("number", v.number.is_some()),
        ("numbers", v.numbers.is_some()),
        ("strings", v.strings.is_some()),
    ];
    let before = errors.len();
    for (member, set) in present {
        if set && member != kind.member() {
            errors.push(ValidationError::new(
                at(&format!("criteria.value.{member}")),
                format!(
                    "not allowed for {}, which uses `{}`",
                    what(kind_label(kind)),
                    kind.member()
                ),
            ));
        }
    }
    let threshold = match kind {
        ValueKind::Count => match v.count {
            Some(n) => match u64::try_from(n) {
                Ok(n) => Some(Threshold::Count(n)),
                Err(_) => {
                    errors.push(ValidationError::new(
                        at("criteria.value.count"),
                        format!("{n} is negative; counts are 0 or more"),
                    ));
                    None
                }
            },
            None => None,
        },
        ValueKind::Number => match v.number {
            Some(n) if n.is_finite() => Some(Threshold::Number(n)),
            Some(n) => {
                errors.push(ValidationError::new(
                    at("criteria.value.number"),
                    format!("{n} is not a finite number"),
                ));
                None
            }
            None => None,
        },
        ValueKind::Ports => v.ports.as_ref().map(|ports| {
            let mut ok = Vec::with_capacity(ports.len());
            for (j, p) in ports.iter().enumerate() {
                match u16::try_from(*p) {
                    Ok(p) => ok.push(p),
                    Err(_) => errors.push(ValidationError::new(
                        at(&format!("criteria.value.ports[{j}]")),
                        format!("{p} is not a port (0-65535)"),
                    )),
                }
            }
            Threshold::ports(ok)
        }),
        ValueKind::Cidrs => v.cidrs.as_ref().map(|cidrs| {
            let mut ok = Vec::with_capacity(cidrs.len());
            for (j, s) in cidrs.iter().enumerate() {
                match Cidr::parse(s) {
                    Ok(c) => ok.push(c),
                    Err(e) => errors.push(ValidationError::new(
                        at(&format!("criteria.value.cidrs[{j}]")),
                        format!("`{s}`: {e}"),
                    )),
                }
            }
            Threshold::Cidrs(ok)
        }),
        ValueKind::Numbers => v.numbers.as_ref().map(|n| Threshold::numbers(n.clone())),
        ValueKind::Strings => v.strings.as_ref().map(|s| Threshold::strings(s.clone())),
    };
    if threshold.is_none() && errors.len() == before {
        errors.push(ValidationError::new(
            at("criteria.value"),
            format!("{} needs `{}`", what(kind_label(kind)), kind.member()),
        ));
    }
    threshold.filter(|_| errors.len() == before)
}
