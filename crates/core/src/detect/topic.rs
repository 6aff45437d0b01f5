//! TOPIC_FILTER dimensions (service-side.md §1.4): which datapoints a behavior sees.
//!
//! Matching runs for every cloud-side datapoint of a dimensioned behavior, so it allocates
//! nothing: `${iot:ClientId}` is substituted while comparing rather than by building the
//! expanded filter.

use super::model::DimensionOperator;

/// The substitution variable AWS supports in dimension values.
pub const CLIENT_ID_VAR: &str = "${iot:ClientId}";

/// Whether a datapoint on `topic` passes a dimension: with `In`, the topic matches one of
/// `filters`; with `NotIn`, it matches none (§1.3 `MetricDimension`).
pub fn dimension_matches(
    filters: &[String],
    operator: DimensionOperator,
    topic: &str,
    client_id: &str,
) -> bool {
    let any = filters.iter().any(|f| topic_matches(f, topic, client_id));
    match operator {
        DimensionOperator::In => any,
        DimensionOperator::NotIn => !any,
    }
}

/// MQTT topic-filter matching (MQTT 3.1.1 §4.7) with `${iot:ClientId}` substituted by
/// `client_id`.
///
/// `+` matches exactly one level (possibly empty), `#` the rest including the parent level
/// (`a/#` matches `a`). As MQTT requires, a filter starting with a wildcard does not match
/// topics starting with `$` (so `#` does not count `$aws/…` traffic). A `+` or `#` that is not
/// a whole level is literal text. The variable may expand to text containing `/` (client ids
/// may); the expansion is then compared against that many topic levels.
pub fn topic_matches(filter: &str, topic: &str, client_id: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    // What is left of the topic; `None` once every level has been consumed.
    let mut rest = Some(topic);
    for level in filter.split('/') {
        if level == "#" {
            return true;
        }
        let Some(r) = rest else {
            return false;
        };
        if level == "+" {
            rest = r.find('/').and_then(|i| r.get(i + 1..));
            continue;
        }
        let Some(after) = strip_level(level, r, client_id) else {
            return false;
        };
        rest = if after.is_empty() {
            None
        } else if let Some(next) = after.strip_prefix('/') {
            Some(next)
        } else {
            return false;
        };
    }
    rest.is_none()
}

/// Strips the literal `level` (variables expanded) from the front of `topic`.
fn strip_level<'t>(level: &str, topic: &'t str, client_id: &str) -> Option<&'t str> {
    let mut pieces = level.split(CLIENT_ID_VAR);
    let mut cur = topic.strip_prefix(pieces.next().unwrap_or(""))?;
    for piece in pieces {
        cur = cur.strip_prefix(client_id)?.strip_prefix(piece)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn literal_filters() {
        assert!(topic_matches("a/b", "a/b", "c"));
        assert!(!topic_matches("a/b", "a/b/c", "c"));
        assert!(!topic_matches("a/b", "a", "c"));
        assert!(!topic_matches("a/b", "a/bc", "c"));
        assert!(!topic_matches("a/b", "a/b/", "c"));
    }

    #[test]
    fn plus_matches_one_level() {
        assert!(topic_matches("a/+/c", "a/x/c", "c"));
        assert!(topic_matches("a/+/c", "a//c", "c"));
        assert!(!topic_matches("a/+/c", "a/x/y/c", "c"));
        assert!(topic_matches("a/+", "a/", "c"));
        assert!(!topic_matches("a/+", "a", "c"));
        assert!(topic_matches("+/+", "x/y", "c"));
        // Not a whole level: literal.
        assert!(topic_matches("a+/b", "a+/b", "c"));
        assert!(!topic_matches("a+/b", "ax/b", "c"));
    }

    #[test]
    fn hash_matches_the_rest() {
        assert!(topic_matches("a/#", "a/b/c", "c"));
        assert!(topic_matches("a/#", "a", "c"));
        assert!(topic_matches("#", "anything/at/all", "c"));
        assert!(!topic_matches("a/#", "b/c", "c"));
    }

    #[test]
    fn dollar_topics_need_an_explicit_first_level() {
        assert!(!topic_matches("#", "$aws/things/t/shadow", "c"));
        assert!(!topic_matches("+/things/#", "$aws/things/t", "c"));
        assert!(topic_matches("$aws/things/#", "$aws/things/t/shadow", "c"));
    }

    #[test]
    fn client_id_substitution() {
        let filter = "devices/${iot:ClientId}/telemetry";
        assert!(topic_matches(filter, "devices/dev-1/telemetry", "dev-1"));
        assert!(!topic_matches(filter, "devices/dev-2/telemetry", "dev-1"));
        assert!(topic_matches("d/x-${iot:ClientId}-y/#", "d/x-7-y/z", "7"));
        assert!(topic_matches("${iot:ClientId}/${iot:ClientId}", "q/q", "q"));
        // A client id with a slash spans levels.
        assert!(topic_matches("d/${iot:ClientId}/t", "d/a/b/t", "a/b"));
        // An empty client id leaves the level empty.
        assert!(topic_matches("d/${iot:ClientId}", "d/", ""));
    }

    #[test]
    fn operators() {
        use DimensionOperator::{In, NotIn};
        let filters = f(&["a/#", "b/+"]);
        assert!(dimension_matches(&filters, In, "a/x", "c"));
        assert!(dimension_matches(&filters, In, "b/y", "c"));
        assert!(!dimension_matches(&filters, In, "c/z", "c"));
        assert!(!dimension_matches(&filters, NotIn, "a/x", "c"));
        assert!(dimension_matches(&filters, NotIn, "c/z", "c"));
    }
}
