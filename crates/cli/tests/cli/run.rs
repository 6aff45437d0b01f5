//! Running the `fleetward` binary the way a user does, on a data directory.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// `fleetward <args> --data-dir <data>`, with warnings only on stderr.
pub fn fleetward(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fleetward"))
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run fleetward")
}

/// Asserts the command succeeded and returns its JSON output (what it prints when piped).
#[track_caller]
pub fn ok_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output when piped")
}

/// What the command said on stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
