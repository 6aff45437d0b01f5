//! Time: one [`Clock`] interface, passed in, so nothing in the domain reads the wall clock.
//!
//! Stored and answered times are epoch milliseconds of the wall clock. What `--time-scale`
//! compresses is the *durations* the domain waits for (the report throttle, cloud-side windows,
//! behavior windows, statistical window ends, the two-day silence): a [`ScaledClock`] reads the
//! same wall time and divides those durations, and nothing else in the code divides by the
//! scale. Tests drive a [`ManualClock`] instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the current time comes from.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;

    /// How many times faster than AWS's time the domain's durations run (1: AWS's time).
    fn scale(&self) -> u32 {
        1
    }

    /// A domain duration (a 5-minute window, a 2-day silence) as it runs on this clock.
    fn scaled(&self, d: Duration) -> Duration {
        d / self.scale().max(1)
    }

    /// A domain duration in milliseconds as it runs on this clock, never less than 1 ms.
    fn scaled_ms(&self, ms: i64) -> i64 {
        (ms / i64::from(self.scale().max(1))).max(1)
    }
}

/// Milliseconds since the Unix epoch from the system clock; a clock before 1970 reads as 0.
pub fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The system's wall clock, AWS's time.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }
}

/// The wall clock with durations compressed `factor` times (`--time-scale`), for demos and
/// benchmarks: 300 makes a 5-minute report interval one second.
#[derive(Debug, Clone, Copy)]
pub struct ScaledClock {
    factor: u32,
}

impl ScaledClock {
    /// A clock whose durations run `factor` times faster (0 counts as 1).
    pub fn new(factor: u32) -> Self {
        ScaledClock {
            factor: factor.max(1),
        }
    }
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> i64 {
        system_now_ms()
    }

    fn scale(&self) -> u32 {
        self.factor
    }
}

/// A clock that moves only when told, for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
    scale: u32,
}

impl ManualClock {
    /// A clock reading `now_ms`, at AWS's time scale.
    pub fn at(now_ms: i64) -> Self {
        ManualClock {
            now: AtomicI64::new(now_ms),
            scale: 1,
        }
    }

    /// The same clock with durations compressed `factor` times.
    pub fn with_scale(self, factor: u32) -> Self {
        ManualClock {
            scale: factor.max(1),
            ..self
        }
    }

    /// Sets the time.
    pub fn set(&self, now_ms: i64) {
        self.now.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    fn scale(&self) -> u32 {
        self.scale.max(1)
    }
}

/// Epoch milliseconds as the fractional epoch seconds AWS's rest-json protocol writes.
pub fn seconds(ms: i64) -> f64 {
    // Epoch milliseconds fit f64's 53-bit mantissa exactly for the next 285,000 years.
    #[allow(clippy::cast_precision_loss)]
    let s = ms as f64 / 1000.0;
    s
}

/// Fractional epoch seconds (a request member) as milliseconds; `None` if not finite or out
/// of range.
pub fn seconds_to_ms(secs: f64) -> Option<i64> {
    let ms = (secs * 1000.0).round();
    // i64 holds ±9.2e18; anything near that is not a time anyone means.
    #[allow(clippy::cast_possible_truncation)]
    (ms.is_finite() && ms.abs() < 1e17).then_some(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_compresses_durations_not_time() {
        let c = ScaledClock::new(300);
        assert_eq!(c.scaled(Duration::from_secs(300)), Duration::from_secs(1));
        assert_eq!(c.scaled_ms(300_000), 1_000);
        assert_eq!(c.scaled_ms(1), 1);
        assert!((c.now_ms() - SystemClock.now_ms()).abs() < 60_000);
        assert_eq!(ScaledClock::new(0).scale(), 1);
    }

    #[test]
    fn manual_clock_moves_when_told() {
        let c = ManualClock::at(1_000).with_scale(10);
        c.advance(500);
        assert_eq!(c.now_ms(), 1_500);
        c.set(7);
        assert_eq!(c.now_ms(), 7);
        assert_eq!(c.scaled_ms(1_000), 100);
    }

    #[test]
    fn seconds_convert_both_ways() {
        assert!((seconds(1_500) - 1.5).abs() < f64::EPSILON);
        assert_eq!(seconds_to_ms(1.5), Some(1_500));
        assert_eq!(seconds_to_ms(f64::NAN), None);
    }
}
