//! Ingest at run time: the bounded pipeline from the broker to the store, cloud-side metrics
//! and the registered custom metric types. The rules themselves (decode and answer, throttle,
//! cloud-window aggregation, custom type checks) are pure and live in
//! [`fleetward_core::ingest`].

pub mod cloud;
pub mod custom;
mod pipeline;

pub use fleetward_core::ingest::{Admission, Last, Outcome, admit, check, throttle};
pub use pipeline::{IngestError, IngestStats, Pipeline, PipelineConfig, ReportSink};

/// Milliseconds since the Unix epoch, the unit of answer timestamps.
pub fn now_ms() -> u64 {
    u64::try_from(fleetward_core::aws::time::system_now_ms()).unwrap_or(0)
}
