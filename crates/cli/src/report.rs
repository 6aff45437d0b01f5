//! `fleetward report check`: decode a payload file exactly as the server would.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use fleetward_proto::Format;
use serde_json::{Map, Value, json};

use fleetward_core::ingest;

#[derive(Debug, Subcommand)]
pub(super) enum ReportCommand {
    /// Decode a report file as the server would and print the answer and the datapoints.
    ///
    /// Prints one JSON object, {"answer": …, "datapoints": …}; "datapoints" is omitted when the
    /// report is rejected. Exits 0 when accepted, 1 when rejected, 2 when the file cannot be
    /// read.
    Check {
        /// The payload file, exactly as the device would publish it.
        file: PathBuf,
        /// The topic format; by default `cbor` for a `.cbor` file and `json` otherwise.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// The thing name the report is published for.
        #[arg(long, default_value = "report-check")]
        thing: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(super) enum FormatArg {
    Json,
    Cbor,
}

pub(super) fn run(cmd: ReportCommand) -> ExitCode {
    match cmd {
        ReportCommand::Check {
            file,
            format,
            thing,
        } => check(&file, format, &thing),
    }
}

fn check(file: &std::path::Path, format: Option<FormatArg>, thing: &str) -> ExitCode {
    let payload = match std::fs::read(file) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("fleetward: cannot read {}: {e}", file.display());
            return ExitCode::from(super::EXIT_USAGE);
        }
    };
    let format = match format {
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Cbor) => Format::Cbor,
        None if file
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("cbor")) =>
        {
            Format::Cbor
        }
        None => Format::Json,
    };
    let outcome = ingest::check(
        &payload,
        format,
        thing,
        u64::try_from(fleetward_core::aws::time::system_now_ms()).unwrap_or(0),
    );
    let mut out = json!({ "answer": outcome.answer });
    if let Some(report) = &outcome.report {
        let datapoints: Map<String, Value> = report
            .datapoints
            .iter()
            .map(|d| (d.metric.name().to_owned(), json!(d.value)))
            .collect();
        out["datapoints"] = Value::Object(datapoints);
    }
    // Serializing a Value we just built cannot fail.
    super::out(&serde_json::to_string_pretty(&out).unwrap_or_default());
    if outcome.report.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
