//! JSON columns: what the application, not SQL, reads and writes, so the schema ports as is.

use std::fmt;

use fleetward_proto::decode::{Datapoint, MetricValue};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserializer, Serialize, Serializer};

/// A report's datapoints as one JSON object, `{"aws:all-bytes-in":{"count":3},…}`: compact,
/// readable in a SQL shell, and searchable by name without decoding the other values.
pub(super) struct DatapointsJson<'a>(pub(super) &'a [Datapoint]);

impl Serialize for DatapointsJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for dp in self.0 {
            map.serialize_entry(dp.metric.name(), &dp.value)?;
        }
        map.end()
    }
}

/// The value of metric `name` in a [`DatapointsJson`] object, if the report carried it.
///
/// Values of other metrics are skipped without being built, which matters when
/// ListMetricValues scans two weeks of reports for one metric.
pub(super) fn extract(json: &str, name: &str) -> serde_json::Result<Option<MetricValue>> {
    let mut de = serde_json::Deserializer::from_str(json);
    let v = Find(name).deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct Find<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for Find<'_> {
    type Value = Option<MetricValue>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Find<'_> {
    type Value = Option<MetricValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of metric values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_wanted) = map.next_key_seed(IsKey(self.0))? {
            if found.is_none() && is_wanted {
                found = Some(map.next_value::<MetricValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Compares a key with the wanted name without allocating it.
struct IsKey<'n>(&'n str);

impl<'de> DeserializeSeed<'de> for IsKey<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IsKey<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a metric name")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use fleetward_proto::decode::{AwsMetric, Metric};

    use super::*;

    #[test]
    fn finds_one_metric_among_others() {
        let dps = vec![
            Datapoint {
                metric: Metric::Aws(AwsMetric::AllBytesIn),
                value: MetricValue::Count(42),
            },
            Datapoint {
                metric: Metric::Custom("temp".into()),
                value: MetricValue::Numbers(vec![1.5, 2.0]),
            },
            Datapoint {
                metric: Metric::Aws(AwsMetric::ListeningTcpPorts),
                value: MetricValue::Ports(vec![22, 443]),
            },
        ];
        let json = serde_json::to_string(&DatapointsJson(&dps)).unwrap();
        assert_eq!(
            extract(&json, "aws:all-bytes-in").unwrap(),
            Some(MetricValue::Count(42))
        );
        assert_eq!(
            extract(&json, "temp").unwrap(),
            Some(MetricValue::Numbers(vec![1.5, 2.0]))
        );
        assert_eq!(
            extract(&json, "aws:listening-tcp-ports").unwrap(),
            Some(MetricValue::Ports(vec![22, 443]))
        );
        assert_eq!(extract(&json, "aws:all-bytes-out").unwrap(), None);
        assert_eq!(extract("{}", "x").unwrap(), None);
        assert!(extract("[1]", "x").is_err());
        assert!(extract("{\"x\":{\"bogus\":1}}", "x").is_err());
    }
}
