//! What every offline command shares: the data directory flags, the service context opened on
//! that directory, and how a failure becomes a message and an exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde::Serialize;

use fleetward_core::aws::AwsError;
use fleetward_service::{Ctx, ServiceError};

use super::output;

/// The flags every offline command shares: where the server's data lives, and how to print.
#[derive(Debug, Args)]
pub(super) struct DataDir {
    /// The server's data directory.
    #[arg(
        long,
        env = "FLEETWARD_DATA_DIR",
        default_value = "./fleetward-data",
        global = true
    )]
    pub(super) data_dir: PathBuf,
    /// Print JSON (AWS's response shapes) even on a terminal. Piped output is always JSON.
    #[arg(long, global = true)]
    pub(super) json: bool,
}

/// A failed command: the message, and its exit status (2: fix the input, 3: a named resource
/// does not exist, 1: anything else).
pub(super) struct Failure(pub(super) String, pub(super) u8);

impl From<ServiceError> for Failure {
    /// The exit status follows the error's row in the AWS table, as the API's status does.
    fn from(e: ServiceError) -> Self {
        let code = e.code();
        let code = if code.is_not_found() {
            output::EXIT_NOT_FOUND
        } else if code.is_user_error() {
            super::EXIT_USAGE
        } else {
            output::EXIT_FAILURE
        };
        let msg = match &e {
            ServiceError::Invalid(errors) if errors.len() > 1 => {
                format!("{}:\n  {}", e.name(), errors.join("\n  "))
            }
            _ => format!("{}: {e}", e.name()),
        };
        Failure(msg, code)
    }
}

pub(super) fn json<T: Serialize>(v: &T) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure(e.to_string(), 1))
}

pub(super) fn finish(r: Result<serde_json::Value, Failure>) -> ExitCode {
    match r {
        Ok(v) => {
            super::out(&serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(Failure(msg, code)) => {
            eprintln!("fleetward: {msg}");
            ExitCode::from(code)
        }
    }
}

/// The service context of an offline command: the data directory's store and CA, the default
/// ARN scope, and no running server to poke ([`fleetward_service::NoChanges`]): a server on the
/// same directory picks the edit up from the store within its refresh periods.
pub(super) async fn open_ctx(dir: &DataDir) -> Result<Ctx, Failure> {
    let (store, ca, _) = fleetward_service::data_dir::open(&dir.data_dir)
        .await
        .map_err(|e| Failure(e.to_string(), 1))?;
    Ok(Ctx::new(store).with_ca(std::sync::Arc::new(ca)))
}
