//! Every input saved under `fuzz/regressions/<target>/`, run through the same checks as the
//! fuzz target of that name (`fuzz/src/lib.rs`, included here), so an input the fuzzer once
//! broke the library with stays fixed. `scripts/fuzz.sh` saves new crashes there.
#![cfg(feature = "alloc")]

use std::panic;
use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/lib.rs"]
mod checks;

/// Every fuzz target; each has a test below running its function.
const TARGETS: [&str; 4] = ["decode_json", "decode_cbor", "topic_match", "answer_decode"];

fn regressions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions")
}

/// The files of one target's folder, sorted; panics if the folder is missing or empty.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = regressions_dir().join(target);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())))
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no inputs", dir.display());
    files
}

fn run_target(target: &str, check: fn(&[u8])) {
    let mut failures = Vec::new();
    let files = inputs(target);
    for file in &files {
        let data =
            std::fs::read(file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        if let Err(cause) = panic::catch_unwind(|| check(&data)) {
            let why = cause
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| cause.downcast_ref::<&str>().copied())
                .unwrap_or("(non-string panic)");
            failures.push(format!("{}: {why}", file.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn decode_json_regressions() {
    run_target("decode_json", checks::decode_json);
}

#[test]
fn decode_cbor_regressions() {
    run_target("decode_cbor", checks::decode_cbor);
}

#[test]
fn topic_match_regressions() {
    run_target("topic_match", checks::topic_match);
}

#[test]
fn answer_decode_regressions() {
    run_target("answer_decode", checks::answer_decode);
}

/// No folder under `fuzz/regressions/` that no test reads: a target added to the fuzz
/// project needs its line in `TARGETS`.
#[test]
fn every_regressions_folder_is_tested() {
    let dir = regressions_dir();
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            TARGETS.contains(&name.as_str()),
            "fuzz/regressions/{name} has no test in {}",
            file!()
        );
    }
}
