//! SQLite implementation of [`Store`]: the embedded default, one file, no server to run.
//!
//! Two pools share the file. All writes go through a single connection, because SQLite
//! serializes writers anyway and one writer never waits on `SQLITE_BUSY` or deadlocks on a lock
//! upgrade; checks that guard a write (does the parent exist?) run in the writer's transaction
//! and so cannot race. Reads use a few other connections, which WAL lets proceed alongside the
//! writer on the last committed snapshot.
//!
//! `synchronous=FULL` makes every commit fsync the WAL, so a report acknowledged to a device
//! survives power loss as well as a crash. That costs one fsync per transaction, which is why
//! [`Store::insert_reports`] takes a batch.
//!
//! The queries, row decoding and trait impls are the shared ones in `../sql/`, compiled here
//! against SQLite; this module adds only what is SQLite's own: opening the pools, the
//! migrations and how they lock, and the [`dialect`] fragments.

// Deliberately compiled once per engine: see `../sql/mod.rs`.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use fleetward_core::aws::{Clock, SystemClock};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreResult;
use sql::db;

/// The engine the shared SQL is compiled against here.
type Db = sqlx::Sqlite;
/// The store the shared trait impls are for.
type SqlStore = SqliteStore;

/// What SQLite spells differently from the shared SQL.
mod dialect {
    use sqlx::{Pool, Transaction};

    use super::Db;
    use super::sql::Migration;

    /// This engine's DDL for a schema version.
    pub(super) fn ddl(m: &Migration) -> &'static str {
        m.sqlite
    }

    /// Row locks on reads that guard a write: none, because every write goes through the one
    /// writer connection, so a transaction's reads cannot be invalidated before it commits.
    pub(super) const LOCK_SHARE: &str = "";
    /// See [`LOCK_SHARE`].
    pub(super) const LOCK_UPDATE: &str = "";

    /// A migration's transaction. `BEGIN IMMEDIATE` takes the write lock up front, so two
    /// processes opening a fresh file cannot both decide a version is missing.
    pub(super) async fn begin_migration(
        pool: &Pool<Db>,
    ) -> Result<Transaction<'static, Db>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// How long a connection waits for another process's lock (e.g. the CLI on the same file)
/// before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections: enough for the API and detection to read while ingest writes.
const READERS: u32 = 4;

/// The SQLite store. Cheap to clone: clones share the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// What `created_at` and `updated_at` are stamped with: the server's clock, so a test's
    /// manual clock reaches the rows too.
    clock: Arc<dyn Clock>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // The writer connection lives as long as the store: its prepared statements stay
        // cached, and the WAL is not checkpointed and reset each time the pool goes idle.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options.clone())
            .await
            .map_err(db)?;
        sql::migrate(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(db)?;
        Ok(SqliteStore {
            writer,
            reader,
            clock: Arc::new(SystemClock),
        })
    }

    /// A private in-memory database, for tests: nothing is written to disk.
    pub async fn open_in_memory() -> StoreResult<SqliteStore> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(db)?
            .foreign_keys(true);
        // Every connection to `:memory:` is a separate database, so readers and the writer
        // must be one connection, kept open for the store's life.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await
            .map_err(db)?;
        sql::migrate(&pool).await?;
        Ok(SqliteStore {
            writer: pool.clone(),
            reader: pool,
            clock: Arc::new(SystemClock),
        })
    }
}
