//! The `fleetward` command line: argument parsing and dispatch to one module per command.

mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Fleetward: detects compromised IoT devices; wire-compatible with AWS IoT Device Defender.
#[derive(Debug, Parser)]
#[command(name = "fleetward", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with device metric reports.
    #[command(subcommand)]
    Report(report::ReportCommand),
}

/// Exit status for a command that could not run (bad arguments, unreadable file).
pub const EXIT_USAGE: u8 = 2;

/// Parses the process arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Report(cmd) => report::run(cmd),
    }
}
