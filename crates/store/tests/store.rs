//! The store crate's one test binary: the backend-independent contract
//! ([`contract`]), instantiated for each backend, and each backend's own tests.

#[macro_use]
mod contract;
mod postgres;
mod sqlite;
