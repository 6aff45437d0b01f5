//! Ingest: a report payload in, the answer to publish and the datapoints to keep out.
//!
//! The broker hands every report here, and `fleetward report check` calls the same function,
//! so what a user sees when debugging a payload is exactly what the server would answer.

pub mod cloud;
pub mod custom;
pub mod throttle;

pub use throttle::{Admission, Last, admit};

use fleetward_proto::Format;
use fleetward_proto::answer::Answer;
use fleetward_proto::decode::{DecodedReport, decode_report};

/// What ingesting one report yields.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The answer document for `…/accepted` or `…/rejected`.
    pub answer: Answer,
    /// The normalized report when accepted.
    pub report: Option<DecodedReport>,
}

/// Decodes and validates a report `thing` published on a `format` topic at `now_ms`.
///
/// Throttling and durable storage come after this step; a report is answered `ACCEPTED` on
/// the wire only once it is stored.
pub fn check(payload: &[u8], format: Format, thing: &str, now_ms: u64) -> Outcome {
    match decode_report(payload, format, thing) {
        Ok(report) => Outcome {
            answer: Answer::accepted(thing, report.report_id, now_ms),
            report: Some(report),
        },
        Err(rej) => Outcome {
            answer: Answer::rejected(thing, rej.report_id, rej.code, &rej.message, now_ms),
            report: None,
        },
    }
}
