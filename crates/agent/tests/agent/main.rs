//! The agent crate's one test binary: collection against fixture proc roots, reporting to real
//! brokers (the shared Mosquitto and private ones, plain and mutual TLS), and the binary.

mod broker;
mod cli;
mod common;
mod parsers;
mod tls;
