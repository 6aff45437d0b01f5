//! Versioned schema migrations, embedded in the binary and applied at open.
//!
//! sqlx's `migrate!` needs its `macros` feature, which this crate does not build, so the
//! runner is ours: each migration runs in its own transaction together with its row in
//! `schema_migrations`, so a crash leaves the schema at a whole version, and reopening applies
//! only what is missing. A checksum catches a migration edited after release, and a database
//! newer than the binary is refused rather than misread.
//!
//! The versions are listed once, here, each with every engine's DDL for it
//! (`migrations/<engine>/NNNN_name.sql`): the engines' schemas move together, and the backend
//! only picks its DDL (`dialect::ddl`) and its lock (`dialect::begin_migration`).

use sha2::{Digest, Sha256};
use sqlx::{Pool, Row};

use super::{Db, db, dialect, now_ms};
use crate::{StoreError, StoreResult};

/// One schema version: each engine's DDL for it, embedded in the binary.
pub(in super::super) struct Migration {
    version: i64,
    name: &'static str,
    /// SQLite's DDL.
    #[allow(
        dead_code,
        reason = "each engine's copy of this module reads its own DDL only"
    )]
    pub(in super::super) sqlite: &'static str,
    /// PostgreSQL's DDL.
    #[allow(
        dead_code,
        reason = "each engine's copy of this module reads its own DDL only"
    )]
    pub(in super::super) postgres: &'static str,
}

/// One [`Migration`] from the files `migrations/{sqlite,postgres}/$file`.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../../migrations/sqlite/", $file)),
            postgres: include_str!(concat!("../../migrations/postgres/", $file)),
        }
    };
}

/// The schema, oldest version first.
const MIGRATIONS: &[Migration] = &[
    migration!(1, "init", "0001_init.sql"),
    migration!(2, "detect", "0002_detect.sql"),
    migration!(3, "alerts", "0003_alerts.sql"),
    migration!(4, "api_keys", "0004_api_keys.sql"),
];

/// Brings the database's schema up to the newest version this build knows.
pub(in super::super) async fn run(pool: &Pool<Db>) -> StoreResult<()> {
    let latest = MIGRATIONS.last().map_or(0, |m| m.version);
    // Under the migration lock too: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe
    // against another node running it at the same moment.
    let mut tx = dialect::begin_migration(pool).await.map_err(db)?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT NOT NULL PRIMARY KEY,
            name       TEXT   NOT NULL,
            checksum   TEXT   NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;

    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await
        .map_err(db)?;
    if let Some(v) = newest.filter(|v| *v > latest) {
        return Err(StoreError::Backend(format!(
            "database schema version {v} is newer than this build's {latest}"
        )));
    }

    for m in MIGRATIONS {
        let sql = dialect::ddl(m);
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        // The engine's migration lock is held until the version's row commits, so two
        // processes opening a fresh database cannot both decide a version is missing.
        let mut tx = dialect::begin_migration(pool).await.map_err(db)?;
        let applied = sqlx::query("SELECT checksum FROM schema_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        match applied {
            Some(row) => {
                let stored: String = row.try_get("checksum").map_err(db)?;
                if stored != checksum {
                    return Err(StoreError::Backend(format!(
                        "migration {} ({}) differs from the one applied to this database",
                        m.version, m.name
                    )));
                }
            }
            None => {
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(db)?;
                sqlx::query(
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(m.version)
                .bind(m.name)
                .bind(&checksum)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
                tracing::info!(
                    version = m.version,
                    name = m.name,
                    "applied store migration"
                );
            }
        }
        tx.commit().await.map_err(db)?;
    }

    Ok(())
}
