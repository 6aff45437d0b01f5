//! Security profiles and their targets.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// Security profiles and their targets. Part of [`Store`](crate::Store).
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// Creates a security profile at version 1; `AlreadyExists` if the name is taken.
    async fn create_security_profile(
        &self,
        profile: &NewSecurityProfile,
    ) -> StoreResult<SecurityProfile>;

    /// A security profile by name.
    async fn get_security_profile(&self, name: &str) -> StoreResult<Option<SecurityProfile>>;

    /// Security profiles in name order, a page at a time.
    async fn list_security_profiles(
        &self,
        page: &PageRequest,
    ) -> StoreResult<Page<SecurityProfile>>;

    /// Replaces a profile's content (its name is `profile.name`) and increments its version.
    /// `NotFound` if absent; with `expected_version`, `Conflict` unless it is the current one.
    async fn update_security_profile(
        &self,
        profile: &NewSecurityProfile,
        expected_version: Option<i64>,
    ) -> StoreResult<SecurityProfile>;

    /// Deletes a profile with its targets and behavior states (violations and their events
    /// stay, as history); `NotFound` if absent; `Conflict` on an `expected_version` mismatch.
    async fn delete_security_profile(
        &self,
        name: &str,
        expected_version: Option<i64>,
    ) -> StoreResult<()>;

    /// Attaches a profile to a target ARN (idempotent; the profile must exist).
    async fn attach_security_profile(&self, profile: &str, target_arn: &str) -> StoreResult<()>;

    /// Detaches a profile from a target ARN (idempotent).
    async fn detach_security_profile(&self, profile: &str, target_arn: &str) -> StoreResult<()>;

    /// The target ARNs of a profile, sorted; `NotFound` if the profile is absent.
    async fn security_profile_targets(&self, profile: &str) -> StoreResult<Vec<String>>;

    /// The profiles attached to a target ARN, sorted.
    async fn target_security_profiles(&self, target_arn: &str) -> StoreResult<Vec<String>>;
}
