//! Detect's behavior tests: model, validation and the engine's state machine.

use fleetward_proto::decode::MetricValue as Mv;
use serde_json::{Value, json};

use super::engine::{
    AlarmStatus, BehaviorCriteriaType, BehaviorState, CompiledBehavior, Event, Input,
    InvalidationReason, ModelStatus, Point, Skip, Verdict, compile_behaviors, evaluate, percentile,
};
use super::model::{
    Behavior, ComparisonOperator, CustomMetricType, Dimension, DimensionType, Statistic,
};
use super::validate::{ValidationError, validate_behaviors};

// ---------------------------------------------------------------- fixtures

fn custom(name: &str) -> Option<CustomMetricType> {
    match name {
        "temp" => Some(CustomMetricType::Number),
        "nums" => Some(CustomMetricType::NumberList),
        "tags" => Some(CustomMetricType::StringList),
        "ips" => Some(CustomMetricType::IpAddressList),
        _ => None,
    }
}

fn dims() -> Vec<Dimension> {
    vec![
        Dimension {
            name: "telemetry".into(),
            dimension_type: DimensionType::TopicFilter,
            string_values: vec!["telemetry/#".into(), "status/+".into()],
        },
        Dimension {
            name: "own".into(),
            dimension_type: DimensionType::TopicFilter,
            string_values: vec!["devices/${iot:ClientId}/#".into()],
        },
    ]
}

fn behavior(v: Value) -> Behavior {
    serde_json::from_value(v).unwrap()
}

fn errors(v: Value) -> Vec<String> {
    let behaviors: Vec<Behavior> = serde_json::from_value(v).unwrap();
    let dims = dims();
    let lookup = |n: &str| dims.iter().find(|d| d.name == n);
    validate_behaviors(&behaviors, &custom, &lookup)
        .iter()
        .map(ValidationError::to_string)
        .collect()
}

fn one(v: Value) -> Vec<String> {
    errors(json!([v]))
}

fn compile(v: Value) -> CompiledBehavior {
    let dims = dims();
    let lookup = |n: &str| dims.iter().find(|d| d.name == n);
    CompiledBehavior::compile(0, &behavior(v), &custom, &lookup).unwrap()
}

fn static_count(metric: &str, op: &str, count: u64, alarm: u8, clear: u8) -> CompiledBehavior {
    compile(json!({
        "name": "b", "metric": metric,
        "criteria": {"comparisonOperator": op, "value": {"count": count},
                     "consecutiveDatapointsToAlarm": alarm, "consecutiveDatapointsToClear": clear}
    }))
}

/// Runs one behavior for one thing, numbering violations v1, v2, …
struct Run {
    b: CompiledBehavior,
    state: BehaviorState,
    ids: u32,
    at: i64,
}

impl Run {
    fn new(b: CompiledBehavior) -> Run {
        Run {
            b,
            state: BehaviorState::default(),
            ids: 0,
            at: 0,
        }
    }

    fn input(&mut self, input: Input<'_>) -> (Verdict, Option<Event>) {
        let ids = &mut self.ids;
        let mut next = || {
            *ids += 1;
            format!("v{ids}")
        };
        let o = evaluate(&mut self.state, &self.b, input, &mut next);
        (o.verdict, o.event)
    }

    /// A datapoint 300 s after the previous one.
    fn dp(&mut self, value: Mv) -> (Verdict, Option<Event>) {
        self.at += 300_000;
        self.dp_topic(value, None)
    }

    fn dp_topic(&mut self, value: Mv, topic: Option<&str>) -> (Verdict, Option<Event>) {
        let at_ms = self.at;
        self.input(Input::Datapoint {
            at_ms,
            value: &value,
            topic,
            client_id: "dev-1",
        })
    }

    fn count(&mut self, n: u64) -> (Verdict, Option<Event>) {
        self.dp(Mv::Count(n))
    }

    /// The event type of feeding `values` one by one.
    fn counts(&mut self, values: &[u64]) -> Vec<Option<&'static str>> {
        values
            .iter()
            .map(|n| self.count(*n).1.map(|e| e.event_type()))
            .collect()
    }
}

const IN: Option<&str> = Some("in-alarm");
const CLR: Option<&str> = Some("alarm-cleared");

fn ports(p: &[u16]) -> Mv {
    Mv::Ports(p.to_vec())
}

fn ips(v: &[&str]) -> Mv {
    Mv::Cidrs(v.iter().map(|s| s.parse().unwrap()).collect())
}

// ---------------------------------------------------------------- model

#[test]
fn model_round_trips_aws_documents() {
    let docs = [
        json!({"name": "Listening-TCP", "metric": "aws:listening-tcp-ports",
               "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": [443, 8883]}},
               "suppressAlerts": true}),
        json!({"name": "MsgSize", "metric": "aws:message-byte-size",
               "metricDimension": {"dimensionName": "telemetry", "operator": "NOT_IN"},
               "criteria": {"comparisonOperator": "less-than-equals",
                            "statisticalThreshold": {"statistic": "p99.9"},
                            "durationSeconds": 300, "consecutiveDatapointsToAlarm": 1,
                            "consecutiveDatapointsToClear": 1},
               "exportMetric": false}),
        json!({"name": "ml", "metric": "aws:num-messages-sent",
               "criteria": {"mlDetectionConfig": {"confidenceLevel": "HIGH"}}}),
        json!({"name": "retain", "metric": "temp"}),
        json!({"name": "all", "metric": "x",
               "criteria": {"value": {"count": 1, "cidrs": ["10.0.0.0/8"], "ports": [1],
                                      "number": 1.5, "numbers": [1.0], "strings": ["s"]}}}),
    ];
    for doc in docs {
        let b = behavior(doc.clone());
        assert_eq!(serde_json::to_value(&b).unwrap(), doc);
    }
}

#[test]
fn model_accepts_every_operator_and_statistic() {
    for op in ComparisonOperator::ALL {
        let b = behavior(json!({"name": "b", "criteria": {"comparisonOperator": op.as_str()}}));
        assert_eq!(b.criteria.unwrap().comparison_operator, Some(op));
    }
    let names = [
        "p0", "p0.1", "p0.01", "p1", "p10", "p50", "p90", "p99", "p99.9", "p99.99", "p100",
    ];
    for (name, stat) in names.iter().zip(Statistic::ALL) {
        let b = behavior(
            json!({"name": "b", "criteria": {"statisticalThreshold": {"statistic": name}}}),
        );
        assert_eq!(
            b.criteria.unwrap().statistical_threshold.unwrap().statistic,
            Some(stat)
        );
    }
}

#[test]
fn model_rejects_unknown_enum_values_and_fields() {
    let cases = [
        (
            json!({"name": "b", "criteria": {"comparisonOperator": "between"}}),
            "unknown variant `between`",
        ),
        (
            json!({"name": "b", "criteria": {"statisticalThreshold": {"statistic": "p95"}}}),
            "unknown variant `p95`",
        ),
        (
            json!({"name": "b", "criteria": {"mlDetectionConfig": {"confidenceLevel": "VERY"}}}),
            "unknown variant `VERY`",
        ),
        (
            json!({"name": "b", "metricDimension": {"dimensionName": "d", "operator": "OUT"}}),
            "unknown variant `OUT`",
        ),
        (
            json!({"name": "b", "criteria": {"durationSecond": 300}}),
            "unknown field `durationSecond`",
        ),
        (
            json!({"name": "b", "criteria": {"value": {"counts": 1}}}),
            "unknown field `counts`",
        ),
    ];
    for (doc, want) in cases {
        let err = serde_json::from_value::<Behavior>(doc)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{err}");
        // The allowed values are listed too.
        assert!(err.contains("expected"), "{err}");
    }
}

// ---------------------------------------------------------------- validation

/// A sample metric of each value type, with the value member it uses.
const KINDS: [(&str, &str, Value); 8] = [
    ("aws:all-bytes-in", "count", Value::Null),
    ("temp", "number", Value::Null),
    ("aws:listening-tcp-ports", "ports", Value::Null),
    ("aws:destination-ip-addresses", "cidrs", Value::Null),
    ("aws:source-ip-address", "cidrs", Value::Null),
    ("ips", "cidrs", Value::Null),
    ("nums", "numbers", Value::Null),
    ("tags", "strings", Value::Null),
];

fn sample_value(member: &str) -> Value {
    match member {
        "count" => json!({"count": 10}),
        "number" => json!({"number": 1.5}),
        "ports" => json!({"ports": [22]}),
        "cidrs" => json!({"cidrs": ["10.0.0.0/8"]}),
        "numbers" => json!({"numbers": [1.0]}),
        _ => json!({"strings": ["a"]}),
    }
}

#[test]
fn validation_operator_by_metric_type_matrix() {
    use ComparisonOperator as Op;
    let numeric = [
        Op::LessThan,
        Op::LessThanEquals,
        Op::GreaterThan,
        Op::GreaterThanEquals,
    ];
    for (metric, member, _) in KINDS {
        let allowed: &[Op] = match member {
            "count" | "number" => &numeric,
            "ports" => &[Op::InPortSet, Op::NotInPortSet],
            "cidrs" => &[Op::InCidrSet, Op::NotInCidrSet],
            _ => &[Op::InSet, Op::NotInSet],
        };
        for op in Op::ALL {
            let errs = one(json!({"name": "b", "metric": metric,
                "criteria": {"comparisonOperator": op.as_str(), "value": sample_value(member)}}));
            if allowed.contains(&op) {
                assert!(errs.is_empty(), "{metric} {op:?}: {errs:?}");
            } else {
                assert_eq!(errs.len(), 1, "{metric} {op:?}: {errs:?}");
                assert!(
                    errs[0].starts_with(&format!(
                        "behaviors[0].criteria.comparisonOperator: {} is not allowed for {metric} (",
                        op.as_str()
                    )),
                    "{errs:?}"
                );
            }
        }
    }
}

#[test]
fn validation_operator_message_lists_the_allowed_ones() {
    assert_eq!(
        one(json!({"name": "b", "metric": "aws:listening-udp-ports",
                   "criteria": {"comparisonOperator": "less-than", "value": {"count": 1}}})),
        vec![
            "behaviors[0].criteria.comparisonOperator: less-than is not allowed for aws:listening-udp-ports (a port list metric); use in-port-set, not-in-port-set",
            "behaviors[0].criteria.value.count: not allowed for aws:listening-udp-ports (a port list metric), which uses `ports`",
        ]
    );
}

#[test]
fn validation_value_member_must_match_the_metric() {
    for (metric, member, _) in KINDS {
        for (other, _, _) in KINDS {
            let other_member = KINDS.iter().find(|k| k.0 == other).unwrap().1;
            if other_member == member {
                continue;
            }
            let op = match member {
                "count" | "number" => "less-than",
                "ports" => "in-port-set",
                "cidrs" => "in-cidr-set",
                _ => "in-set",
            };
            let errs = one(json!({"name": "b", "metric": metric,
                "criteria": {"comparisonOperator": op, "value": sample_value(other_member)}}));
            assert!(
                errs.iter().any(|e| e.starts_with(&format!(
                    "behaviors[0].criteria.value.{other_member}: not allowed for {metric}"
                )) && e.ends_with(&format!("which uses `{member}`"))),
                "{metric} with {other_member}: {errs:?}"
            );
        }
    }
    assert_eq!(
        one(json!({"name": "b", "metric": "aws:all-bytes-in",
                   "criteria": {"comparisonOperator": "less-than", "value": {}}})),
        vec!["behaviors[0].criteria.value: aws:all-bytes-in (a count metric) needs `count`"]
    );
}

#[test]
fn validation_value_ranges() {
    assert_eq!(
        one(json!({"name": "b", "metric": "aws:all-bytes-in",
                   "criteria": {"comparisonOperator": "less-than", "value": {"count": -1}}})),
        vec!["behaviors[0].criteria.value.count: -1 is negative; counts are 0 or more"]
    );
    assert_eq!(
        one(json!({"name": "b", "metric": "aws:listening-tcp-ports",
                   "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": [0, 65535, 65536, -1]}}})),
        vec![
            "behaviors[0].criteria.value.ports[2]: 65536 is not a port (0-65535)",
            "behaviors[0].criteria.value.ports[3]: -1 is not a port (0-65535)",
        ]
    );
    assert_eq!(
        one(
            json!({"name": "b", "metric": "aws:destination-ip-addresses",
                   "criteria": {"comparisonOperator": "not-in-cidr-set",
                                "value": {"cidrs": ["10.0.0.0/8", "2001:db8::/32", "1.2.3.4", "10.0.0.0/40", "zz"]}}})
        ),
        vec![
            "behaviors[0].criteria.value.cidrs[3]: `10.0.0.0/40`: prefix length must be 0-32",
            "behaviors[0].criteria.value.cidrs[4]: `zz`: not an IP address or CIDR block",
        ]
    );
}

#[test]
fn validation_duration() {
    let errs = errors(json!([
        {"name": "a", "metric": "aws:all-bytes-in",
         "criteria": {"comparisonOperator": "less-than", "value": {"count": 1}, "durationSeconds": 300}},
        {"name": "b", "metric": "aws:num-messages-sent",
         "criteria": {"comparisonOperator": "less-than", "value": {"count": 1}, "durationSeconds": 120}},
        {"name": "c", "metric": "aws:listening-tcp-ports",
         "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": [22]}, "durationSeconds": 300}},
        {"name": "d", "metric": "tags",
         "criteria": {"comparisonOperator": "in-set", "value": {"strings": ["x"]}, "durationSeconds": 600}},
    ]));
    assert_eq!(
        errs,
        vec![
            "behaviors[1].criteria.durationSeconds: 120 is not allowed; use 300, 600, 900, 1800 or 3600",
            "behaviors[2].criteria.durationSeconds: not allowed for aws:listening-tcp-ports (a list metric)",
            "behaviors[3].criteria.durationSeconds: not allowed for tags (a list metric)",
        ]
    );
    for d in [300, 600, 900, 1800, 3600] {
        assert!(one(json!({"name": "b", "metric": "temp",
            "criteria": {"comparisonOperator": "less-than", "value": {"number": 1}, "durationSeconds": d}})).is_empty());
    }
}

#[test]
fn validation_consecutive_datapoints() {
    let errs = one(json!({"name": "b", "metric": "aws:all-bytes-in",
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 1},
                     "consecutiveDatapointsToAlarm": 0, "consecutiveDatapointsToClear": 11}}));
    assert_eq!(
        errs,
        vec![
            "behaviors[0].criteria.consecutiveDatapointsToAlarm: 0 is not in 1-10",
            "behaviors[0].criteria.consecutiveDatapointsToClear: 11 is not in 1-10",
        ]
    );
    for n in 1..=10 {
        assert!(
            one(json!({"name": "b", "metric": "aws:all-bytes-in",
            "criteria": {"comparisonOperator": "less-than", "value": {"count": 1},
                         "consecutiveDatapointsToAlarm": n, "consecutiveDatapointsToClear": n}}))
            .is_empty()
        );
    }
}

#[test]
fn validation_criteria_kinds() {
    let c = |criteria: Value| {
        one(json!({"name": "b", "metric": "aws:num-messages-sent", "criteria": criteria}))
    };
    assert_eq!(
        c(
            json!({"comparisonOperator": "less-than", "value": {"count": 1}, "statisticalThreshold": {"statistic": "p90"}})
        ),
        vec![
            "behaviors[0].criteria: value, statisticalThreshold and mlDetectionConfig are mutually exclusive, found value and statisticalThreshold"
        ]
    );
    assert_eq!(
        c(
            json!({"comparisonOperator": "less-than", "mlDetectionConfig": {"confidenceLevel": "LOW"}, "statisticalThreshold": {"statistic": "p90"}})
        ),
        vec![
            "behaviors[0].criteria: value, statisticalThreshold and mlDetectionConfig are mutually exclusive, found statisticalThreshold and mlDetectionConfig"
        ]
    );
    assert_eq!(
        c(json!({"comparisonOperator": "less-than"})),
        vec![
            "behaviors[0].criteria: one of value, statisticalThreshold or mlDetectionConfig is required"
        ]
    );
    assert_eq!(
        c(json!({"value": {"count": 1}})),
        vec!["behaviors[0].criteria.comparisonOperator: is required"]
    );
    assert_eq!(
        c(json!({"comparisonOperator": "less-than", "statisticalThreshold": {}})),
        vec![
            "behaviors[0].criteria.statisticalThreshold.statistic: is required (p0, p0.1, p0.01, p1, p10, p50, p90, p99, p99.9, p99.99 or p100)"
        ]
    );
    assert!(c(json!({"comparisonOperator": "less-than", "statisticalThreshold": {"statistic": "p90"}, "durationSeconds": 300})).is_empty());
    assert!(c(json!({"mlDetectionConfig": {"confidenceLevel": "MEDIUM"}})).is_empty());
    // Retain-only: no criteria at all.
    assert!(one(json!({"name": "b", "metric": "aws:listening-tcp-ports"})).is_empty());
}

#[test]
fn validation_statistical_and_ml_support() {
    let stat = |metric: &str| {
        one(json!({"name": "b", "metric": metric,
        "criteria": {"comparisonOperator": "greater-than", "statisticalThreshold": {"statistic": "p50"}}}))
    };
    let ml = |metric: &str| {
        one(json!({"name": "b", "metric": metric,
        "criteria": {"mlDetectionConfig": {"confidenceLevel": "LOW"}}}))
    };
    for m in [
        "aws:all-bytes-out",
        "aws:message-byte-size",
        "aws:num-established-tcp-connections",
        "temp",
    ] {
        assert!(stat(m).is_empty(), "{m}");
        assert!(ml(m).is_empty(), "{m}");
    }
    assert_eq!(
        stat("aws:disconnect-duration"),
        vec![
            "behaviors[0].criteria.statisticalThreshold: statistical thresholds are not supported for aws:disconnect-duration (a count metric)"
        ]
    );
    assert_eq!(
        ml("aws:listening-tcp-ports"),
        vec![
            "behaviors[0].criteria.mlDetectionConfig: ML Detect does not support aws:listening-tcp-ports (a port list metric)"
        ]
    );
    assert_eq!(
        ml("nums"),
        vec![
            "behaviors[0].criteria.mlDetectionConfig: ML Detect does not support nums (a custom number-list metric)"
        ]
    );
    // A list metric refuses the statistic before the operator even matters.
    assert!(stat("aws:source-ip-address").iter().any(|e| e.starts_with("behaviors[0].criteria.statisticalThreshold: statistical thresholds are not supported for aws:source-ip-address")));
}

#[test]
fn validation_dimensions() {
    let with = |metric: &str, dim: &str| {
        one(json!({"name": "b", "metric": metric,
        "metricDimension": {"dimensionName": dim},
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 5}}}))
    };
    for m in [
        "aws:num-messages-sent",
        "aws:num-messages-received",
        "aws:message-byte-size",
        "aws:num-authorization-failures",
    ] {
        assert!(with(m, "telemetry").is_empty(), "{m}");
    }
    assert!(
        one(json!({"name": "b", "metric": "aws:source-ip-address",
        "metricDimension": {"dimensionName": "own", "operator": "NOT_IN"},
        "criteria": {"comparisonOperator": "in-cidr-set", "value": {"cidrs": ["10.0.0.0/8"]}}}))
        .is_empty()
    );
    assert_eq!(
        with("aws:num-disconnects", "telemetry"),
        vec![
            "behaviors[0].metricDimension: not allowed for aws:num-disconnects: TOPIC_FILTER dimensions apply only to aws:num-messages-sent, aws:num-messages-received, aws:message-byte-size, aws:num-authorization-failures and aws:source-ip-address"
        ]
    );
    assert_eq!(
        one(
            json!({"name": "b", "metric": "temp", "metricDimension": {"dimensionName": "telemetry"},
                   "criteria": {"comparisonOperator": "less-than", "value": {"number": 5}}})
        ),
        vec![
            "behaviors[0].metricDimension: not allowed for temp: dimensions can't be used with custom metrics"
        ]
    );
    assert_eq!(
        with("aws:num-messages-sent", "nope"),
        vec!["behaviors[0].metricDimension.dimensionName: dimension `nope` does not exist"]
    );
}

#[test]
fn validation_names_and_metrics() {
    let errs = errors(json!([
        {"name": "ok:name_1-x", "metric": "aws:all-bytes-in"},
        {"name": "bad name!", "metric": "aws:all-bytes-in"},
        {"name": "", "metric": "aws:all-bytes-in"},
        {"name": "x".repeat(129), "metric": "aws:all-bytes-in"},
        {"name": "ok:name_1-x", "metric": "aws:all-bytes-in"},
        {"name": "m1", "metric": "aws:all-bites-in"},
        {"name": "m2", "metric": "humidity"},
        {"name": "m3"},
    ]));
    let long = "x".repeat(129);
    assert_eq!(
        errs,
        vec![
            "behaviors[4].name: duplicate behavior name `ok:name_1-x` (also behaviors[0])".to_string(),
            "behaviors[1].name: `bad name!` must be 1-128 characters of a-z, A-Z, 0-9, ':', '_' or '-'".into(),
            "behaviors[2].name: `` must be 1-128 characters of a-z, A-Z, 0-9, ':', '_' or '-'".into(),
            format!("behaviors[3].name: `{long}` must be 1-128 characters of a-z, A-Z, 0-9, ':', '_' or '-'"),
            "behaviors[5].metric: `aws:all-bites-in` is not an AWS metric".into(),
            "behaviors[6].metric: `humidity` is not a registered custom metric".into(),
            "behaviors[7].metric: is required".into(),
        ]
    );
}

#[test]
fn validation_profile_limits() {
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"name": format!("b{i}"), "metric": "aws:all-bytes-in"}))
        .collect();
    assert_eq!(
        errors(Value::Array(many)),
        vec!["behaviors: at most 100 behaviors per security profile, got 101"]
    );
    let ports: Vec<u16> = (0..600).collect();
    let errs = errors(json!([
        {"name": "a", "metric": "aws:listening-tcp-ports", "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": ports}}},
        {"name": "b", "metric": "aws:listening-udp-ports", "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": ports}}},
    ]));
    assert_eq!(
        errs,
        vec![
            "behaviors: at most 1000 metric value elements (counts, IPs, ports, numbers, strings) per security profile, got 1200"
        ]
    );
}

#[test]
fn compile_behaviors_all_or_nothing() {
    let dims = dims();
    let lookup = |n: &str| dims.iter().find(|d| d.name == n);
    let good: Vec<Behavior> = serde_json::from_value(json!([
        {"name": "a", "metric": "aws:all-bytes-in", "criteria": {"comparisonOperator": "less-than", "value": {"count": 1}}},
        {"name": "b", "metric": "temp", "criteria": {"comparisonOperator": "less-than", "statisticalThreshold": {"statistic": "p90"}}},
        {"name": "c", "metric": "temp", "criteria": {"mlDetectionConfig": {"confidenceLevel": "LOW"}}},
        {"name": "d", "metric": "tags"},
    ])).unwrap();
    let compiled = compile_behaviors(&good, &custom, &lookup).unwrap();
    let types: Vec<_> = compiled
        .iter()
        .map(CompiledBehavior::criteria_type)
        .collect();
    assert_eq!(
        types,
        vec![
            Some(BehaviorCriteriaType::Static),
            Some(BehaviorCriteriaType::Statistical),
            Some(BehaviorCriteriaType::MachineLearning),
            None
        ]
    );
    let mut bad = good.clone();
    bad[1].metric = Some("nope".into());
    let errs = compile_behaviors(&bad, &custom, &lookup).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].path, "behaviors[1].metric");
}

// ---------------------------------------------------------------- state machine

#[test]
fn alarm_after_n_violating_datapoints() {
    let mut r = Run::new(static_count("aws:all-bytes-in", "less-than", 100, 3, 1));
    assert_eq!(r.counts(&[500, 500]), vec![None, None]);
    let (v, e) = r.count(700);
    assert_eq!(v, Verdict::Violating);
    assert_eq!(
        e,
        Some(Event::InAlarm {
            violation_id: "v1".into(),
            value: Mv::Count(700),
            at_ms: 900_000,
            suppressed: false
        })
    );
    // Further violations update the active violation without new events.
    assert_eq!(r.counts(&[800]), vec![None]);
    assert_eq!(
        r.state.status,
        AlarmStatus::InAlarm {
            violation_id: "v1".into(),
            started_ms: 900_000,
            last_value: Mv::Count(800),
            last_ms: 1_200_000
        }
    );
}

#[test]
fn alarm_with_defaults_is_immediate() {
    let mut r = Run::new(compile(json!({"name": "b", "metric": "aws:all-bytes-in",
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 100}}})));
    assert_eq!(r.counts(&[5, 500, 5, 500]), vec![None, IN, CLR, IN]);
    assert_eq!(r.ids, 2);
}

#[test]
fn clear_after_m_compliant_datapoints() {
    let mut r = Run::new(static_count("aws:all-bytes-in", "less-than", 100, 1, 3));
    assert_eq!(r.counts(&[500]), vec![IN]);
    assert_eq!(r.counts(&[1, 1]), vec![None, None]);
    let (v, e) = r.count(2);
    assert_eq!(v, Verdict::Compliant);
    assert_eq!(
        e,
        Some(Event::AlarmCleared {
            violation_id: "v1".into(),
            value: Mv::Count(2),
            at_ms: 1_200_000,
            started_ms: 300_000,
            suppressed: false
        })
    );
    assert_eq!(
        r.state,
        BehaviorState {
            compliant_run: 3,
            ..Default::default()
        }
    );
}

#[test]
fn a_compliant_datapoint_resets_the_violating_run() {
    let mut r = Run::new(static_count("aws:all-bytes-in", "less-than", 100, 3, 1));
    assert_eq!(r.counts(&[500, 500, 1, 500, 500]), vec![None; 5]);
    assert_eq!(r.counts(&[500]), vec![IN]);
}

#[test]
fn a_violating_datapoint_resets_the_compliant_run() {
    let mut r = Run::new(static_count("aws:all-bytes-in", "less-than", 100, 1, 2));
    assert_eq!(r.counts(&[500, 1, 500, 1]), vec![IN, None, None, None]);
    assert!(r.state.in_alarm());
    assert_eq!(r.counts(&[1]), vec![CLR]);
}

#[test]
fn invalidation_from_alarm_and_from_normal() {
    let mut r = Run::new(static_count("aws:all-bytes-in", "less-than", 100, 1, 1));
    r.count(500);
    let (v, e) = r.input(Input::Invalidate {
        at_ms: 9,
        reason: InvalidationReason::Silent,
    });
    assert_eq!(v, Verdict::Invalidated);
    assert_eq!(
        e,
        Some(Event::AlarmInvalidated {
            violation_id: "v1".into(),
            last_value: Mv::Count(500),
            reason: InvalidationReason::Silent,
            at_ms: 9,
            started_ms: 300_000,
            suppressed: false
        })
    );
    assert_eq!(r.state, BehaviorState::default());
    // From NORMAL: no event, runs forgotten.
    let mut r = Run::new(static_count("aws:all-bytes-in", "less-than", 100, 2, 1));
    r.count(500);
    assert_eq!(r.state.violating_run, 1);
    let (v, e) = r.input(Input::Invalidate {
        at_ms: 9,
        reason: InvalidationReason::ProfileDetached,
    });
    assert_eq!((v, e), (Verdict::Invalidated, None));
    assert_eq!(r.state, BehaviorState::default());
    assert_eq!(r.counts(&[500, 500]), vec![None, IN]);
    let (_, e) = r.input(Input::Invalidate {
        at_ms: 10,
        reason: InvalidationReason::ThingDeleted,
    });
    assert_eq!(e.unwrap().event_type(), "alarm-invalidated");
}

#[test]
fn suppress_alerts_marks_events_only() {
    let mut b = behavior(
        json!({"name": "b", "metric": "aws:all-bytes-in", "suppressAlerts": true,
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 100}}}),
    );
    let mut r = Run::new(compile(serde_json::to_value(&b).unwrap()));
    let (_, e) = r.count(500);
    assert!(e.as_ref().unwrap().suppressed());
    let (_, e) = r.count(5);
    assert!(e.unwrap().suppressed());
    b.suppress_alerts = Some(false);
    assert!(!b.suppressed());
}

// ---------------------------------------------------------------- operators

#[test]
fn count_operators_at_the_boundary() {
    // (operator, value → violating?) with threshold 10.
    let cases = [
        ("less-than", [(9, false), (10, true), (11, true)]),
        ("less-than-equals", [(9, false), (10, false), (11, true)]),
        ("greater-than", [(9, true), (10, true), (11, false)]),
        ("greater-than-equals", [(9, true), (10, false), (11, false)]),
    ];
    for (op, points) in cases {
        let b = static_count("aws:num-established-tcp-connections", op, 10, 1, 1);
        for (value, violating) in points {
            let mut r = Run::new(b.clone());
            let (v, _) = r.count(value);
            let want = if violating {
                Verdict::Violating
            } else {
                Verdict::Compliant
            };
            assert_eq!(v, want, "{op} {value}");
        }
    }
}

#[test]
fn custom_number_operators() {
    let b = compile(json!({"name": "b", "metric": "temp",
        "criteria": {"comparisonOperator": "greater-than-equals", "value": {"number": -2.5}}}));
    let mut r = Run::new(b);
    assert_eq!(r.dp(Mv::Number(-2.5)).0, Verdict::Compliant);
    assert_eq!(r.dp(Mv::Number(-2.6)).0, Verdict::Violating);
    // A count where a number is expected still compares by value.
    assert_eq!(r.dp(Mv::Count(3)).0, Verdict::Compliant);
    // A list is a routing error: ignored, state untouched.
    let before = r.state.clone();
    assert_eq!(r.dp(ports(&[1])).0, Verdict::Skipped(Skip::ValueType));
    assert_eq!(r.state, before);
}

#[test]
fn port_sets() {
    let in_set = compile(json!({"name": "b", "metric": "aws:listening-tcp-ports",
        "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": [8888, 22]}}}));
    let mut r = Run::new(in_set);
    assert_eq!(r.dp(ports(&[22, 8888])).0, Verdict::Compliant);
    // §1.1: in-port-set [8888] raises an alarm when the device listens on 443.
    let (v, e) = r.dp(ports(&[22, 443]));
    assert_eq!(v, Verdict::Violating);
    assert_eq!(e.unwrap().event_type(), "in-alarm");
    let not_in = compile(json!({"name": "b", "metric": "aws:listening-udp-ports",
        "criteria": {"comparisonOperator": "not-in-port-set", "value": {"ports": [23, 69]}}}));
    let mut r = Run::new(not_in);
    assert_eq!(r.dp(ports(&[53, 123])).0, Verdict::Compliant);
    assert_eq!(r.dp(ports(&[53, 69])).0, Verdict::Violating);
}

#[test]
fn cidr_sets() {
    let in_set = compile(
        json!({"name": "b", "metric": "aws:destination-ip-addresses",
        "criteria": {"comparisonOperator": "in-cidr-set", "value": {"cidrs": ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]}}}),
    );
    let mut r = Run::new(in_set);
    assert_eq!(
        r.dp(ips(&["10.1.2.3", "2001:db8::1", "192.0.2.7"])).0,
        Verdict::Compliant
    );
    assert_eq!(r.dp(ips(&["10.1.2.3", "192.0.2.8"])).0, Verdict::Violating);
    let not_in = compile(json!({"name": "b", "metric": "ips",
        "criteria": {"comparisonOperator": "not-in-cidr-set", "value": {"cidrs": ["203.0.113.0/24"]}}}));
    let mut r = Run::new(not_in);
    assert_eq!(r.dp(ips(&["198.51.100.1"])).0, Verdict::Compliant);
    assert_eq!(
        r.dp(ips(&["198.51.100.1", "203.0.113.9"])).0,
        Verdict::Violating
    );
    // Mapped IPv4 from a dual-stack listener counts as IPv4.
    assert_eq!(r.dp(ips(&["::ffff:203.0.113.9"])).0, Verdict::Violating);
}

#[test]
fn number_and_string_sets() {
    let nums = compile(json!({"name": "b", "metric": "nums",
        "criteria": {"comparisonOperator": "in-set", "value": {"numbers": [1.0, 2.5, 0.0]}}}));
    let mut r = Run::new(nums);
    assert_eq!(r.dp(Mv::Numbers(vec![2.5, -0.0])).0, Verdict::Compliant);
    assert_eq!(r.dp(Mv::Numbers(vec![2.5, 3.0])).0, Verdict::Violating);
    let nums = compile(json!({"name": "b", "metric": "nums",
        "criteria": {"comparisonOperator": "not-in-set", "value": {"numbers": [13.0]}}}));
    let mut r = Run::new(nums);
    assert_eq!(r.dp(Mv::Numbers(vec![1.0, 2.0])).0, Verdict::Compliant);
    assert_eq!(r.dp(Mv::Numbers(vec![13.0])).0, Verdict::Violating);
    let tags = compile(json!({"name": "b", "metric": "tags",
        "criteria": {"comparisonOperator": "in-set", "value": {"strings": ["prod", "eu"]}}}));
    let mut r = Run::new(tags);
    assert_eq!(r.dp(Mv::Strings(vec!["eu".into()])).0, Verdict::Compliant);
    assert_eq!(
        r.dp(Mv::Strings(vec!["eu".into(), "debug".into()])).0,
        Verdict::Violating
    );
    let tags = compile(json!({"name": "b", "metric": "tags",
        "criteria": {"comparisonOperator": "not-in-set", "value": {"strings": ["debug"]}}}));
    let mut r = Run::new(tags);
    assert_eq!(r.dp(Mv::Strings(vec!["eu".into()])).0, Verdict::Compliant);
    assert_eq!(
        r.dp(Mv::Strings(vec!["debug".into()])).0,
        Verdict::Violating
    );
    // A port list for a string-list behavior is a routing error.
    assert_eq!(r.dp(ports(&[1])).0, Verdict::Skipped(Skip::ValueType));
}

#[test]
fn empty_address_lists_clear_at_once() {
    let b = compile(json!({"name": "b", "metric": "aws:listening-tcp-ports",
        "criteria": {"comparisonOperator": "in-port-set", "value": {"ports": [22]},
                     "consecutiveDatapointsToClear": 3}}));
    let mut r = Run::new(b);
    assert_eq!(r.dp(ports(&[])).0, Verdict::Compliant);
    assert!(r.dp(ports(&[80])).1.is_some());
    assert_eq!(r.dp(ports(&[22])).1, None); // one compliant of three
    let (v, e) = r.dp(ports(&[]));
    assert_eq!(v, Verdict::Compliant);
    assert_eq!(e.unwrap().event_type(), "alarm-cleared");

    let b = compile(json!({"name": "b", "metric": "aws:source-ip-address",
        "criteria": {"comparisonOperator": "not-in-cidr-set", "value": {"cidrs": ["0.0.0.0/0"]},
                     "consecutiveDatapointsToClear": 10}}));
    let mut r = Run::new(b);
    assert!(r.dp(ips(&["8.8.8.8"])).1.is_some());
    assert_eq!(r.dp(ips(&[])).1.unwrap().event_type(), "alarm-cleared");

    // Only ports and IPs: an empty string list is compliant but waits for the clear run.
    let b = compile(json!({"name": "b", "metric": "tags",
        "criteria": {"comparisonOperator": "in-set", "value": {"strings": ["a"]},
                     "consecutiveDatapointsToClear": 2}}));
    let mut r = Run::new(b);
    assert!(r.dp(Mv::Strings(vec!["b".into()])).1.is_some());
    assert_eq!(r.dp(Mv::Strings(vec![])), (Verdict::Compliant, None));
    assert_eq!(
        r.dp(Mv::Strings(vec![])).1.unwrap().event_type(),
        "alarm-cleared"
    );
}

// ---------------------------------------------------------------- durations

#[test]
fn duration_sums_cloud_counts_in_the_trailing_window() {
    let b = compile(json!({"name": "b", "metric": "aws:num-messages-sent",
        "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 100},
                     "durationSeconds": 600}}));
    let mut r = Run::new(b);
    // 5-minute windows: each evaluation sees this window and the previous one.
    assert_eq!(r.counts(&[60]), vec![None]); // 60
    let (v, e) = r.count(60); // 120
    assert_eq!(v, Verdict::Violating);
    assert_eq!(
        e.unwrap(),
        Event::InAlarm {
            violation_id: "v1".into(),
            value: Mv::Count(120),
            at_ms: 600_000,
            suppressed: false
        }
    );
    assert_eq!(r.count(30).0, Verdict::Compliant); // 60 + 30, the first fell out
    assert!(r.state.window.len() <= 2);
    assert_eq!(r.count(80).0, Verdict::Violating); // 30 + 80
    // A gap longer than the duration leaves only the new datapoint.
    r.at += 3_600_000;
    assert_eq!(r.count(90).0, Verdict::Compliant);
}

#[test]
fn duration_of_one_report_interval_is_one_datapoint() {
    let b = compile(json!({"name": "b", "metric": "aws:all-bytes-out",
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 1000},
                     "durationSeconds": 300}}));
    let mut r = Run::new(b);
    assert_eq!(r.count(900).0, Verdict::Compliant);
    assert_eq!(r.count(900).0, Verdict::Compliant);
    assert_eq!(r.count(1000).0, Verdict::Violating);
}

#[test]
fn duration_on_gauges_needs_every_datapoint_compliant() {
    let b = compile(json!({"name": "b", "metric": "aws:num-listening-tcp-ports",
        "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 5},
                     "durationSeconds": 900}}));
    let mut r = Run::new(b);
    assert_eq!(r.count(7).0, Verdict::Violating);
    assert_eq!(r.count(3).0, Verdict::Violating); // the 7 is still in the window
    assert_eq!(r.count(3).0, Verdict::Violating);
    assert_eq!(r.count(3).0, Verdict::Compliant); // now it is 900 s old
    let b = compile(json!({"name": "b", "metric": "temp",
        "criteria": {"comparisonOperator": "greater-than", "value": {"number": 0},
                     "durationSeconds": 600}}));
    let mut r = Run::new(b);
    assert_eq!(r.dp(Mv::Number(-1.0)).0, Verdict::Violating);
    assert_eq!(r.dp(Mv::Number(5.0)).0, Verdict::Violating);
    assert_eq!(r.dp(Mv::Number(5.0)).0, Verdict::Compliant);
}

// ---------------------------------------------------------------- dimensions and cloud windows

#[test]
fn datapoints_outside_the_dimension_are_ignored() {
    let b = compile(json!({"name": "b", "metric": "aws:message-byte-size",
        "metricDimension": {"dimensionName": "telemetry"},
        "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 1024}}}));
    let mut r = Run::new(b);
    assert_eq!(
        r.dp_topic(Mv::Count(5000), Some("cmd/x")),
        (Verdict::Skipped(Skip::Dimension), None)
    );
    assert_eq!(
        r.dp_topic(Mv::Count(5000), None).0,
        Verdict::Skipped(Skip::Dimension)
    );
    assert_eq!(r.state, BehaviorState::default());
    assert_eq!(
        r.dp_topic(Mv::Count(5000), Some("telemetry/a/b")).0,
        Verdict::Violating
    );
    assert_eq!(
        r.dp_topic(Mv::Count(10), Some("status/x")).0,
        Verdict::Compliant
    );
    assert_eq!(
        r.dp_topic(Mv::Count(10), Some("status/x/y")).0,
        Verdict::Skipped(Skip::Dimension)
    );

    let b = compile(json!({"name": "b", "metric": "aws:message-byte-size",
        "metricDimension": {"dimensionName": "telemetry", "operator": "NOT_IN"},
        "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 1024}}}));
    let mut r = Run::new(b);
    assert_eq!(
        r.dp_topic(Mv::Count(5000), Some("telemetry/a")).0,
        Verdict::Skipped(Skip::Dimension)
    );
    assert_eq!(
        r.dp_topic(Mv::Count(5000), Some("cmd/x")).0,
        Verdict::Violating
    );
    assert_eq!(r.dp_topic(Mv::Count(5000), None).0, Verdict::Violating);
}

#[test]
fn client_id_dimension() {
    let b = compile(
        json!({"name": "b", "metric": "aws:num-authorization-failures",
        "metricDimension": {"dimensionName": "own"},
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 1}}}),
    );
    let mut r = Run::new(b);
    // Run's client id is dev-1.
    assert_eq!(
        r.dp_topic(Mv::Count(3), Some("devices/dev-2/cmd")).0,
        Verdict::Skipped(Skip::Dimension)
    );
    assert_eq!(
        r.dp_topic(Mv::Count(3), Some("devices/dev-1/cmd")).0,
        Verdict::Violating
    );
}

#[test]
fn cloud_window_sums_selected_topics() {
    let b = compile(json!({"name": "b", "metric": "aws:num-messages-sent",
        "metricDimension": {"dimensionName": "telemetry"},
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 10}}}));
    let mut r = Run::new(b);
    let (a, c, x) = (Mv::Count(4), Mv::Count(5), Mv::Count(100));
    let points = [
        Point {
            value: &a,
            topic: Some("telemetry/t1"),
        },
        Point {
            value: &c,
            topic: Some("status/s"),
        },
        Point {
            value: &x,
            topic: Some("cmd/ignored"),
        },
    ];
    let (v, _) = r.input(Input::CloudWindow {
        at_ms: 1,
        points: &points,
        client_id: "dev-1",
    });
    assert_eq!(v, Verdict::Compliant); // 4 + 5
    let more = [points[0], points[1], points[0]];
    let (v, e) = r.input(Input::CloudWindow {
        at_ms: 2,
        points: &more,
        client_id: "dev-1",
    });
    assert_eq!(v, Verdict::Violating); // 4 + 5 + 4
    assert_eq!(
        e.unwrap(),
        Event::InAlarm {
            violation_id: "v1".into(),
            value: Mv::Count(13),
            at_ms: 2,
            suppressed: false
        }
    );
    let none = [points[2]];
    let (v, _) = r.input(Input::CloudWindow {
        at_ms: 3,
        points: &none,
        client_id: "dev-1",
    });
    assert_eq!(v, Verdict::Skipped(Skip::Dimension));

    // Without a dimension every topic counts.
    let mut r = Run::new(static_count(
        "aws:num-messages-received",
        "less-than",
        10,
        1,
        1,
    ));
    let (v, e) = r.input(Input::CloudWindow {
        at_ms: 1,
        points: &points,
        client_id: "c",
    });
    assert_eq!(v, Verdict::Violating);
    assert_eq!(
        e.unwrap(),
        Event::InAlarm {
            violation_id: "v1".into(),
            value: Mv::Count(109),
            at_ms: 1,
            suppressed: false
        }
    );
}

#[test]
fn cloud_window_of_source_ips() {
    let b = compile(json!({"name": "b", "metric": "aws:source-ip-address",
        "criteria": {"comparisonOperator": "in-cidr-set", "value": {"cidrs": ["10.0.0.0/8"]}}}));
    let mut r = Run::new(b);
    let (good, bad) = (ips(&["10.0.0.1"]), ips(&["8.8.8.8"]));
    let points = [
        Point {
            value: &good,
            topic: None,
        },
        Point {
            value: &bad,
            topic: None,
        },
    ];
    let (v, e) = r.input(Input::CloudWindow {
        at_ms: 1,
        points: &points,
        client_id: "c",
    });
    assert_eq!(v, Verdict::Violating);
    assert_eq!(
        e.unwrap(),
        Event::InAlarm {
            violation_id: "v1".into(),
            value: bad.clone(),
            at_ms: 1,
            suppressed: false
        }
    );
    let (v, e) = r.input(Input::CloudWindow {
        at_ms: 2,
        points: &points[..1],
        client_id: "c",
    });
    assert_eq!(v, Verdict::Compliant);
    assert_eq!(e.unwrap().event_type(), "alarm-cleared");
}

// ---------------------------------------------------------------- statistical

#[test]
fn percentile_nearest_rank() {
    let mut ten: Vec<f64> = (1..=10).rev().map(f64::from).collect();
    assert_eq!(percentile(&mut ten, Statistic::P90), Some(9.0));
    assert_eq!(percentile(&mut ten, Statistic::P50), Some(5.0));
    assert_eq!(percentile(&mut ten, Statistic::P0), Some(1.0));
    assert_eq!(percentile(&mut ten, Statistic::P0_01), Some(1.0));
    assert_eq!(percentile(&mut ten, Statistic::P10), Some(1.0));
    assert_eq!(percentile(&mut ten, Statistic::P99), Some(10.0));
    assert_eq!(percentile(&mut ten, Statistic::P100), Some(10.0));
    let mut thousand: Vec<f64> = (1..=1000).map(f64::from).collect();
    assert_eq!(percentile(&mut thousand, Statistic::P99_9), Some(999.0));
    assert_eq!(percentile(&mut thousand, Statistic::P99_99), Some(1000.0));
    assert_eq!(percentile(&mut thousand, Statistic::P0_1), Some(1.0));
    assert_eq!(percentile(&mut thousand, Statistic::P1), Some(10.0));
    assert_eq!(percentile(&mut [], Statistic::P50), None);
    assert_eq!(percentile(&mut [3.0, -1.0], Statistic::P50), None);
    assert_eq!(percentile(&mut [7.0], Statistic::P0), Some(7.0));
}

#[test]
fn statistical_threshold_over_a_fleet_of_ten() {
    let b = compile(json!({"name": "b", "metric": "aws:all-bytes-out",
        "criteria": {"comparisonOperator": "less-than-equals", "statisticalThreshold": {"statistic": "p90"},
                     "durationSeconds": 600}}));
    assert_eq!(b.window_ms(), 600_000);
    // Device i sends i*10 twice in the window: totals 20, 40, …, 200.
    let mut fleet: Vec<Run> = (0..10).map(|_| Run::new(b.clone())).collect();
    for (i, r) in fleet.iter_mut().enumerate() {
        let n = (i as u64 + 1) * 10;
        assert_eq!(r.count(n).0, Verdict::Accumulated);
        assert_eq!(r.count(n), (Verdict::Accumulated, None));
    }
    let mut values: Vec<f64> = fleet
        .iter()
        .filter_map(|r| r.state.window_value())
        .collect();
    let p90 = percentile(&mut values, Statistic::P90);
    assert_eq!(p90, Some(180.0));
    let verdicts: Vec<Verdict> = fleet
        .iter_mut()
        .map(|r| {
            r.input(Input::WindowEnd {
                at_ms: 600_000,
                percentile_value: p90,
            })
            .0
        })
        .collect();
    let mut want = vec![Verdict::Compliant; 9];
    want.push(Verdict::Violating);
    assert_eq!(verdicts, want);
    assert_eq!(
        fleet[9].state.status,
        AlarmStatus::InAlarm {
            violation_id: "v1".into(),
            started_ms: 600_000,
            last_value: Mv::Count(200),
            last_ms: 600_000
        }
    );
    // The window restarts: a device with no datapoints is not evaluated.
    assert_eq!(fleet[9].state.window_value(), None);
    assert_eq!(
        fleet[9].input(Input::WindowEnd {
            at_ms: 1_200_000,
            percentile_value: p90
        }),
        (Verdict::Skipped(Skip::NoData), None)
    );
    // Unavailable percentile: nothing changes.
    fleet[9].count(1);
    assert_eq!(
        fleet[9]
            .input(Input::WindowEnd {
                at_ms: 1_800_000,
                percentile_value: None
            })
            .0,
        Verdict::Skipped(Skip::StatisticUnavailable)
    );
    assert!(fleet[9].state.in_alarm());
    fleet[9].count(1);
    let (v, e) = fleet[9].input(Input::WindowEnd {
        at_ms: 2_400_000,
        percentile_value: p90,
    });
    assert_eq!(v, Verdict::Compliant);
    assert_eq!(e.unwrap().event_type(), "alarm-cleared");
}

#[test]
fn statistical_custom_numbers_with_negative_values() {
    let b = compile(json!({"name": "b", "metric": "temp",
        "criteria": {"comparisonOperator": "greater-than", "statisticalThreshold": {"statistic": "p10"}}}));
    assert_eq!(b.window_ms(), 300_000);
    let mut fleet: Vec<Run> = (0..3).map(|_| Run::new(b.clone())).collect();
    for (r, v) in fleet.iter_mut().zip([-1.0, 5.0, 6.0]) {
        r.dp(Mv::Number(v));
    }
    let mut values: Vec<f64> = fleet
        .iter()
        .filter_map(|r| r.state.window_value())
        .collect();
    let p = percentile(&mut values, Statistic::P10);
    assert_eq!(p, None);
    for r in &mut fleet {
        assert_eq!(
            r.input(Input::WindowEnd {
                at_ms: 1,
                percentile_value: p
            })
            .0,
            Verdict::Skipped(Skip::StatisticUnavailable)
        );
    }
}

#[test]
fn statistical_gauge_window_uses_the_worst_value() {
    let b = compile(json!({"name": "b", "metric": "aws:message-byte-size",
        "criteria": {"comparisonOperator": "less-than-equals", "statisticalThreshold": {"statistic": "p90"}}}));
    let mut r = Run::new(b);
    for n in [10, 900, 20] {
        r.count(n);
    }
    assert_eq!(r.state.window_value(), Some(900.0));
    assert_eq!(
        r.input(Input::WindowEnd {
            at_ms: 1,
            percentile_value: Some(500.0)
        })
        .0,
        Verdict::Violating
    );
}

#[test]
fn window_end_for_a_static_behavior_is_ignored() {
    let mut r = Run::new(static_count("aws:all-bytes-in", "less-than", 1, 1, 1));
    assert_eq!(
        r.input(Input::WindowEnd {
            at_ms: 1,
            percentile_value: Some(0.0)
        })
        .0,
        Verdict::Skipped(Skip::NotStatistical)
    );
}

// ---------------------------------------------------------------- ML and retain-only

#[test]
fn ml_behaviors_never_alarm() {
    let b = compile(json!({"name": "b", "metric": "aws:all-bytes-in",
        "criteria": {"mlDetectionConfig": {"confidenceLevel": "HIGH"}, "consecutiveDatapointsToAlarm": 1}}));
    assert_eq!(b.model_status(), Some(ModelStatus::PendingBuild));
    let mut r = Run::new(b);
    for _ in 0..20 {
        assert_eq!(
            r.count(u64::MAX),
            (Verdict::Skipped(Skip::ModelPendingBuild), None)
        );
    }
    assert_eq!(
        r.input(Input::WindowEnd {
            at_ms: 1,
            percentile_value: Some(0.0)
        })
        .0,
        Verdict::Skipped(Skip::ModelPendingBuild)
    );
    assert_eq!(
        static_count("aws:all-bytes-in", "less-than", 1, 1, 1).model_status(),
        None
    );
}

#[test]
fn retain_only_behaviors_are_not_evaluated() {
    let mut r = Run::new(compile(
        json!({"name": "b", "metric": "aws:listening-tcp-ports"}),
    ));
    assert_eq!(
        r.dp(ports(&[1])),
        (Verdict::Skipped(Skip::RetainOnly), None)
    );
}

#[test]
fn state_round_trips_through_serde() {
    let mut r = Run::new(compile(
        json!({"name": "b", "metric": "aws:num-messages-sent",
        "criteria": {"comparisonOperator": "less-than", "value": {"count": 10}, "durationSeconds": 900}}),
    ));
    r.counts(&[4, 9]);
    let text = serde_json::to_string(&r.state).unwrap();
    let back: BehaviorState = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r.state);
}
