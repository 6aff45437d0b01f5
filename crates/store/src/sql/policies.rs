//! AWS IoT policies and their attachment to certificates.

use super::*;

#[async_trait]
impl PolicyStore for SqlStore {
    async fn create_policy(&self, policy: &NewPolicy) -> StoreResult<Policy> {
        let created = Policy {
            name: policy.name.clone(),
            document: policy.document.clone(),
            version: "1".to_owned(),
            created_at: self.now_ms(),
        };
        sqlx::query(
            "INSERT INTO policies (name, document, version, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&created.name)
        .bind(&created.document)
        .bind(&created.version)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("policy", &policy.name))?;
        Ok(created)
    }

    async fn get_policy(&self, name: &str) -> StoreResult<Option<Policy>> {
        sqlx::query("SELECT name, document, version, created_at FROM policies WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .as_ref()
            .map(policy_from_row)
            .transpose()
    }

    async fn list_policies(&self, page: &PageRequest) -> StoreResult<Page<Policy>> {
        let after = token::after_name(page.next_token.as_deref(), "policies")?;
        let rows = sqlx::query(
            "SELECT name, document, version, created_at FROM policies
             WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(policy_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |p| {
            token::encode("policies", &[&p.name])
        }))
    }

    async fn attach_policy(&self, policy: &str, cert_id: &str) -> StoreResult<()> {
        self.link((Link::POLICY, policy), (Link::CERT, cert_id), "INSERT INTO policy_attachments (policy_name, cert_id) VALUES ($1, $2) ON CONFLICT DO NOTHING").await
    }

    async fn principal_policies(&self, cert_id: &str) -> StoreResult<Vec<Policy>> {
        if self.get_certificate(cert_id).await?.is_none() {
            return Err(not_found("certificate", cert_id));
        }
        sqlx::query(
            "SELECT p.name, p.document, p.version, p.created_at
             FROM policies p JOIN policy_attachments a ON a.policy_name = p.name
             WHERE a.cert_id = $1 ORDER BY p.name",
        )
        .bind(cert_id)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?
        .iter()
        .map(policy_from_row)
        .collect()
    }

    async fn detach_policy(&self, policy: &str, cert_id: &str) -> StoreResult<bool> {
        let n =
            sqlx::query("DELETE FROM policy_attachments WHERE policy_name = $1 AND cert_id = $2")
                .bind(policy)
                .bind(cert_id)
                .execute(&self.writer)
                .await
                .map_err(db)?
                .rows_affected();
        Ok(n > 0)
    }

    async fn policy_targets(&self, policy: &str) -> StoreResult<Vec<String>> {
        if self.get_policy(policy).await?.is_none() {
            return Err(not_found("policy", policy));
        }
        let rows = sqlx::query(
            "SELECT cert_id FROM policy_attachments WHERE policy_name = $1 ORDER BY cert_id",
        )
        .bind(policy)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| r.try_get("cert_id").map_err(db))
            .collect()
    }

    async fn delete_policy(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // The policy row locked for update: an attach running now either committed first (and
        // is seen below) or waits for this delete and then finds no policy.
        let found = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{POLICY_EXISTS}{}",
            dialect::LOCK_UPDATE
        )))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if found.is_none() {
            return Err(not_found("policy", name));
        }
        let attached: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM policy_attachments WHERE policy_name = $1")
                .bind(name)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        if attached > 0 {
            return Err(StoreError::Conflict(format!(
                "policy '{name}' is attached to {attached} certificate(s); detach it first"
            )));
        }
        sqlx::query("DELETE FROM policies WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }
}
