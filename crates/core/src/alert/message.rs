//! The AWS Detect SNS message and alert-target resolution. Pure: no IO, no clock.

use serde_json::{Map, Value, json};

use crate::detect::runtime::ViolationEvent;

/// The AWS Detect SNS message body for `event`: `violationEventTime` (epoch ms), `thingName`,
/// `behavior` (the full Behavior object; `{"name": …}` when the definition is unknown),
/// `violationEventType`, `metricValue`, `violationId` and `securityProfileName`.
pub fn sns_message(event: &ViolationEvent, behavior: Option<Value>) -> Value {
    let behavior = behavior
        .filter(|b| b.is_object())
        .unwrap_or_else(|| json!({ "name": event.behavior }));
    json!({
        "violationEventTime": event.at_ms,
        "thingName": event.thing,
        "behavior": behavior,
        "violationEventType": event.event_type.as_str(),
        "metricValue": serde_json::to_value(&event.value).unwrap_or(Value::Null),
        "violationId": event.violation_id,
        "securityProfileName": event.profile,
    })
}

/// The alert-target names a profile's stored `alertTargets` map names: for each entry (AWS
/// has only `SNS`), the last `:`-separated segment of its `alertTargetArn`. Entries without a
/// usable ARN are skipped. Sorted, without duplicates.
pub fn alert_target_names(alert_targets: &Value) -> Vec<String> {
    let Some(map) = alert_targets.as_object() else {
        return Vec::new();
    };
    let mut names: Vec<String> = map
        .values()
        .filter_map(Value::as_object)
        .filter_map(|t: &Map<String, Value>| t.get("alertTargetArn")?.as_str())
        .filter_map(|arn| arn.rsplit(':').next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The idempotency key of `event`'s alert to `target`: one per violation, event type and
/// target, so re-enqueueing the same event is a no-op and receivers can drop duplicates.
pub fn idempotency_key(event: &ViolationEvent, target: &str) -> String {
    format!(
        "{}:{}:{}",
        event.violation_id,
        event.event_type.as_str(),
        target
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::runtime::ViolationEventType;
    use fleetward_proto::decode::MetricValue;

    fn event(kind: ViolationEventType) -> ViolationEvent {
        ViolationEvent {
            thing: "cam-1".into(),
            profile: "ports".into(),
            behavior: "few-ports".into(),
            event_type: kind,
            value: MetricValue::Count(54),
            at_ms: 1_700_000_000_123,
            started_ms: None,
            reason: None,
            violation_id: "abc".into(),
            suppressed: false,
        }
    }

    #[test]
    fn message_has_the_aws_detect_sns_shape() {
        let behavior = json!({"name": "few-ports", "metric": "aws:num-listening-tcp-ports",
            "criteria": {"comparisonOperator": "less-than-equals", "value": {"count": 1}}});
        let m = sns_message(&event(ViolationEventType::InAlarm), Some(behavior.clone()));
        assert_eq!(
            m,
            json!({
                "violationEventTime": 1_700_000_000_123_i64,
                "thingName": "cam-1",
                "behavior": behavior,
                "violationEventType": "in-alarm",
                "metricValue": {"count": 54},
                "violationId": "abc",
                "securityProfileName": "ports",
            })
        );
        let cleared = sns_message(&event(ViolationEventType::AlarmCleared), None);
        assert_eq!(cleared["violationEventType"], "alarm-cleared");
        assert_eq!(cleared["behavior"], json!({"name": "few-ports"}));
    }

    #[test]
    fn targets_are_the_last_arn_segment() {
        let t = json!({"SNS": {
            "alertTargetArn": "arn:aws:sns:us-east-1:123456789012:ops-hook",
            "roleArn": "arn:aws:iam::123456789012:role/x"
        }});
        assert_eq!(alert_target_names(&t), ["ops-hook"]);
        assert!(alert_target_names(&json!({})).is_empty());
        assert!(alert_target_names(&Value::Null).is_empty());
        assert!(alert_target_names(&json!({"SNS": {"roleArn": "r"}})).is_empty());
        assert!(alert_target_names(&json!({"SNS": {"alertTargetArn": "arn:x:"}})).is_empty());
        assert_eq!(
            idempotency_key(&event(ViolationEventType::AlarmCleared), "ops-hook"),
            "abc:alarm-cleared:ops-hook"
        );
    }
}
