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

    // --- custom metrics -----------------------------------------------------------------
    /// Creates a custom metric; `AlreadyExists` if the name is taken.
    async fn create_custom_metric(&self, metric: &NewCustomMetric) -> StoreResult<CustomMetric>;
    /// A custom metric by name.
    async fn get_custom_metric(&self, name: &str) -> StoreResult<Option<CustomMetric>>;
    /// Custom metrics in name order, a page at a time.
    async fn list_custom_metrics(&self, page: &PageRequest) -> StoreResult<Page<CustomMetric>>;
    /// Sets (or, with `None`, clears) a custom metric's display name; `NotFound` if absent.
    async fn update_custom_metric(
        &self,
        name: &str,
        display_name: Option<&str>,
    ) -> StoreResult<CustomMetric>;
    /// Deletes a custom metric; `NotFound` if absent.
    async fn delete_custom_metric(&self, name: &str) -> StoreResult<()>;

    // --- dimensions ---------------------------------------------------------------------
    /// Creates a dimension; `AlreadyExists` if the name is taken.
    async fn create_dimension(&self, dimension: &NewDimension) -> StoreResult<Dimension>;
    /// A dimension by name.
    async fn get_dimension(&self, name: &str) -> StoreResult<Option<Dimension>>;
    /// Dimensions in name order, a page at a time.
    async fn list_dimensions(&self, page: &PageRequest) -> StoreResult<Page<Dimension>>;
    /// Replaces a dimension's values; `NotFound` if absent.
    async fn update_dimension(
        &self,
        name: &str,
        string_values: &[String],
    ) -> StoreResult<Dimension>;
    /// Deletes a dimension; `NotFound` if absent.
    async fn delete_dimension(&self, name: &str) -> StoreResult<()>;

    // --- security profiles --------------------------------------------------------------
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

    // --- behavior states ----------------------------------------------------------------
    /// Inserts or replaces behavior states, all in one transaction.
    async fn upsert_behavior_states(&self, states: &[StoredBehaviorState]) -> StoreResult<()>;
    /// All behavior states of a profile, ordered by thing then behavior.
    async fn behavior_states(&self, profile: &str) -> StoreResult<Vec<StoredBehaviorState>>;
    /// Deletes a thing's behavior states in every profile; returns how many went.
    async fn delete_thing_behavior_states(&self, thing: &str) -> StoreResult<u64>;
    /// Deletes a profile's behavior states on every thing; returns how many went.
    async fn delete_profile_behavior_states(&self, profile: &str) -> StoreResult<u64>;
    /// Applies one detection step's changes in order, in one transaction: a crash leaves
    /// either all of them or none, so an alarm state is never saved without its violation and
    /// an alert is enqueued exactly when its event is stored. Operations that cannot apply
    /// (see [`DetectionApplied::skipped`]) are skipped; only a failure of the store aborts.
    async fn apply_detection(
        &self,
        ops: &[DetectionOp],
        now_ms: i64,
    ) -> StoreResult<DetectionApplied>;

    // --- violations ---------------------------------------------------------------------
    /// Records a new active violation, or refreshes an active one (its behavior definition,
    /// metric, last value and last time; `started_at` stays). `Conflict` if the id belongs to
    /// a violation that has ended.
    async fn upsert_violation(&self, violation: &NewViolation) -> StoreResult<()>;
    /// A violation, active or ended, by id.
    async fn get_violation(&self, violation_id: &str) -> StoreResult<Option<Violation>>;
    /// Ends an active violation at `at_ms` and records its `alarm-cleared` or
    /// `alarm-invalidated` event with `value`, atomically. `NotFound` if no active violation
    /// has this id; `Conflict` for `in-alarm`.
    async fn close_violation(
        &self,
        violation_id: &str,
        event_type: ViolationEventType,
        at_ms: i64,
        value: Option<&serde_json::Value>,
    ) -> StoreResult<()>;
    /// Active violations, optionally of one thing and/or profile, by id, a page at a time.
    async fn list_active_violations(
        &self,
        thing: Option<&str>,
        profile: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Violation>>;
    /// Records a violation event.
    async fn insert_violation_event(&self, event: &ViolationEvent) -> StoreResult<()>;
    /// Violation events matching `filter`, oldest first, a page at a time.
    async fn list_violation_events(
        &self,
        filter: &ViolationEventFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ViolationEvent>>;
    /// Sets a violation's verification state and description, on the violation and on its
    /// events; `NotFound` if no violation has this id.
    async fn set_violation_verification_state(
        &self,
        violation_id: &str,
        state: VerificationState,
        description: Option<&str>,
    ) -> StoreResult<()>;
    /// Deletes violation events before `before_ms`, and violations that ended before it;
    /// returns how many rows went.
    async fn prune_violations(&self, before_ms: i64) -> StoreResult<u64>;
    /// Deletes alerts delivered before `before_ms` from the outbox; returns how many went.
    /// Undelivered alerts are never pruned: at-least-once means they wait for their target.
    async fn prune_alerts(&self, before_ms: i64) -> StoreResult<u64>;

    // --- alert targets and the alert outbox --------------------------------------------
    /// Creates an alert target; `AlreadyExists` if the name is taken.
    async fn create_alert_target(&self, target: &NewAlertTarget) -> StoreResult<AlertTarget>;
    /// An alert target by name.
    async fn get_alert_target(&self, name: &str) -> StoreResult<Option<AlertTarget>>;
    /// Alert targets in name order, a page at a time.
    async fn list_alert_targets(&self, page: &PageRequest) -> StoreResult<Page<AlertTarget>>;
    /// Deletes an alert target; `NotFound` if absent. Its queued alerts stay (and fail).
    async fn delete_alert_target(&self, name: &str) -> StoreResult<()>;
    /// Enqueues alerts due at `now_ms`, all in one transaction; an alert whose idempotency
    /// key is already queued is ignored. Returns how many were added.
    async fn enqueue_alerts(&self, alerts: &[NewAlert], now_ms: i64) -> StoreResult<u64>;
    /// Up to `limit` undelivered alerts due at `now_ms`, soonest first.
    async fn due_alerts(&self, now_ms: i64, limit: u32) -> StoreResult<Vec<OutboxAlert>>;
    /// Marks an alert delivered at `at_ms`.
    async fn mark_alert_delivered(&self, id: i64, at_ms: i64) -> StoreResult<()>;
    /// Marks several alerts delivered at `at_ms`, in one transaction.
    async fn mark_alerts_delivered(&self, ids: &[i64], at_ms: i64) -> StoreResult<()>;
    /// Records a failed attempt: one more attempt, its error, and when to try again.
    async fn mark_alert_failed(
        &self,
        id: i64,
        error: &str,
        next_attempt_at: i64,
    ) -> StoreResult<()>;

    // --- API access keys ------------------------------------------------------------------
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
