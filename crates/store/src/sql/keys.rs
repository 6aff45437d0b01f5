//! API access keys.

use super::*;

#[async_trait]
impl KeyStore for SqlStore {
    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKey> {
        let created = ApiKey {
            access_key_id: key.access_key_id.clone(),
            secret: key.secret.clone(),
            name: key.name.clone(),
            created_at: self.now_ms(),
            last_used_at: None,
            disabled: false,
        };
        sqlx::query(
            "INSERT INTO api_keys (access_key_id, secret, name, created_at, disabled)
             VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(&created.access_key_id)
        .bind(&created.secret)
        .bind(&created.name)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("access key", &key.access_key_id))?;
        Ok(created)
    }

    async fn get_api_key(&self, access_key_id: &str) -> StoreResult<Option<ApiKey>> {
        sqlx::query(
            "SELECT access_key_id, secret, name, created_at, last_used_at, disabled
             FROM api_keys WHERE access_key_id = $1",
        )
        .bind(access_key_id)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(api_key_from_row)
        .transpose()
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        sqlx::query(
            "SELECT access_key_id, secret, name, created_at, last_used_at, disabled
             FROM api_keys ORDER BY created_at, access_key_id",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(api_key_from_row)
        .collect()
    }

    async fn delete_api_key(&self, access_key_id: &str) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM api_keys WHERE access_key_id = $1")
            .bind(access_key_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(not_found("access key", access_key_id));
        }
        Ok(())
    }

    async fn touch_api_key(&self, access_key_id: &str, at_ms: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE access_key_id = $2")
            .bind(at_ms)
            .bind(access_key_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }
}
