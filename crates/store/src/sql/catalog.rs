//! What detection can measure: custom metrics and dimensions.

use super::*;

#[async_trait]
impl CatalogStore for SqlStore {
    async fn create_custom_metric(&self, metric: &NewCustomMetric) -> StoreResult<CustomMetric> {
        let now = self.now_ms();
        let created = CustomMetric {
            name: metric.name.clone(),
            display_name: metric.display_name.clone(),
            metric_type: metric.metric_type.clone(),
            created_at: now,
            modified_at: now,
        };
        sqlx::query(
            "INSERT INTO custom_metrics (name, display_name, metric_type, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&created.name)
        .bind(&created.display_name)
        .bind(&created.metric_type)
        .bind(created.created_at)
        .bind(created.modified_at)
        .execute(&self.writer)
        .await
        .map_err(unique("custom metric", &metric.name))?;
        Ok(created)
    }

    async fn get_custom_metric(&self, name: &str) -> StoreResult<Option<CustomMetric>> {
        sqlx::query(
            "SELECT name, display_name, metric_type, created_at, modified_at
             FROM custom_metrics WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(custom_metric_from_row)
        .transpose()
    }

    async fn list_custom_metrics(&self, page: &PageRequest) -> StoreResult<Page<CustomMetric>> {
        let after = token::after_name(page.next_token.as_deref(), "custom-metrics")?;
        let rows = sqlx::query(
            "SELECT name, display_name, metric_type, created_at, modified_at
             FROM custom_metrics WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(custom_metric_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |m| {
            token::encode("custom-metrics", &[&m.name])
        }))
    }

    async fn update_custom_metric(
        &self,
        name: &str,
        display_name: Option<&str>,
    ) -> StoreResult<CustomMetric> {
        let row = sqlx::query(
            "UPDATE custom_metrics SET display_name = $1, modified_at = $2 WHERE name = $3
             RETURNING name, display_name, metric_type, created_at, modified_at",
        )
        .bind(display_name)
        .bind(self.now_ms())
        .bind(name)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        match row {
            Some(row) => custom_metric_from_row(&row),
            None => Err(not_found("custom metric", name)),
        }
    }

    async fn delete_custom_metric(&self, name: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM custom_metrics WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("custom metric", name));
        }
        Ok(())
    }

    async fn create_dimension(&self, dimension: &NewDimension) -> StoreResult<Dimension> {
        let now = self.now_ms();
        let created = Dimension {
            name: dimension.name.clone(),
            dimension_type: dimension.dimension_type.clone(),
            string_values: dimension.string_values.clone(),
            created_at: now,
            modified_at: now,
        };
        sqlx::query(
            "INSERT INTO dimensions (name, type, string_values, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&created.name)
        .bind(&created.dimension_type)
        .bind(json(&created.string_values)?)
        .bind(created.created_at)
        .bind(created.modified_at)
        .execute(&self.writer)
        .await
        .map_err(unique("dimension", &dimension.name))?;
        Ok(created)
    }

    async fn get_dimension(&self, name: &str) -> StoreResult<Option<Dimension>> {
        sqlx::query(
            "SELECT name, type, string_values, created_at, modified_at
             FROM dimensions WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(dimension_from_row)
        .transpose()
    }

    async fn list_dimensions(&self, page: &PageRequest) -> StoreResult<Page<Dimension>> {
        let after = token::after_name(page.next_token.as_deref(), "dimensions")?;
        let rows = sqlx::query(
            "SELECT name, type, string_values, created_at, modified_at
             FROM dimensions WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(dimension_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |d| {
            token::encode("dimensions", &[&d.name])
        }))
    }

    async fn update_dimension(
        &self,
        name: &str,
        string_values: &[String],
    ) -> StoreResult<Dimension> {
        let row = sqlx::query(
            "UPDATE dimensions SET string_values = $1, modified_at = $2 WHERE name = $3
             RETURNING name, type, string_values, created_at, modified_at",
        )
        .bind(json(string_values)?)
        .bind(self.now_ms())
        .bind(name)
        .fetch_optional(&self.writer)
        .await
        .map_err(db)?;
        match row {
            Some(row) => dimension_from_row(&row),
            None => Err(not_found("dimension", name)),
        }
    }

    async fn delete_dimension(&self, name: &str) -> StoreResult<()> {
        let n = sqlx::query("DELETE FROM dimensions WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("dimension", name));
        }
        Ok(())
    }
}
