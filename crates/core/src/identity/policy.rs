//! AWS IoT policy documents: a strict typed model and the evaluator the broker's enforcement
//! point calls.
//!
//! Devices and operators bring policies written for AWS, so the grammar and the answers must be
//! AWS's. Where a document uses something this evaluator cannot evaluate faithfully
//! (`NotAction`, `NotResource`, unknown condition operators or keys, …), [`PolicyDocument::parse`]
//! rejects it: refusing a policy is visible and fixable, silently evaluating it differently from
//! AWS is a security bug.
//!
//! # Semantics, and the choices made where AWS is vague
//!
//! * **Default deny, explicit deny wins.** A request is allowed only if some `Allow` statement
//!   matches and no `Deny` statement matches, across every attached document.
//! * **Wildcards.** `*` matches any sequence (including `/` and the empty string), `?` exactly one
//!   character, in both `Action` and `Resource`. MQTT's `+` and `#` are literal text, as AWS
//!   documents, so a subscription to `#` is not covered by `topicfilter/$aws/things/*`.
//! * **Actions** compare case-insensitively (IAM does), resources case-sensitively.
//! * **ARNs are matched segment by segment**, like IAM's `ArnLike`: a resource pattern with six
//!   colon-separated parts (`arn:aws:iot:<region>:<account>:<resource>`) is matched part by
//!   part, so a `*` in the region cannot swallow colons and part of the topic. A pattern with
//!   fewer parts (typically `"*"`) is matched against the whole ARN.
//! * **Variables** `${iot:Connection.Thing.ThingName}`, `${iot:ClientId}` and
//!   `${iot:Connection.Thing.IsAttached}` are substituted before matching, and the substituted
//!   text is always literal: a client id of `*` does not become a wildcard. `${*}`, `${?}` and
//!   `${$}` are IAM's escapes for a literal `*`, `?` and `$`.
//! * **Unresolvable variables.** A `Resource` entry whose variable cannot be resolved (the thing
//!   name when no thing is attached, or any variable this evaluator does not know) does not
//!   match; the statement's other entries are still considered. For the usual one-entry
//!   statement this is AWS's "the statement does not match". It applies to `Deny` too, as in
//!   AWS: a `Deny` scoped by the thing name does not deny a connection without a thing.
//! * **Conditions**: only `Bool`, `StringEquals`, `StringNotEquals`, `StringLike` and
//!   `StringNotLike` on the keys `iot:ClientId`, `iot:Connection.Thing.ThingName` and
//!   `iot:Connection.Thing.IsAttached`. Operators and keys combine with AND, a key's values with
//!   OR. As in IAM, a key absent from the request (the thing name without a thing) makes the
//!   positive operators false and the negated ones true.

use serde_json::{Map, Value};

/// The only policy language version AWS IoT evaluates with variables.
pub const POLICY_VERSION: &str = "2012-10-17";

/// Why a policy document was refused. The message names the offending field.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON at all.
    #[error("policy document is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON is not a policy this evaluator can evaluate faithfully.
    #[error("{field}: {reason}")]
    Invalid {
        /// Path of the offending field, e.g. `Statement[1].Effect`.
        field: String,
        /// What was expected.
        reason: String,
    },
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

/// The MQTT data-plane actions the broker authorizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `iot:Connect`, on `client/<clientId>`.
    Connect,
    /// `iot:Publish`, on `topic/<topic>`.
    Publish,
    /// `iot:Subscribe`, on `topicfilter/<filter>`.
    Subscribe,
    /// `iot:Receive`, on `topic/<topic>`, checked when a message is delivered.
    Receive,
}

impl Action {
    /// The IAM spelling, e.g. `iot:Publish`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Connect => "iot:Connect",
            Action::Publish => "iot:Publish",
            Action::Subscribe => "iot:Subscribe",
            Action::Receive => "iot:Receive",
        }
    }
}

/// One authorization question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// What the connection wants to do.
    pub action: Action,
    /// The full ARN it wants to do it on; build it with [`Arns`].
    pub resource: &'a str,
}

/// The connection facts policy variables resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vars<'a> {
    /// The MQTT client id, as the client sent it.
    pub client_id: &'a str,
    /// The thing the certificate is attached to; `None` makes thing variables unresolvable.
    pub thing_name: Option<&'a str>,
}

/// The outcome of [`evaluate`]. The two denials are kept apart because operators debugging a
/// refused device need to know whether a statement forbade it or nothing allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Some statement allows it and none denies it.
    Allow,
    /// A `Deny` statement matches.
    ExplicitDeny,
    /// No statement allows it.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request may proceed.
    pub const fn is_allowed(self) -> bool {
        matches!(self, Decision::Allow)
    }
}

/// Builds request ARNs the way AWS IoT names resources, so policies written for AWS match.
pub use crate::aws::ArnScope as Arns;

/// Whether a statement grants or forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// `"Allow"`.
    Allow,
    /// `"Deny"`.
    Deny,
}

/// A parsed, validated policy document, ready to evaluate many times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    statements: Vec<Statement>,
}

/// One statement. The raw strings stay available for audit checks that inspect policies rather
/// than evaluate them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    sid: Option<String>,
    effect: Effect,
    actions: Vec<String>,
    resources: Vec<String>,
    action_patterns: Vec<Vec<Tok>>,
    resource_patterns: Vec<ResourcePattern>,
    conditions: Vec<Condition>,
}

impl Statement {
    /// The `Sid`, if any.
    pub fn sid(&self) -> Option<&str> {
        self.sid.as_deref()
    }

    /// `Allow` or `Deny`.
    pub fn effect(&self) -> Effect {
        self.effect
    }

    /// The `Action` entries, verbatim.
    pub fn actions(&self) -> &[String] {
        &self.actions
    }

    /// The `Resource` entries, verbatim.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    /// Whether the statement has a `Condition`; audit checks treat conditioned grants as scoped.
    pub fn has_condition(&self) -> bool {
        !self.conditions.is_empty()
    }

    fn matches(&self, action: &[char], resource: &str, vars: &Vars<'_>) -> bool {
        self.action_patterns
            .iter()
            .any(|p| glob_match(p, action, true))
            && self
                .resource_patterns
                .iter()
                .any(|p| p.matches(resource, vars))
            && self.conditions.iter().all(|c| c.holds(vars))
    }
}

impl PolicyDocument {
    /// Parses and validates an AWS IoT policy document.
    pub fn parse(json: &str) -> Result<PolicyDocument, PolicyError> {
        let value: Value = serde_json::from_str(json)?;
        let Value::Object(top) = value else {
            return Err(invalid("(document)", "expected a JSON object"));
        };
        for key in top.keys() {
            if !matches!(key.as_str(), "Version" | "Statement" | "Id") {
                return Err(invalid(key.as_str(), "unsupported field"));
            }
        }
        match top.get("Version") {
            None => {
                return Err(invalid(
                    "Version",
                    format!("missing; expected \"{POLICY_VERSION}\""),
                ));
            }
            Some(Value::String(v)) if v == POLICY_VERSION => {}
            Some(other) => {
                return Err(invalid(
                    "Version",
                    format!("expected \"{POLICY_VERSION}\", found {other}"),
                ));
            }
        }
        if let Some(id) = top.get("Id")
            && !id.is_string()
        {
            return Err(invalid("Id", "expected a string"));
        }
        let statements = match top.get("Statement") {
            None => return Err(invalid("Statement", "missing")),
            Some(Value::Object(st)) => vec![parse_statement("Statement", st)?],
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let path = format!("Statement[{i}]");
                    match v {
                        Value::Object(st) => parse_statement(&path, st),
                        _ => Err(invalid(path, "expected an object")),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(_) => {
                return Err(invalid(
                    "Statement",
                    "expected an object or a list of objects",
                ));
            }
        };
        Ok(PolicyDocument { statements })
    }

    /// The statements, in document order.
    pub fn statements(&self) -> &[Statement] {
        &self.statements
    }
}

fn parse_statement(path: &str, st: &Map<String, Value>) -> Result<Statement, PolicyError> {
    for key in st.keys() {
        let field = format!("{path}.{key}");
        match key.as_str() {
            "Sid" | "Effect" | "Action" | "Resource" | "Condition" => {}
            "NotAction" | "NotResource" => {
                return Err(invalid(
                    field,
                    "not supported; list the actions or resources explicitly",
                ));
            }
            "Principal" | "NotPrincipal" => {
                return Err(invalid(
                    field,
                    "not allowed in an AWS IoT policy (the principal is the certificate it is attached to)",
                ));
            }
            _ => return Err(invalid(field, "unsupported field")),
        }
    }
    let sid = match st.get("Sid") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(invalid(format!("{path}.Sid"), "expected a string")),
    };
    let effect = match st.get("Effect") {
        Some(Value::String(s)) if s == "Allow" => Effect::Allow,
        Some(Value::String(s)) if s == "Deny" => Effect::Deny,
        None => {
            return Err(invalid(
                format!("{path}.Effect"),
                "missing; expected \"Allow\" or \"Deny\"",
            ));
        }
        Some(_) => {
            return Err(invalid(
                format!("{path}.Effect"),
                "expected \"Allow\" or \"Deny\"",
            ));
        }
    };
    let actions = string_or_list(&format!("{path}.Action"), st.get("Action"))?;
    let resources = string_or_list(&format!("{path}.Resource"), st.get("Resource"))?;
    let conditions = match st.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(ops)) => parse_conditions(&format!("{path}.Condition"), ops)?,
        Some(_) => return Err(invalid(format!("{path}.Condition"), "expected an object")),
    };
    Ok(Statement {
        sid,
        effect,
        action_patterns: actions
            .iter()
            .map(|a| literal_pattern(&a.to_ascii_lowercase()))
            .collect(),
        resource_patterns: resources
            .iter()
            .map(|r| ResourcePattern::compile(r))
            .collect(),
        actions,
        resources,
        conditions,
    })
}

fn string_or_list(field: &str, value: Option<&Value>) -> Result<Vec<String>, PolicyError> {
    let non_empty = |path: String, s: &str| {
        if s.is_empty() {
            Err(invalid(path, "must not be empty"))
        } else {
            Ok(s.to_owned())
        }
    };
    match value {
        None => Err(invalid(field, "missing")),
        Some(Value::String(s)) => Ok(vec![non_empty(field.to_owned(), s)?]),
        Some(Value::Array(list)) if list.is_empty() => Err(invalid(field, "must not be empty")),
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => non_empty(format!("{field}[{i}]"), s),
                _ => Err(invalid(format!("{field}[{i}]"), "expected a string")),
            })
            .collect(),
        Some(_) => Err(invalid(field, "expected a string or a list of strings")),
    }
}

// --- patterns ------------------------------------------------------------------------------

/// A policy variable this evaluator can resolve, or one it cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    ThingName,
    ClientId,
    IsAttached,
    Unknown,
}

impl Var {
    fn from_name(name: &str) -> Var {
        const NAMES: [(&str, Var); 3] = [
            ("iot:Connection.Thing.ThingName", Var::ThingName),
            ("iot:ClientId", Var::ClientId),
            ("iot:Connection.Thing.IsAttached", Var::IsAttached),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Var::Unknown, |(_, v)| *v)
    }

    fn resolve<'a>(self, vars: &Vars<'a>) -> Option<&'a str> {
        match self {
            Var::ThingName => vars.thing_name,
            Var::ClientId => Some(vars.client_id),
            Var::IsAttached => Some(if vars.thing_name.is_some() {
                "true"
            } else {
                "false"
            }),
            Var::Unknown => None,
        }
    }
}

/// A pattern piece before variables are substituted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(char),
    Star,
    One,
    Var(Var),
}

/// A pattern piece ready to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Star,
    One,
}

/// Compiles text with `*`/`?` wildcards and `${…}` variables.
fn compile(text: &str) -> Vec<Piece> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '$'
            && chars.get(i + 1) == Some(&'{')
            && let Some(len) = chars[i + 2..].iter().position(|&c| c == '}')
        {
            let name: String = chars[i + 2..i + 2 + len].iter().collect();
            out.push(match name.as_str() {
                "*" => Piece::Lit('*'),
                "?" => Piece::Lit('?'),
                "$" => Piece::Lit('$'),
                _ => Piece::Var(Var::from_name(&name)),
            });
            i += len + 3;
            continue;
        }
        out.push(match c {
            '*' => Piece::Star,
            '?' => Piece::One,
            c => Piece::Lit(c),
        });
        i += 1;
    }
    out
}

/// Compiles text with wildcards but no variables (actions).
fn literal_pattern(text: &str) -> Vec<Tok> {
    text.chars()
        .map(|c| match c {
            '*' => Tok::Star,
            '?' => Tok::One,
            c => Tok::Lit(c),
        })
        .collect()
}

/// Substitutes variables; `None` if one cannot be resolved or its value holds an MQTT wildcard.
/// With `wildcards` false, `*` and `?` are literal (for `StringEquals`).
fn resolve(pieces: &[Piece], vars: &Vars<'_>, wildcards: bool) -> Option<Vec<Tok>> {
    let mut out = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match piece {
            Piece::Lit(c) => out.push(Tok::Lit(*c)),
            Piece::Star if wildcards => out.push(Tok::Star),
            Piece::Star => out.push(Tok::Lit('*')),
            Piece::One if wildcards => out.push(Tok::One),
            Piece::One => out.push(Tok::Lit('?')),
            // Substituted text is literal: a client id of `*` must not widen a grant. A value
            // holding an MQTT wildcard (`#`, `+`) resolves to nothing, so the statement does not
            // apply: substituted into a `topicfilter/…` resource it would otherwise grant a
            // wildcard subscription (a client id of `#` turning `a/${iot:ClientId}` into `a/#`).
            Piece::Var(v) => {
                let value = v.resolve(vars)?;
                if value.contains(['#', '+']) {
                    return None;
                }
                out.extend(value.chars().map(Tok::Lit));
            }
        }
    }
    Some(out)
}

/// Glob match with backtracking limited to the last `*`: linear in practice, and at worst
/// `O(pattern × text)`, so hostile topics cannot make authorization slow.
fn glob_match(pattern: &[Tok], text: &[char], fold_case: bool) -> bool {
    let eq = |a: char, b: char| a == b || (fold_case && a.eq_ignore_ascii_case(&b));
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some(Tok::One) => {
                p += 1;
                t += 1;
                continue;
            }
            Some(Tok::Lit(c)) if eq(*c, text[t]) => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..]
        .iter()
        .all(|tok| *tok == Tok::Star)
}

/// Splits at the first five colons (outside `${…}` in patterns), the ARN's segment separators.
fn arn_segments(text: &str, skip_vars: bool) -> Option<Vec<&str>> {
    let bytes = text.as_bytes();
    let mut cuts = Vec::with_capacity(5);
    let mut i = 0;
    while i < bytes.len() && cuts.len() < 5 {
        if skip_vars
            && bytes[i] == b'$'
            && bytes.get(i + 1) == Some(&b'{')
            && let Some(len) = text[i..].find('}')
        {
            i += len + 1;
            continue;
        }
        if bytes[i] == b':' {
            cuts.push(i);
        }
        i += 1;
    }
    if cuts.len() < 5 {
        return None;
    }
    let mut out = Vec::with_capacity(6);
    let mut start = 0;
    for cut in cuts {
        out.push(&text[start..cut]);
        start = cut + 1;
    }
    out.push(&text[start..]);
    Some(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ResourcePattern {
    /// Fewer than six segments (e.g. `*`): matched against the whole ARN.
    Whole(Vec<Piece>),
    /// Six segments, matched one by one.
    Arn(Vec<Vec<Piece>>),
}

impl ResourcePattern {
    fn compile(raw: &str) -> ResourcePattern {
        match arn_segments(raw, true) {
            Some(segments) => ResourcePattern::Arn(segments.into_iter().map(compile).collect()),
            None => ResourcePattern::Whole(compile(raw)),
        }
    }

    fn matches(&self, resource: &str, vars: &Vars<'_>) -> bool {
        let one = |pieces: &[Piece], text: &str| match resolve(pieces, vars, true) {
            Some(toks) => glob_match(&toks, &text.chars().collect::<Vec<_>>(), false),
            None => false,
        };
        match self {
            ResourcePattern::Whole(pieces) => one(pieces, resource),
            ResourcePattern::Arn(patterns) => match arn_segments(resource, false) {
                Some(segments) => patterns
                    .iter()
                    .zip(segments)
                    .all(|(pieces, text)| one(pieces, text)),
                None => false,
            },
        }
    }
}

// --- conditions ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CondOp {
    StringEquals,
    StringNotEquals,
    StringLike,
    StringNotLike,
    Bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Condition {
    op: CondOp,
    key: Var,
    values: Vec<Vec<Piece>>,
}

fn parse_conditions(path: &str, ops: &Map<String, Value>) -> Result<Vec<Condition>, PolicyError> {
    let mut out = Vec::new();
    for (op_name, keys) in ops {
        let op_path = format!("{path}.{op_name}");
        let op = match op_name.as_str() {
            "StringEquals" => CondOp::StringEquals,
            "StringNotEquals" => CondOp::StringNotEquals,
            "StringLike" => CondOp::StringLike,
            "StringNotLike" => CondOp::StringNotLike,
            "Bool" => CondOp::Bool,
            _ => {
                return Err(invalid(
                    op_path,
                    "unsupported condition operator; supported: Bool, StringEquals, \
                     StringNotEquals, StringLike, StringNotLike",
                ));
            }
        };
        let Value::Object(keys) = keys else {
            return Err(invalid(op_path, "expected an object"));
        };
        if keys.is_empty() {
            return Err(invalid(op_path, "must not be empty"));
        }
        for (key_name, values) in keys {
            let key_path = format!("{op_path}.{key_name}");
            let key = Var::from_name(key_name);
            if key == Var::Unknown {
                return Err(invalid(
                    key_path,
                    "unsupported condition key; supported: iot:ClientId, \
                     iot:Connection.Thing.ThingName, iot:Connection.Thing.IsAttached",
                ));
            }
            let raw: Vec<String> = match values {
                Value::Bool(b) if op == CondOp::Bool => vec![b.to_string()],
                Value::Array(list) if op == CondOp::Bool => list
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match v {
                        Value::Bool(b) => Ok(b.to_string()),
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(invalid(format!("{key_path}[{i}]"), "expected a string")),
                    })
                    .collect::<Result<_, _>>()?,
                other => string_or_list(&key_path, Some(other))?,
            };
            if raw.is_empty() {
                return Err(invalid(key_path, "must not be empty"));
            }
            let values = if op == CondOp::Bool {
                raw.iter()
                    .map(|v| match v.to_ascii_lowercase().as_str() {
                        b @ ("true" | "false") => Ok(literal_pieces(b)),
                        _ => Err(invalid(key_path.clone(), "expected \"true\" or \"false\"")),
                    })
                    .collect::<Result<_, _>>()?
            } else {
                raw.iter().map(|v| compile(v)).collect()
            };
            out.push(Condition { op, key, values });
        }
    }
    Ok(out)
}

fn literal_pieces(text: &str) -> Vec<Piece> {
    text.chars().map(Piece::Lit).collect()
}

impl Condition {
    fn holds(&self, vars: &Vars<'_>) -> bool {
        let negated = matches!(self.op, CondOp::StringNotEquals | CondOp::StringNotLike);
        let Some(actual) = self.key.resolve(vars) else {
            return negated;
        };
        let actual: Vec<char> = actual.chars().collect();
        let wildcards = matches!(self.op, CondOp::StringLike | CondOp::StringNotLike);
        let fold_case = self.op == CondOp::Bool;
        let any = self.values.iter().any(|pieces| {
            resolve(pieces, vars, wildcards)
                .is_some_and(|toks| glob_match(&toks, &actual, fold_case))
        });
        any != negated
    }
}

// --- evaluation ----------------------------------------------------------------------------

/// Decides a request against every document attached to the connection's certificate.
pub fn evaluate(docs: &[PolicyDocument], req: &Request<'_>, vars: &Vars<'_>) -> Decision {
    let action: Vec<char> = req.action.as_str().to_ascii_lowercase().chars().collect();
    let mut allowed = false;
    for statement in docs.iter().flat_map(|d| &d.statements) {
        if statement.matches(&action, req.resource, vars) {
            match statement.effect {
                Effect::Deny => return Decision::ExplicitDeny,
                Effect::Allow => allowed = true,
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

/// Escapes text so a policy treats it literally.
fn escape_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str("${*}"),
            '?' => out.push_str("${?}"),
            '$' if chars.peek() == Some(&'{') => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

/// The least-privilege policy every device gets: it may report its own metrics and hear its own
/// answers, nothing else. `prefix` is the Defender topic prefix (`$aws/things/` by default).
///
/// Connect is allowed only with the thing's name as client id, as in AWS's own example
/// policies. The certificate identifies the device, but the client id names its session: a
/// device free to pick any client id could take over another device's session (knocking it
/// offline, inheriting a persistent session's subscriptions) and open any number of sessions
/// to get around per-connection limits. A wider client id needs an explicit policy. The
/// certificate must be attached to a thing, since without one nothing below resolves.
/// Region and account are `*` so the document works in any deployment; segment-wise ARN
/// matching keeps those wildcards inside their segments.
pub fn default_device_policy(prefix: &str) -> String {
    let own = format!(
        "{}${{iot:Connection.Thing.ThingName}}/defender/metrics/",
        escape_literal(prefix)
    );
    let arn = |kind: &str, rest: &str| format!("arn:aws:iot:*:*:{kind}/{own}{rest}");
    let answers = [
        "json/accepted",
        "json/rejected",
        "cbor/accepted",
        "cbor/rejected",
    ];
    let doc = serde_json::json!({
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ConnectWhenAttached",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}",
                "Condition": { "Bool": { "iot:Connection.Thing.IsAttached": "true" } }
            },
            {
                "Sid": "PublishOwnReports",
                "Effect": "Allow",
                "Action": "iot:Publish",
                "Resource": [arn("topic", "json"), arn("topic", "cbor")]
            },
            {
                "Sid": "SubscribeOwnAnswers",
                "Effect": "Allow",
                "Action": "iot:Subscribe",
                "Resource": answers.iter().map(|a| arn("topicfilter", a)).collect::<Vec<_>>()
            },
            {
                "Sid": "ReceiveOwnAnswers",
                "Effect": "Allow",
                "Action": "iot:Receive",
                "Resource": answers.iter().map(|a| arn("topic", a)).collect::<Vec<_>>()
            }
        ]
    });
    format!("{doc:#}")
}

#[cfg(test)]
mod tests;
