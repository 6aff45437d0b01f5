//! # fleetward
//!
//! The Fleetward server and CLI. A report travels `broker → ingest → store → detect →
//! alert/mitigate`; modules are named after that path. Today the crate holds the first step
//! that every later one builds on: [`ingest`] turns a payload into the answer the server
//! publishes and the datapoints detection will see. The [`cli`] is a thin layer over it.
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod alert;
pub mod api;
pub mod broker;
pub mod cli;
pub mod detection;
pub mod http;
pub mod ingest;
pub mod retention;
pub mod server;
pub mod sim;
pub mod supervisor;

pub use fleetward_core::{aws, detect, identity};
pub use fleetward_service::{detect as admin, pki, registry};
pub use fleetward_store as store;
