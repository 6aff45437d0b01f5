//! Accepted reports, their datapoints and cloud-side datapoints.

use super::*;

#[async_trait]
impl TelemetryStore for SqlStore {
    async fn insert_reports(&self, reports: &[StoredReport]) -> StoreResult<usize> {
        if reports.is_empty() {
            return Ok(0);
        }
        let rows = reports
            .iter()
            .map(|r| {
                Ok(ReportRow {
                    thing: &r.thing,
                    report_id: report_id_to_sql(r.report_id),
                    received_at: r.received_at,
                    format: r.format.as_str(),
                    size: i64::try_from(r.size).map_err(|_| {
                        StoreError::Backend(format!("report size {} out of range", r.size))
                    })?,
                    datapoints: json(&codec::DatapointsJson(&r.datapoints))?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut tx = self.writer.begin().await.map_err(db)?;
        let mut inserted = 0u64;
        for chunk in rows.chunks(REPORTS_PER_STATEMENT) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(insert_reports_sql(chunk.len())));
            for r in chunk {
                q = q
                    .bind(r.thing)
                    .bind(r.report_id)
                    .bind(r.received_at)
                    .bind(r.format)
                    .bind(r.size)
                    .bind(&r.datapoints);
            }
            inserted += q.execute(&mut *tx).await.map_err(db)?.rows_affected();
        }
        tx.commit().await.map_err(db)?;
        usize::try_from(inserted).map_err(|e| StoreError::Backend(e.to_string()))
    }

    async fn last_reports(&self) -> StoreResult<Vec<LastReport>> {
        // The inner query reads only the (thing, received_at) index. Ties on received_at
        // return several rows per thing; the highest row id (the last stored) wins.
        let rows = sqlx::query(
            "SELECT r.thing, r.report_id, r.received_at
             FROM reports r
             JOIN (SELECT thing, MAX(received_at) AS newest FROM reports GROUP BY thing) n
               ON r.thing = n.thing AND r.received_at = n.newest
             ORDER BY r.thing, r.id DESC",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let mut out: Vec<LastReport> = Vec::new();
        for row in &rows {
            let thing: String = row.try_get("thing").map_err(db)?;
            if out.last().is_some_and(|l| l.thing == thing) {
                continue;
            }
            out.push(LastReport {
                thing,
                report_id: report_id_from_sql(row.try_get("report_id").map_err(db)?),
                received_at: row.try_get("received_at").map_err(db)?,
            });
        }
        Ok(out)
    }

    async fn count_reports(&self) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM reports")
            .fetch_one(&self.reader)
            .await
            .map_err(db)?;
        u64::try_from(n).map_err(|e| StoreError::Backend(e.to_string()))
    }

    async fn insert_cloud_datapoints(&self, points: &[CloudDatapoint]) -> StoreResult<()> {
        if points.is_empty() {
            return Ok(());
        }
        let values = points
            .iter()
            .map(|p| json(&p.value))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut tx = self.writer.begin().await.map_err(db)?;
        for (p, value) in points.iter().zip(&values) {
            sqlx::query(
                "INSERT INTO cloud_datapoints (thing, metric, ts, value, topic)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&p.thing)
            .bind(AwsMetric::name(p.metric))
            .bind(p.timestamp)
            .bind(value)
            .bind(&p.topic)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn metric_values(
        &self,
        thing: &str,
        metric: &Metric,
        from_ms: i64,
        to_ms: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<MetricDatum>> {
        if is_device_metric(metric) {
            self.device_values(thing, metric, from_ms, to_ms, page)
                .await
        } else {
            self.cloud_values(thing, metric, from_ms, to_ms, page).await
        }
    }

    async fn prune(&self, before_ms: i64) -> StoreResult<u64> {
        let reports = self
            .prune_table(
                "DELETE FROM reports WHERE id IN
                 (SELECT id FROM reports WHERE received_at < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        let cloud = self
            .prune_table(
                "DELETE FROM cloud_datapoints WHERE id IN
                 (SELECT id FROM cloud_datapoints WHERE ts < $1 LIMIT $2)",
                before_ms,
            )
            .await?;
        Ok(reports + cloud)
    }
}
