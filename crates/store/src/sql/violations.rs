//! Violations and their events.

use super::*;

#[async_trait]
impl ViolationStore for SqlStore {
    async fn upsert_violation(&self, v: &NewViolation) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db)?;
        if !upsert_violation_in(&mut conn, v).await? {
            return Err(StoreError::Conflict(format!(
                "violation '{}' has ended",
                v.violation_id
            )));
        }
        Ok(())
    }

    async fn get_violation(&self, violation_id: &str) -> StoreResult<Option<Violation>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{VIOLATION_COLUMNS} WHERE violation_id = $1"
        )))
        .bind(violation_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(violation_from_row)
        .transpose()
    }

    async fn close_violation(
        &self,
        violation_id: &str,
        event_type: ViolationEventType,
        at_ms: i64,
        value: Option<&serde_json::Value>,
    ) -> StoreResult<()> {
        if event_type == ViolationEventType::InAlarm {
            return Err(StoreError::Conflict(format!(
                "violation '{violation_id}' cannot be closed by an in-alarm event"
            )));
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        if !close_violation_in(&mut tx, violation_id, event_type, at_ms, value).await? {
            return Err(not_found("active violation", violation_id));
        }
        tx.commit().await.map_err(db)
    }

    async fn list_active_violations(
        &self,
        thing: Option<&str>,
        profile: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Violation>> {
        let after = token::after_name(page.next_token.as_deref(), "active-violations")?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{VIOLATION_COLUMNS}
             WHERE status = $1 AND violation_id > $2
               AND ($3 IS NULL OR thing = $3) AND ($4 IS NULL OR security_profile = $4)
             ORDER BY violation_id LIMIT $5"
        )))
        .bind(ACTIVE)
        .bind(after)
        .bind(thing)
        .bind(profile)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(violation_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |v| {
            token::encode("active-violations", &[&v.violation_id])
        }))
    }

    async fn insert_violation_event(&self, event: &ViolationEvent) -> StoreResult<()> {
        let mut conn = self.writer.acquire().await.map_err(db)?;
        insert_event_in(&mut conn, event).await
    }

    async fn list_violation_events(
        &self,
        filter: &ViolationEventFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ViolationEvent>> {
        let (at, id) = match &page.next_token {
            None => (i64::MIN, i64::MIN),
            Some(t) => {
                let parts = token::decode(t, "violation-events", 2)?;
                (token::int(&parts[0])?, token::int(&parts[1])?)
            }
        };
        let rows = sqlx::query(
            "SELECT id, violation_id, thing, security_profile, behavior, event_type, event_time,
                 value, verification_state, verification_description, behavior_definition
             FROM violation_events
             WHERE event_time >= $1 AND event_time < $2
               AND ($3 IS NULL OR thing = $3) AND ($4 IS NULL OR security_profile = $4)
               AND (event_time > $5 OR (event_time = $5 AND id > $6))
             ORDER BY event_time, id
             LIMIT $7",
        )
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(&filter.thing)
        .bind(&filter.profile)
        .bind(at)
        .bind(id)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(|row| {
                Ok((
                    violation_event_from_row(row)?,
                    row.try_get::<i64, _>("id").map_err(db)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let page = paged(items, page, |(e, id)| {
            token::encode(
                "violation-events",
                &[&e.event_time.to_string(), &id.to_string()],
            )
        });
        Ok(Page {
            items: page.items.into_iter().map(|(e, _)| e).collect(),
            next_token: page.next_token,
        })
    }

    async fn set_violation_verification_state(
        &self,
        violation_id: &str,
        state: VerificationState,
        description: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let n = sqlx::query(
            "UPDATE violations SET verification_state = $1, verification_description = $2
             WHERE violation_id = $3",
        )
        .bind(state.as_str())
        .bind(description)
        .bind(violation_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if n == 0 {
            return Err(not_found("violation", violation_id));
        }
        sqlx::query(
            "UPDATE violation_events SET verification_state = $1, verification_description = $2
             WHERE violation_id = $3",
        )
        .bind(state.as_str())
        .bind(description)
        .bind(violation_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn prune_violations(&self, before_ms: i64) -> StoreResult<u64> {
        let events = self
            .prune_table(
                "DELETE FROM violation_events WHERE id IN
                 (SELECT id FROM violation_events WHERE event_time < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        let ended = self
            .prune_table(
                "DELETE FROM violations WHERE violation_id IN
                 (SELECT violation_id FROM violations
                  WHERE status = 'ENDED' AND ended_at < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        Ok(events + ended)
    }
}
