//! # fleetward-service
//!
//! The AWS-shaped boundary every transport calls: the CLI, the HTTP API and (later) the
//! console. There is one function per AWS operation, in AWS's request and response shapes, and
//! every rule (names, quotas, validation, versions, in-use checks) lives in it once, together
//! with its side effects, which go through [`Changes`]. A transport only parses and prints, so
//! the same operation behaves the same way whichever door it comes through.
//!
//! - [`detect`]: security profiles and targets, behaviors, custom metrics, dimensions,
//!   violations, metric values, ML training summaries.
//! - [`registry`]: things, thing groups, certificates, principals, policies.
//! - [`alerts`]: alert targets.
//! - [`pki`]: Fleetward's CA and certificate facts.
//! - [`data_dir`]: opening the data directory (store and CA) every door shares.
//! - [`error`]: [`ServiceError`], one AWS error per variant.
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alerts;
pub mod changes;
pub mod ctx;
pub mod data_dir;
pub mod detect;
pub mod error;
pub mod pki;
pub mod random;
pub mod registry;

pub use changes::{Changes, CountChanges, IdentityChange, NoChanges};
pub use ctx::Ctx;
pub use error::{ServiceError, ServiceResult};

use fleetward_store as store;
