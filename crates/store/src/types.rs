//! Plain values the store reads and writes.

use std::collections::BTreeMap;

use fleetward_proto::Format;
use fleetward_proto::decode::{Datapoint, MetricValue};
use serde::{Deserialize, Serialize};

pub use fleetward_core::aws::paging::{Page, PageRequest};

/// A thing to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewThing {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    pub name: String,
    /// Free-form attributes.
    pub attributes: BTreeMap<String, String>,
}

/// A registered thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thing {
    /// Its name.
    pub name: String,
    /// Free-form attributes.
    pub attributes: BTreeMap<String, String>,
    /// Starts at 1, increases on update.
    pub version: i64,
    /// When it was created (epoch ms).
    pub created_at: i64,
}

/// A thing group to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewThingGroup {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    pub name: String,
    /// The parent group; a group covers its descendants.
    pub parent: Option<String>,
    /// Free text.
    pub description: Option<String>,
}

/// A thing group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ThingGroup {
    /// Its name.
    pub name: String,
    /// The parent group.
    pub parent: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// Starts at 1.
    pub version: i64,
    /// When it was created (epoch ms).
    pub created_at: i64,
}

/// A certificate's status, as AWS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CertStatus {
    /// May connect.
    Active,
    /// May not connect; can be made active again.
    Inactive,
    /// May never connect again.
    Revoked,
}

impl CertStatus {
    /// The AWS spelling: `ACTIVE`, `INACTIVE`, `REVOKED`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CertStatus::Active => "ACTIVE",
            CertStatus::Inactive => "INACTIVE",
            CertStatus::Revoked => "REVOKED",
        }
    }

    /// Parses the AWS spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            CertStatus::Active,
            CertStatus::Inactive,
            CertStatus::Revoked,
        ]
        .into_iter()
        .find(|c| c.as_str() == s)
    }
}

/// A registered device certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Certificate {
    /// SHA-256 of the DER, 64 lowercase hex: AWS's `certificateId`.
    pub id: String,
    /// The certificate, PEM.
    pub pem: String,
    /// Whether it may connect.
    pub status: CertStatus,
    /// The id of the registered CA that signed it, if known.
    pub ca_id: Option<String>,
    /// The subject DN as the TLS layer renders it (x509-parser's `Display`). With `serial` it
    /// finds the certificate at connect time, so the pair is unique in a store.
    pub subject: String,
    /// The serial number, lowercase hex without leading zeros.
    pub serial: String,
    /// End of validity (epoch ms).
    pub not_after: i64,
    /// When it was registered (epoch ms).
    pub created_at: i64,
}

/// A registered CA certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CaCertificate {
    /// SHA-256 of the DER, 64 lowercase hex.
    pub id: String,
    /// The certificate, PEM.
    pub pem: String,
    /// Whether certificates it signs may be registered and connect.
    pub status: CertStatus,
    /// When it was registered (epoch ms).
    pub created_at: i64,
}

/// A policy to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPolicy {
    /// 1–128 of `[\w+=,.@-]`.
    pub name: String,
    /// The AWS IoT policy document (JSON text).
    pub document: String,
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// Its name.
    pub name: String,
    /// The document, verbatim.
    pub document: String,
    /// Version id, "1" on creation.
    pub version: String,
    /// When it was created (epoch ms).
    pub created_at: i64,
}

/// An accepted report, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    /// The thing it was published for.
    pub thing: String,
    /// Its `report_id`.
    pub report_id: u64,
    /// When the server received it (epoch ms).
    pub received_at: i64,
    /// The format it arrived in.
    pub format: Format,
    /// Payload size in bytes.
    pub size: usize,
    /// The datapoints it carried.
    pub datapoints: Vec<Datapoint>,
}

/// A thing's newest accepted report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastReport {
    /// The thing.
    pub thing: String,
    /// Its newest report's id.
    pub report_id: u64,
    /// When that report was received (epoch ms).
    pub received_at: i64,
}

pub use fleetward_core::ingest::cloud::CloudDatapoint;

/// One value of ListMetricValues.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDatum {
    /// When (epoch ms).
    pub timestamp: i64,
    /// The value.
    pub value: MetricValue,
    /// The related MQTT topic, for cloud-side metrics that have one.
    pub topic: Option<String>,
}

// --- Rules Detect --------------------------------------------------------------------------

/// A custom metric to create (CreateCustomMetric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomMetric {
    /// 1–128 of `[a-zA-Z0-9:_-]`; must not start with `aws:`.
    pub name: String,
    /// A friendly name for consoles.
    pub display_name: Option<String>,
    /// `string-list`, `ip-address-list`, `number-list` or `number`, as AWS spells them.
    pub metric_type: String,
}

/// A stored custom metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CustomMetric {
    /// Its name.
    pub name: String,
    /// A friendly name for consoles.
    pub display_name: Option<String>,
    /// `string-list`, `ip-address-list`, `number-list` or `number`.
    pub metric_type: String,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When it was last changed (epoch ms).
    pub modified_at: i64,
}

/// A dimension to create (CreateDimension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDimension {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    pub name: String,
    /// The dimension type; AWS has only `TOPIC_FILTER`.
    pub dimension_type: String,
    /// The values (MQTT topic filters for `TOPIC_FILTER`).
    pub string_values: Vec<String>,
}

/// A stored dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dimension {
    /// Its name.
    pub name: String,
    /// The dimension type, e.g. `TOPIC_FILTER`.
    pub dimension_type: String,
    /// The values.
    pub string_values: Vec<String>,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When it was last changed (epoch ms).
    pub modified_at: i64,
}

/// The content of a security profile (CreateSecurityProfile, or the whole new content of an
/// UpdateSecurityProfile; the API layer merges partial updates before calling the store).
///
/// The JSON values are stored verbatim; the store does not validate them.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSecurityProfile {
    /// 1–128 of `[a-zA-Z0-9:_-]`.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The AWS `behaviors` list (JSON array of `Behavior`).
    pub behaviors: serde_json::Value,
    /// The AWS `alertTargets` map (JSON object).
    pub alert_targets: serde_json::Value,
    /// The AWS `additionalMetricsToRetainV2` list (JSON array).
    pub additional_metrics: serde_json::Value,
}

/// A stored security profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SecurityProfile {
    /// Its name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The AWS `behaviors` list.
    pub behaviors: serde_json::Value,
    /// The AWS `alertTargets` map.
    pub alert_targets: serde_json::Value,
    /// The AWS `additionalMetricsToRetainV2` list.
    pub additional_metrics: serde_json::Value,
    /// Starts at 1, increases by one on each update.
    pub version: i64,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When it was last changed (epoch ms).
    pub modified_at: i64,
}

/// The detection engine's state for one behavior of one profile on one thing.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBehaviorState {
    /// The thing.
    pub thing: String,
    /// The security profile.
    pub profile: String,
    /// The behavior's name within the profile.
    pub behavior: String,
    /// The engine's `BehaviorState`, as JSON.
    pub state: serde_json::Value,
    /// When the engine last changed it (epoch ms).
    pub updated_at: i64,
}

/// A violation event's type, as AWS spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationEventType {
    /// The behavior started being violated.
    InAlarm,
    /// The behavior is no longer violated.
    AlarmCleared,
    /// The alarm ended without clearing (the behavior or profile changed or went away).
    AlarmInvalidated,
}

impl ViolationEventType {
    /// The AWS spelling: `in-alarm`, `alarm-cleared`, `alarm-invalidated`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ViolationEventType::InAlarm => "in-alarm",
            ViolationEventType::AlarmCleared => "alarm-cleared",
            ViolationEventType::AlarmInvalidated => "alarm-invalidated",
        }
    }

    /// Parses the AWS spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ViolationEventType::InAlarm,
            ViolationEventType::AlarmCleared,
            ViolationEventType::AlarmInvalidated,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// What an operator decided a violation was (PutVerificationStateOnViolation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum VerificationState {
    /// Not an actual problem.
    FalsePositive,
    /// Real, but expected.
    BenignPositive,
    /// A real problem.
    TruePositive,
    /// Not decided.
    Unknown,
}

impl VerificationState {
    /// The AWS spelling, e.g. `TRUE_POSITIVE`.
    pub const fn as_str(self) -> &'static str {
        match self {
            VerificationState::FalsePositive => "FALSE_POSITIVE",
            VerificationState::BenignPositive => "BENIGN_POSITIVE",
            VerificationState::TruePositive => "TRUE_POSITIVE",
            VerificationState::Unknown => "UNKNOWN",
        }
    }

    /// Parses the AWS spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            VerificationState::FalsePositive,
            VerificationState::BenignPositive,
            VerificationState::TruePositive,
            VerificationState::Unknown,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// An active violation to record or refresh.
#[derive(Debug, Clone, PartialEq)]
pub struct NewViolation {
    /// 32 lowercase hex, chosen by the caller; AWS's `violationId`.
    pub violation_id: String,
    /// The violating thing.
    pub thing: String,
    /// The security profile.
    pub profile: String,
    /// The behavior's name.
    pub behavior: String,
    /// The behavior's metric name, if it has one.
    pub metric: Option<String>,
    /// The behavior as evaluated (AWS `Behavior` JSON), so history survives profile edits.
    pub behavior_definition: serde_json::Value,
    /// The value that last breached the behavior (AWS `MetricValue` JSON).
    pub last_value: Option<serde_json::Value>,
    /// When the violation started (epoch ms); kept from the first upsert.
    pub started_at: i64,
    /// When it was last seen (epoch ms).
    pub last_at: i64,
}

/// A stored violation, active or ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Violation {
    /// 32 lowercase hex.
    pub violation_id: String,
    /// The violating thing.
    pub thing: String,
    /// The security profile.
    pub profile: String,
    /// The behavior's name.
    pub behavior: String,
    /// The behavior's metric name, if it has one.
    pub metric: Option<String>,
    /// The behavior as evaluated (AWS `Behavior` JSON).
    pub behavior_definition: serde_json::Value,
    /// The value that last breached the behavior.
    pub last_value: Option<serde_json::Value>,
    /// When it started (epoch ms).
    pub started_at: i64,
    /// When it was last updated (epoch ms).
    pub last_at: i64,
    /// When it ended (epoch ms); `None` while active.
    pub ended_at: Option<i64>,
    /// What an operator decided it was.
    pub verification_state: Option<VerificationState>,
    /// The operator's note on that decision.
    pub verification_description: Option<String>,
}

/// One violation event (ListViolationEvents).
#[derive(Debug, Clone, PartialEq)]
pub struct ViolationEvent {
    /// The violation it belongs to.
    pub violation_id: String,
    /// The thing.
    pub thing: String,
    /// The security profile.
    pub profile: String,
    /// The behavior's name.
    pub behavior: String,
    /// The behavior as evaluated (AWS `Behavior` JSON), if known.
    pub behavior_definition: Option<serde_json::Value>,
    /// What happened.
    pub event_type: ViolationEventType,
    /// When (epoch ms).
    pub event_time: i64,
    /// The metric value involved (AWS `MetricValue` JSON), if any.
    pub value: Option<serde_json::Value>,
    /// The violation's verification state; the store keeps it in step with the violation's.
    pub verification_state: Option<VerificationState>,
    /// The violation's verification description.
    pub verification_description: Option<String>,
}

/// Which violation events to list: those in `[from_ms, to_ms)`, optionally of one thing
/// and/or one security profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViolationEventFilter {
    /// Only this thing's events.
    pub thing: Option<String>,
    /// Only this profile's events.
    pub profile: Option<String>,
    /// Start of the range (epoch ms, inclusive).
    pub from_ms: i64,
    /// End of the range (epoch ms, exclusive).
    pub to_ms: i64,
}

/// What an alert target does with an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertTargetKind {
    /// POST the alert to a URL, signed with the target's secret, through the outbox.
    Webhook,
    /// Publish the alert on a topic of the embedded broker.
    Mqtt,
    /// Write the alert to the server's log.
    Log,
}

impl AlertTargetKind {
    /// The stored spelling: `webhook`, `mqtt` or `log`.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertTargetKind::Webhook => "webhook",
            AlertTargetKind::Mqtt => "mqtt",
            AlertTargetKind::Log => "log",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<AlertTargetKind> {
        match s {
            "webhook" => Some(AlertTargetKind::Webhook),
            "mqtt" => Some(AlertTargetKind::Mqtt),
            "log" => Some(AlertTargetKind::Log),
            _ => None,
        }
    }
}

/// A named alert target to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlertTarget {
    /// Its name: the last segment of the SNS ARN profiles use to name it.
    pub name: String,
    /// What it does.
    pub kind: AlertTargetKind,
    /// Webhook: the URL to POST to.
    pub url: Option<String>,
    /// Webhook: the HMAC-SHA256 key the body is signed with.
    pub secret: Option<String>,
    /// MQTT: the topic to publish on.
    pub topic: Option<String>,
}

/// A stored alert target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTarget {
    /// Its name.
    pub name: String,
    /// What it does.
    pub kind: AlertTargetKind,
    /// Webhook: the URL to POST to.
    pub url: Option<String>,
    /// Webhook: the HMAC-SHA256 key.
    pub secret: Option<String>,
    /// MQTT: the topic.
    pub topic: Option<String>,
    /// When it was created (epoch ms).
    pub created_at: i64,
}

/// An alert to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// The alert target's name.
    pub target: String,
    /// Unique per alert and target; enqueueing a key twice keeps the first.
    pub idempotency_key: String,
    /// The message body (JSON).
    pub body: String,
}

/// An alert in the outbox, not yet delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxAlert {
    /// Its row id.
    pub id: i64,
    /// The alert target's name.
    pub target: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// The message body (JSON).
    pub body: String,
    /// Failed delivery attempts so far.
    pub attempts: i64,
    /// Not to be tried before this time (epoch ms).
    pub next_attempt_at: i64,
    /// When it was enqueued (epoch ms).
    pub created_at: i64,
}

/// An access key for the HTTP API to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The access key id (`AKIA…`-like, 20 characters).
    pub access_key_id: String,
    /// The secret the SigV4 signature is computed with.
    pub secret: String,
    /// What it is for, chosen by the operator.
    pub name: String,
}

/// A stored access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The access key id.
    pub access_key_id: String,
    /// The secret.
    pub secret: String,
    /// What it is for.
    pub name: String,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// When a request last authenticated with it (epoch ms), recorded at most once a minute.
    pub last_used_at: Option<i64>,
    /// A disabled key authenticates nothing.
    pub disabled: bool,
}

/// One change detection makes, applied in order with the others of its step by
/// [`super::Store::apply_detection`], in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum DetectionOp {
    /// Open an active violation, or refresh an open one.
    UpsertViolation(NewViolation),
    /// Record a violation event (the `in-alarm` that opens a violation).
    InsertEvent(ViolationEvent),
    /// End an active violation with an `alarm-cleared` or `alarm-invalidated` event.
    CloseViolation {
        /// The violation.
        violation_id: String,
        /// Cleared or invalidated.
        event_type: ViolationEventType,
        /// When (epoch ms).
        at_ms: i64,
        /// The value that ended it, if any.
        value: Option<serde_json::Value>,
    },
    /// Save a behavior state.
    UpsertState(StoredBehaviorState),
    /// Forget a behavior state: (thing, profile, behavior).
    DeleteState(String, String, String),
    /// Enqueue an alert in the outbox.
    EnqueueAlert(NewAlert),
}

/// What [`super::Store::apply_detection`] did with one batch of [`DetectionOp`]s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetectionApplied {
    /// Alerts newly enqueued (duplicates by idempotency key are skipped).
    pub alerts_enqueued: u64,
    /// Operations that did not apply and why (a refresh of a violation that has ended, a
    /// close of one that is not active): logged by the caller, they do not abort the batch.
    pub skipped: Vec<String>,
}
