//! How the offline commands print: a table for a person at a terminal, JSON for scripts.
//!
//! Every command computes one JSON value in AWS's response shape; this module only decides how
//! to show it. On a terminal (and without `--json`) a [`View`] picks the columns worth reading
//! and renders them with comfy-table; piped or with `--json`, the JSON is printed unchanged, so
//! scripts see exactly the shapes the AWS CLI prints. Failures go to stderr with the exit
//! statuses documented in `fleetward --help` ([`EXIT_FAILURE`], [`super::EXIT_USAGE`],
//! [`EXIT_NOT_FOUND`]).

use std::io::IsTerminal;
use std::process::ExitCode;

use comfy_table::presets::UTF8_HORIZONTAL_ONLY;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

/// Exit status when the command could not do its work for a reason other than the input
/// (store, I/O, internal).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status when a resource the command names does not exist.
pub const EXIT_NOT_FOUND: u8 = 3;

/// Which part of a command's JSON to show as a table, and how.
#[derive(Debug, Clone, Copy)]
pub(super) enum View {
    /// One row per element of the array at `list`; each column is (header, path in the
    /// element, dotted for nested members; empty for a list of plain strings).
    Rows {
        /// The member holding the array.
        list: &'static str,
        /// (header, path) per column.
        columns: &'static [(&'static str, &'static str)],
    },
    /// One row per member of the object: `Field | Value`.
    Fields,
    /// Chosen members as `Field | Value` (label, path), then the rows of one array member.
    Detail {
        /// (label, path) per field.
        fields: &'static [(&'static str, &'static str)],
        /// The member holding the array.
        list: &'static str,
        /// (header, path) per column.
        columns: &'static [(&'static str, &'static str)],
    },
}

/// Prints `value`: as a table when stdout is a terminal, `json` is off and there is a view;
/// as pretty JSON otherwise.
pub(super) fn print(value: &Value, json: bool, view: Option<View>) {
    let table = (!json && std::io::stdout().is_terminal())
        .then_some(view)
        .flatten()
        .map(|v| render(value, v));
    match table {
        Some(t) => super::out(&t),
        None => super::out(&serde_json::to_string_pretty(value).unwrap_or_default()),
    }
}

/// Prints a command's outcome and turns it into the process's exit status.
pub(super) fn finish(
    result: Result<Value, (String, u8)>,
    json: bool,
    view: Option<View>,
) -> ExitCode {
    match result {
        Ok(v) => {
            print(&v, json, view);
            ExitCode::SUCCESS
        }
        Err((msg, code)) => {
            eprintln!("fleetward: {msg}");
            ExitCode::from(code)
        }
    }
}

/// The table text of `value` under `view`.
pub(super) fn render(value: &Value, view: View) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_HORIZONTAL_ONLY);
    // Wrap to the terminal's width when it is known and usable; a pseudo-terminal without a
    // size reports 0, and wrapping to that would print one character per line.
    let arrangement = match table.width() {
        Some(w) if w >= 40 => ContentArrangement::Dynamic,
        _ => ContentArrangement::Disabled,
    };
    table.set_content_arrangement(arrangement);
    match view {
        View::Detail {
            fields,
            list,
            columns,
        } => {
            table.set_header(["Field", "Value"]);
            for (label, path) in fields {
                table.add_row([(*label).to_owned(), cell(at(value, path), path)]);
            }
            format!(
                "{table}

{}",
                render(value, View::Rows { list, columns })
            )
        }
        View::Rows { list, columns } => {
            table.set_header(columns.iter().map(|(h, _)| *h));
            let items = value.get(list).and_then(Value::as_array);
            for item in items.into_iter().flatten() {
                table.add_row(columns.iter().map(|(_, path)| cell(at(item, path), path)));
            }
            let count = items.map_or(0, Vec::len);
            format!(
                "{table}\n{count} {}",
                if count == 1 { "item" } else { "items" }
            )
        }
        View::Fields => {
            table.set_header(["Field", "Value"]);
            if let Some(map) = value.as_object() {
                for (k, v) in map {
                    table.add_row([k.clone(), cell(Some(v), k)]);
                }
            }
            table.to_string()
        }
    }
}

/// The value at a dotted `path` (`behavior.name`); the item itself for an empty path.
fn at<'a>(item: &'a Value, path: &str) -> Option<&'a Value> {
    if path.is_empty() {
        return Some(item);
    }
    path.split('.').try_fold(item, |v, k| v.get(k))
}

/// One cell: strings as they are, AWS timestamps (epoch seconds in a `…Date`, `…Time` or
/// `timestamp` member) in UTC, metric values by their one member, anything else as compact
/// JSON.
fn cell(v: Option<&Value>, path: &str) -> String {
    let Some(v) = v else {
        return String::new();
    };
    let leaf = path.rsplit('.').next().unwrap_or(path);
    let is_time = leaf.ends_with("Date")
        || leaf.ends_with("Time")
        || leaf == "timestamp"
        || leaf == "notAfter"
        || leaf == "notBefore";
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) if is_time => n.as_f64().map_or_else(|| n.to_string(), time),
        // A metric value (`{"ports": [...]}`) or a one-entry map reads best as `key: value`.
        Value::Object(m) if m.len() == 1 => m
            .iter()
            .next()
            .map(|(k, inner)| format!("{k}: {}", compact(inner)))
            .unwrap_or_default(),
        other => compact(other),
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(compact).collect::<Vec<_>>().join(", "),
        Value::Object(m) if m.values().all(|v| !v.is_object() && !v.is_array()) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", compact(v)))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Epoch seconds as `2026-05-01 12:00:00Z`.
fn time(secs: f64) -> String {
    let ms = (secs * 1000.0).round();
    // Anything outside ±1e15 ms is not a time anyone means; show the number instead.
    if !ms.is_finite() || ms.abs() > 1e15 {
        return secs.to_string();
    }
    #[allow(clippy::cast_possible_truncation)]
    let ms = ms as i64;
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%SZ").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_pick_columns_and_format_cells() {
        let v = json!({"activeViolations": [
            {"thingName": "cam-1", "behavior": {"name": "ports"},
             "lastViolationValue": {"ports": [22, 4444]}, "violationStartTime": 0.0}
        ]});
        let t = render(
            &v,
            View::Rows {
                list: "activeViolations",
                columns: &[
                    ("THING", "thingName"),
                    ("BEHAVIOR", "behavior.name"),
                    ("VALUE", "lastViolationValue"),
                    ("SINCE", "violationStartTime"),
                    ("STATE", "verificationState"),
                ],
            },
        );
        for want in [
            "THING",
            "cam-1",
            "ports",
            "ports: 22, 4444",
            "1970-01-01 00:00:00Z",
            "1 item",
        ] {
            assert!(t.contains(want), "{want} in\n{t}");
        }
    }

    #[test]
    fn detail_shows_fields_then_rows() {
        let v = json!({"securityProfileName": "p", "version": 3,
                       "behaviors": [{"name": "b", "criteria": {"value": {"count": 5}}}]});
        let t = render(
            &v,
            View::Detail {
                fields: &[("Name", "securityProfileName"), ("Version", "version")],
                list: "behaviors",
                columns: &[("BEHAVIOR", "name"), ("VALUE", "criteria.value")],
            },
        );
        for want in ["Name", "p", "3", "BEHAVIOR", "count: 5", "1 item"] {
            assert!(t.contains(want), "{want} in\n{t}");
        }
    }

    #[test]
    fn fields_and_strings() {
        let t = render(&json!({"thingName": "cam-1", "version": 2}), View::Fields);
        assert!(
            t.contains("thingName") && t.contains("cam-1") && t.contains('2'),
            "{t}"
        );
        let t = render(
            &json!({"things": ["a", "b"]}),
            View::Rows {
                list: "things",
                columns: &[("THING", "")],
            },
        );
        assert!(t.contains('a') && t.contains("2 items"), "{t}");
    }
}
