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
//!
//! ```
//! use fleetward_proto::answer::{self, Status};
//! use fleetward_proto::report::{Metrics, NetworkStats, Report, VERSION_1_0};
//! use fleetward_proto::topic::{self, DEFAULT_PREFIX, Kind, Topic};
//! use fleetward_proto::{Format, KeyStyle, encode};
//!
//! // The topic, into a stack buffer (171 bytes fits any thing name).
//! let mut topic_buf = [0u8; 171];
//! let publish = Topic { format: Format::Cbor, kind: Kind::Publish };
//! let t = topic::build(&mut topic_buf, DEFAULT_PREFIX, "sensor-7", publish).unwrap();
//! assert_eq!(t, "$aws/things/sensor-7/defender/metrics/cbor");
//!
//! // The report, into another.
//! let report = Report {
//!     report_id: 1_700_000_000_000,
//!     version: VERSION_1_0,
//!     metrics: Some(Metrics {
//!         network_stats: Some(NetworkStats { bytes_in: 10, bytes_out: 20, packets_in: 1, packets_out: 2 }),
//!         ..Metrics::default()
//!     }),
//!     custom_metrics: &[],
//! };
//! let mut buf = [0u8; 512];
//! let n = encode(&report, Format::Cbor, KeyStyle::Short, &mut buf).unwrap();
//! assert!(n < 64);
//!
//! // Publish `buf[..n]` on `t` with any MQTT client, then read the service's answer:
//! let reply = br#"{"thingName":"sensor-7","reportId":1700000000000,"status":"ACCEPTED","timestamp":1}"#;
//! let a = answer::decode(reply, Format::Json).unwrap();
//! assert_eq!((a.status, a.report_id), (Status::Accepted, Some(report.report_id)));
//! ```
#![no_std]
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod answer;
pub mod encode;
mod ipfmt;
pub mod keys;
pub mod report;
mod shortest;
pub mod topic;

#[cfg(feature = "alloc")]
pub mod decode;

pub use encode::{EncodeError, encode};
pub use keys::KeyStyle;
pub use topic::{Format, Kind, Topic};

/// Largest payload the service accepts, in bytes.
pub const MAX_PAYLOAD_LEN: usize = 131_072;
