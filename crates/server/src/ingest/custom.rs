//! Custom metric types at ingest: a datapoint must have the type its metric was registered
//! with (`CreateCustomMetric`'s `metricType`), or the whole report is refused with
//! `InvalidPayload`. AWS's documents leave this check implicit; refusing at the door tells the
//! device's owner at once, where a silently unevaluated datapoint would hide a broken agent.
//!
//! Names that are not registered are accepted and stored: a fleet may roll out an agent
//! before its operator registers the metric, and nothing evaluates them until then.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

pub use fleetward_core::ingest::custom::{mismatch, parse_type};
use tokio::sync::Notify;

use crate::supervisor::Shutdown;
use fleetward_core::detect::CustomMetricType;
use fleetward_store::{Store, StoreResult};

/// The registered custom metric types, read synchronously on every report and refreshed
/// from the store in the background.
#[derive(Debug, Default)]
pub struct CustomTypes {
    types: RwLock<HashMap<String, CustomMetricType>>,
    refresh: Arc<Notify>,
}

impl CustomTypes {
    /// Loads every registered custom metric.
    pub async fn load(store: &dyn Store) -> StoreResult<Arc<CustomTypes>> {
        let types = Arc::new(CustomTypes::default());
        types.refresh_from(store).await?;
        Ok(types)
    }

    /// Re-reads the registrations.
    pub async fn refresh_from(&self, store: &dyn Store) -> StoreResult<()> {
        let all: HashMap<String, CustomMetricType> =
            fleetward_store::all_pages(|p| async move { store.list_custom_metrics(&p).await })
                .await?
                .into_iter()
                .filter_map(|m| parse_type(&m.metric_type).map(|t| (m.name, t)))
                .collect();
        *self.types.write().unwrap_or_else(PoisonError::into_inner) = all;
        Ok(())
    }

    /// The registered type of `name`.
    pub fn get(&self, name: &str) -> Option<CustomMetricType> {
        self.types
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }

    /// Notified by in-process edits (the API creating or deleting a custom metric), so the
    /// next report is checked against the new registration.
    pub fn refresher(&self) -> Arc<Notify> {
        self.refresh.clone()
    }

    /// Keeps the registrations current until `shutdown` fires: re-read when notified, and
    /// every `every` to catch edits by another process (the offline CLI).
    pub async fn run_refresh(
        self: Arc<Self>,
        store: Arc<dyn Store>,
        every: Duration,
        mut shutdown: Shutdown,
    ) {
        let wake = self.refresher();
        loop {
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(every) => {}
                () = shutdown.wait() => return,
            }
            if let Err(e) = self.refresh_from(store.as_ref()).await {
                tracing::warn!(error = %e, "re-reading custom metric types failed");
            }
        }
    }
}
