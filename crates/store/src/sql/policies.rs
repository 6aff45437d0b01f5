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
}
