//! Plain values the store reads and writes.

use std::collections::BTreeMap;

use fleetward_proto::Format;
use fleetward_proto::decode::{AwsMetric, Datapoint, MetricValue};
use serde::{Deserialize, Serialize};

/// A page request: `nextToken` from the previous page (if any) and a size limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The opaque token a previous page returned.
    pub next_token: Option<String>,
    /// Most items to return; implementations cap it (AWS's `maxResults` range is 1–250).
    pub max_results: Option<u32>,
}

impl PageRequest {
    /// Default page size when `max_results` is not given.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 250;

    /// The effective limit.
    pub fn limit(&self) -> u32 {
        self.max_results
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last page.
    pub next_token: Option<String>,
}

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

/// A cloud-side datapoint, measured by the broker.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudDatapoint {
    /// The thing it is about.
    pub thing: String,
    /// Which cloud-side metric.
    pub metric: AwsMetric,
    /// When it was measured or, for counts, the start of its 5-minute window (epoch ms).
    pub timestamp: i64,
    /// The value (`count` for counts, `number` for sizes and durations, `cidrs` for IPs).
    pub value: MetricValue,
    /// The MQTT topic it relates to, so topic-filter dimensions can select it.
    pub topic: Option<String>,
}

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
