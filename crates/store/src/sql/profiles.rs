//! Security profiles and their targets.

use super::*;

#[async_trait]
impl ProfileStore for SqlStore {
    async fn create_security_profile(
        &self,
        profile: &NewSecurityProfile,
    ) -> StoreResult<SecurityProfile> {
        let now = self.now_ms();
        let created = SecurityProfile {
            name: profile.name.clone(),
            description: profile.description.clone(),
            behaviors: profile.behaviors.clone(),
            alert_targets: profile.alert_targets.clone(),
            additional_metrics: profile.additional_metrics.clone(),
            version: 1,
            created_at: now,
            modified_at: now,
        };
        sqlx::query(
            "INSERT INTO security_profiles (name, description, behaviors, alert_targets,
                 additional_metrics, version, created_at, modified_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&created.name)
        .bind(&created.description)
        .bind(json(&created.behaviors)?)
        .bind(json(&created.alert_targets)?)
        .bind(json(&created.additional_metrics)?)
        .bind(created.version)
        .bind(created.created_at)
        .bind(created.modified_at)
        .execute(&self.writer)
        .await
        .map_err(unique("security profile", &profile.name))?;
        Ok(created)
    }

    async fn get_security_profile(&self, name: &str) -> StoreResult<Option<SecurityProfile>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PROFILE_COLUMNS} WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(profile_from_row)
        .transpose()
    }

    async fn list_security_profiles(
        &self,
        page: &PageRequest,
    ) -> StoreResult<Page<SecurityProfile>> {
        let after = token::after_name(page.next_token.as_deref(), "security-profiles")?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{PROFILE_COLUMNS} WHERE name > $1 ORDER BY name LIMIT $2"
        )))
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(profile_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |p| {
            token::encode("security-profiles", &[&p.name])
        }))
    }

    async fn update_security_profile(
        &self,
        profile: &NewSecurityProfile,
        expected_version: Option<i64>,
    ) -> StoreResult<SecurityProfile> {
        let behaviors = json(&profile.behaviors)?;
        let alert_targets = json(&profile.alert_targets)?;
        let additional = json(&profile.additional_metrics)?;
        let mut tx = self.writer.begin().await.map_err(db)?;
        let current: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT version FROM security_profiles WHERE name = $1{}",
            dialect::LOCK_UPDATE
        )))
        .bind(&profile.name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(current) = current else {
            return Err(not_found("security profile", &profile.name));
        };
        check_version(&profile.name, current, expected_version)?;
        let row = sqlx::query(
            "UPDATE security_profiles SET description = $1, behaviors = $2, alert_targets = $3,
                 additional_metrics = $4, version = $5, modified_at = $6
             WHERE name = $7
             RETURNING name, description, behaviors, alert_targets, additional_metrics, version,
                 created_at, modified_at",
        )
        .bind(&profile.description)
        .bind(&behaviors)
        .bind(&alert_targets)
        .bind(&additional)
        .bind(current + 1)
        .bind(self.now_ms())
        .bind(&profile.name)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let updated = profile_from_row(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(updated)
    }

    async fn delete_security_profile(
        &self,
        name: &str,
        expected_version: Option<i64>,
    ) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let current: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT version FROM security_profiles WHERE name = $1{}",
            dialect::LOCK_UPDATE
        )))
        .bind(name)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(current) = current else {
            return Err(not_found("security profile", name));
        };
        check_version(name, current, expected_version)?;
        sqlx::query("DELETE FROM behavior_states WHERE profile = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query("DELETE FROM security_profiles WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn attach_security_profile(&self, profile: &str, target_arn: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        if !exists(
            &mut tx,
            "SELECT 1 FROM security_profiles WHERE name = $1",
            profile,
        )
        .await?
        {
            return Err(not_found("security profile", profile));
        }
        sqlx::query(
            "INSERT INTO security_profile_targets (profile, target_arn) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
        )
        .bind(profile)
        .bind(target_arn)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn detach_security_profile(&self, profile: &str, target_arn: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM security_profile_targets WHERE profile = $1 AND target_arn = $2")
            .bind(profile)
            .bind(target_arn)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn security_profile_targets(&self, profile: &str) -> StoreResult<Vec<String>> {
        if self.get_security_profile(profile).await?.is_none() {
            return Err(not_found("security profile", profile));
        }
        let rows = sqlx::query(
            "SELECT target_arn FROM security_profile_targets WHERE profile = $1
             ORDER BY target_arn",
        )
        .bind(profile)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "target_arn")
    }

    async fn target_security_profiles(&self, target_arn: &str) -> StoreResult<Vec<String>> {
        let rows = sqlx::query(
            "SELECT profile FROM security_profile_targets WHERE target_arn = $1 ORDER BY profile",
        )
        .bind(target_arn)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "profile")
    }
}
