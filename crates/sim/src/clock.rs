//! The simulated clock: one tick is one report interval of simulated time.
//!
//! The simulator compresses time (a 5-minute report interval every `--tick`, one second by
//! default), so its devices cannot use the wall clock for what they report: a daily traffic
//! cycle would take a real day, and `report_id`s (epoch milliseconds, as real agents send)
//! would be 1 s apart where the server, scaled by `--time-scale`, expects 5 minutes of
//! device time. Everything the model computes is a function of the tick, through this clock.

/// AWS's report interval, the simulated time between two ticks by default.
pub const REPORT_INTERVAL_MS: i64 = 300_000;

/// A simulated day, for the traffic cycle.
pub const DAY_MS: i64 = 24 * 3600 * 1000;

/// Maps ticks to simulated epoch milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimClock {
    start_ms: i64,
    interval_ms: i64,
}

impl SimClock {
    /// A clock whose tick 0 is `start_ms` and whose ticks are `interval_ms` apart (at least
    /// 1 ms, so report ids strictly increase).
    pub fn new(start_ms: i64, interval_ms: i64) -> SimClock {
        SimClock {
            start_ms: start_ms.max(1),
            interval_ms: interval_ms.max(1),
        }
    }

    /// A clock starting at `wall_ms` rounded down to a report interval, so simulated times
    /// look like the ones a real fleet reports.
    pub fn starting_near(wall_ms: i64) -> SimClock {
        SimClock::new(
            wall_ms - wall_ms.rem_euclid(REPORT_INTERVAL_MS),
            REPORT_INTERVAL_MS,
        )
    }

    /// Simulated epoch ms of `tick`.
    pub fn at(&self, tick: u64) -> i64 {
        let ticks = i64::try_from(tick).unwrap_or(i64::MAX);
        self.start_ms
            .saturating_add(ticks.saturating_mul(self.interval_ms))
    }

    /// The `report_id` of a report made at `tick`: its simulated epoch ms, as AWS recommends
    /// and the agents do, so ids strictly increase with ticks.
    pub fn report_id(&self, tick: u64) -> u64 {
        u64::try_from(self.at(tick)).unwrap_or(1).max(1)
    }

    /// Where `tick` falls in its simulated day, in `[0, 1)`.
    pub fn day_fraction(&self, tick: u64) -> f64 {
        // Both operands are below 2^53 after the remainder, so the division is exact enough.
        self.at(tick).rem_euclid(DAY_MS) as f64 / DAY_MS as f64
    }

    /// Simulated ms per tick.
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_report_intervals() {
        let c = SimClock::new(1_000, REPORT_INTERVAL_MS);
        assert_eq!(c.at(0), 1_000);
        assert_eq!(c.at(3), 1_000 + 3 * REPORT_INTERVAL_MS);
        assert!(c.report_id(1) > c.report_id(0));
        assert_eq!(c.report_id(2), (1_000 + 2 * REPORT_INTERVAL_MS) as u64);
    }

    #[test]
    fn starts_on_an_interval_boundary() {
        let c = SimClock::starting_near(1_700_000_123_456);
        assert_eq!(c.at(0) % REPORT_INTERVAL_MS, 0);
        assert!(c.at(0) <= 1_700_000_123_456);
    }

    #[test]
    fn day_fraction_wraps_daily() {
        let c = SimClock::new(DAY_MS * 100, REPORT_INTERVAL_MS);
        assert_eq!(c.day_fraction(0), 0.0);
        assert!((c.day_fraction(144) - 0.5).abs() < 1e-12); // 144 * 5 min = 12 h
        assert_eq!(c.day_fraction(288), 0.0);
    }

    #[test]
    fn never_overflows() {
        let c = SimClock::new(i64::MAX - 10, REPORT_INTERVAL_MS);
        assert_eq!(c.at(u64::MAX), i64::MAX);
        assert!(c.report_id(u64::MAX) >= 1);
    }
}
