//! The server crate's one test binary: a real `server::start` on ephemeral ports with a
//! temporary data directory, real devices over mutual TLS (and Mosquitto for the external
//! broker), and what the running daemon does with their reports.

mod alerts_e2e;
mod alerts_mqtt;
mod api_http;
mod detect_e2e;
mod detect_live;
mod edge;
mod external;
mod hostile;
mod retention;
mod serve;
