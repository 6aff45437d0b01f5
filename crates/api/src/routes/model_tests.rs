//! The operation table checked against botocore's `iot` model (a vendored subset, see
//! `model/NOTICE`): routes, every member with its place, requiredness and constraints, and
//! the error list. A route module that adds an operation is checked here automatically.

use serde_json::Value;

use crate::ops::*;

use super::all_ops;

const MODEL: &str = include_str!("../model/iot-subset.json");

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
                    max_items: int("max").map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(0)),
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
    for op in all_ops() {
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
