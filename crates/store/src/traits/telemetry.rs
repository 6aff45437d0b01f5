//! Accepted reports, their datapoints and cloud-side datapoints.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// Accepted reports, their datapoints and cloud-side datapoints. Part of [`Store`](crate::Store).
#[async_trait]
pub trait TelemetryStore: Send + Sync {
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
