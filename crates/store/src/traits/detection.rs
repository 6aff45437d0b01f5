//! Detection's state: behavior states and the atomic detection step.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// Detection's state: behavior states and the atomic detection step. Part of [`Store`](crate::Store).
#[async_trait]
pub trait DetectionStore: Send + Sync {
    /// Inserts or replaces behavior states, all in one transaction.
    async fn upsert_behavior_states(&self, states: &[StoredBehaviorState]) -> StoreResult<()>;

    /// All behavior states of a profile, ordered by thing then behavior.
    async fn behavior_states(&self, profile: &str) -> StoreResult<Vec<StoredBehaviorState>>;

    /// Deletes a thing's behavior states in every profile; returns how many went.
    async fn delete_thing_behavior_states(&self, thing: &str) -> StoreResult<u64>;

    /// Deletes a profile's behavior states on every thing; returns how many went.
    async fn delete_profile_behavior_states(&self, profile: &str) -> StoreResult<u64>;

    /// Applies one detection step's changes in order, in one transaction: a crash leaves
    /// either all of them or none, so an alarm state is never saved without its violation and
    /// an alert is enqueued exactly when its event is stored. Operations that cannot apply
    /// (see [`DetectionApplied::skipped`]) are skipped; only a failure of the store aborts.
    async fn apply_detection(
        &self,
        ops: &[DetectionOp],
        now_ms: i64,
    ) -> StoreResult<DetectionApplied>;
}
