//! Violations and their events.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// Violations and their events. Part of [`Store`](crate::Store).
#[async_trait]
pub trait ViolationStore: Send + Sync {
    /// Records a new active violation, or refreshes an active one (its behavior definition,
    /// metric, last value and last time; `started_at` stays). `Conflict` if the id belongs to
    /// a violation that has ended.
    async fn upsert_violation(&self, violation: &NewViolation) -> StoreResult<()>;

    /// A violation, active or ended, by id.
    async fn get_violation(&self, violation_id: &str) -> StoreResult<Option<Violation>>;

    /// Ends an active violation at `at_ms` and records its `alarm-cleared` or
    /// `alarm-invalidated` event with `value`, atomically. `NotFound` if no active violation
    /// has this id; `Conflict` for `in-alarm`.
    async fn close_violation(
        &self,
        violation_id: &str,
        event_type: ViolationEventType,
        at_ms: i64,
        value: Option<&serde_json::Value>,
    ) -> StoreResult<()>;

    /// Active violations, optionally of one thing and/or profile, by id, a page at a time.
    async fn list_active_violations(
        &self,
        thing: Option<&str>,
        profile: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Violation>>;

    /// Records a violation event.
    async fn insert_violation_event(&self, event: &ViolationEvent) -> StoreResult<()>;

    /// Violation events matching `filter`, oldest first, a page at a time.
    async fn list_violation_events(
        &self,
        filter: &ViolationEventFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ViolationEvent>>;

    /// Sets a violation's verification state and description, on the violation and on its
    /// events; `NotFound` if no violation has this id.
    async fn set_violation_verification_state(
        &self,
        violation_id: &str,
        state: VerificationState,
        description: Option<&str>,
    ) -> StoreResult<()>;

    /// Deletes violation events before `before_ms`, and violations that ended before it;
    /// returns how many rows went.
    async fn prune_violations(&self, before_ms: i64) -> StoreResult<u64>;
}
