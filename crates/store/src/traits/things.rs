//! Things, thing groups and memberships.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// Things, thing groups and memberships. Part of [`Store`](crate::Store).
#[async_trait]
pub trait ThingStore: Send + Sync {
    /// Registers a thing; `AlreadyExists` if the name is taken.
    async fn create_thing(&self, thing: &NewThing) -> StoreResult<Thing>;

    /// A thing by name.
    async fn get_thing(&self, name: &str) -> StoreResult<Option<Thing>>;

    /// Things in name order, a page at a time.
    async fn list_things(&self, page: &PageRequest) -> StoreResult<Page<Thing>>;

    /// Deletes a thing, its group memberships and its principal attachments; `NotFound` if absent.
    async fn delete_thing(&self, name: &str) -> StoreResult<()>;

    /// Creates a group, optionally under a parent (which must exist).
    async fn create_group(&self, group: &NewThingGroup) -> StoreResult<ThingGroup>;

    /// A group by name.
    async fn get_group(&self, name: &str) -> StoreResult<Option<ThingGroup>>;

    /// Groups in name order, a page at a time; with `parent`, only its direct children.
    async fn list_groups(
        &self,
        parent: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<ThingGroup>>;

    /// Deletes a group; `Conflict` if it has child groups.
    async fn delete_group(&self, name: &str) -> StoreResult<()>;

    /// Adds a thing to a group (idempotent).
    async fn add_thing_to_group(&self, group: &str, thing: &str) -> StoreResult<()>;

    /// Removes a thing from a group (idempotent).
    async fn remove_thing_from_group(&self, group: &str, thing: &str) -> StoreResult<()>;

    /// Things directly in a group, or (with `recursive`) in it and all its descendants.
    async fn list_things_in_group(
        &self,
        group: &str,
        recursive: bool,
        page: &PageRequest,
    ) -> StoreResult<Page<String>>;

    /// The groups a thing is directly in.
    async fn groups_of_thing(&self, thing: &str) -> StoreResult<Vec<String>>;
}
