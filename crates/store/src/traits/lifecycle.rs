//! The store's own lifecycle.

use async_trait::async_trait;

/// Opening is each backend's own (it takes a path or a URL); closing is common. Part of
/// [`Store`](crate::Store).
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// Finishes what is in flight and closes the connections, so the backend is left tidy
    /// (SQLite checkpoints its WAL into the main file). Dropping a store without closing it
    /// loses nothing that was committed; calls after closing fail.
    async fn close(&self);
}
