//! `fleetward keys`: the access keys the HTTP API verifies SigV4 signatures with.
//!
//! Works on the data directory like the other offline commands; a running server sees a new
//! or deleted key on the next request (keys are read per request). The secret is printed once,
//! by `create`; `list` never shows it.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use fleetward_store::StoreError;
use fleetward_store::prelude::KeyStore;

use super::offline::DataDir;

#[derive(Debug, Subcommand)]
pub(super) enum KeysCommand {
    /// Create an access key and print its id and secret (shown only this once).
    Create {
        /// What the key is for.
        #[arg(long, default_value = "operator")]
        name: String,
    },
    /// List access keys (without secrets).
    List,
    /// Delete an access key.
    Delete {
        /// The access key id.
        id: String,
    },
}

pub(super) async fn keys(dir: DataDir, cmd: KeysCommand) -> ExitCode {
    let store = match fleetward_service::data_dir::open(&dir.data_dir).await {
        Ok((s, _, _)) => s,
        Err(e) => {
            eprintln!("fleetward: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cmd {
        KeysCommand::Create { name } => fleetward_api::keys::create(store.as_ref(), &name)
            .await
            .map(|k| {
                json!({
                    "accessKeyId": k.access_key_id,
                    "secretAccessKey": k.secret,
                    "name": k.name,
                })
            })
            .map_err(|e| (e.to_string(), 1)),
        KeysCommand::List => store
            .list_api_keys()
            .await
            .map(|keys| {
                json!({"keys": keys.iter().map(|k| json!({
                    "accessKeyId": k.access_key_id,
                    "name": k.name,
                    "created": fleetward_core::aws::seconds(k.created_at),
                    "lastUsed": k.last_used_at.map(fleetward_core::aws::seconds),
                    "disabled": k.disabled,
                })).collect::<Vec<_>>()})
            })
            .map_err(|e| (e.to_string(), 1)),
        KeysCommand::Delete { id } => match store.delete_api_key(&id).await {
            Ok(()) => Ok(json!({"deleted": id})),
            Err(e @ StoreError::NotFound { .. }) => Err((e.to_string(), 3)),
            Err(e) => Err((e.to_string(), 1)),
        },
    };
    match result {
        Ok(v) => {
            super::out(&serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err((msg, code)) => {
            eprintln!("fleetward: {msg}");
            ExitCode::from(code)
        }
    }
}
