//! Alert targets and the alert outbox.

use super::*;

#[async_trait]
impl AlertStore for SqlStore {
    async fn create_alert_target(&self, target: &NewAlertTarget) -> StoreResult<AlertTarget> {
        let created = AlertTarget {
            name: target.name.clone(),
            kind: target.kind,
            url: target.url.clone(),
            secret: target.secret.clone(),
            topic: target.topic.clone(),
            created_at: self.now_ms(),
        };
        sqlx::query(
            "INSERT INTO alert_targets (name, kind, url, secret, topic, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&created.name)
        .bind(created.kind.as_str())
        .bind(&created.url)
        .bind(&created.secret)
        .bind(&created.topic)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("alert target", &target.name))?;
        Ok(created)
    }

    async fn get_alert_target(&self, name: &str) -> StoreResult<Option<AlertTarget>> {
        sqlx::query(
            "SELECT name, kind, url, secret, topic, created_at FROM alert_targets WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(alert_target_from_row)
        .transpose()
    }

    async fn list_alert_targets(&self, page: &PageRequest) -> StoreResult<Page<AlertTarget>> {
        let after = token::after_name(page.next_token.as_deref(), "alert-targets")?;
        let rows = sqlx::query(
            "SELECT name, kind, url, secret, topic, created_at
             FROM alert_targets WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(alert_target_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |t| {
            token::encode("alert-targets", &[&t.name])
        }))
    }

    async fn delete_alert_target(&self, name: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM alert_targets WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("alert target", name));
        }
        Ok(())
    }

    async fn enqueue_alerts(&self, alerts: &[NewAlert], now_ms: i64) -> StoreResult<u64> {
        if alerts.is_empty() {
            return Ok(0);
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut added = 0;
        for a in alerts {
            added += enqueue_alert_in(&mut tx, a, now_ms).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(added)
    }

    async fn due_alerts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<OutboxAlert>> {
        let rows = sqlx::query(
            "SELECT id, target, idempotency_key, body, attempts, next_attempt_at, created_at
             FROM alert_outbox
             WHERE delivered_at IS NULL AND next_attempt_at <= $1
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(OutboxAlert {
                    id: r.try_get("id").map_err(db)?,
                    target: r.try_get("target").map_err(db)?,
                    idempotency_key: r.try_get("idempotency_key").map_err(db)?,
                    body: r.try_get("body").map_err(db)?,
                    attempts: r.try_get("attempts").map_err(db)?,
                    next_attempt_at: r.try_get("next_attempt_at").map_err(db)?,
                    created_at: r.try_get("created_at").map_err(db)?,
                })
            })
            .collect()
    }

    async fn mark_alert_delivered(&self, id: i64, at_ms: i64) -> StoreResult<()> {
        self.mark_alerts_delivered(&[id], at_ms).await
    }

    async fn mark_alerts_delivered(&self, ids: &[i64], at_ms: i64) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.writer.begin().await.map_err(db)?;
        for id in ids {
            sqlx::query("UPDATE alert_outbox SET delivered_at = $1 WHERE id = $2")
                .bind(at_ms)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn mark_alert_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE alert_outbox
             SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2
             WHERE id = $3",
        )
        .bind(error)
        .bind(next_attempt_at)
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn prune_alerts(&self, before_ms: i64) -> StoreResult<u64> {
        self.prune_table(
            "DELETE FROM alert_outbox WHERE id IN
             (SELECT id FROM alert_outbox
              WHERE delivered_at IS NOT NULL AND delivered_at < $1 LIMIT $2)",
            before_ms,
        )
        .await
    }
}
