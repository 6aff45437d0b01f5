//! Reading path, query and body members, checked against the operation's model constraints
//! ([`super::ops`]) before the handler runs.
//!
//! A violation is `InvalidRequestException` with AWS's own wording ("Value 'x' at 'thingName'
//! failed to satisfy constraint: …"), so the message names the member, as AWS's does.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams};
use axum::http::Extensions;
use axum::http::request::Parts;
use serde_json::Value;

use super::ApiError;
use super::ops::{Loc, Member, Op, Routed, Ty};
use fleetward_service::detect::Paging;

/// The operation a request was routed to, as authentication found it in the table.
pub fn op_of(extensions: &Extensions) -> Result<&'static Op, ApiError> {
    extensions.get::<Routed>().map(|r| r.0).ok_or_else(|| {
        let path = extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or_default();
        ApiError::internal(format!("route {path} is not in the operation table"))
    })
}

/// The path and query members of a request, checked.
#[derive(Debug, Clone)]
pub struct Params {
    /// The operation.
    pub op: &'static Op,
    values: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let op = op_of(&parts.extensions)?;
        let mut values = HashMap::new();
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid(format!("path: {e}")))?;
        for (k, v) in &raw {
            let decoded = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| ApiError::invalid(format!("path member {k}: not UTF-8")))?;
            values.insert(k.to_owned(), decoded.into_owned());
        }
        let query = parts.uri.query().unwrap_or_default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            // Path labels win: a query parameter cannot override one.
            values
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        let p = Params { op, values };
        let mut errors = Vec::new();
        for m in op.members.iter().filter(|m| m.loc != Loc::Body) {
            match p.values.get(m.name) {
                None if m.required => errors.push(missing(m)),
                None => {}
                Some(v) => check_text(m, v, &mut errors),
            }
        }
        finish(errors)?;
        Ok(p)
    }
}

impl Params {
    /// A string member (already checked).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required member (checked present; empty if the table does not require it).
    pub fn req(&self, name: &str) -> &str {
        self.str(name).unwrap_or_default()
    }

    /// An integer member.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.str(name).and_then(|v| v.parse().ok())
    }

    /// A boolean member.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.str(name).and_then(parse_bool)
    }

    /// A timestamp member, in epoch milliseconds.
    pub fn time_ms(&self, name: &str) -> Option<i64> {
        self.str(name).and_then(parse_time_ms)
    }

    /// `nextToken` and `maxResults`.
    pub fn paging(&self) -> Paging {
        Paging {
            next_token: self.str("nextToken").map(str::to_owned),
            max_results: self.int("maxResults").and_then(|n| u32::try_from(n).ok()),
        }
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// ISO 8601 / RFC 3339 (what botocore puts in query strings) or epoch seconds.
pub fn parse_time_ms(v: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Some(t.timestamp_millis());
    }
    let secs: f64 = v.parse().ok()?;
    seconds_to_ms(secs)
}

pub use fleetward_core::aws::time::seconds_to_ms;

fn missing(m: &Member) -> String {
    format!(
        "Value null at '{}' failed to satisfy constraint: Member must not be null",
        m.name
    )
}

fn violation(name: &str, shown: &str, constraint: &str) -> String {
    format!("Value '{shown}' at '{name}' failed to satisfy constraint: {constraint}")
}

/// Checks a path or query value (text) against its member's type.
fn check_text(m: &Member, v: &str, errors: &mut Vec<String>) {
    match m.ty {
        Ty::Str { .. } | Ty::Enum(_) => check_str(m.name, m.ty, v, errors),
        Ty::Int { min, max } => match v.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => {}
            Ok(_) => errors.push(violation(
                m.name,
                v,
                &format!("Member must have value between {min} and {max}"),
            )),
            Err(_) => errors.push(violation(m.name, v, "Member must be an integer")),
        },
        Ty::Long => {
            if v.parse::<i64>().is_err() {
                errors.push(violation(m.name, v, "Member must be a 64-bit integer"));
            }
        }
        Ty::Bool => {
            if parse_bool(v).is_none() {
                errors.push(violation(m.name, v, "Member must be true or false"));
            }
        }
        Ty::Timestamp => {
            if parse_time_ms(v).is_none() {
                errors.push(violation(
                    m.name,
                    v,
                    "Member must be an ISO 8601 timestamp or epoch seconds",
                ));
            }
        }
        Ty::StrList { .. } | Ty::Doc(_) => {}
    }
}

fn check_str(name: &str, ty: Ty, v: &str, errors: &mut Vec<String>) {
    match ty {
        Ty::Str { min, max, pat } => {
            let n = v.chars().count();
            if n < min {
                errors.push(violation(
                    name,
                    v,
                    &format!("Member must have length greater than or equal to {min}"),
                ));
            } else if n > max {
                let shown: String = v.chars().take(64).collect();
                errors.push(violation(
                    name,
                    &shown,
                    &format!("Member must have length less than or equal to {max}"),
                ));
            } else if !pat.matches(v) {
                errors.push(violation(
                    name,
                    v,
                    &format!(
                        "Member must satisfy regular expression pattern: {}",
                        pat.regex().unwrap_or_default()
                    ),
                ));
            }
        }
        Ty::Enum(values) if !values.contains(&v) => {
            errors.push(violation(
                name,
                v,
                &format!(
                    "Member must satisfy enum value set: [{}]",
                    values.join(", ")
                ),
            ));
        }
        _ => {}
    }
}

/// Checks the top-level members of a JSON body against `op`'s body members: presence of the
/// required ones and the type and constraints of scalars and string lists. Deeper shapes are
/// the service layer's.
pub fn check_body(op: &Op, body: &Value, errors: &mut Vec<String>) {
    let Some(map) = body.as_object() else {
        errors.push("request body: must be a JSON object".to_owned());
        return;
    };
    for m in op.members_at(Loc::Body) {
        let v = match map.get(m.name) {
            None | Some(Value::Null) => {
                if m.required {
                    errors.push(missing(m));
                }
                continue;
            }
            Some(v) => v,
        };
        match (m.ty, v) {
            (Ty::Str { .. } | Ty::Enum(_), Value::String(s)) => check_str(m.name, m.ty, s, errors),
            (Ty::Bool, Value::Bool(_)) | (Ty::Timestamp | Ty::Long, Value::Number(_)) => {}
            (Ty::Int { min, max }, Value::Number(n)) => {
                if !n.as_i64().is_some_and(|n| (min..=max).contains(&n)) {
                    errors.push(violation(
                        m.name,
                        &n.to_string(),
                        &format!("Member must have value between {min} and {max}"),
                    ));
                }
            }
            (
                Ty::StrList {
                    min_items,
                    max_items,
                    max_len,
                },
                Value::Array(items),
            ) => {
                if items.len() < min_items || items.len() > max_items {
                    errors.push(violation(
                        m.name,
                        &format!("{} items", items.len()),
                        &format!("Member must have {min_items} to {max_items} items"),
                    ));
                }
                for (i, item) in items.iter().enumerate() {
                    let item_name = format!("{}.{}", m.name, i + 1);
                    match item.as_str() {
                        Some(s) => check_str(
                            &item_name,
                            Ty::Str {
                                min: 1,
                                max: max_len,
                                pat: crate::ops::Pat::Any,
                            },
                            s,
                            errors,
                        ),
                        None => errors.push(format!("{item_name}: must be a string")),
                    }
                }
            }
            (Ty::Doc(_), _) => {}
            (ty, _) => errors.push(format!("{}: must be {}", m.name, type_name(ty))),
        }
    }
}

fn type_name(ty: Ty) -> &'static str {
    match ty {
        Ty::Str { .. } | Ty::Enum(_) => "a string",
        Ty::Int { .. } | Ty::Long => "an integer",
        Ty::Bool => "a boolean",
        Ty::Timestamp => "a timestamp (epoch seconds)",
        Ty::StrList { .. } => "a list of strings",
        Ty::Doc(_) => "a structure",
    }
}

/// `Ok` when nothing was found, else one `InvalidRequestException` listing everything, in
/// AWS's "N validation errors detected: …" form.
pub fn finish(errors: Vec<String>) -> Result<(), ApiError> {
    match errors.len() {
        0 => Ok(()),
        1 => Err(ApiError::invalid(format!(
            "1 validation error detected: {}",
            errors.join("; ")
        ))),
        n => Err(ApiError::invalid(format!(
            "{n} validation errors detected: {}",
            errors.join("; ")
        ))),
    }
}
