//! AWS IoT policies and their attachment to certificates.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// AWS IoT policies and their attachment to certificates. Part of [`Store`](crate::Store).
#[async_trait]
pub trait PolicyStore: Send + Sync {
    /// Creates a policy (AWS IoT policy JSON, stored verbatim).
    async fn create_policy(&self, policy: &NewPolicy) -> StoreResult<Policy>;

    /// A policy by name.
    async fn get_policy(&self, name: &str) -> StoreResult<Option<Policy>>;

    /// Policies in name order, a page at a time.
    async fn list_policies(&self, page: &PageRequest) -> StoreResult<Page<Policy>>;

    /// Attaches a policy to a certificate (idempotent; both must exist).
    async fn attach_policy(&self, policy: &str, cert_id: &str) -> StoreResult<()>;

    /// Policies attached to a certificate.
    async fn principal_policies(&self, cert_id: &str) -> StoreResult<Vec<Policy>>;

    /// Detaches a policy from a certificate. Returns whether it was attached (detaching what
    /// is not attached changes nothing and is not an error).
    async fn detach_policy(&self, policy: &str, cert_id: &str) -> StoreResult<bool>;

    /// The certificates a policy is attached to, by id.
    async fn policy_targets(&self, policy: &str) -> StoreResult<Vec<String>>;

    /// Deletes a policy. `NotFound` when there is none by that name; `Conflict` while it is
    /// attached to a certificate, checked in the same transaction as the delete so a
    /// concurrent attach cannot be dropped silently (the policy stays, or the attach fails).
    async fn delete_policy(&self, name: &str) -> StoreResult<()>;
}
