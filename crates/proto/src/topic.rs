//! The six Device Defender topics: building them into caller buffers and matching them back.
//!
//! Grammar: `<prefix><thing>/defender/metrics/<json|cbor>[/accepted|/rejected]`. Matching is
//! exact (no trailing characters, no extra levels, case-sensitive) and, unlike AWS's C
//! `Defender_MatchTopic`, also enforces the thing-name rules, so a topic that matches always
//! names a thing that could be registered.

/// The topic prefix AWS IoT uses; a deployment on a broker that reserves `$` topics may
/// configure another, and its devices must use the same one.
pub const DEFAULT_PREFIX: &str = "$aws/things/";

/// Longest thing name AWS allows, in bytes.
pub const THING_NAME_MAX_LEN: usize = 128;

const BRIDGE: &str = "/defender/metrics/";
const BRIDGE_AFTER_SLASH: &str = "defender/metrics/";
const ACCEPTED: &str = "/accepted";
const REJECTED: &str = "/rejected";

/// A report's encoding, which the topic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `…/json`
    Json,
    /// `…/cbor`
    Cbor,
}

impl Format {
    /// The topic segment: `json` or `cbor`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Cbor => "cbor",
        }
    }
}

/// What a topic is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A device publishes its report here.
    Publish,
    /// The service answers a report it stored.
    Accepted,
    /// The service answers a report it refused.
    Rejected,
}

impl Kind {
    const fn suffix(self) -> &'static str {
        match self {
            Kind::Publish => "",
            Kind::Accepted => ACCEPTED,
            Kind::Rejected => REJECTED,
        }
    }
}

/// One of the six topics, named as AWS's embedded library names them (`JsonReportPublish`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Topic {
    /// The encoding.
    pub format: Format,
    /// Publish, accepted or rejected.
    pub kind: Kind,
}

impl Topic {
    /// The name AWS's `DefenderTopic_t` uses for this topic, e.g. `CborReportAccepted`.
    pub const fn name(self) -> &'static str {
        match (self.format, self.kind) {
            (Format::Json, Kind::Publish) => "JsonReportPublish",
            (Format::Json, Kind::Accepted) => "JsonReportAccepted",
            (Format::Json, Kind::Rejected) => "JsonReportRejected",
            (Format::Cbor, Kind::Publish) => "CborReportPublish",
            (Format::Cbor, Kind::Accepted) => "CborReportAccepted",
            (Format::Cbor, Kind::Rejected) => "CborReportRejected",
        }
    }

    /// Length in bytes of this topic for a thing name of `thing_len` bytes under `prefix`.
    pub const fn len(self, prefix: &str, thing_len: usize) -> usize {
        prefix.len() + thing_len + BRIDGE.len() + 4 + self.kind.suffix().len()
    }
}

/// Why a topic could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// The thing name is empty, longer than 128 bytes or has a character outside `[a-zA-Z0-9:_-]`.
    InvalidThingName,
    /// The buffer is shorter than the topic; `needed` bytes would fit it.
    BufferTooSmall {
        /// Bytes the topic needs.
        needed: usize,
    },
}

impl core::fmt::Display for TopicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TopicError::InvalidThingName => f.write_str(
                "invalid thing name: 1 to 128 bytes of letters, digits, ':', '_' and '-'",
            ),
            TopicError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: the topic needs {needed} bytes")
            }
        }
    }
}

/// Whether `name` is a valid thing name: 1..=128 bytes of `[a-zA-Z0-9:_-]`.
pub fn is_valid_thing_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= THING_NAME_MAX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'))
}

/// Writes the topic for `thing` into `buf` and returns its length in bytes.
///
/// The lean form of [`build`] for devices that hand bytes to their MQTT client: it skips the
/// UTF-8 check that turning the bytes into a `&str` costs (about 700 bytes of flash on a
/// Cortex-M). `buf[..len]` is the topic, always ASCII. It is not NUL-terminated; nothing is
/// written past its length.
pub fn build_bytes(
    buf: &mut [u8],
    prefix: &str,
    thing: &str,
    topic: Topic,
) -> Result<usize, TopicError> {
    if !is_valid_thing_name(thing) {
        return Err(TopicError::InvalidThingName);
    }
    let needed = topic.len(prefix, thing.len());
    let Some(out) = buf.get_mut(..needed) else {
        return Err(TopicError::BufferTooSmall { needed });
    };
    // One byte loop over all parts (lengths were summed into `needed`, so `out` fits them
    // exactly): smaller on a microcontroller than a `copy_from_slice` per part, which links
    // `memcpy`.
    let parts = [
        prefix,
        thing,
        BRIDGE,
        topic.format.as_str(),
        topic.kind.suffix(),
    ];
    let bytes = parts.iter().flat_map(|p| p.bytes());
    for (dst, b) in out.iter_mut().zip(bytes) {
        *dst = b;
    }
    Ok(needed)
}

/// Writes the topic for `thing` into `buf` and returns it as a `&str` borrowed from `buf`.
///
/// The topic is not NUL-terminated; nothing is written past its length. See [`build_bytes`]
/// for the form without the UTF-8 conversion.
pub fn build<'b>(
    buf: &'b mut [u8],
    prefix: &str,
    thing: &str,
    topic: Topic,
) -> Result<&'b str, TopicError> {
    let n = build_bytes(buf, prefix, thing, topic)?;
    let buf: &'b [u8] = buf;
    // Only `&str` pieces were copied in, so the bytes are UTF-8.
    core::str::from_utf8(buf.get(..n).unwrap_or_default()).map_err(|_| TopicError::InvalidThingName)
}

/// A topic matched back to what it is for and whose it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicMatch<'t> {
    /// Which of the six topics.
    pub topic: Topic,
    /// The thing name, borrowed from the topic string.
    pub thing: &'t str,
}

/// Matches `topic` against the six Defender topics under `prefix`.
///
/// Returns `None` for anything else, including a thing name that breaks the naming rules.
pub fn parse<'t>(topic: &'t str, prefix: &str) -> Option<TopicMatch<'t>> {
    let rest = topic.strip_prefix(prefix)?;
    // `split_once` has no panic path (`find` + `split_at` keeps a char-boundary check).
    let (thing, tail) = rest.split_once('/')?;
    if !is_valid_thing_name(thing) {
        return None;
    }
    // `split_once` consumed the bridge's leading '/'.
    let tail = tail.strip_prefix(BRIDGE_AFTER_SLASH)?;
    let (format, kind_part) = if let Some(k) = tail.strip_prefix("json") {
        (Format::Json, k)
    } else {
        (Format::Cbor, tail.strip_prefix("cbor")?)
    };
    let kind = match kind_part {
        "" => Kind::Publish,
        ACCEPTED => Kind::Accepted,
        REJECTED => Kind::Rejected,
        _ => return None,
    };
    Some(TopicMatch {
        topic: Topic { format, kind },
        thing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_topic_and_parses_it_back() {
        let mut buf = [0u8; 256];
        for format in [Format::Json, Format::Cbor] {
            for kind in [Kind::Publish, Kind::Accepted, Kind::Rejected] {
                let t = Topic { format, kind };
                let s = build(&mut buf, DEFAULT_PREFIX, "dev-1", t).unwrap();
                assert_eq!(s.len(), t.len(DEFAULT_PREFIX, 5));
                let m = parse(s, DEFAULT_PREFIX).unwrap();
                assert_eq!(m.topic, t);
                assert_eq!(m.thing, "dev-1");
            }
        }
    }

    #[test]
    fn buffer_too_small_reports_the_needed_length() {
        let mut buf = [0u8; 40];
        let t = Topic {
            format: Format::Cbor,
            kind: Kind::Accepted,
        };
        assert_eq!(
            build(&mut buf, DEFAULT_PREFIX, "dev-1", t),
            Err(TopicError::BufferTooSmall { needed: 48 })
        );
        let mut exact = [0u8; 48];
        assert!(build(&mut exact, DEFAULT_PREFIX, "dev-1", t).is_ok());
    }

    #[test]
    fn build_bytes_writes_what_build_returns_and_nothing_more() {
        for format in [Format::Json, Format::Cbor] {
            for kind in [Kind::Publish, Kind::Accepted, Kind::Rejected] {
                let t = Topic { format, kind };
                let mut a = [0xAAu8; 80];
                let mut b = [0xAAu8; 80];
                let n = build_bytes(&mut a, DEFAULT_PREFIX, "dev-1", t).unwrap();
                let s = build(&mut b, DEFAULT_PREFIX, "dev-1", t).unwrap();
                assert_eq!(&a[..n], s.as_bytes());
                assert!(a[n..].iter().all(|&x| x == 0xAA));
                let mut exact = [0u8; 80];
                assert_eq!(
                    build_bytes(&mut exact[..n], DEFAULT_PREFIX, "dev-1", t),
                    Ok(n)
                );
                assert_eq!(
                    build_bytes(&mut exact[..n - 1], DEFAULT_PREFIX, "dev-1", t),
                    Err(TopicError::BufferTooSmall { needed: n })
                );
            }
        }
        let t = Topic {
            format: Format::Json,
            kind: Kind::Publish,
        };
        assert_eq!(
            build_bytes(&mut [0u8; 80], DEFAULT_PREFIX, "a/b", t),
            Err(TopicError::InvalidThingName)
        );
    }

    #[test]
    fn parse_refuses_near_misses() {
        for bad in [
            "$aws/things/dev-1/defender/metrics/json/",
            "$aws/things/dev-1/defender/metrics/jsonx",
            "$aws/things/dev-1/defender/metrics/xml",
            "$aws/things/dev-1/defender/metric/json",
            "$aws/things/dev-1",
            "$aws/things/dev-1/",
            "$aws/things//defender/metrics/json",
            "$aws/things/d\u{e9}v/defender/metrics/json",
            "$aws/things/dev-1/defender/metrics/cbor/accepted/x",
            "$aws/things/dev-1/defender/metrics/CBOR",
            "$aws/thing/dev-1/defender/metrics/json",
        ] {
            assert!(parse(bad, DEFAULT_PREFIX).is_none(), "{bad}");
        }
    }

    #[test]
    fn custom_prefix() {
        let mut buf = [0u8; 64];
        let t = Topic {
            format: Format::Json,
            kind: Kind::Publish,
        };
        let s = build(&mut buf, "dd/things/", "x", t).unwrap();
        assert_eq!(s, "dd/things/x/defender/metrics/json");
        assert!(parse(s, DEFAULT_PREFIX).is_none());
        assert_eq!(parse(s, "dd/things/").unwrap().thing, "x");
    }

    #[test]
    fn rejects_bad_thing_names_when_building() {
        let mut buf = [0u8; 256];
        let t = Topic {
            format: Format::Json,
            kind: Kind::Publish,
        };
        for bad in ["", "a/b", "a+b", "a#", "é", &"a".repeat(129)] {
            assert_eq!(
                build(&mut buf, DEFAULT_PREFIX, bad, t),
                Err(TopicError::InvalidThingName)
            );
        }
    }
}
