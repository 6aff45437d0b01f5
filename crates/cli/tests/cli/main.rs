//! The `fleetward` binary's one test binary: the commands as a user runs them (exit codes,
//! JSON and human output, the offline door on a data directory), `serve` stopped by SIGTERM
//! and killed mid-load, and the CLI and the API agreeing on quotas.

mod admin_cli;
mod api_and_cli;
mod cli_human;
mod durability;
mod load;
mod report_check;
mod run;
mod shutdown;
mod starter_profiles;
