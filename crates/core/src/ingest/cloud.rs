//! Cloud-side metrics: broker events folded into AWS's metrics, per thing.
//!
//! Counts are aggregated per 5-minute window and emitted when the window closes, stamped with
//! its start; per-message sizes and source IPs are emitted as they happen. Each datapoint keeps
//! the topic it relates to where AWS allows a topic-filter dimension, so a count is kept per
//! (thing, metric, topic). The aggregator is pure: the runner feeds it events and ticks.

use std::collections::HashMap;
use std::net::IpAddr;

use fleetward_proto::decode::{AwsMetric, MetricValue};

/// AWS aggregates cloud-side counts over 5 minutes.
pub const WINDOW_MS: i64 = 300_000;

/// After a (thing, metric, topic) count was last above zero, windows without any such event
/// are emitted as a count of 0 for this many windows: a quiet window is a datapoint of 0, which
/// is what lets an alarm on a count clear. 22 windows cover the longest `durationSeconds`
/// (3600 s = 12 windows) plus the most `consecutiveDatapointsToClear` (10); after that the
/// key is forgotten, so memory stays bounded by recent activity.
pub const ZERO_TAIL_WINDOWS: i64 = 22;

/// Distinct topics one (thing, metric) is counted under per window. A device picks its topics,
/// so without a cap a flood of distinct (denied) topics would grow memory and the rows of
/// every window; beyond the cap, counts fold into [`OVERFLOW_TOPIC`].
pub const MAX_TOPICS_PER_WINDOW: usize = 64;

/// Longest topic kept on a datapoint, in bytes: AWS IoT's topic limit. A longer topic (MQTT
/// allows 65,535 bytes) is counted under [`OVERFLOW_TOPIC`].
pub const MAX_TOPIC_LEN: usize = 256;

/// The topic counts fold into past [`MAX_TOPICS_PER_WINDOW`] or [`MAX_TOPIC_LEN`]. `#` cannot
/// appear in a topic, so it collides with no real one; a topic-filter dimension of `#`
/// (everything) still counts it, and narrower filters do not.
pub const OVERFLOW_TOPIC: &str = "#overflow";

/// Something the broker observed about a device; each feeds one or more cloud-side metrics.
/// `at` is epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerEvent {
    /// A connection attempt (`aws:num-connection-attempts`, and on success
    /// `aws:source-ip-address` and the end of a `aws:disconnect-duration`).
    Connect {
        /// The thing, when the credentials identified one (also for refused attempts).
        thing: Option<String>,
        /// The source address.
        ip: Option<IpAddr>,
        /// Whether the connection was accepted.
        success: bool,
        /// When.
        at: i64,
    },
    /// A connection ended (`aws:num-disconnects`, start of `aws:disconnect-duration`).
    Disconnect {
        /// The thing.
        thing: String,
        /// When.
        at: i64,
    },
    /// A publish or subscribe the policy refused (`aws:num-authorization-failures`).
    AuthorizationFailure {
        /// The thing.
        thing: String,
        /// The topic or filter refused.
        topic: String,
        /// Failures of the same connection before this one that the broker did not send as
        /// events (it rate-limits them per connection); counted under [`OVERFLOW_TOPIC`].
        suppressed: u64,
        /// When.
        at: i64,
    },
    /// A message the device published (`aws:num-messages-sent`, `aws:message-byte-size`).
    MessageFromDevice {
        /// The thing.
        thing: String,
        /// The topic.
        topic: String,
        /// Payload bytes.
        size: usize,
        /// When.
        at: i64,
    },
    /// A message delivered to the device (`aws:num-messages-received`).
    MessageToDevice {
        /// The thing.
        thing: String,
        /// The topic.
        topic: String,
        /// Payload bytes.
        size: usize,
        /// When.
        at: i64,
    },
}

/// A cloud-side datapoint, measured by the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudDatapoint {
    /// The thing it is about.
    pub thing: String,
    /// Which cloud-side metric.
    pub metric: AwsMetric,
    /// When it was measured or, for counts, the start of its 5-minute window (epoch ms).
    pub timestamp: i64,
    /// The value (`count` for counts, `number` for sizes and durations, `cidrs` for IPs).
    pub value: MetricValue,
    /// The MQTT topic it relates to, so topic-filter dimensions can select it.
    pub topic: Option<String>,
}

type CountKey = (String, AwsMetric, Option<String>);

/// Folds events into datapoints.
#[derive(Debug)]
pub struct CloudMetrics {
    window_ms: i64,
    window_start: Option<i64>,
    counts: HashMap<CountKey, u64>,
    /// Distinct topics counted this window per (thing, metric), for the cap.
    topics: HashMap<(String, AwsMetric), usize>,
    /// The last window in which each key counted something.
    recent: HashMap<CountKey, i64>,
    disconnected_at: HashMap<String, i64>,
    ready: Vec<CloudDatapoint>,
}

impl Default for CloudMetrics {
    fn default() -> Self {
        CloudMetrics::with_window(WINDOW_MS)
    }
}

impl CloudMetrics {
    /// An aggregator with windows of `window_ms` (AWS uses [`WINDOW_MS`]; shorter windows are
    /// for demos and tests).
    pub fn with_window(window_ms: i64) -> Self {
        CloudMetrics {
            window_ms: window_ms.max(1),
            window_start: None,
            counts: HashMap::new(),
            topics: HashMap::new(),
            recent: HashMap::new(),
            disconnected_at: HashMap::new(),
            ready: Vec::new(),
        }
    }

    fn window_of(&self, at: i64) -> i64 {
        at - at.rem_euclid(self.window_ms)
    }

    /// Records one event. Events must arrive in time order per thing (the broker's order).
    pub fn record(&mut self, event: &BrokerEvent) {
        let at = match event {
            BrokerEvent::Connect { at, .. }
            | BrokerEvent::Disconnect { at, .. }
            | BrokerEvent::AuthorizationFailure { at, .. }
            | BrokerEvent::MessageFromDevice { at, .. }
            | BrokerEvent::MessageToDevice { at, .. } => *at,
        };
        self.roll(at);
        match event {
            BrokerEvent::Connect { thing: None, .. } => {}
            BrokerEvent::Connect {
                thing: Some(thing),
                ip,
                success,
                at,
            } => {
                self.count(thing, AwsMetric::NumConnectionAttempts, None);
                if *success {
                    if let Some(ip) = ip {
                        self.point(
                            thing,
                            AwsMetric::SourceIpAddress,
                            *at,
                            MetricValue::Cidrs(vec![*ip]),
                            None,
                        );
                    }
                    if let Some(since) = self.disconnected_at.remove(thing) {
                        let minutes = u64::try_from((at - since).max(0) / 60_000).unwrap_or(0);
                        self.point(
                            thing,
                            AwsMetric::DisconnectDuration,
                            *at,
                            MetricValue::Count(minutes),
                            None,
                        );
                    }
                }
            }
            BrokerEvent::Disconnect { thing, at } => {
                self.count(thing, AwsMetric::NumDisconnects, None);
                self.disconnected_at.insert(thing.clone(), *at);
            }
            BrokerEvent::AuthorizationFailure {
                thing,
                topic,
                suppressed,
                ..
            } => {
                self.count(thing, AwsMetric::NumAuthorizationFailures, Some(topic));
                if *suppressed > 0 {
                    let overflow = OVERFLOW_TOPIC.to_owned();
                    self.add(
                        thing,
                        AwsMetric::NumAuthorizationFailures,
                        Some(&overflow),
                        *suppressed,
                    );
                }
            }
            BrokerEvent::MessageFromDevice {
                thing,
                topic,
                size,
                at,
            } => {
                self.count(thing, AwsMetric::NumMessagesSent, Some(topic));
                let size = u64::try_from(*size).unwrap_or(u64::MAX);
                self.point(
                    thing,
                    AwsMetric::MessageByteSize,
                    *at,
                    MetricValue::Count(size),
                    Some(topic),
                );
            }
            BrokerEvent::MessageToDevice { thing, topic, .. } => {
                self.count(thing, AwsMetric::NumMessagesReceived, Some(topic));
            }
        }
    }

    /// Closes the current window if `now` is past it, turning its counts into datapoints.
    pub fn roll(&mut self, now: i64) {
        let current = self.window_of(now);
        match self.window_start {
            Some(start) if start < current => {
                let horizon = start - ZERO_TAIL_WINDOWS * self.window_ms;
                self.recent.retain(|_, last| *last >= horizon);
                for (key, last) in &self.recent {
                    if *last < start && !self.counts.contains_key(key) {
                        self.ready.push(CloudDatapoint {
                            thing: key.0.clone(),
                            metric: key.1,
                            timestamp: start,
                            value: MetricValue::Count(0),
                            topic: key.2.clone(),
                        });
                    }
                }
                for (key, n) in self.counts.drain() {
                    self.recent.insert(key.clone(), start);
                    let (thing, metric, topic) = key;
                    self.ready.push(CloudDatapoint {
                        thing,
                        metric,
                        timestamp: start,
                        value: MetricValue::Count(n),
                        topic,
                    });
                }
                self.topics.clear();
                self.window_start = Some(current);
            }
            Some(_) => {}
            None => self.window_start = Some(current),
        }
    }

    /// Takes the datapoints ready to store.
    pub fn take(&mut self) -> Vec<CloudDatapoint> {
        std::mem::take(&mut self.ready)
    }

    /// Counts one event. The common case, a key already counted this window, costs one
    /// lookup; a new topic is admitted only while (thing, metric) is under the topic cap.
    fn count(&mut self, thing: &str, metric: AwsMetric, topic: Option<&String>) {
        self.add(thing, metric, topic, 1);
    }

    /// Adds `n` to a count of the current window.
    fn add(&mut self, thing: &str, metric: AwsMetric, topic: Option<&String>, n: u64) {
        let key = (
            thing.to_owned(),
            metric,
            topic.map(|t| capped(t).to_owned()),
        );
        if let Some(count) = self.counts.get_mut(&key) {
            *count = count.saturating_add(n);
            return;
        }
        let key = match key {
            (thing, metric, Some(t)) if t != OVERFLOW_TOPIC => {
                let distinct = self.topics.entry((thing.clone(), metric)).or_default();
                if *distinct < MAX_TOPICS_PER_WINDOW {
                    *distinct += 1;
                    (thing, metric, Some(t))
                } else {
                    (thing, metric, Some(OVERFLOW_TOPIC.to_owned()))
                }
            }
            key => key,
        };
        let count = self.counts.entry(key).or_default();
        *count = count.saturating_add(n);
    }

    fn point(
        &mut self,
        thing: &str,
        metric: AwsMetric,
        at: i64,
        value: MetricValue,
        topic: Option<&String>,
    ) {
        self.ready.push(CloudDatapoint {
            thing: thing.to_owned(),
            metric,
            timestamp: at,
            value,
            topic: topic.map(|t| capped(t).to_owned()),
        });
    }
}

/// `topic`, or [`OVERFLOW_TOPIC`] when it is longer than [`MAX_TOPIC_LEN`].
fn capped(topic: &str) -> &str {
    if topic.len() > MAX_TOPIC_LEN {
        OVERFLOW_TOPIC
    } else {
        topic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_of_distinct_topics_is_folded_and_bounded() {
        let mut m = CloudMetrics::default();
        let thing = "t".to_string();
        for i in 0..10_000 {
            m.record(&BrokerEvent::AuthorizationFailure {
                thing: thing.clone(),
                topic: format!("denied/{i}"),
                suppressed: 0,
                at: 1_000,
            });
        }
        m.record(&BrokerEvent::AuthorizationFailure {
            thing: thing.clone(),
            topic: "x".repeat(MAX_TOPIC_LEN + 1),
            suppressed: 0,
            at: 1_000,
        });
        m.roll(WINDOW_MS + 1_000);
        let points = m.take();
        assert_eq!(points.len(), MAX_TOPICS_PER_WINDOW + 1);
        let total: u64 = points
            .iter()
            .map(|p| match p.value {
                MetricValue::Count(n) => n,
                _ => 0,
            })
            .sum();
        assert_eq!(total, 10_001, "every failure is still counted");
        let overflow = points
            .iter()
            .find(|p| p.topic.as_deref() == Some(OVERFLOW_TOPIC))
            .unwrap();
        assert_eq!(
            overflow.value,
            MetricValue::Count(10_000 - MAX_TOPICS_PER_WINDOW as u64 + 1)
        );
        // A topic already counted this window keeps its own count past the cap.
        let first = points
            .iter()
            .find(|p| p.topic.as_deref() == Some("denied/0"))
            .unwrap();
        assert_eq!(first.value, MetricValue::Count(1));
        // The next window's cap starts over.
        m.record(&BrokerEvent::AuthorizationFailure {
            thing,
            topic: "denied/new".into(),
            suppressed: 0,
            at: WINDOW_MS + 2_000,
        });
        m.roll(2 * WINDOW_MS + 1);
        assert!(
            m.take()
                .iter()
                .any(|p| p.topic.as_deref() == Some("denied/new"))
        );
    }

    fn window_of(at: i64) -> i64 {
        at - at.rem_euclid(WINDOW_MS)
    }

    fn ev_connect(thing: &str, success: bool, at: i64) -> BrokerEvent {
        BrokerEvent::Connect {
            thing: Some(thing.into()),
            ip: Some("10.0.0.9".parse().unwrap()),
            success,
            at,
        }
    }

    fn find(points: &[CloudDatapoint], metric: AwsMetric) -> Vec<&CloudDatapoint> {
        points.iter().filter(|p| p.metric == metric).collect()
    }

    #[test]
    fn scripted_sequence_gives_aws_metrics() {
        let t0 = 1_700_000_100_000; // inside a window
        let w0 = window_of(t0);
        let mut m = CloudMetrics::default();
        m.record(&ev_connect("a", false, t0)); // refused attempt
        m.record(&ev_connect("a", true, t0 + 1));
        let topic = "$aws/things/b/defender/metrics/json".to_string();
        for i in 0..3 {
            m.record(&BrokerEvent::AuthorizationFailure {
                thing: "a".into(),
                topic: topic.clone(),
                suppressed: 0,
                at: t0 + 2 + i,
            });
        }
        m.record(&BrokerEvent::MessageFromDevice {
            thing: "a".into(),
            topic: topic.clone(),
            size: 321,
            at: t0 + 10,
        });
        m.record(&BrokerEvent::Disconnect {
            thing: "a".into(),
            at: t0 + 20,
        });
        // Reconnect 3 minutes later, in the next window: closes the first.
        let t1 = t0 + 20 + 180_000 + WINDOW_MS;
        m.record(&ev_connect("a", true, t1));
        let points = m.take();

        let attempts = find(&points, AwsMetric::NumConnectionAttempts);
        assert_eq!(attempts.len(), 1);
        assert_eq!(
            (attempts[0].timestamp, &attempts[0].value),
            (w0, &MetricValue::Count(2))
        );
        let fails = find(&points, AwsMetric::NumAuthorizationFailures);
        assert_eq!(fails[0].value, MetricValue::Count(3));
        assert_eq!(fails[0].topic.as_deref(), Some(topic.as_str()));
        assert_eq!(
            find(&points, AwsMetric::NumDisconnects)[0].value,
            MetricValue::Count(1)
        );
        assert_eq!(
            find(&points, AwsMetric::NumMessagesSent)[0].value,
            MetricValue::Count(1)
        );
        let size = find(&points, AwsMetric::MessageByteSize);
        assert_eq!(
            (size[0].timestamp, &size[0].value),
            (t0 + 10, &MetricValue::Count(321))
        );
        assert_eq!(find(&points, AwsMetric::SourceIpAddress).len(), 2);
        let dur = find(&points, AwsMetric::DisconnectDuration);
        assert_eq!(dur.len(), 1);
        assert_eq!(dur[0].value, MetricValue::Count(8)); // 3 min + one 5-min window
        // The second window's attempt is still open.
        m.roll(t1 + WINDOW_MS);
        let later = m.take();
        assert_eq!(
            find(&later, AwsMetric::NumConnectionAttempts)[0].timestamp,
            window_of(t1)
        );
    }

    #[test]
    fn suppressed_failures_are_counted_under_the_overflow_topic() {
        let mut m = CloudMetrics::default();
        m.record(&BrokerEvent::AuthorizationFailure {
            thing: "a".into(),
            topic: "denied/1".into(),
            suppressed: 41,
            at: 10,
        });
        m.roll(WINDOW_MS);
        let mut points: Vec<(Option<String>, MetricValue)> =
            m.take().into_iter().map(|p| (p.topic, p.value)).collect();
        points.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            points,
            [
                (Some(OVERFLOW_TOPIC.to_owned()), MetricValue::Count(41)),
                (Some("denied/1".to_owned()), MetricValue::Count(1)),
            ]
        );
    }

    #[test]
    fn quiet_windows_count_zero_then_are_forgotten() {
        let mut m = CloudMetrics::default();
        let topic = "$aws/things/b/x".to_string();
        m.record(&BrokerEvent::AuthorizationFailure {
            thing: "a".into(),
            topic: topic.clone(),
            suppressed: 0,
            at: 10,
        });
        m.roll(WINDOW_MS);
        let first = m.take();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].value, MetricValue::Count(1));
        // Every following quiet window is a 0 for the same key, up to the tail.
        let mut zeros = 0;
        for w in 2..(ZERO_TAIL_WINDOWS + 10) {
            m.roll(w * WINDOW_MS);
            for p in m.take() {
                assert_eq!(
                    (p.metric, &p.value, p.topic.as_deref(), p.timestamp),
                    (
                        AwsMetric::NumAuthorizationFailures,
                        &MetricValue::Count(0),
                        Some(topic.as_str()),
                        (w - 1) * WINDOW_MS
                    )
                );
                zeros += 1;
            }
        }
        assert_eq!(zeros, ZERO_TAIL_WINDOWS);
        assert!(m.recent.is_empty());
    }

    #[test]
    fn unidentified_attempts_are_not_attributed() {
        let mut m = CloudMetrics::default();
        m.record(&BrokerEvent::Connect {
            thing: None,
            ip: None,
            success: false,
            at: 0,
        });
        m.roll(WINDOW_MS);
        assert!(m.take().is_empty());
    }
}
