//! The data path, module by module:
//!
//! * [`collect`]: read the proc root (and getifaddrs) into an owned snapshot: listening TCP
//!   and UDP ports, established connections, per-interface counters, custom metrics.
//! * [`deltas`]: turn cumulative counters into deltas since the last report *sent*.
//! * [`clock`]: strictly increasing report ids.
//! * [`report`]: assemble and encode the report with `fleetward-proto`, capping lists.
//! * [`mqtt`]: TLS, MQTT 3.1.1/5, backoff, answers.
//! * [`reporter`]: the embeddable API: start, stop, events.
//! * [`config`]: TOML, environment and flags, validated with errors that name the key.
//!
#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
// Proc files, config and broker messages are untrusted: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod clock;
pub mod collect;
pub mod config;
pub mod deltas;
pub mod mqtt;
pub mod report;
pub mod reporter;

pub use config::Config;
pub use reporter::{AgentError, Event, EventHandler, Reporter, RunOptions, Sources};
