//! # fleetward-proto
//!
//! The AWS IoT Device Defender device protocol, wire-compatible, for both ends of the wire:
//!
//! * [`topic`]: build the six Defender topics into a caller buffer and match them back.
//! * [`encode`]: a borrowed [`report::Report`] into `&mut [u8]`, JSON or CBOR, long or short
//!   keys.
//! * [`answer`]: the service's accepted/rejected answer, decoded without a heap (and encoded).
//! * `decode` (feature `alloc`): the server's validating decoder, producing AWS-named
//!   datapoints or a precise rejection, exactly as `spec/protocol.md` says.
//!
//! The core is `no_std` with no heap, so it runs on a microcontroller; the `alloc` feature
//! adds what the server needs.
#![no_std]
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod answer;
pub mod encode;
pub mod keys;
pub mod report;
pub mod topic;

#[cfg(feature = "alloc")]
pub mod decode;

pub use encode::{EncodeError, encode};
pub use keys::KeyStyle;
pub use topic::{Format, Kind, Topic};

/// Largest payload the service accepts, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 131_072;
