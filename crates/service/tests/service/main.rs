//! The service crate's one test binary: each service's operations on a temporary SQLite store,
//! with no broker and no HTTP.

mod data_dir;
mod detect;
mod registry;
