//! The built-in custom metrics: CPU usage, memory used, uptime, process count, interfaces.
//!
//! Each parser takes already-read text so it can be tested with plain strings.

/// Aggregate CPU time from the first line of `/proc/stat`, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Ticks spent doing anything but idling or waiting for IO.
    pub busy: u64,
    /// All ticks.
    pub total: u64,
}

/// Parses the `cpu` line of `/proc/stat`.
pub fn parse_cpu(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let nums: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    if nums.len() < 4 {
        return None;
    }
    // guest and guest_nice (fields 9 and 10) are already counted in user and nice.
    let total = nums.iter().take(8).fold(0u64, |a, b| a.saturating_add(*b));
    let idle = nums[3].saturating_add(nums.get(4).copied().unwrap_or(0));
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// CPU usage in percent between two samples; `None` when no time passed or the counters went
/// backwards (a different boot).
pub fn cpu_percent(prev: CpuTimes, now: CpuTimes) -> Option<f64> {
    let total = now.total.checked_sub(prev.total)?;
    let busy = now.busy.checked_sub(prev.busy)?;
    if total == 0 || busy > total {
        return None;
    }
    Some(busy as f64 * 100.0 / total as f64)
}

/// Memory in use, in bytes: `MemTotal - MemAvailable` (or free + buffers + cached on kernels
/// older than 3.14, which lack `MemAvailable`).
pub fn parse_memory_used(text: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.split(':').next() == Some(name))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        kb.checked_mul(1024)
    };
    let total = field("MemTotal")?;
    let available = match field("MemAvailable") {
        Some(a) => a,
        None => field("MemFree")?
            .saturating_add(field("Buffers").unwrap_or(0))
            .saturating_add(field("Cached").unwrap_or(0)),
    };
    Some(total.saturating_sub(available))
}

/// Seconds since boot, from `/proc/uptime`.
pub fn parse_uptime(text: &str) -> Option<f64> {
    let v: f64 = text.split_whitespace().next()?.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_usage_between_samples() {
        let a = parse_cpu("cpu  100 0 100 800 0 0 0 0 0 0\ncpu0 1 2 3 4\n").unwrap();
        let b = parse_cpu("cpu  150 0 150 900 0 0 0 0 0 0\n").unwrap();
        assert_eq!(
            a,
            CpuTimes {
                busy: 200,
                total: 1000
            }
        );
        assert_eq!(cpu_percent(a, b), Some(50.0));
        assert_eq!(cpu_percent(b, a), None);
        assert_eq!(cpu_percent(a, a), None);
        assert_eq!(parse_cpu("cpu  1 2\n"), None);
        assert_eq!(parse_cpu("cpu  x y z w\n"), None);
        assert_eq!(parse_cpu(""), None);
    }

    #[test]
    fn memory_used() {
        let m = "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n";
        assert_eq!(parse_memory_used(m), Some(600 * 1024));
        let old = "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n";
        assert_eq!(parse_memory_used(old), Some(600 * 1024));
        assert_eq!(parse_memory_used("MemTotal: lots\n"), None);
        assert_eq!(
            parse_memory_used("MemTotal: 18446744073709551615 kB\nMemAvailable: 0 kB\n"),
            None
        );
    }

    #[test]
    fn uptime() {
        assert_eq!(parse_uptime("12345.67 54321.00\n"), Some(12345.67));
        assert_eq!(parse_uptime("NaN 1"), None);
        assert_eq!(parse_uptime("-1 1"), None);
        assert_eq!(parse_uptime(""), None);
    }
}
