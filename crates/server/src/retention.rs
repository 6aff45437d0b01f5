//! Retention: reports and datapoints older than the window, and violation history and
//! delivered alerts older than 30 days, are deleted in the background.
//!
//! AWS keeps Detect's metric history for 14 days; so does Fleetward unless configured
//! otherwise. Pruning runs on a timer rather than on insert, so ingest never pays for it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::supervisor::Shutdown;
use fleetward_store::Store;

/// How long reports and datapoints are kept unless configured otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// How long violation events, ended violations and delivered alerts are kept: AWS keeps
/// violation history for 30 days (§1.8).
pub const VIOLATION_RETENTION: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// How often the background task prunes unless configured otherwise.
pub const DEFAULT_PRUNE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Prunes `store` every `every`, first right away, keeping `retention` of history. Runs until
/// `shutdown` fires (between prunes, never in the middle of one); a failed prune is logged
/// and retried on the next tick, since a full disk or a locked file is no reason to stop the
/// server.
pub async fn run_retention(
    store: Arc<dyn Store>,
    retention: Duration,
    every: Duration,
    mut shutdown: Shutdown,
) {
    // A zero period would make `interval` panic; a millisecond is as good as continuous.
    let mut tick = tokio::time::interval(every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        let cutoff = cutoff_ms(SystemTime::now(), retention);
        match store.prune(cutoff).await {
            Ok(0) => tracing::debug!(cutoff, "retention: nothing to prune"),
            Ok(rows) => {
                tracing::info!(cutoff, rows, "retention: pruned old reports and datapoints")
            }
            Err(e) => tracing::warn!(cutoff, error = %e, "retention: prune failed"),
        }
        let cutoff = cutoff_ms(SystemTime::now(), VIOLATION_RETENTION);
        match store.prune_violations(cutoff).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(cutoff, rows, "retention: pruned old violations"),
            Err(e) => {
                tracing::warn!(cutoff, error = %e, "retention: pruning violations failed")
            }
        }
        match store.prune_alerts(cutoff).await {
            Ok(0) => {}
            Ok(rows) => tracing::info!(cutoff, rows, "retention: pruned delivered alerts"),
            Err(e) => tracing::warn!(cutoff, error = %e, "retention: pruning alerts failed"),
        }
    }
}

/// The epoch-ms instant before which data is older than `retention` at `now`.
fn cutoff_ms(now: SystemTime, retention: Duration) -> i64 {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    now.saturating_sub(keep)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_is_now_minus_retention_and_saturates() {
        let now = UNIX_EPOCH + Duration::from_millis(1_000_000);
        assert_eq!(cutoff_ms(now, Duration::from_millis(400)), 999_600);
        assert_eq!(cutoff_ms(now, Duration::MAX), 1_000_000 - i64::MAX);
        assert_eq!(cutoff_ms(UNIX_EPOCH, DEFAULT_RETENTION), -1_209_600_000);
    }
}
