//! A parsed document as a plain tree, the same for JSON and CBOR.
//!
//! Validation walks this tree rather than deserializing straight into typed structs, because
//! the spec's rules need what typed deserialization throws away: the exact key spelling a
//! device used (messages quote it), duplicate keys, `null` versus absent, and the order of
//! precedence between `Malformed`, `MissingHeader` and `InvalidPayload`.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Deepest nesting accepted. A report is six levels deep; the limit keeps a hostile payload
/// from exhausting the stack of the recursive parser.
pub const MAX_DEPTH: usize = 24;

/// One node of a parsed document.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// Any integer; i128 holds every integer JSON parsers and CBOR produce.
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// Text, borrowed from the payload when it had no escapes.
    Str(Cow<'a, str>),
    /// A CBOR byte string (never valid in a report, kept so messages can say what was found).
    Bytes,
    /// A list.
    Array(Vec<Value<'a>>),
    /// A map, in document order, duplicates kept.
    Map(Vec<(Value<'a>, Value<'a>)>),
}

impl Value<'_> {
    /// A short description for error messages: the kind, and the value when it is short.
    pub fn describe(&self) -> String {
        use alloc::format;
        match self {
            Value::Null => "null".into(),
            Value::Bool(b) => format!("{b}"),
            Value::Int(i) => format!("{i}"),
            Value::Float(f) => format!("{f}"),
            Value::Str(s) => format!("the string {}", quote(s)),
            Value::Bytes => "a byte string".into(),
            Value::Array(_) => "a list".into(),
            Value::Map(_) => "a map".into(),
        }
    }
}

/// `s` in single quotes, cut to 64 characters, control characters escaped: safe to put in a
/// message whatever the device sent.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(70) + 2);
    out.push('\'');
    for (i, c) in s.chars().enumerate() {
        if i == 64 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Deserializes a [`Value`] while counting depth.
pub struct ValueSeed {
    /// Nesting level of the value about to be read.
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom(alloc::format!(
                "nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        d.deserialize_any(ValueVisitor { depth: self.depth })
    }
}

struct ValueVisitor {
    depth: usize,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value<'de>, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value<'de>, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value<'de>, E> {
        Ok(Value::Int(v))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value<'de>, E> {
        // Beyond i128 nothing in a report can be valid; keep it as a float for the message.
        Ok(i128::try_from(v).map_or(Value::Float(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value<'de>, E> {
        Ok(Value::Float(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v.into())))
    }
    fn visit_string<E>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::Str(Cow::Owned(v)))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Value<'de>, E> {
        Ok(Value::Bytes)
    }
    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value<'de>, D::Error> {
        ValueSeed { depth: self.depth }.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        // Cap the pre-allocation: a CBOR header can claim any length.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(v) = seq.next_element_seed(ValueSeed {
            depth: self.depth + 1,
        })? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(16));
        let depth = self.depth + 1;
        while let Some(k) = map.next_key_seed(ValueSeed { depth })? {
            let v = map.next_value_seed(ValueSeed { depth })?;
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }
}

/// Parses JSON text (already stripped of the one trailing NUL the spec allows).
pub fn parse_json(bytes: &[u8]) -> Result<Value<'_>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = ValueSeed { depth: 0 }
        .deserialize(&mut de)
        .map_err(|e| alloc::format!("{e}"))?;
    de.end().map_err(|e| alloc::format!("{e}"))?;
    Ok(v)
}

/// Parses one CBOR data item that must fill the whole payload.
pub fn parse_cbor(bytes: &[u8]) -> Result<Value<'_>, String> {
    let mut de = minicbor_serde::Deserializer::new(bytes);
    let v = ValueSeed { depth: 0 }
        .deserialize(&mut de)
        .map_err(|e| alloc::format!("{e}"))?;
    let end = de.decoder().position();
    if end != bytes.len() {
        return Err(alloc::format!(
            "{} trailing bytes after the CBOR item at offset {end}",
            bytes.len() - end
        ));
    }
    Ok(v)
}
