//! # fleetward-core
//!
//! Fleetward's domain, pure: every rule that decides something about a device, a report or an
//! alarm, with no IO. Nothing here opens a socket, a file or a database, or reads the wall clock
//! behind the caller's back (time comes in as a value or through [`aws::Clock`]). That is a
//! build fact, not a convention: this crate's dependency tree has no tokio, sqlx, axum, rmqtt or
//! rustls, and `scripts/check-core-deps.sh` (run by `.ci/run`) fails if it gains one.
//!
//! - [`aws`]: ARNs, the error-code table, paging tokens, the clock.
//! - [`identity`]: the AWS IoT policy model and evaluator.
//! - [`ingest`]: report check and answer, the throttle, cloud-window aggregation, custom types.
//! - [`detect`]: Rules Detect: model, catalog, validation, engine, targets, runtime.
//! - [`alert`]: the AWS Detect SNS message and the webhook signature.
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alert;
pub mod aws;
pub mod detect;
pub mod identity;
pub mod ingest;
