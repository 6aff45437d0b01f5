//! Custom metric types at ingest: a datapoint must have the type its metric was registered
//! with (`CreateCustomMetric`'s `metricType`), or the whole report is refused with
//! `InvalidPayload`. AWS's documents leave this check implicit; refusing at the door tells the
//! device's owner at once, where a silently unevaluated datapoint would hide a broken agent.
//!
//! Names that are not registered are accepted and stored: a fleet may roll out an agent
//! before its operator registers the metric, and nothing evaluates them until then.

use fleetward_proto::decode::{Datapoint, Metric, MetricValue};

use crate::detect::CustomMetricType;

/// A stored `metricType` as the type it names.
pub fn parse_type(s: &str) -> Option<CustomMetricType> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

/// The registered type's name, as the API spells it.
fn type_name(t: CustomMetricType) -> &'static str {
    match t {
        CustomMetricType::StringList => "string-list",
        CustomMetricType::IpAddressList => "ip-address-list",
        CustomMetricType::NumberList => "number-list",
        CustomMetricType::Number => "number",
    }
}

/// The type a decoded custom value has, and the report member that carried it.
fn value_type(v: &MetricValue) -> Option<(CustomMetricType, &'static str)> {
    match v {
        MetricValue::Number(_) => Some((CustomMetricType::Number, "number")),
        MetricValue::Numbers(_) => Some((CustomMetricType::NumberList, "number_list")),
        MetricValue::Strings(_) => Some((CustomMetricType::StringList, "string_list")),
        MetricValue::Cidrs(_) => Some((CustomMetricType::IpAddressList, "ip_list")),
        MetricValue::Count(_) | MetricValue::Ports(_) => None,
    }
}

/// The rejection message for the first custom datapoint whose type differs from its
/// registration, or `None` when every registered one matches.
pub fn mismatch(
    datapoints: &[Datapoint],
    registered: &dyn Fn(&str) -> Option<CustomMetricType>,
) -> Option<String> {
    datapoints.iter().find_map(|dp| {
        let Metric::Custom(name) = &dp.metric else {
            return None;
        };
        let want = registered(name)?;
        let (got, member) = value_type(&dp.value)?;
        (got != want).then(|| {
            format!(
                "custom_metrics.{name}: registered as {} but the report sends {member} (expected {})",
                type_name(want),
                expected_member(want),
            )
        })
    })
}

fn expected_member(t: CustomMetricType) -> &'static str {
    match t {
        CustomMetricType::StringList => "string_list",
        CustomMetricType::IpAddressList => "ip_list",
        CustomMetricType::NumberList => "number_list",
        CustomMetricType::Number => "number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dp(name: &str, value: MetricValue) -> Datapoint {
        Datapoint {
            metric: Metric::Custom(name.into()),
            value,
        }
    }

    fn registry(name: &str) -> Option<CustomMetricType> {
        match name {
            "temp" => Some(CustomMetricType::Number),
            "users" => Some(CustomMetricType::StringList),
            "peers" => Some(CustomMetricType::IpAddressList),
            "loads" => Some(CustomMetricType::NumberList),
            _ => None,
        }
    }

    #[test]
    fn matching_and_unregistered_metrics_pass() {
        let ok = [
            dp("temp", MetricValue::Number(21.5)),
            dp("users", MetricValue::Strings(vec!["root".into()])),
            dp(
                "peers",
                MetricValue::Cidrs(vec!["10.0.0.1".parse().unwrap()]),
            ),
            dp("loads", MetricValue::Numbers(vec![1.0, 2.0])),
            dp("unknown", MetricValue::Number(1.0)),
        ];
        assert_eq!(mismatch(&ok, &registry), None);
    }

    #[test]
    fn every_wrong_type_is_named() {
        let cases = [
            (
                dp("temp", MetricValue::Numbers(vec![1.0])),
                "custom_metrics.temp: registered as number but the report sends number_list (expected number)",
            ),
            (
                dp("users", MetricValue::Number(3.0)),
                "custom_metrics.users: registered as string-list but the report sends number (expected string_list)",
            ),
            (
                dp("peers", MetricValue::Strings(vec!["x".into()])),
                "custom_metrics.peers: registered as ip-address-list but the report sends string_list (expected ip_list)",
            ),
            (
                dp("loads", MetricValue::Cidrs(vec![])),
                "custom_metrics.loads: registered as number-list but the report sends ip_list (expected number_list)",
            ),
        ];
        for (d, want) in cases {
            assert_eq!(mismatch(&[d], &registry).as_deref(), Some(want));
        }
    }

    #[test]
    fn aws_metrics_are_not_custom() {
        let d = Datapoint {
            metric: Metric::Aws(fleetward_proto::decode::AwsMetric::AllBytesIn),
            value: MetricValue::Count(3),
        };
        assert_eq!(mismatch(&[d], &|_| Some(CustomMetricType::Number)), None);
    }
}
