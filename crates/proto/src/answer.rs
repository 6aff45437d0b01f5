//! The service's answer to a report, published on `…/accepted` or `…/rejected`.
//!
//! Devices decode it without a heap: text fields are fixed-capacity and an over-long
//! `ErrorMessage` is cut at a character boundary rather than failing the whole answer, because
//! a device must always learn *that* it was rejected even if it cannot keep every word of why.

use core::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::topic::Format;

/// Capacity of [`StatusDetails::error_message`], in bytes.
pub const MESSAGE_CAPACITY: usize = 256;

/// The answer document: `{"thingName","reportId","status","statusDetails","timestamp"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The thing the report was for.
    #[serde(rename = "thingName", default)]
    pub thing_name: Text<{ crate::topic::THING_NAME_MAX_LEN }>,
    /// The report's `report_id`, when it could be read.
    #[serde(rename = "reportId", default, skip_serializing_if = "Option::is_none")]
    pub report_id: Option<u64>,
    /// Accepted or rejected.
    pub status: Status,
    /// Why it was rejected; absent when accepted.
    #[serde(
        rename = "statusDetails",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub status_details: Option<StatusDetails>,
    /// When the service answered, in epoch milliseconds.
    #[serde(default)]
    pub timestamp: u64,
}

/// `ACCEPTED` or `REJECTED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// The report was stored.
    #[serde(rename = "ACCEPTED")]
    Accepted,
    /// The report was refused; see the error code.
    #[serde(rename = "REJECTED")]
    Rejected,
}

/// The rejection reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusDetails {
    /// The class of error.
    #[serde(rename = "ErrorCode")]
    pub error_code: ErrorCode,
    /// What is wrong and where, as a path in the report's own keys.
    #[serde(rename = "ErrorMessage", default)]
    pub error_message: Text<MESSAGE_CAPACITY>,
}

/// AWS's rejection codes, in the order of precedence the spec gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorCode {
    /// Not parseable in the topic's format, or the top level is not a map.
    Malformed,
    /// No header, or the header lacks `report_id` or `version`.
    MissingHeader,
    /// Anything else wrong with the content.
    InvalidPayload,
    /// The thing reported again before its minimum interval passed.
    Throttled,
    /// A code this library does not know (a newer service); kept so decoding still succeeds.
    #[serde(other)]
    Unknown,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Malformed => "Malformed",
            ErrorCode::MissingHeader => "MissingHeader",
            ErrorCode::InvalidPayload => "InvalidPayload",
            ErrorCode::Throttled => "Throttled",
            ErrorCode::Unknown => "Unknown",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text of at most `N` bytes; longer input is cut at a character boundary, never refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<const N: usize>(heapless::String<N>);

impl<const N: usize> Text<N> {
    /// `s`, cut to at most `N` bytes at a character boundary.
    pub fn truncated(s: &str) -> Self {
        let mut end = s.len().min(N);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = heapless::String::new();
        // `end <= N`, so this always fits.
        let _ = out.push_str(s.get(..end).unwrap_or(""));
        Text(out)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> core::ops::Deref for Text<N> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> fmt::Display for Text<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const N: usize> Serialize for Text<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const N: usize> Deserialize<'de> for Text<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const N: usize>;
        impl<const N: usize> Visitor<'_> for V<N> {
            type Value = Text<N>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Text<N>, E> {
                Ok(Text::truncated(s))
            }
        }
        d.deserialize_str(V::<N>)
    }
}

/// Why an answer could not be decoded or encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerError {
    /// The payload is not an answer document in the given format.
    Malformed,
    /// The buffer is too small for the encoded answer.
    BufferTooSmall,
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AnswerError::Malformed => "not a Device Defender answer document",
            AnswerError::BufferTooSmall => "buffer too small for the encoded answer",
        })
    }
}

/// Scratch space for JSON strings with escapes (serde-json-core unescapes into it).
const UNESCAPE_SCRATCH: usize = 2 * MESSAGE_CAPACITY;

/// Decodes an answer a device received, in the format of the topic it arrived on.
pub fn decode(payload: &[u8], format: Format) -> Result<Answer, AnswerError> {
    match format {
        Format::Json => {
            let mut scratch = [0u8; UNESCAPE_SCRATCH];
            let (answer, used) = serde_json_core::from_slice_escaped(payload, &mut scratch)
                .map_err(|_| AnswerError::Malformed)?;
            let rest = payload.get(used..).unwrap_or_default();
            if rest.iter().all(|b| b.is_ascii_whitespace() || *b == 0) {
                Ok(answer)
            } else {
                Err(AnswerError::Malformed)
            }
        }
        Format::Cbor => minicbor_serde::from_slice(payload).map_err(|_| AnswerError::Malformed),
    }
}

/// Encodes an answer into `buf`, returning the length written.
pub fn encode(answer: &Answer, format: Format, buf: &mut [u8]) -> Result<usize, AnswerError> {
    match format {
        Format::Json => {
            serde_json_core::to_slice(answer, buf).map_err(|_| AnswerError::BufferTooSmall)
        }
        Format::Cbor => {
            minicbor_serde::to_slice(answer, buf).map_err(|_| AnswerError::BufferTooSmall)
        }
    }
}

/// Encodes an answer into a new vector.
#[cfg(feature = "alloc")]
pub fn to_vec(answer: &Answer, format: Format) -> alloc::vec::Vec<u8> {
    match format {
        // Serializing plain structs of strings and integers cannot fail.
        Format::Json => serde_json::to_vec(answer).unwrap_or_default(),
        Format::Cbor => minicbor_serde::to_vec(answer).unwrap_or_default(),
    }
}

impl Answer {
    /// An `ACCEPTED` answer.
    pub fn accepted(thing: &str, report_id: u64, timestamp: u64) -> Self {
        Answer {
            thing_name: Text::truncated(thing),
            report_id: Some(report_id),
            status: Status::Accepted,
            status_details: None,
            timestamp,
        }
    }

    /// A `REJECTED` answer.
    pub fn rejected(
        thing: &str,
        report_id: Option<u64>,
        code: ErrorCode,
        message: &str,
        timestamp: u64,
    ) -> Self {
        Answer {
            thing_name: Text::truncated(thing),
            report_id,
            status: Status::Rejected,
            status_details: Some(StatusDetails {
                error_code: code,
                error_message: Text::truncated(message),
            }),
            timestamp,
        }
    }

    /// The error code, when rejected.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.status_details.as_ref().map(|d| d.error_code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_formats() {
        let answers = [
            Answer::accepted("thing-1", 1_700_000_000, 1_700_000_000_123),
            Answer::rejected(
                "thing-1",
                Some(7),
                ErrorCode::InvalidPayload,
                "metrics.listeningTcpPorts: unknown key; did you mean \"listening_tcp_ports\"?",
                5,
            ),
            Answer::rejected("t", None, ErrorCode::Malformed, "not JSON", 5),
        ];
        for a in &answers {
            for f in [Format::Json, Format::Cbor] {
                let mut buf = [0u8; 512];
                let n = encode(a, f, &mut buf).unwrap();
                assert_eq!(&decode(&buf[..n], f).unwrap(), a);
            }
        }
    }

    #[test]
    fn decodes_what_aws_sends_and_tolerates_unknowns() {
        let json = br#"{"thingName":"t","status":"REJECTED","statusDetails":{"ErrorCode":"SomethingNew","ErrorMessage":"x"},"timestamp":1,"extra":true}"#;
        let a = decode(json, Format::Json).unwrap();
        assert_eq!(a.error_code(), Some(ErrorCode::Unknown));
        assert_eq!(a.report_id, None);
        assert_eq!(&*a.status_details.unwrap().error_message, "x");
    }

    #[test]
    fn long_messages_are_cut_not_refused() {
        let long = "é".repeat(400);
        let doc = alloc_free_doc(&long);
        let a = decode(doc.as_bytes(), Format::Json).unwrap();
        let msg = a.status_details.unwrap().error_message;
        assert!(msg.len() <= MESSAGE_CAPACITY && msg.len() >= MESSAGE_CAPACITY - 1);
        assert!(msg.chars().all(|c| c == 'é'));
    }

    fn alloc_free_doc(msg: &str) -> heapless::String<2048> {
        let mut s = heapless::String::new();
        let _ = core::fmt::write(
            &mut s,
            format_args!(
                r#"{{"thingName":"t","status":"REJECTED","statusDetails":{{"ErrorCode":"Throttled","ErrorMessage":"{msg}"}},"timestamp":1}}"#
            ),
        );
        s
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(decode(b"nope", Format::Json), Err(AnswerError::Malformed));
        assert_eq!(
            decode(b"\xff\x00", Format::Cbor),
            Err(AnswerError::Malformed)
        );
        assert_eq!(
            decode(br#"{"status":"ACCEPTED"} x"#, Format::Json),
            Err(AnswerError::Malformed)
        );
    }
}
