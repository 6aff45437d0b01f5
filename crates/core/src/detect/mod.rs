//! Rules Detect: security-profile behaviors evaluated on each thing's datapoints
//! (service-side.md §1).
//!
//! This module is the pure core, with no IO, clock or randomness: [`model`] is AWS's
//! `Behavior` JSON, [`validate`] is `ValidateSecurityProfileBehaviors`, [`engine`] compiles
//! behaviors and runs one behavior's alarm state machine per thing. [`catalog`] says what each
//! metric supports, [`topic`] matches TOPIC_FILTER dimensions, [`cidr`] holds CIDR sets. The
//! evaluation loop (routing datapoints from ingest, scheduling statistical windows, persisting
//! state and violations, sending alerts) is built on top of it.

pub mod catalog;
pub mod cidr;
pub mod engine;
pub mod model;
pub mod runtime;
pub mod targets;
pub mod topic;
pub mod validate;

#[cfg(test)]
mod tests;

pub use engine::{
    BehaviorState, CompiledBehavior, Event, Input, Outcome, Verdict, compile_behaviors, evaluate,
    percentile,
};
pub use model::{Behavior, CustomMetricType, Dimension};
pub use topic::dimension_matches;
pub use validate::{ValidationError, validate_behaviors};
