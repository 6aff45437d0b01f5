//! API access keys.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// API access keys. Part of [`Store`](crate::Store).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Creates an access key; `AlreadyExists` if the id is taken.
    async fn create_api_key(&self, key: &NewApiKey) -> StoreResult<ApiKey>;

    /// An access key by id.
    async fn get_api_key(&self, access_key_id: &str) -> StoreResult<Option<ApiKey>>;

    /// Every access key, oldest first (there are few).
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;

    /// Deletes an access key; `NotFound` if absent.
    async fn delete_api_key(&self, access_key_id: &str) -> StoreResult<()>;

    /// Records that the key authenticated a request at `at_ms`.
    async fn touch_api_key(&self, access_key_id: &str, at_ms: i64) -> StoreResult<()>;
}
