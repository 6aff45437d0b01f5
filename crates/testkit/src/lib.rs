//! Test support shared by Fleetward's crates: where `../shared` is, its conformance cases, and
//! JSON equality that compares numbers by value.
//!
//! Feature `sigv4` adds [`sigv4`], an AWS API client; feature `server` adds [`server`], a
//! started server, provisioned devices and an MQTT-over-TLS device client; feature `postgres`
//! adds [`postgres`], a throwaway database on the machine's PostgreSQL.
#![forbid(unsafe_code)]

#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "sigv4")]
pub mod sigv4;

use std::path::PathBuf;

/// The shared reference folder: `$FLEETWARD_SHARED`, else `shared/` beside the repo root.
///
/// Missing it fails the test loudly: a conformance suite that silently ran nothing would prove
/// nothing.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("FLEETWARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // Cargo sets CARGO_MANIFEST_DIR for the running test (crates/<name>), which is
            // right even when a shared target dir holds this crate built from another checkout.
            let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
                .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
            crate_dir.join("../../../shared")
        });
    let dir = dir.canonicalize().unwrap_or(dir);
    assert!(
        dir.join("conformance/cases.json").is_file(),
        "conformance vectors not found under {} (set FLEETWARD_SHARED)",
        dir.display()
    );
    dir
}

/// JSON equality where numbers compare by value: `86400` equals `86400.0`, and integers
/// compare exactly (so `u64::MAX` is not rounded).
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => match (x.as_u64(), y.as_u64(), x.as_i64(), y.as_i64()) {
            (Some(x), Some(y), _, _) => x == y,
            (_, _, Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (V::Array(x), V::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// One report case from `conformance/cases.json`.
#[derive(Debug, Clone)]
pub struct Case {
    /// The case id, e.g. `accept-long-full`.
    pub id: String,
    /// The topic it is published on.
    pub topic: String,
    /// The payload file, resolved.
    pub file: PathBuf,
    /// The `expect` object.
    pub expect: serde_json::Value,
}

/// Every report case, in file order.
pub fn cases() -> Vec<Case> {
    let dir = shared_dir().join("conformance");
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("read cases.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("parse cases.json");
    doc["cases"]
        .as_array()
        .expect("cases list")
        .iter()
        .map(|c| Case {
            id: c["id"].as_str().expect("id").to_owned(),
            topic: c["topic"].as_str().expect("topic").to_owned(),
            file: dir.join(c["file"].as_str().expect("file")),
            expect: c["expect"].clone(),
        })
        .collect()
}

/// The parsed `conformance/topics.json` list.
pub fn topics() -> Vec<serde_json::Value> {
    let path = shared_dir().join("conformance/topics.json");
    let text = std::fs::read_to_string(path).expect("read topics.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("parse topics.json");
    doc["topics"].as_array().expect("topics list").clone()
}
