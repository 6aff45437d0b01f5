//! Ingest at run time: the bounded pipeline from the broker to the store, cloud-side metrics
//! and the registered custom metric types. The rules themselves (decode and answer, throttle,
//! cloud-window aggregation, custom type checks) are pure and live in
//! [`fleetward_core::ingest`].

pub mod cloud;
pub mod custom;
mod pipeline;

pub use fleetward_core::ingest::{Admission, Last, Outcome, admit, check, throttle};
pub use pipeline::{IngestError, IngestStats, Pipeline, PipelineConfig, ReportSink};
