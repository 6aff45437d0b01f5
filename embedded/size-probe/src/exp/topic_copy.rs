//! Experiment: a copy of `build`/`parse` from crates/proto/src/topic.rs (see docs/size.md for
//! the commit), with one switch read from the including binary:
//!
//! * `super::SPLIT_ONCE`: `parse` splits the thing name off with `str::split_once` instead of
//!   `find` + `split_at` (whose char-boundary panic path LLVM cannot remove).
//!
//! `build_bytes` is `build` without the final `from_utf8`, for the `exp_topics_bytes` image;
//! `build_string` writes into a `heapless::String` instead (a `&str` with no UTF-8 check), for
//! `exp_topics_string`.

use fleetward_proto::topic::{Format, Kind, Topic, TopicError, TopicMatch, is_valid_thing_name};

const BRIDGE: &str = "/defender/metrics/";
const ACCEPTED: &str = "/accepted";
const REJECTED: &str = "/rejected";

const fn suffix(kind: Kind) -> &'static str {
    match kind {
        Kind::Publish => "",
        Kind::Accepted => ACCEPTED,
        Kind::Rejected => REJECTED,
    }
}

pub fn build_bytes<'b>(
    buf: &'b mut [u8],
    prefix: &str,
    thing: &str,
    topic: Topic,
) -> Result<&'b mut [u8], TopicError> {
    if !is_valid_thing_name(thing) {
        return Err(TopicError::InvalidThingName);
    }
    let needed = topic.len(prefix, thing.len());
    let Some(out) = buf.get_mut(..needed) else {
        return Err(TopicError::BufferTooSmall { needed });
    };
    let mut at = 0;
    for part in [
        prefix,
        thing,
        BRIDGE,
        topic.format.as_str(),
        suffix(topic.kind),
    ] {
        if let Some(dst) = out.get_mut(at..at + part.len()) {
            dst.copy_from_slice(part.as_bytes());
        }
        at += part.len();
    }
    Ok(out)
}

pub fn build<'b>(
    buf: &'b mut [u8],
    prefix: &str,
    thing: &str,
    topic: Topic,
) -> Result<&'b str, TopicError> {
    let out = build_bytes(buf, prefix, thing, topic)?;
    core::str::from_utf8(out).map_err(|_| TopicError::InvalidThingName)
}

pub fn build_string<'b, const N: usize>(
    out: &'b mut heapless::String<N>,
    prefix: &str,
    thing: &str,
    topic: Topic,
) -> Result<&'b str, TopicError> {
    if !is_valid_thing_name(thing) {
        return Err(TopicError::InvalidThingName);
    }
    let needed = topic.len(prefix, thing.len());
    if needed > N {
        return Err(TopicError::BufferTooSmall { needed });
    }
    out.clear();
    for part in [
        prefix,
        thing,
        BRIDGE,
        topic.format.as_str(),
        suffix(topic.kind),
    ] {
        // The lengths were checked against N above, so every part fits.
        let _ = out.push_str(part);
    }
    Ok(out.as_str())
}

pub fn parse<'t>(topic: &'t str, prefix: &str) -> Option<TopicMatch<'t>> {
    let rest = topic.strip_prefix(prefix)?;
    let (thing, tail) = if super::SPLIT_ONCE {
        let (thing, after) = rest.split_once('/')?;
        // `BRIDGE` without its leading '/', which split_once consumed.
        (thing, after.strip_prefix(BRIDGE.get(1..)?)?)
    } else {
        let slash = rest.find('/')?;
        let (thing, tail) = rest.split_at(slash);
        (thing, tail.strip_prefix(BRIDGE)?)
    };
    if !is_valid_thing_name(thing) {
        return None;
    }
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
