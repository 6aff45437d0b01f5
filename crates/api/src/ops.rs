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

/// The operation a request was routed to: put in the request's extensions by authentication,
/// which looks it up once, and read by the member extractors ([`crate::params`]).
#[derive(Debug, Clone, Copy)]
pub struct Routed(pub &'static Op);

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
