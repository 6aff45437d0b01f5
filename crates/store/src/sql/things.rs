//! Things, thing groups and memberships.

use super::*;

#[async_trait]
impl ThingStore for SqlStore {
    async fn create_thing(&self, thing: &NewThing) -> StoreResult<Thing> {
        let created = Thing {
            name: thing.name.clone(),
            attributes: thing.attributes.clone(),
            version: 1,
            created_at: self.now_ms(),
        };
        sqlx::query(
            "INSERT INTO things (name, attributes, version, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&created.name)
        .bind(json(&created.attributes)?)
        .bind(created.version)
        .bind(created.created_at)
        .execute(&self.writer)
        .await
        .map_err(unique("thing", &thing.name))?;
        Ok(created)
    }

    async fn get_thing(&self, name: &str) -> StoreResult<Option<Thing>> {
        sqlx::query("SELECT name, attributes, version, created_at FROM things WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.reader)
            .await
            .map_err(db)?
            .as_ref()
            .map(thing_from_row)
            .transpose()
    }

    async fn list_things(&self, page: &PageRequest) -> StoreResult<Page<Thing>> {
        let after = token::after_name(page.next_token.as_deref(), "things")?;
        let rows = sqlx::query(
            "SELECT name, attributes, version, created_at FROM things
             WHERE name > $1 ORDER BY name LIMIT $2",
        )
        .bind(after)
        .bind(fetch_limit(page))
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        let items = rows
            .iter()
            .map(thing_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |t| token::encode("things", &[&t.name])))
    }

    async fn delete_thing(&self, name: &str) -> StoreResult<()> {
        // Memberships and principal attachments go with it by ON DELETE CASCADE.
        let n = sqlx::query("DELETE FROM things WHERE name = $1")
            .bind(name)
            .execute(&self.writer)
            .await
            .map_err(db)?
            .rows_affected();
        if n == 0 {
            return Err(not_found("thing", name));
        }
        Ok(())
    }

    async fn create_group(&self, group: &NewThingGroup) -> StoreResult<ThingGroup> {
        let created = ThingGroup {
            name: group.name.clone(),
            parent: group.parent.clone(),
            description: group.description.clone(),
            version: 1,
            created_at: self.now_ms(),
        };
        let mut tx = self.writer.begin().await.map_err(db)?;
        if let Some(parent) = &group.parent
            && !exists(&mut tx, GROUP_EXISTS, parent).await?
        {
            return Err(not_found("thing group", parent));
        }
        sqlx::query(
            "INSERT INTO thing_groups (name, parent, description, version, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&created.name)
        .bind(&created.parent)
        .bind(&created.description)
        .bind(created.version)
        .bind(created.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique("thing group", &group.name))?;
        tx.commit().await.map_err(db)?;
        Ok(created)
    }

    async fn get_group(&self, name: &str) -> StoreResult<Option<ThingGroup>> {
        sqlx::query(
            "SELECT name, parent, description, version, created_at FROM thing_groups
             WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?
        .as_ref()
        .map(group_from_row)
        .transpose()
    }

    async fn list_groups(
        &self,
        parent: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<ThingGroup>> {
        let after = token::after_name(page.next_token.as_deref(), "groups")?;
        let rows = match parent {
            None => {
                sqlx::query(
                    "SELECT name, parent, description, version, created_at FROM thing_groups
                     WHERE name > $1 ORDER BY name LIMIT $2",
                )
                .bind(after)
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
            Some(parent) => {
                if self.get_group(parent).await?.is_none() {
                    return Err(not_found("thing group", parent));
                }
                sqlx::query(
                    "SELECT name, parent, description, version, created_at FROM thing_groups
                     WHERE parent = $1 AND name > $2 ORDER BY name LIMIT $3",
                )
                .bind(parent)
                .bind(after)
                .bind(fetch_limit(page))
                .fetch_all(&self.reader)
                .await
            }
        }
        .map_err(db)?;
        let items = rows
            .iter()
            .map(group_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(paged(items, page, |g| token::encode("groups", &[&g.name])))
    }

    async fn delete_group(&self, name: &str) -> StoreResult<()> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let child = sqlx::query("SELECT name FROM thing_groups WHERE parent = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(child) = child {
            let child: String = child.try_get("name").map_err(db)?;
            return Err(StoreError::Conflict(format!(
                "thing group '{name}' has child group '{child}'"
            )));
        }
        // Memberships go with it by ON DELETE CASCADE.
        sqlx::query("DELETE FROM thing_groups WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    async fn add_thing_to_group(&self, group: &str, thing: &str) -> StoreResult<()> {
        self.link((Link::GROUP, group), (Link::THING, thing), "INSERT INTO thing_group_members (group_name, thing_name) VALUES ($1, $2) ON CONFLICT DO NOTHING").await
    }

    async fn remove_thing_from_group(&self, group: &str, thing: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM thing_group_members WHERE group_name = $1 AND thing_name = $2")
            .bind(group)
            .bind(thing)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn list_things_in_group(
        &self,
        group: &str,
        recursive: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<String>> {
        if self.get_group(group).await?.is_none() {
            return Err(not_found("thing group", group));
        }
        let after = token::after_name(page.next_token.as_deref(), "group-things")?;
        let sql = if recursive {
            // UNION (not UNION ALL) stops at a group already visited, so even a cycle in
            // corrupted data terminates.
            "WITH RECURSIVE subtree (name) AS (
                 SELECT name FROM thing_groups WHERE name = $1
                 UNION
                 SELECT g.name FROM thing_groups g JOIN subtree s ON g.parent = s.name
             )
             SELECT DISTINCT m.thing_name FROM thing_group_members m
             WHERE m.group_name IN (SELECT name FROM subtree) AND m.thing_name > $2
             ORDER BY m.thing_name LIMIT $3"
        } else {
            "SELECT thing_name FROM thing_group_members
             WHERE group_name = $1 AND thing_name > $2
             ORDER BY thing_name LIMIT $3"
        };
        let rows = sqlx::query(sql)
            .bind(group)
            .bind(after)
            .bind(fetch_limit(page))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        let items = names(&rows, "thing_name")?;
        Ok(paged(items, page, |t| token::encode("group-things", &[t])))
    }

    async fn groups_of_thing(&self, thing: &str) -> StoreResult<Vec<String>> {
        if self.get_thing(thing).await?.is_none() {
            return Err(not_found("thing", thing));
        }
        let rows = sqlx::query(
            "SELECT group_name FROM thing_group_members WHERE thing_name = $1 ORDER BY group_name",
        )
        .bind(thing)
        .fetch_all(&self.reader)
        .await
        .map_err(db)?;
        names(&rows, "group_name")
    }
}
