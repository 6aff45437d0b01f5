//! Versioned schema migrations, embedded in the binary and applied at open.
//!
//! sqlx's `migrate!` needs its `macros` feature, which this crate does not build, so the
//! runner is ours: each migration runs in its own transaction together with its row in
//! `schema_migrations`, so a crash leaves the schema at a whole version, and reopening applies
//! only what is missing. A checksum catches a migration edited after release, and a database
//! newer than the binary is refused rather than misread.

use sha2::{Digest, Sha256};
use sqlx::{Pool, Row};

use super::{Db, db, dialect, now_ms};
use crate::{StoreError, StoreResult};

/// One schema version: its SQL, embedded in the binary.
pub(in super::super) struct Migration {
    pub(in super::super) version: i64,
    pub(in super::super) name: &'static str,
    pub(in super::super) sql: &'static str,
}

/// Brings the database's schema up to the last of `migrations`.
pub(in super::super) async fn run(pool: &Pool<Db>, migrations: &[Migration]) -> StoreResult<()> {
    let latest = migrations.last().map_or(0, |m| m.version);
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

    for m in migrations {
        let checksum = hex::encode(Sha256::digest(m.sql.as_bytes()));
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
