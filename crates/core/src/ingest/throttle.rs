//! The per-thing admission rule: redelivery, throttling, or accept. Pure: the caller owns the
//! clock and the state.

/// What ingest last accepted from a thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Last {
    /// The accepted report's id.
    pub report_id: u64,
    /// When it was received (epoch ms).
    pub received_at: i64,
}

/// The verdict on a valid report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Store it.
    Accept,
    /// The same `report_id` as the last accepted one: a QoS 1 redelivery. Answer `ACCEPTED`
    /// again and store nothing (spec: redelivery is idempotent).
    Redelivery,
    /// Too soon after the previous accepted report; `wait_ms` until one would be accepted.
    Throttled {
        /// Milliseconds until the thing may report again.
        wait_ms: i64,
    },
}

/// Decides whether a valid report with `report_id`, received at `now`, is admitted, given the
/// thing's last accepted report and the minimum interval.
///
/// A lower `report_id` is admitted like any other (devices reboot and restart their counters);
/// only equality marks a redelivery, and it is recognised even inside the interval, since a
/// redelivery usually arrives within seconds.
pub fn admit(last: Option<Last>, report_id: u64, now: i64, min_interval_ms: i64) -> Admission {
    let Some(last) = last else {
        return Admission::Accept;
    };
    if last.report_id == report_id {
        return Admission::Redelivery;
    }
    // Zero disables throttling outright: reports of one connection are admitted concurrently,
    // so `now` can be a little older than the last admitted report's time.
    if min_interval_ms <= 0 {
        return Admission::Accept;
    }
    let next = last.received_at.saturating_add(min_interval_ms);
    if now < next {
        Admission::Throttled {
            wait_ms: next - now,
        }
    } else {
        Admission::Accept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIVE_MIN: i64 = 300_000;

    #[test]
    fn first_report_is_accepted() {
        assert_eq!(admit(None, 1, 0, FIVE_MIN), Admission::Accept);
    }

    #[test]
    fn same_id_is_a_redelivery_even_inside_the_interval() {
        let last = Some(Last {
            report_id: 7,
            received_at: 1_000,
        });
        assert_eq!(admit(last, 7, 1_500, FIVE_MIN), Admission::Redelivery);
        assert_eq!(
            admit(last, 7, 1_000 + 10 * FIVE_MIN, FIVE_MIN),
            Admission::Redelivery
        );
    }

    #[test]
    fn too_soon_is_throttled_with_the_wait() {
        let last = Some(Last {
            report_id: 7,
            received_at: 1_000,
        });
        assert_eq!(
            admit(last, 8, 1_000 + FIVE_MIN - 1, FIVE_MIN),
            Admission::Throttled { wait_ms: 1 }
        );
        assert_eq!(
            admit(last, 8, 1_000 + FIVE_MIN, FIVE_MIN),
            Admission::Accept
        );
    }

    #[test]
    fn a_lower_id_after_reboot_is_accepted() {
        let last = Some(Last {
            report_id: 1_000_000,
            received_at: 0,
        });
        assert_eq!(admit(last, 3, FIVE_MIN, FIVE_MIN), Admission::Accept);
    }

    #[test]
    fn zero_interval_disables_throttling() {
        let last = Some(Last {
            report_id: 1,
            received_at: 5,
        });
        assert_eq!(admit(last, 2, 5, 0), Admission::Accept);
        // Even for a report stamped before the last admitted one (concurrent admission).
        assert_eq!(admit(last, 3, 4, 0), Admission::Accept);
    }
}
