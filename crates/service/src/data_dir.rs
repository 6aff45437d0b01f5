//! The data directory every door opens: `serve`, the offline CLI and the simulator's
//! provisioning all work on the same `fleetward.db` and `ca/`, so opening it lives here once.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fleetward_core::aws::{Clock, SystemClock};
use fleetward_store::prelude::CertificateStore;
use fleetward_store::sqlite::SqliteStore;
use fleetward_store::{CaCertificate, CertStatus, StoreError};

use crate::pki::{Ca, PkiError};

/// The database file inside the data directory.
pub const DB_FILE: &str = "fleetward.db";

/// Why the data directory could not be opened; each names what to change.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The directory could not be made or used.
    #[error("data directory {path}: {reason} (set --data-dir)")]
    Dir {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The database could not be opened.
    #[error("database: {0}")]
    Store(#[from] StoreError),
    /// The CA could not be made or loaded.
    #[error("certificates: {0}")]
    Pki(#[from] PkiError),
}

/// Opens (creating if needed) the data directory's store and CA, and registers the CA in the
/// store on first use. Returns whether the CA was created now. Rows are stamped by the
/// system clock.
pub async fn open(data_dir: &Path) -> Result<(Arc<SqliteStore>, Ca, bool), DataDirError> {
    open_with_clock(data_dir, Arc::new(SystemClock)).await
}

/// [`open`], with the store's rows stamped by `clock` (the server's).
pub async fn open_with_clock(
    data_dir: &Path,
    clock: Arc<dyn Clock>,
) -> Result<(Arc<SqliteStore>, Ca, bool), DataDirError> {
    let dir_error = |e: std::io::Error| DataDirError::Dir {
        path: data_dir.to_owned(),
        reason: e.to_string(),
    };
    make_private_dir(data_dir).map_err(dir_error)?;
    make_private_db(&data_dir.join(DB_FILE)).map_err(dir_error)?;
    let store = Arc::new(
        SqliteStore::open(&data_dir.join(DB_FILE))
            .await?
            .with_clock(clock.clone()),
    );
    let (ca, created) = Ca::load_or_create(&data_dir.join("ca"))?;
    let facts = ca.facts();
    if !store.list_cas().await?.iter().any(|c| c.id == facts.id) {
        store
            .insert_ca(&CaCertificate {
                id: facts.id.clone(),
                pem: ca.pem().to_owned(),
                status: CertStatus::Active,
                created_at: clock.now_ms(),
            })
            .await?;
    }
    Ok((store, ca, created))
}

/// Creates the data directory readable by its owner only (0700): it holds the CA's private key,
/// the API keys and every device's telemetry. An existing directory others can read is left as
/// the operator made it, with a warning, since it may be shared on purpose.
fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            dir = %dir.display(),
            mode = format!("{:o}", mode & 0o777),
            "the data directory is readable by other users; chmod 700 it"
        );
    }
    Ok(())
}

/// Makes the database and its WAL and shared-memory files readable by their owner only (0600).
/// SQLite gives the WAL and SHM files the database file's permissions, so the database is
/// created 0600 before SQLite first opens it, and existing files are tightened.
fn make_private_db(db: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(db)?;
    for suffix in ["", "-wal", "-shm"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

/// Writes a secret file readable by its owner only, from the moment it exists, and syncs it.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
