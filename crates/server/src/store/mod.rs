//! Store: the durable state of a Fleetward deployment, behind one interface.
//!
//! Everything the server remembers goes through [`Store`]: the registry (things, groups,
//! certificates, CAs, policies), accepted reports with their datapoints, cloud-side
//! datapoints, and (from Rules Detect on) violations. The SQLite implementation is the embedded
//! default; PostgreSQL comes next, so the domain code never sees SQL, and the SQL itself keeps
//! to what both engines share.
//!
//! Invariants every implementation keeps:
//! - [`Store::insert_reports`] is atomic and durable when it returns `Ok`: the ingest path
//!   publishes `ACCEPTED` only after that, so an acknowledged report survives a crash.
//! - A report is stored once per `(thing, report_id)`: a redelivered duplicate is a no-op.
//! - Times are epoch milliseconds (`i64`), as in the answers and AWS's APIs.

pub mod retention;
pub mod sqlite;
mod types;

pub use types::*;

use async_trait::async_trait;
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

/// The durable state of a deployment. See the module docs for the invariants.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // --- things -------------------------------------------------------------------------
    /// Registers a thing; `AlreadyExists` if the name is taken.
    async fn create_thing(&self, thing: &NewThing) -> StoreResult<Thing>;
    /// A thing by name.
    async fn get_thing(&self, name: &str) -> StoreResult<Option<Thing>>;
    /// Things in name order, a page at a time.
    async fn list_things(&self, page: &PageRequest) -> StoreResult<Page<Thing>>;
    /// Deletes a thing, its group memberships and its principal attachments; `NotFound` if absent.
    async fn delete_thing(&self, name: &str) -> StoreResult<()>;

    // --- thing groups -------------------------------------------------------------------
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

    // --- certificates and CAs -----------------------------------------------------------
    /// Registers a CA certificate.
    async fn insert_ca(&self, ca: &CaCertificate) -> StoreResult<()>;
    /// All registered CAs.
    async fn list_cas(&self) -> StoreResult<Vec<CaCertificate>>;
    /// Registers a device certificate; `AlreadyExists` if its id, or its (subject, serial)
    /// pair, is already registered (the pair must identify one certificate, see
    /// [`Certificate::subject`]).
    async fn insert_certificate(&self, cert: &Certificate) -> StoreResult<()>;
    /// A certificate by id (64 hex, the SHA-256 of its DER).
    async fn get_certificate(&self, id: &str) -> StoreResult<Option<Certificate>>;
    /// A certificate by the subject and serial the TLS layer reports.
    async fn find_certificate(
        &self,
        subject: &str,
        serial: &str,
    ) -> StoreResult<Option<Certificate>>;
    /// Certificates, newest first, a page at a time.
    async fn list_certificates(&self, page: &PageRequest) -> StoreResult<Page<Certificate>>;
    /// Sets a certificate's status; `NotFound` if absent.
    async fn set_certificate_status(&self, id: &str, status: CertStatus) -> StoreResult<()>;
    /// Attaches a certificate (principal) to a thing (idempotent; both must exist).
    async fn attach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()>;
    /// Detaches a certificate from a thing (idempotent).
    async fn detach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()>;
    /// Certificate ids attached to a thing.
    async fn thing_principals(&self, thing: &str) -> StoreResult<Vec<String>>;
    /// Things a certificate is attached to.
    async fn principal_things(&self, cert_id: &str) -> StoreResult<Vec<String>>;

    // --- policies -----------------------------------------------------------------------
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

    // --- reports and datapoints ---------------------------------------------------------
    /// Stores accepted reports atomically and durably; duplicates of an already stored
    /// `(thing, report_id)` are skipped. Returns how many were new.
    async fn insert_reports(&self, reports: &[StoredReport]) -> StoreResult<usize>;
    /// The newest accepted report of each thing: its id and when it was received. Ingest
    /// loads this at start to continue throttling and redelivery detection across restarts.
    async fn last_reports(&self) -> StoreResult<Vec<LastReport>>;
    /// Number of stored reports (for health and tests).
    async fn count_reports(&self) -> StoreResult<u64>;
    /// Stores cloud-side datapoints atomically.
    async fn insert_cloud_datapoints(&self, points: &[CloudDatapoint]) -> StoreResult<()>;
    /// Values of one metric of one thing in `[from_ms, to_ms)`, oldest first, a page at a
    /// time: ListMetricValues. Device-side values come from reports, cloud-side ones from
    /// cloud datapoints; custom metrics by name.
    async fn metric_values(
        &self,
        thing: &str,
        metric: &Metric,
        from_ms: i64,
        to_ms: i64,
        page: &PageRequest,
    ) -> StoreResult<Page<MetricDatum>>;
    /// Deletes reports and datapoints received before `before_ms`; returns how many rows went.
    async fn prune(&self, before_ms: i64) -> StoreResult<u64>;
}

/// Whether a metric's values come from device reports (else from the broker).
pub fn is_device_metric(metric: &Metric) -> bool {
    match metric {
        Metric::Aws(m) => AwsMetric::is_device_side(*m),
        Metric::Custom(_) => true,
    }
}
