//! `GET /openapi.json`: an OpenAPI 3.0 document of the routes served, generated from the
//! operation table ([`super::ops`]) so it lists exactly what the router serves, with the
//! model's constraints.

use serde_json::{Map, Value, json};

use super::ops::{Loc, Member, Op, Pat, Ty};

/// The HTTP status each AWS error is sent with.
fn error_status(name: &str) -> &'static str {
    match name {
        "ResourceNotFound" => "404",
        "ResourceAlreadyExists" | "VersionConflict" => "409",
        "LimitExceeded" => "410",
        "InternalFailure" => "500",
        _ => "400",
    }
}

fn schema(ty: Ty) -> Value {
    match ty {
        Ty::Str { min, max, pat } => {
            let mut s = Map::new();
            s.insert("type".into(), json!("string"));
            if min > 0 {
                s.insert("minLength".into(), json!(min));
            }
            if max != usize::MAX {
                s.insert("maxLength".into(), json!(max));
            }
            if let Some(re) = pat.regex().filter(|_| pat != Pat::Any) {
                s.insert("pattern".into(), json!(re));
            }
            Value::Object(s)
        }
        Ty::Int { min, max } => json!({"type": "integer", "minimum": min, "maximum": max}),
        Ty::Long => json!({"type": "integer", "format": "int64"}),
        Ty::Bool => json!({"type": "boolean"}),
        Ty::Enum(values) => json!({"type": "string", "enum": values}),
        Ty::Timestamp => json!({
            "type": "string",
            "description": "ISO 8601 in query strings; epoch seconds (number) in bodies"
        }),
        Ty::StrList {
            min_items,
            max_items,
            max_len,
        } => json!({
            "type": "array",
            "minItems": min_items,
            "maxItems": max_items,
            "items": {"type": "string", "minLength": 1, "maxLength": max_len}
        }),
        Ty::Doc(shape) => json!({"description": format!("AWS IoT shape {shape}")}),
    }
}

fn parameter(m: &Member) -> Value {
    json!({
        "name": m.name,
        "in": if m.loc == Loc::Path { "path" } else { "query" },
        "required": m.required,
        "schema": schema(m.ty),
    })
}

fn operation(op: &Op) -> Value {
    let mut o = Map::new();
    o.insert("operationId".into(), json!(op.name));
    o.insert(
        "parameters".into(),
        Value::Array(
            op.members
                .iter()
                .filter(|m| m.loc != Loc::Body)
                .map(parameter)
                .collect(),
        ),
    );
    let body: Vec<&Member> = op.members_at(Loc::Body).collect();
    if !body.is_empty() {
        let properties: Map<String, Value> = body
            .iter()
            .map(|m| (m.name.to_owned(), schema(m.ty)))
            .collect();
        let required: Vec<&str> = body.iter().filter(|m| m.required).map(|m| m.name).collect();
        let mut s = json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            s["required"] = json!(required);
        }
        o.insert(
            "requestBody".into(),
            json!({"required": !required.is_empty(), "content": {"application/json": {"schema": s}}}),
        );
    }
    let mut responses = Map::new();
    let output: Map<String, Value> = op
        .output
        .iter()
        .map(|n| ((*n).to_owned(), json!({})))
        .collect();
    responses.insert(
        "200".into(),
        json!({
            "description": "success",
            "content": {"application/json": {"schema": {"type": "object", "properties": output}}}
        }),
    );
    let mut by_status: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for e in op.errors {
        by_status
            .entry(error_status(e))
            .or_default()
            .push(format!("{e}Exception"));
    }
    by_status.entry("403").or_default().extend(
        [
            "MissingAuthenticationTokenException",
            "IncompleteSignatureException",
            "UnrecognizedClientException",
            "InvalidSignatureException",
        ]
        .map(str::to_owned),
    );
    for (status, names) in by_status {
        responses.insert(
            status.into(),
            json!({
                "description": format!("{} (name in the x-amzn-ErrorType header)", names.join(", ")),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
            }),
        );
    }
    o.insert("responses".into(), Value::Object(responses));
    o.insert("security".into(), json!([{"sigv4": []}]));
    Value::Object(o)
}

/// The document.
pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for op in crate::routes::all_ops() {
        let entry = paths
            .entry(op.path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method.to_ascii_lowercase()] = operation(op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Fleetward operator API (AWS IoT Device Defender compatible)",
            "version": "2015-05-28",
            "description": "AWS IoT's REST-JSON routes and shapes. Requests are signed with AWS Signature Version 4 (service 'iot') with a Fleetward access key."
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {"type": "object", "properties": {"message": {"type": "string"}}}
            },
            "securitySchemes": {
                "sigv4": {
                    "type": "apiKey",
                    "name": "Authorization",
                    "in": "header",
                    "description": "AWS Signature Version 4, service 'iot'"
                }
            }
        }
    })
}

/// The handler. The document depends only on the operation table, so it is built once.
pub async fn document() -> impl axum::response::IntoResponse {
    static DOC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        DOC.get_or_init(|| build().to_string()).as_str(),
    )
}
