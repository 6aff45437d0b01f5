//! The operations the API serves, as data: name, route, members with the model's constraints,
//! error names and TPS class.
//!
//! One table drives three things, so they cannot drift apart: path and query members are
//! checked against it before a handler runs ([`super::params`]), the rate limiter names the
//! operation from it, and `/openapi.json` is generated from it. Constraints are copied from
//! botocore's `iot` model (service-side.md Appendix A). Body members are listed for the
//! OpenAPI document; their deep checks (behaviors, alert targets) live in the service layer.

/// Where a member travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// A `{label}` of the path.
    Path,
    /// A query-string parameter.
    Query,
    /// A member of the JSON body.
    Body,
}

/// Character classes of the model's string patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pat {
    /// No pattern.
    Any,
    /// `[a-zA-Z0-9:_-]+` (resource names).
    Name,
    /// `[a-zA-Z0-9\-]+` (violation ids).
    Id,
    /// `^[a-zA-Z0-9-_]+$` (client request tokens).
    Token,
    /// `[\p{Graph}\x20]*` (descriptions, display names): no control characters.
    Printable,
    /// `[^\p{Cntrl}]*`.
    NoControl,
}

impl Pat {
    /// Whether `s` matches.
    pub fn matches(self, s: &str) -> bool {
        match self {
            Pat::Any => true,
            Pat::Name => s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-')),
            Pat::Id => s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            Pat::Token => s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')),
            Pat::Printable => s
                .chars()
                .all(|c| c == ' ' || !(c.is_control() || c.is_whitespace())),
            Pat::NoControl => !s.chars().any(char::is_control),
        }
    }

    /// The regular expression, for messages and OpenAPI.
    pub const fn regex(self) -> Option<&'static str> {
        match self {
            Pat::Any => None,
            Pat::Name => Some("[a-zA-Z0-9:_-]+"),
            Pat::Id => Some("[a-zA-Z0-9\\-]+"),
            Pat::Token => Some("^[a-zA-Z0-9-_]+$"),
            Pat::Printable => Some("[\\p{Graph}\\x20]*"),
            Pat::NoControl => Some("[^\\p{Cntrl}]*"),
        }
    }
}

/// A member's type and constraints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    /// A string of `min..=max` characters matching `pat`.
    Str {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
        /// Pattern.
        pat: Pat,
    },
    /// An integer in `min..=max`.
    Int {
        /// Smallest.
        min: i64,
        /// Largest.
        max: i64,
    },
    /// A 64-bit integer.
    Long,
    /// `true` or `false`.
    Bool,
    /// One of these values.
    Enum(&'static [&'static str]),
    /// A time: epoch seconds in bodies, ISO 8601 (or epoch seconds) in query strings.
    Timestamp,
    /// A list of strings of `min..=max` characters, `items` of them at most.
    StrList {
        /// Fewest items.
        min_items: usize,
        /// Most items.
        max_items: usize,
        /// Longest item.
        max_len: usize,
    },
    /// A structure, list or map, named after its model shape (checked by the service layer).
    Doc(&'static str),
}

/// One input member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The wire name.
    pub name: &'static str,
    /// Where it travels.
    pub loc: Loc,
    /// Whether the model requires it.
    pub required: bool,
    /// Type and constraints.
    pub ty: Ty,
}

/// How many calls per second AWS allows an account for an operation (service-side.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TpsClass {
    /// Most calls: 10.
    Default,
    /// `DescribeCustomMetric`, `DescribeSecurityProfile`, …: 25.
    Describe,
    /// `ListMetricValues`: 15.
    MetricValues,
}

/// One operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    /// AWS's operation name, e.g. `CreateSecurityProfile`.
    pub name: &'static str,
    /// HTTP method.
    pub method: &'static str,
    /// Path template with `{label}`s, as in the model and axum.
    pub path: &'static str,
    /// Input members.
    pub members: &'static [Member],
    /// Output member names (for the OpenAPI document).
    pub output: &'static [&'static str],
    /// Error names the model lists, without the `Exception` suffix.
    pub errors: &'static [&'static str],
    /// Rate-limit class.
    pub tps: TpsClass,
}

impl Op {
    /// The members at `loc`.
    pub fn members_at(&self, loc: Loc) -> impl Iterator<Item = &'static Member> {
        self.members.iter().filter(move |m| m.loc == loc)
    }
}

/// Every operation served.
pub fn all() -> impl Iterator<Item = &'static Op> {
    super::routes::all_ops()
}

/// The operation routed at `method` + `path` (the route's template, as axum's `MatchedPath`).
pub fn find(method: &str, path: &str) -> Option<&'static Op> {
    all().find(|o| o.method == method && o.path == path)
}

// --- shared member types ---------------------------------------------------------------------

/// `[a-zA-Z0-9:_-]+`, 1–128: profile, metric, dimension, group names.
pub const NAME: Ty = Ty::Str {
    min: 1,
    max: 128,
    pat: Pat::Name,
};
/// Thing names in query strings: 1–128, no pattern in the model.
pub const THING_NAME: Ty = Ty::Str {
    min: 1,
    max: 128,
    pat: Pat::Any,
};
/// `violationId`.
pub const VIOLATION_ID: Ty = Ty::Str {
    min: 1,
    max: 128,
    pat: Pat::Id,
};
/// `clientRequestToken`.
pub const CLIENT_TOKEN: Ty = Ty::Str {
    min: 1,
    max: 64,
    pat: Pat::Token,
};
/// `securityProfileDescription`.
pub const DESCRIPTION: Ty = Ty::Str {
    min: 0,
    max: 1000,
    pat: Pat::Printable,
};
/// `maxResults` of most list calls.
pub const MAX_RESULTS: Ty = Ty::Int { min: 1, max: 250 };
/// Any string (`nextToken`, target ARNs).
pub const ANY: Ty = Ty::Str {
    min: 0,
    max: usize::MAX,
    pat: Pat::Any,
};
/// `verificationState`.
pub const VERIFICATION_STATE: Ty = Ty::Enum(&[
    "FALSE_POSITIVE",
    "BENIGN_POSITIVE",
    "TRUE_POSITIVE",
    "UNKNOWN",
]);
/// `behaviorCriteriaType`.
pub const CRITERIA_TYPE: Ty = Ty::Enum(&["STATIC", "STATISTICAL", "MACHINE_LEARNING"]);

/// A required path label.
pub const fn path(name: &'static str, ty: Ty) -> Member {
    Member {
        name,
        loc: Loc::Path,
        required: true,
        ty,
    }
}

/// An optional query parameter.
pub const fn query(name: &'static str, ty: Ty) -> Member {
    Member {
        name,
        loc: Loc::Query,
        required: false,
        ty,
    }
}

/// A required query parameter.
pub const fn query_req(name: &'static str, ty: Ty) -> Member {
    Member {
        name,
        loc: Loc::Query,
        required: true,
        ty,
    }
}

/// An optional body member.
pub const fn body(name: &'static str, ty: Ty) -> Member {
    Member {
        name,
        loc: Loc::Body,
        required: false,
        ty,
    }
}

/// A required body member.
pub const fn body_req(name: &'static str, ty: Ty) -> Member {
    Member {
        name,
        loc: Loc::Body,
        required: true,
        ty,
    }
}

/// The operation table checked against botocore's `iot` model (a vendored subset, see
/// `model/NOTICE`): routes, every member with its place, requiredness and constraints, and
/// the error list. A route module that adds an operation is checked here automatically.
#[cfg(test)]
mod model_tests {
    use serde_json::Value;

    use super::*;

    const MODEL: &str = include_str!("model/iot-subset.json");

    fn expected_ty(model: &Value, shape_name: &str) -> Ty {
        let shape = &model["shapes"][shape_name];
        let int = |k: &str| shape.get(k).and_then(Value::as_i64);
        match shape["type"].as_str().unwrap_or_default() {
            "string" => match shape.get("enum").and_then(Value::as_array) {
                Some(values) => {
                    let v: Vec<&'static str> = values
                        .iter()
                        .map(|v| &*String::leak(v.as_str().unwrap_or_default().to_owned()))
                        .collect();
                    Ty::Enum(Vec::leak(v))
                }
                None => Ty::Str {
                    min: usize::try_from(int("min").unwrap_or(0)).unwrap_or(0),
                    max: int("max").map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(0)),
                    pat: match shape.get("pattern").and_then(Value::as_str) {
                        None => Pat::Any,
                        Some(p) => [
                            Pat::Name,
                            Pat::Id,
                            Pat::Token,
                            Pat::Printable,
                            Pat::NoControl,
                        ]
                        .into_iter()
                        .find(|x| x.regex() == Some(p))
                        // A pattern without a `Pat` is the service layer's to check.
                        .unwrap_or(Pat::Any),
                    },
                },
            },
            "integer" => Ty::Int {
                min: int("min").unwrap_or(i64::from(i32::MIN)),
                max: int("max").unwrap_or(i64::from(i32::MAX)),
            },
            "long" => Ty::Long,
            "boolean" => Ty::Bool,
            "timestamp" => Ty::Timestamp,
            "list" => {
                let item = shape["member"]["shape"].as_str().unwrap_or_default();
                let item_shape = &model["shapes"][item];
                if item_shape["type"] == "string" && item_shape.get("enum").is_none() {
                    Ty::StrList {
                        min_items: usize::try_from(int("min").unwrap_or(0)).unwrap_or(0),
                        max_items: int("max")
                            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(0)),
                        max_len: item_shape
                            .get("max")
                            .and_then(Value::as_u64)
                            .map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(0)),
                    }
                } else {
                    Ty::Doc("")
                }
            }
            _ => Ty::Doc(""),
        }
    }

    /// `Doc` types and un-itemized string lists compare by kind only.
    fn same_ty(ours: Ty, model: Ty) -> bool {
        match (ours, model) {
            (Ty::Doc(_), Ty::Doc(_)) => true,
            // A list of strings without constraints is documented as a structure.
            (Ty::Doc(_), Ty::StrList { max_len, .. }) => max_len == usize::MAX,
            (Ty::Enum(a), Ty::Enum(b)) => {
                let (mut a, mut b) = (a.to_vec(), b.to_vec());
                a.sort_unstable();
                b.sort_unstable();
                a == b
            }
            (a, b) => a == b,
        }
    }

    #[test]
    fn every_operation_matches_the_model() {
        let model: Value = serde_json::from_str(MODEL).unwrap();
        let mut checked = 0;
        for op in all() {
            let m = &model["operations"][op.name];
            assert!(m.is_object(), "{} is not in model/iot-subset.json", op.name);
            assert_eq!(m["http"]["method"], op.method, "{} method", op.name);
            let uri = m["http"]["requestUri"].as_str().unwrap();
            assert_eq!(uri.split('?').next(), Some(op.path), "{} path", op.name);

            let mut errors: Vec<String> = m["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    e["shape"]
                        .as_str()
                        .unwrap()
                        .trim_end_matches("Exception")
                        .to_owned()
                })
                .collect();
            let mut ours: Vec<String> = op.errors.iter().map(|e| (*e).to_owned()).collect();
            errors.sort();
            ours.sort();
            assert_eq!(ours, errors, "{} errors", op.name);

            let input_name = m["input"]["shape"].as_str();
            let input = input_name.map_or(&Value::Null, |n| &model["shapes"][n]);
            let required: Vec<&str> = input
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let members = input
                .get("members")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            for (name, def) in &members {
                let loc = match def.get("location").and_then(Value::as_str) {
                    Some("uri") => Loc::Path,
                    Some("querystring") => Loc::Query,
                    // Headers are read by their handler, not through the table.
                    Some("header") => continue,
                    Some(other) => panic!("{}.{name}: location {other} not supported", op.name),
                    None => Loc::Body,
                };
                let wire = def
                    .get("locationName")
                    .and_then(Value::as_str)
                    .unwrap_or(name);
                let ours = op
                    .members
                    .iter()
                    .find(|x| x.name == wire && x.loc == loc)
                    .unwrap_or_else(|| panic!("{}: member {wire} ({loc:?}) missing", op.name));
                assert_eq!(
                    ours.required,
                    required.contains(&name.as_str()),
                    "{}.{wire} required",
                    op.name
                );
                let want = expected_ty(&model, def["shape"].as_str().unwrap());
                assert!(
                    same_ty(ours.ty, want),
                    "{}.{wire}: ours {:?}, model {want:?}",
                    op.name,
                    ours.ty
                );
            }
            for ours in op.members {
                assert!(
                    members.iter().any(|(n, d)| {
                        d.get("locationName").and_then(Value::as_str).unwrap_or(n) == ours.name
                    }),
                    "{}.{} is not in the model",
                    op.name,
                    ours.name
                );
            }
            checked += 1;
        }
        assert!(checked >= 25, "only {checked} operations checked");
    }
}
