//! Alert targets and the alert outbox.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// Alert targets and the alert outbox. Part of [`Store`](crate::Store).
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Creates an alert target; `AlreadyExists` if the name is taken.
    async fn create_alert_target(&self, target: &NewAlertTarget) -> StoreResult<AlertTarget>;

    /// An alert target by name.
    async fn get_alert_target(&self, name: &str) -> StoreResult<Option<AlertTarget>>;

    /// Alert targets in name order, a page at a time.
    async fn list_alert_targets(&self, page: &PageRequest) -> StoreResult<Page<AlertTarget>>;

    /// Deletes an alert target; `NotFound` if absent. Its queued alerts stay (and fail).
    async fn delete_alert_target(&self, name: &str) -> StoreResult<()>;

    /// Enqueues alerts due at `now_ms`, all in one transaction; an alert whose idempotency
    /// key is already queued is ignored. Returns how many were added.
    async fn enqueue_alerts(&self, alerts: &[NewAlert], now_ms: i64) -> StoreResult<u64>;

    /// Up to `limit` undelivered alerts due at `now_ms`, soonest first.
    async fn due_alerts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<OutboxAlert>>;

    /// Marks an alert delivered at `at_ms`.
    async fn mark_alert_delivered(&self, id: i64, at_ms: i64) -> StoreResult<()>;

    /// Marks several alerts delivered at `at_ms`, in one transaction.
    async fn mark_alerts_delivered(&self, ids: &[i64], at_ms: i64) -> StoreResult<()>;

    /// Records a failed attempt: one more attempt, its error, and when to try again.
    async fn mark_alert_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> StoreResult<()>;

    /// Deletes alerts delivered before `before_ms` from the outbox; returns how many went.
    /// Undelivered alerts are never pruned: at-least-once means they wait for their target.
    async fn prune_alerts(&self, before_ms: i64) -> StoreResult<u64>;
}
