//! The API crate's one test binary. Every request is signed with SigV4 the way the SDKs sign
//! and handed to the router in process ([`support::server`]), over a temporary SQLite store:
//! no socket and no broker. What needs a listener (HTTPS, the admin key written at first start,
//! a device on an API-issued certificate) is tested in the server crate.

mod detect;
mod registry;
mod support;
