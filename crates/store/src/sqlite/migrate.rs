//! Versioned schema migrations, embedded in the binary and applied at open.
//!
//! sqlx's `migrate!` needs its `macros` feature, which this crate does not build, so the
//! runner is ours: each migration runs in its own transaction together with its row in
//! `schema_migrations`, so a crash leaves the schema at a whole version, and reopening applies
//! only what is missing. A checksum catches a migration edited after release, and a database
//! newer than the binary is refused rather than misread.

use sha2::{Digest, Sha256};
use sqlx::{Row, SqlitePool};

use super::{db, now_ms};
use crate::{StoreError, StoreResult};

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "detect",
        sql: include_str!("../../migrations/sqlite/0002_detect.sql"),
    },
    Migration {
        version: 3,
        name: "alerts",
        sql: include_str!("../../migrations/sqlite/0003_alerts.sql"),
    },
    Migration {
        version: 4,
        name: "api_keys",
        sql: include_str!("../../migrations/sqlite/0004_api_keys.sql"),
    },
];

/// The schema version this build writes.
pub(super) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Brings the database's schema up to [`latest`].
pub(super) async fn run(pool: &SqlitePool) -> StoreResult<()> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version    BIGINT NOT NULL PRIMARY KEY,
            name       TEXT   NOT NULL,
            checksum   TEXT   NOT NULL,
            applied_at BIGINT NOT NULL
        )",
    )
    .execute(pool)
    .await
    .map_err(db)?;

    let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
        .fetch_one(pool)
        .await
        .map_err(db)?;
    if let Some(v) = newest.filter(|v| *v > latest()) {
        return Err(StoreError::Backend(format!(
            "database schema version {v} is newer than this build's {}",
            latest()
        )));
    }

    for m in MIGRATIONS {
        let checksum = hex::encode(Sha256::digest(m.sql.as_bytes()));
        // IMMEDIATE takes the write lock up front, so two processes opening a fresh file
        // cannot both decide a version is missing.
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
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
                sqlx::raw_sql(m.sql).execute(&mut *tx).await.map_err(db)?;
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
