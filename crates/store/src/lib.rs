//! # fleetward-store
//!
//! The durable state of a Fleetward deployment, behind one trait per resource family
//! ([`traits`]): things and groups, certificates, policies, telemetry, the detection catalog
//! (custom metrics, dimensions), security profiles, detection state, violations, alerts and
//! API keys. [`Store`] is all of them together, for callers that hold the whole store. Two
//! backends implement it: [`sqlite`], the embedded default, and [`postgres`], for state that
//! outgrows one machine. The domain code never sees SQL; the SQL itself is written once
//! (`src/sql/`) in the dialect both engines share and compiled inside each backend, which adds
//! only its connection, its migrations and a few dialect fragments. The contract every backend
//! must meet is one test suite (`tests/contract/`), instantiated once per backend.
//!
//! Invariants every implementation keeps:
//! - [`Store::insert_reports`] is atomic and durable when it returns `Ok`: the ingest path
//!   publishes `ACCEPTED` only after that, so an acknowledged report survives a crash.
//! - A report is stored once per `(thing, report_id)`: a redelivered duplicate is a no-op.
//! - Times are epoch milliseconds (`i64`), as in the answers and AWS's APIs.

#![forbid(unsafe_code)]
// Rows come from disk, which may be corrupt: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod postgres;
pub mod sqlite;
mod token;
pub mod traits;
mod types;

pub use traits::*;
pub use types::*;

/// Every family trait, for code that calls store methods on a concrete backend
/// (`SqliteStore`) rather than through `dyn Store`: `use fleetward_store::prelude::*;`.
pub mod prelude {
    pub use crate::traits::*;
    pub use crate::{Store, StoreError, StoreResult};
}

use fleetward_proto::decode::{AwsMetric, Metric};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named resource does not exist (`ResourceNotFoundException` in the API).
    #[error("{kind} '{name}' does not exist")]
    NotFound {
        /// What kind of resource, e.g. "thing".
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// A resource with this name or id already exists (`ResourceAlreadyExistsException`).
    #[error("{kind} '{name}' already exists")]
    AlreadyExists {
        /// What kind of resource.
        kind: &'static str,
        /// Its name or id.
        name: String,
    },
    /// The request conflicts with the current state (e.g. deleting a group that has children,
    /// an `expectedVersion` mismatch).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A paging token this store did not issue.
    #[error("invalid nextToken")]
    InvalidToken,
    /// The database failed; the message says how.
    #[error("database error: {0}")]
    Backend(String),
}

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The durable state of a deployment: every resource family's trait. See the crate docs for
/// the invariants. Callers that hold a `dyn Store` call any family's methods; code that needs
/// one family only (an audit check's snapshot, a test double) names that trait.
pub trait Store:
    ThingStore
    + CertificateStore
    + PolicyStore
    + TelemetryStore
    + CatalogStore
    + ProfileStore
    + DetectionStore
    + ViolationStore
    + AlertStore
    + KeyStore
    + LifecycleStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: ThingStore
        + CertificateStore
        + PolicyStore
        + TelemetryStore
        + CatalogStore
        + ProfileStore
        + DetectionStore
        + ViolationStore
        + AlertStore
        + KeyStore
        + LifecycleStore
        + Send
        + Sync
        + 'static
{
}

/// Whether a metric's values come from device reports (else from the broker).
pub fn is_device_metric(metric: &Metric) -> bool {
    match metric {
        Metric::Aws(m) => AwsMetric::is_device_side(*m),
        Metric::Custom(_) => true,
    }
}

/// Every item of a paged listing, fetched [`PageRequest::MAX_LIMIT`] at a time: for callers
/// that need the whole set (detection's catalog, the CLI's lists), not for API pages.
pub async fn all_pages<T, F, Fut>(mut fetch: F) -> StoreResult<Vec<T>>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Page<T>>>,
{
    let mut items = Vec::new();
    let mut next_token = None;
    loop {
        let page = fetch(PageRequest {
            next_token,
            max_results: Some(PageRequest::MAX_LIMIT),
        })
        .await?;
        items.extend(page.items);
        match page.next_token {
            Some(t) => next_token = Some(t),
            None => return Ok(items),
        }
    }
}
