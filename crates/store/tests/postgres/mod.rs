//! The PostgreSQL backend: the contract, on a throwaway database of the machine's real server,
//! and what only PostgreSQL has (several nodes migrating one database at once, connection
//! errors that say what is wrong).

use fleetward_store::postgres::{PgOptions, PgStore};
use fleetward_store::prelude::*;
use fleetward_testkit::postgres::TestDatabase;

use crate::contract::Backend;
use crate::contract::registry_telemetry::thing;

/// A PostgreSQL store on a database of its own, dropped when the test ends.
pub struct Postgres {
    store: PgStore,
    // Declared last so the store's pool closes first; the drop also forces connections off.
    db: TestDatabase,
}

impl Backend for Postgres {
    type Store = PgStore;

    async fn open() -> Self {
        let db = TestDatabase::create().await;
        let store = PgStore::connect(db.url()).await.unwrap();
        Postgres { store, db }
    }

    fn store(&self) -> &PgStore {
        &self.store
    }

    async fn reopen(self) -> Self {
        let Postgres { store, db } = self;
        store.close().await;
        let store = PgStore::connect(db.url()).await.unwrap();
        Postgres { store, db }
    }
}

store_contract!(postgres_contract, super::Postgres);

/// The versions of the migrations shipped for PostgreSQL: 1..=n, one file each.
fn shipped_versions() -> Vec<i64> {
    let n = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    (1..=i64::try_from(n).unwrap()).collect()
}

/// PostgreSQL ships a migration for every SQLite version, so the two schemas move together.
#[test]
fn every_sqlite_migration_has_a_postgres_twin() {
    let names = |dir: &str| {
        let mut v: Vec<String> =
            std::fs::read_dir(format!("{}/migrations/{dir}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
        v.sort();
        v
    };
    assert_eq!(names("sqlite"), names("postgres"));
}

/// Nodes that start at the same moment on a fresh database apply each migration once, and
/// both come up working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let db = TestDatabase::create().await;
    let opens = (0..4).map(|_| {
        let url = db.url().to_owned();
        tokio::spawn(async move { PgStore::connect(&url).await })
    });
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().unwrap());
    }
    for s in &stores {
        assert_eq!(s.schema_versions().await.unwrap(), shipped_versions());
    }
    stores[0].create_thing(&thing("t1")).await.unwrap();
    assert!(stores[3].get_thing("t1").await.unwrap().is_some());
    for s in &stores {
        s.close().await;
    }
}

/// Reopening applies nothing twice, and a database from a newer build is refused.
#[tokio::test]
async fn migrations_are_idempotent_and_a_newer_schema_is_refused() {
    let db = TestDatabase::create().await;
    let store = PgStore::connect(db.url()).await.unwrap();
    store.close().await;
    let store = PgStore::connect(db.url()).await.unwrap();
    assert_eq!(store.schema_versions().await.unwrap(), shipped_versions());

    let future = shipped_versions().len() as i64 + 1;
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, checksum, applied_at)
         VALUES ($1, 'future', '', 0)",
    )
    .bind(future)
    .execute(&mut store_conn(db.url()).await)
    .await
    .unwrap();
    store.close().await;
    let err = PgStore::connect(db.url()).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("schema version {future} is newer")),
        "{err}"
    );
}

/// A connection of its own to the test database, to tamper with it behind the store's back.
async fn store_conn(url: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url).await.unwrap()
}

/// A database that does not exist and a URL that is not one fail with messages that say so.
#[tokio::test]
async fn connection_errors_say_what_is_wrong() {
    let db = TestDatabase::create().await;
    let missing = format!("{}_missing", db.url());
    let err = PgStore::connect(&missing).await.unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");

    let err = PgStore::connect_with(&PgOptions::new("mysql://nope"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("invalid PostgreSQL URL"), "{err}");
}
