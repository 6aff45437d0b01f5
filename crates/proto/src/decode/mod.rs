//! The server's validating decoder: a payload in, AWS datapoints or a precise rejection out.
//!
//! The rules are `spec/protocol.md`'s. The order of checks is the spec's order of precedence:
//! size, then `Malformed` (parse, top-level map), then `MissingHeader`, then `InvalidPayload`.
//! `Throttled` is the ingest pipeline's business: it needs the thing's history.

mod datapoint;
mod validate;
mod value;

use alloc::string::String;
use alloc::vec::Vec;

pub use datapoint::{AwsMetric, Datapoint, Metric, MetricValue};
pub use value::{MAX_DEPTH, Value, quote};

use crate::MAX_PAYLOAD_LEN;
use crate::answer::ErrorCode;
use crate::topic::Format;

/// An accepted report, normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedReport {
    /// The report's `report_id`.
    pub report_id: u64,
    /// Its datapoints, device-side AWS metrics first in a fixed order, then custom metrics in
    /// the order the report gave them.
    pub datapoints: Vec<Datapoint>,
}

/// A refused report: the error code and a message naming what and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The class of error.
    pub code: ErrorCode,
    /// What is wrong and where, e.g. `metrics.listening_udp_ports.ports[0].port: 70000 is not
    /// a port (1-65535)`.
    pub message: String,
    /// The report's id, when it could be read.
    pub report_id: Option<u64>,
}

impl Rejection {
    pub(crate) fn new(code: ErrorCode, message: String) -> Self {
        Rejection {
            code,
            message,
            report_id: None,
        }
    }
}

impl core::fmt::Display for Rejection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Decodes and validates a report `thing` published on a `format` topic.
///
/// This is the one code path for reports: the broker ingest, `fleetward report check` and the
/// conformance suite all call it.
pub fn decode_report(
    payload: &[u8],
    format: Format,
    thing: &str,
) -> Result<DecodedReport, Rejection> {
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(Rejection::new(
            ErrorCode::InvalidPayload,
            alloc::format!(
                "payload is {} bytes; the limit is {MAX_PAYLOAD_LEN}",
                payload.len()
            ),
        ));
    }
    let doc = parse(payload, format).map_err(|m| Rejection::new(ErrorCode::Malformed, m))?;
    validate::report(&doc, thing)
}

/// Parses a payload in the topic's format into a [`Value`] tree, or says why it is `Malformed`.
pub fn parse(payload: &[u8], format: Format) -> Result<Value<'_>, String> {
    match format {
        Format::Json => {
            // aws-c-iot sends `strlen + 1` bytes: one trailing NUL is part of the protocol.
            let text = payload.strip_suffix(&[0]).unwrap_or(payload);
            value::parse_json(text).map_err(|e| alloc::format!("not valid JSON: {e}"))
        }
        Format::Cbor => {
            value::parse_cbor(payload).map_err(|e| alloc::format!("not valid CBOR: {e}"))
        }
    }
}
