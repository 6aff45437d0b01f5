//! `network_stats` as deltas since the previous report that was *sent*.
//!
//! Counters are kept per interface so that one interface resetting (a driver reload, a USB
//! modem reconnecting) only affects its own contribution. A counter that went down is never
//! turned into a negative or an absurd delta: it either wrapped at 32 bits (an old 32-bit
//! kernel) or restarted from zero, and in both cases only what is provably new is counted.

use std::collections::BTreeMap;

use fleetward_proto::report::NetworkStats;

/// One interface's cumulative counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Packets sent.
    pub packets_out: u64,
}

/// A 32-bit counter only wraps from near its top; a drop from lower down is a reset.
const WRAP_WINDOW: u64 = 1 << 30;

/// How much a cumulative counter grew from `prev` to `now`.
pub fn counter_delta(prev: u64, now: u64) -> u64 {
    if now >= prev {
        return now - prev;
    }
    let top = u64::from(u32::MAX);
    if prev <= top && prev > top - WRAP_WINDOW && now < WRAP_WINDOW {
        // Wrapped at 2^32: what was left to the top, plus what came after.
        (top - prev) + 1 + now
    } else {
        // Reset: the counter restarted at zero, so everything it shows is new.
        now
    }
}

fn delta(prev: Counters, now: Counters) -> Counters {
    Counters {
        bytes_in: counter_delta(prev.bytes_in, now.bytes_in),
        bytes_out: counter_delta(prev.bytes_out, now.bytes_out),
        packets_in: counter_delta(prev.packets_in, now.packets_in),
        packets_out: counter_delta(prev.packets_out, now.packets_out),
    }
}

/// Per-interface counters at one moment.
pub type CounterSet = BTreeMap<String, Counters>;

/// Remembers the counters of the last report that was sent.
#[derive(Debug, Clone, Default)]
pub struct DeltaTracker {
    baseline: Option<CounterSet>,
}

impl DeltaTracker {
    /// A tracker with no report sent yet.
    pub fn new() -> Self {
        DeltaTracker::default()
    }

    /// The deltas `now` would report; `None` until a report has been sent, because there is
    /// nothing to subtract (sending cumulative counters would be a huge false spike).
    pub fn pending(&self, now: &CounterSet) -> Option<NetworkStats> {
        let base = self.baseline.as_ref()?;
        let mut sum = NetworkStats::default();
        for (name, cur) in now {
            // An interface that appeared since the last report started from zero.
            let d = match base.get(name) {
                Some(prev) => delta(*prev, *cur),
                None => *cur,
            };
            sum.bytes_in = sum.bytes_in.saturating_add(d.bytes_in);
            sum.bytes_out = sum.bytes_out.saturating_add(d.bytes_out);
            sum.packets_in = sum.packets_in.saturating_add(d.packets_in);
            sum.packets_out = sum.packets_out.saturating_add(d.packets_out);
        }
        Some(sum)
    }

    /// Records `sent` as the counters of the report the broker acknowledged.
    pub fn commit(&mut self, sent: CounterSet) {
        self.baseline = Some(sent);
    }

    /// Whether a report has been sent.
    pub fn has_baseline(&self) -> bool {
        self.baseline.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rows: &[(&str, u64, u64, u64, u64)]) -> CounterSet {
        rows.iter()
            .map(|(n, bi, bo, pi, po)| {
                (
                    (*n).to_owned(),
                    Counters {
                        bytes_in: *bi,
                        bytes_out: *bo,
                        packets_in: *pi,
                        packets_out: *po,
                    },
                )
            })
            .collect()
    }

    fn stats(bi: u64, bo: u64, pi: u64, po: u64) -> NetworkStats {
        NetworkStats {
            bytes_in: bi,
            bytes_out: bo,
            packets_in: pi,
            packets_out: po,
        }
    }

    #[test]
    fn first_report_has_no_stats() {
        let t = DeltaTracker::new();
        assert_eq!(t.pending(&set(&[("eth0", 10, 10, 1, 1)])), None);
        assert!(!t.has_baseline());
    }

    #[test]
    fn plain_growth() {
        let mut t = DeltaTracker::new();
        t.commit(set(&[("eth0", 100, 200, 10, 20), ("wlan0", 5, 5, 1, 1)]));
        let now = set(&[("eth0", 150, 260, 15, 26), ("wlan0", 6, 7, 2, 3)]);
        assert_eq!(t.pending(&now), Some(stats(51, 62, 6, 8)));
    }

    #[test]
    fn deltas_are_against_the_last_sent_report_not_the_last_collection() {
        let mut t = DeltaTracker::new();
        t.commit(set(&[("eth0", 100, 100, 1, 1)]));
        // Collected but never sent (offline): no commit.
        assert_eq!(
            t.pending(&set(&[("eth0", 300, 100, 3, 1)])),
            Some(stats(200, 0, 2, 0))
        );
        // The next one covers the whole gap.
        let later = set(&[("eth0", 1000, 500, 10, 5)]);
        assert_eq!(t.pending(&later), Some(stats(900, 400, 9, 4)));
        t.commit(later);
        assert_eq!(
            t.pending(&set(&[("eth0", 1001, 500, 11, 5)])),
            Some(stats(1, 0, 1, 0))
        );
    }

    #[test]
    fn reset_counts_only_what_is_new() {
        let mut t = DeltaTracker::new();
        t.commit(set(&[("eth0", 5_000_000, 6_000_000, 5000, 6000)]));
        let now = set(&[("eth0", 1000, 2000, 10, 20)]);
        assert_eq!(t.pending(&now), Some(stats(1000, 2000, 10, 20)));
    }

    #[test]
    fn reset_of_one_interface_leaves_the_others_alone() {
        let mut t = DeltaTracker::new();
        t.commit(set(&[
            ("eth0", 1000, 1000, 10, 10),
            ("usb0", 9000, 9000, 90, 90),
        ]));
        let now = set(&[("eth0", 1100, 1200, 11, 12), ("usb0", 50, 60, 1, 2)]);
        assert_eq!(t.pending(&now), Some(stats(150, 260, 2, 4)));
    }

    #[test]
    fn thirty_two_bit_wrap() {
        let top = u64::from(u32::MAX);
        assert_eq!(counter_delta(top - 9, 5), 15);
        assert_eq!(counter_delta(top, 0), 1);
        // Far from the top: a reset, not a wrap.
        assert_eq!(counter_delta(1_000_000, 10), 10);
        // A 64-bit counter going down is always a reset.
        assert_eq!(counter_delta(u64::MAX, 3), 3);
        assert_eq!(counter_delta(top + 10, 3), 3);
        // Near the top but the new value is large: a reset too.
        assert_eq!(counter_delta(top - 9, WRAP_WINDOW + 1), WRAP_WINDOW + 1);
    }

    #[test]
    fn interfaces_that_come_and_go() {
        let mut t = DeltaTracker::new();
        t.commit(set(&[("eth0", 100, 100, 1, 1), ("ppp0", 500, 500, 5, 5)]));
        // ppp0 went away; wg0 is new and counts from zero.
        let now = set(&[("eth0", 110, 100, 2, 1), ("wg0", 7, 8, 1, 1)]);
        assert_eq!(t.pending(&now), Some(stats(17, 8, 2, 1)));
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let mut t = DeltaTracker::new();
        t.commit(set(&[("a", 0, 0, 0, 0), ("b", 0, 0, 0, 0)]));
        let now = set(&[("a", u64::MAX, 0, 0, 0), ("b", u64::MAX, 0, 0, 0)]);
        assert_eq!(t.pending(&now), Some(stats(u64::MAX, 0, 0, 0)));
    }

    #[test]
    fn unchanged_counters_give_zero() {
        let mut t = DeltaTracker::new();
        let s = set(&[("eth0", 42, 43, 4, 5)]);
        t.commit(s.clone());
        assert_eq!(t.pending(&s), Some(stats(0, 0, 0, 0)));
    }
}
