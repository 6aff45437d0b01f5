//! # fleetward-server
//!
//! The Fleetward daemon. A report travels `broker → ingest → store → detect → alert`, and the
//! modules are named after that path: [`broker`] (the embedded rmqtt broker with certificate
//! identity, or a client of an external one), [`ingest`] (the pipeline that answers ACCEPTED
//! only once a report is stored), [`detection`] (the task that runs the pure engine, one
//! transaction per step), [`alert`] (the outbox), plus [`retention`] and [`http`] (the API,
//! `/healthz`, `/metrics`). [`server::start`] runs them all under one [`supervisor`].
//!
//! The rules live elsewhere: the pure ones in `fleetward-core`, the operations in
//! `fleetward-service`, the REST-JSON protocol in `fleetward-api`. This crate is the IO that
//! drives them.
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alert;
pub mod broker;
pub mod detection;
pub mod http;
pub mod ingest;
pub mod retention;
pub mod server;
pub mod supervisor;
