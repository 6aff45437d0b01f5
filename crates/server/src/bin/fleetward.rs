//! The `fleetward` binary: everything lives in the library; see `fleetward::cli`.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    fleetward::cli::main()
}
