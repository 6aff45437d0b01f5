//! Report ids: epoch milliseconds, strictly increasing even when the wall clock steps back.
//!
//! The service treats an equal id as a redelivery and answers it again without storing a new
//! report, so two reports with one id would silently lose the second.

use std::time::{SystemTime, UNIX_EPOCH};

/// Largest id the protocol allows.
pub const MAX_REPORT_ID: u64 = i64::MAX as u64;

/// Hands out report ids.
#[derive(Debug, Clone, Default)]
pub struct ReportClock {
    last: u64,
}

impl ReportClock {
    /// A clock that has issued nothing.
    pub fn new() -> Self {
        ReportClock::default()
    }

    /// The id for a report made at `now_ms`: `now_ms`, or one more than the previous id if
    /// the clock did not move forward. Always in `1..=MAX_REPORT_ID`.
    pub fn next_at(&mut self, now_ms: u64) -> u64 {
        let id = now_ms
            .max(self.last.saturating_add(1))
            .clamp(1, MAX_REPORT_ID);
        self.last = id;
        id
    }

    /// The id for a report made now.
    pub fn next_now(&mut self) -> u64 {
        self.next_at(now_ms())
    }
}

/// Wall-clock epoch milliseconds; 0 if the clock is before 1970.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_clock() {
        let mut c = ReportClock::new();
        assert_eq!(c.next_at(1_000), 1_000);
        assert_eq!(c.next_at(2_000), 2_000);
    }

    #[test]
    fn strictly_increasing_when_the_clock_steps_back_or_stalls() {
        let mut c = ReportClock::new();
        assert_eq!(c.next_at(5_000), 5_000);
        assert_eq!(c.next_at(5_000), 5_001);
        assert_eq!(c.next_at(1_000), 5_002);
        assert_eq!(c.next_at(5_001), 5_003);
        assert_eq!(c.next_at(9_000), 9_000);
    }

    #[test]
    fn stays_in_the_protocol_range() {
        let mut c = ReportClock::new();
        assert_eq!(c.next_at(0), 1);
        assert_eq!(c.next_at(u64::MAX), MAX_REPORT_ID);
        assert_eq!(c.next_at(u64::MAX), MAX_REPORT_ID);
    }

    #[test]
    fn real_clock_is_after_2020() {
        assert!(ReportClock::new().next_now() > 1_577_836_800_000);
    }
}
