//! The checks the fuzz targets run on one input.
//!
//! Kept in one file so that `crates/proto/tests/fuzz_regressions.rs` runs exactly the same
//! code (it includes this file with `#[path]`) on every input saved under
//! `fuzz/regressions/<target>/`. Each function panics when an invariant breaks; libFuzzer
//! reports that panic as a crash.

use fleetward_proto::answer::{self, Answer, ErrorCode, MESSAGE_CAPACITY};
use fleetward_proto::decode::{DecodedReport, Metric, MetricValue, Rejection, decode_report};
use fleetward_proto::topic::{self, DEFAULT_PREFIX, Format, Kind, THING_NAME_MAX_LEN, Topic};

/// The thing name the decode targets pretend published the report.
pub const THING: &str = "fuzz-thing";

/// Every one of the six topics.
pub const TOPICS: [Topic; 6] = [
    Topic {
        format: Format::Json,
        kind: Kind::Publish,
    },
    Topic {
        format: Format::Json,
        kind: Kind::Accepted,
    },
    Topic {
        format: Format::Json,
        kind: Kind::Rejected,
    },
    Topic {
        format: Format::Cbor,
        kind: Kind::Publish,
    },
    Topic {
        format: Format::Cbor,
        kind: Kind::Accepted,
    },
    Topic {
        format: Format::Cbor,
        kind: Kind::Rejected,
    },
];

/// Large enough for any answer `answer::encode` can produce: a 128-byte thing name and a
/// 256-byte message, every byte escaped as `\u00XX`, plus the fixed keys.
const ANSWER_BUF: usize = 4096;

/// Target `decode_json`.
pub fn decode_json(data: &[u8]) {
    check_decode(data, Format::Json);
}

/// Target `decode_cbor`.
pub fn decode_cbor(data: &[u8]) {
    check_decode(data, Format::Cbor);
}

/// The server's decoder on one payload, then the invariants of its result, then the answer
/// the server would publish for it, which the device-side decoder must read back unchanged.
pub fn check_decode(data: &[u8], format: Format) {
    let result = decode_report(data, format, THING);
    let answer = match &result {
        Ok(report) => {
            check_report(report);
            Answer::accepted(THING, report.report_id, 1)
        }
        Err(rejection) => {
            check_rejection(rejection);
            Answer::rejected(
                THING,
                rejection.report_id,
                rejection.code,
                &rejection.message,
                1,
            )
        }
    };
    let wire = answer::to_vec(&answer, format);
    assert!(!wire.is_empty(), "answer encoded to nothing: {answer:?}");
    match answer::decode(&wire, format) {
        Ok(back) => assert_eq!(back, answer, "the server's answer did not round-trip"),
        Err(e) => panic!("the server's answer does not decode ({e}): {answer:?}"),
    }
}

fn check_report(report: &DecodedReport) {
    assert!(
        (1..=i64::MAX as u64).contains(&report.report_id),
        "accepted report id {} out of range",
        report.report_id
    );
    let mut names: Vec<&str> = Vec::with_capacity(report.datapoints.len());
    for d in &report.datapoints {
        let name = d.metric.name();
        assert!(
            !name.is_empty(),
            "datapoint with an empty metric name: {d:?}"
        );
        assert!(!names.contains(&name), "metric {name} appears twice");
        names.push(name);
        match &d.metric {
            Metric::Aws(m) => assert!(m.is_device_side(), "cloud-side metric {name} from a report"),
            Metric::Custom(n) => {
                assert!(
                    !n.starts_with("aws:"),
                    "custom metric {n} uses the aws: prefix"
                );
                assert!(
                    n.len() <= 128
                        && n.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-')),
                    "invalid custom metric name {n:?}"
                );
            }
        }
        match &d.value {
            MetricValue::Number(x) => assert!(x.is_finite(), "{name}: non-finite number {x}"),
            MetricValue::Numbers(xs) => {
                assert!(
                    xs.iter().all(|x| x.is_finite()),
                    "{name}: non-finite number in {xs:?}"
                );
            }
            MetricValue::Ports(ps) => {
                assert!(
                    ps.windows(2).all(|w| w[0] < w[1]),
                    "{name}: ports not sorted and distinct: {ps:?}"
                );
                assert!(!ps.contains(&0), "{name}: port 0 in a listening-port list");
            }
            MetricValue::Count(_) | MetricValue::Strings(_) | MetricValue::Cidrs(_) => {}
        }
    }
}

fn check_rejection(rejection: &Rejection) {
    assert!(
        !rejection.message.is_empty(),
        "rejection without a message: {rejection:?}"
    );
    assert!(
        matches!(
            rejection.code,
            ErrorCode::Malformed | ErrorCode::MissingHeader | ErrorCode::InvalidPayload
        ),
        "the decoder answered {:?}",
        rejection.code
    );
    if let Some(id) = rejection.report_id {
        assert!(
            rejection.code == ErrorCode::InvalidPayload,
            "{rejection:?} carries a report id"
        );
        assert!(
            (1..=i64::MAX as u64).contains(&id),
            "rejection report id {id} out of range"
        );
    }
    // Display must not panic either.
    let shown = rejection.to_string();
    assert!(shown.len() > rejection.message.len());
}

/// Target `topic_match`: arbitrary bytes as a topic, and as a thing name.
pub fn topic_match(data: &[u8]) {
    let Ok(s) = core::str::from_utf8(data) else {
        return;
    };
    let mut buf = [0u8; 512];

    // Whatever matches must be rebuilt from its parts byte for byte.
    if let Some(m) = topic::parse(s, DEFAULT_PREFIX) {
        assert!(
            (1..=THING_NAME_MAX_LEN).contains(&m.thing.len())
                && m.thing
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-')),
            "matched an invalid thing name {:?} in {s:?}",
            m.thing
        );
        assert!(topic::is_valid_thing_name(m.thing));
        match topic::build(&mut buf, DEFAULT_PREFIX, m.thing, m.topic) {
            Ok(built) => assert_eq!(built, s, "parse then build changed the topic"),
            Err(e) => panic!("{s:?} matched {m:?} but cannot be rebuilt: {e}"),
        }
        assert_eq!(m.topic.len(DEFAULT_PREFIX, m.thing.len()), s.len());
    }

    // Whatever builds must match back to the same thing and topic.
    for t in TOPICS {
        match topic::build(&mut buf, DEFAULT_PREFIX, s, t) {
            Ok(built) => {
                let m = topic::parse(built, DEFAULT_PREFIX);
                assert!(
                    m.is_some_and(|m| m.thing == s && m.topic == t),
                    "built {built:?} from {s:?} but it matches back as {m:?}"
                );
            }
            Err(topic::TopicError::InvalidThingName) => {
                assert!(
                    !topic::is_valid_thing_name(s),
                    "{s:?} is valid but was refused"
                );
            }
            Err(e) => panic!("a 512-byte buffer was too small for {s:?}: {e}"),
        }
    }
}

/// Target `answer_decode`: the device-side answer decoder, in both formats. An answer that
/// decodes must fit its capacities and survive encoding and decoding again unchanged.
pub fn answer_decode(data: &[u8]) {
    for format in [Format::Json, Format::Cbor] {
        let Ok(a) = answer::decode(data, format) else {
            continue;
        };
        assert!(
            a.thing_name.len() <= THING_NAME_MAX_LEN,
            "thing name over capacity"
        );
        if let Some(d) = &a.status_details {
            assert!(
                d.error_message.len() <= MESSAGE_CAPACITY,
                "message over capacity"
            );
        }
        let mut buf = [0u8; ANSWER_BUF];
        let n = match answer::encode(&a, format, &mut buf) {
            Ok(n) => n,
            Err(e) => panic!("decoded answer does not re-encode ({e}): {a:?}"),
        };
        let wire = buf.get(..n).unwrap_or_default();
        match answer::decode(wire, format) {
            Ok(back) => assert_eq!(back, a, "answer changed through encode and decode"),
            Err(e) => panic!("re-encoded answer does not decode ({e}): {a:?}"),
        }
    }
}
