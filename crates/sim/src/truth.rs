//! Ground truth: one JSON line per injected attack, `{"thing","scenario","start","end"}`, with
//! times in simulated epoch milliseconds (`end` is the first instant after the attack).
//!
//! Detection results are judged against this file (the demo test does; ML Detect will train and
//! score on it later), so a line is written when its attack starts and flushed at once: the file
//! is complete up to the moment a run is stopped.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::clock::SimClock;
use super::scenario::Attack;

/// One ground-truth line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Label {
    /// The attacked thing.
    pub thing: String,
    /// [`super::scenario::Scenario::name`].
    pub scenario: String,
    /// Simulated epoch ms of the attack's first tick.
    pub start: i64,
    /// Simulated epoch ms of the first tick after it.
    pub end: i64,
}

impl Label {
    /// The label of `attack` under `clock`.
    pub fn of(attack: &Attack, clock: &SimClock) -> Label {
        Label {
            thing: attack.thing.clone(),
            scenario: attack.scenario.name().to_owned(),
            start: clock.at(attack.start),
            end: clock.at(attack.end),
        }
    }
}

/// Why the ground truth could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TruthError {
    /// The file could not be created, written or read.
    #[error("ground truth {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// A line is not a label.
    #[error("ground truth {path}, line {line}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Appends labels to a JSONL file.
#[derive(Debug)]
pub struct TruthWriter {
    file: File,
    path: String,
}

impl TruthWriter {
    /// Creates (truncating) the file at `path`.
    pub fn create(path: &Path) -> Result<TruthWriter, TruthError> {
        let file = File::create(path).map_err(|e| io(path, &e))?;
        Ok(TruthWriter {
            file,
            path: path.display().to_string(),
        })
    }

    /// Writes one line and flushes it.
    pub fn write(&mut self, label: &Label) -> Result<(), TruthError> {
        let mut line = serde_json::to_string(label).map_err(|e| TruthError::Io {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|e| TruthError::Io {
                path: self.path.clone(),
                reason: e.to_string(),
            })
    }
}

/// Reads a ground-truth file; blank lines are skipped.
pub fn read(path: &Path) -> Result<Vec<Label>, TruthError> {
    let file = File::open(path).map_err(|e| io(path, &e))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| io(path, &e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| TruthError::Parse {
            path: path.display().to_string(),
            line: i + 1,
            reason: e.to_string(),
        })?);
    }
    Ok(out)
}

fn io(path: &Path, e: &std::io::Error) -> TruthError {
    TruthError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Scenario;

    #[test]
    fn labels_round_trip_through_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("truth.jsonl");
        let clock = SimClock::new(1_000_000, 300_000);
        let attack = Attack {
            device: 3,
            thing: "sim-camera-0003".into(),
            scenario: Scenario::PortScan,
            start: 10,
            end: 15,
            peer: None,
        };
        let label = Label::of(&attack, &clock);
        assert_eq!(
            (label.start, label.end),
            (1_000_000 + 10 * 300_000, 1_000_000 + 15 * 300_000)
        );
        let mut w = TruthWriter::create(&path).unwrap();
        w.write(&label).unwrap();
        w.write(&label).unwrap();
        // Flushed per line: readable before the writer is dropped.
        assert_eq!(read(&path).unwrap(), vec![label.clone(), label.clone()]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            r#"{"thing":"sim-camera-0003","scenario":"port-scan","start":4000000,"end":5500000}"#
        );
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(
            &path,
            "\n{\"thing\":\"a\",\"scenario\":\"x\",\"start\":1,\"end\":2}\nnope\n",
        )
        .unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("line 3"), "{e}");
    }
}
