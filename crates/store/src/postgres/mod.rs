//! PostgreSQL implementation of [`Store`](crate::Store): for deployments whose state outgrows
//! one machine's file, or that several Fleetward nodes share.
//!
//! The queries, row decoding and trait impls are the shared ones in `../sql/`, compiled here
//! against PostgreSQL; this module adds only what is PostgreSQL's own: connecting the pool,
//! the migrations and the advisory lock they run under, and the [`dialect`] fragments.
//!
//! One pool serves reads and writes: PostgreSQL runs writers concurrently, so the shared SQL
//! locks the rows a guarded write depends on (`FOR SHARE`, `FOR UPDATE`) instead of relying on
//! a single writer as SQLite does. Every commit is durable under PostgreSQL's default
//! `synchronous_commit = on`, which is what [`insert_reports`](crate::TelemetryStore::insert_reports)
//! promises before a report is acknowledged.

// Deliberately compiled once per engine: see `../sql/mod.rs`.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use fleetward_core::aws::{Clock, SystemClock};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::{StoreError, StoreResult};
use sql::db;

/// The engine the shared SQL is compiled against here.
type Db = sqlx::Postgres;
/// The store the shared trait impls are for.
type SqlStore = PgStore;

/// What PostgreSQL spells differently from the shared SQL.
mod dialect {
    use sqlx::{Pool, Transaction};

    use super::Db;
    use super::sql::Migration;

    /// This engine's DDL for a schema version.
    pub(super) fn ddl(m: &Migration) -> &'static str {
        m.postgres
    }

    /// Appended to a read that a write in the same transaction depends on (does the parent
    /// exist?), so a concurrent delete waits for the write instead of leaving it dangling.
    pub(super) const LOCK_SHARE: &str = " FOR SHARE";
    /// Appended to a read whose row the transaction then updates (a version check, closing a
    /// violation), so two writers cannot both pass the check.
    pub(super) const LOCK_UPDATE: &str = " FOR UPDATE";

    /// The advisory lock every node's migration takes: "fleetwrd" in ASCII, so it is unlikely
    /// to collide with another application's key on a shared server.
    const MIGRATION_LOCK: i64 = 0x666c_6565_7477_7264;

    /// A migration's transaction, holding the migration lock until it ends, so nodes that
    /// start together apply each version once.
    pub(super) async fn begin_migration(
        pool: &Pool<Db>,
    ) -> Result<Transaction<'static, Db>, sqlx::Error> {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }
}

/// How a [`PgStore`] connects: the database URL and the pool's limits.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/database?…`, as libpq reads it.
    pub url: String,
    /// Connections the pool opens at most.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long a query waits for a free connection (or a new one to open) before failing.
    pub acquire_timeout: Duration,
}

impl PgOptions {
    /// Default limits for `url`: 16 connections, none kept idle, 10 s to acquire one.
    pub fn new(url: impl Into<String>) -> PgOptions {
        PgOptions {
            url: url.into(),
            max_connections: 16,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL store. Cheap to clone: clones share the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    /// Writes and reads share one pool; the two names are what the shared SQL uses.
    writer: PgPool,
    reader: PgPool,
    /// What `created_at` and `modified_at` are stamped with.
    clock: Arc<dyn Clock>,
}

impl PgStore {
    /// Connects to the database `url` names with default pool limits and brings its schema up
    /// to date.
    pub async fn connect(url: &str) -> StoreResult<PgStore> {
        PgStore::connect_with(&PgOptions::new(url)).await
    }

    /// Connects as `options` say and brings the schema up to date. The database must exist;
    /// the error says so, or what else failed (the URL, the server, the credentials).
    pub async fn connect_with(options: &PgOptions) -> StoreResult<PgStore> {
        // sqlx parses any scheme; a `mysql://` or `sqlite:` URL here is a mistake to name,
        // not a host to look up.
        let scheme = options.url.split_once("://").map(|(s, _)| s);
        if !matches!(scheme, Some("postgres" | "postgresql")) {
            return Err(StoreError::Backend(
                "invalid PostgreSQL URL: it must start with postgres:// or postgresql://".into(),
            ));
        }
        let connect = PgConnectOptions::from_str(&options.url)
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(db)?;
        sql::migrate(&pool).await?;
        Ok(PgStore {
            writer: pool.clone(),
            reader: pool,
            clock: Arc::new(SystemClock),
        })
    }
}
