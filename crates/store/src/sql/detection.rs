//! Detection's state: behavior states and the atomic detection step.

use super::*;

#[async_trait]
impl DetectionStore for SqlStore {
    async fn upsert_behavior_states(&self, states: &[StoredBehaviorState]) -> StoreResult<()> {
        if states.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        for state in states {
            upsert_state_in(&mut tx, state).await?;
        }
        tx.commit().await.map_err(db)
    }

    async fn behavior_states(&self, profile: &str) -> StoreResult<Vec<StoredBehaviorState>> {
        sqlx::query(
            "SELECT thing, profile, behavior, state, updated_at FROM behavior_states
             WHERE profile = $1 ORDER BY thing, behavior",
        )
        .bind(profile)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(behavior_state_from_row)
        .collect()
    }

    async fn delete_thing_behavior_states(&self, thing: &str) -> StoreResult<u64> {
        Ok(sqlx::query("DELETE FROM behavior_states WHERE thing = $1")
            .bind(thing)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected())
    }

    async fn delete_profile_behavior_states(&self, profile: &str) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM behavior_states WHERE profile = $1")
                .bind(profile)
                .execute(&self.writer)
                .await
                .map_err(db)?
                .rows_affected(),
        )
    }

    async fn apply_detection(
        &self,
        ops: &[DetectionOp],
        now_ms: i64,
    ) -> StoreResult<DetectionApplied> {
        let mut applied = DetectionApplied::default();
        if ops.is_empty() {
            return Ok(applied);
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        for op in ops {
            match op {
                DetectionOp::UpsertViolation(v) => {
                    if !upsert_violation_in(&mut tx, v).await? {
                        applied.skipped.push(format!(
                            "violation '{}' has ended; not refreshed",
                            v.violation_id
                        ));
                    }
                }
                DetectionOp::InsertEvent(e) => insert_event_in(&mut tx, e).await?,
                DetectionOp::CloseViolation {
                    violation_id,
                    event_type,
                    at_ms,
                    value,
                } => {
                    if *event_type == ViolationEventType::InAlarm
                        || !close_violation_in(
                            &mut tx,
                            violation_id,
                            *event_type,
                            *at_ms,
                            value.as_ref(),
                        )
                        .await?
                    {
                        applied.skipped.push(format!(
                            "violation '{violation_id}' is not active; not closed by {}",
                            event_type.as_str()
                        ));
                    }
                }
                DetectionOp::UpsertState(state) => upsert_state_in(&mut tx, state).await?,
                DetectionOp::DeleteState(thing, profile, behavior) => {
                    delete_state_in(&mut tx, thing, profile, behavior).await?;
                }
                DetectionOp::EnqueueAlert(a) => {
                    applied.alerts_enqueued += enqueue_alert_in(&mut tx, a, now_ms).await?;
                }
            }
        }
        tx.commit().await.map_err(db)?;
        Ok(applied)
    }
}
