//! Shared helpers for the conformance tests: where `../shared` is, and numeric JSON equality.

use std::path::PathBuf;

/// The shared reference folder: `$FLEETWARD_SHARED`, else `shared/` beside the repo root.
///
/// Missing it fails the test loudly: a conformance suite that silently ran nothing would prove
/// nothing.
pub fn shared_dir() -> PathBuf {
    let dir = std::env::var_os("FLEETWARD_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
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
        (V::Array(x), V::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
