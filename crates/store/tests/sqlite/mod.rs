//! The SQLite backend: the contract, and what only SQLite has (files, migrations from older
//! versions, the in-memory store, write throughput).

use std::time::Instant;

use fleetward_proto::decode::{AwsMetric, Metric, MetricValue};
use fleetward_store::prelude::*;
use fleetward_store::sqlite::SqliteStore;
use fleetward_store::{PageRequest, StoredReport, ViolationEventFilter, ViolationEventType};
use sha2::{Digest, Sha256};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tempfile::TempDir;

use crate::contract::Backend;
use crate::contract::detect::{metric, profile, vid};
use crate::contract::registry_telemetry::{custom, dp, report, thing};

/// A SQLite store in a file of its own temporary directory.
pub struct Sqlite {
    dir: TempDir,
    store: SqliteStore,
}

impl Sqlite {
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("fleetward.db")
    }
}

impl Backend for Sqlite {
    type Store = SqliteStore;

    async fn open() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("fleetward.db"))
            .await
            .unwrap();
        Sqlite { dir, store }
    }

    fn store(&self) -> &SqliteStore {
        &self.store
    }

    async fn reopen(self) -> Self {
        let Sqlite { dir, store } = self;
        store.close().await;
        let store = SqliteStore::open(&dir.path().join("fleetward.db"))
            .await
            .unwrap();
        Sqlite { dir, store }
    }
}

store_contract!(sqlite_contract, super::Sqlite);

/// Every migration the binary ships is applied exactly once, in order (1, 2, …), and none is
/// missing; new migrations do not need this test changed.
fn assert_all_migrations(versions: &[i64]) {
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .expect("migrations dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count();
    let want: Vec<i64> = (1..=i64::try_from(shipped).unwrap()).collect();
    assert_eq!(versions, want.as_slice());
}

/// Rows are stamped by the store's clock, not read from the system clock: a manual clock
/// decides `created_at`, and `modified_at` moves with it on an update.
#[tokio::test]
async fn rows_are_stamped_by_the_stores_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(fleetward_core::aws::ManualClock::at(1_000_000));
    let store = SqliteStore::open(&dir.path().join("fleetward.db"))
        .await
        .unwrap()
        .with_clock(clock.clone());
    let made = store.create_thing(&thing("cam-1")).await.unwrap();
    assert_eq!(made.created_at, 1_000_000);
    let metric = store
        .create_custom_metric(&fleetward_store::NewCustomMetric {
            name: "temp".into(),
            display_name: None,
            metric_type: "number".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        (metric.created_at, metric.modified_at),
        (1_000_000, 1_000_000)
    );
    clock.advance(5_000);
    let updated = store
        .update_custom_metric("temp", Some("Temperature"))
        .await
        .unwrap();
    assert_eq!(
        (updated.created_at, updated.modified_at),
        (1_000_000, 1_005_000)
    );
    assert_eq!(
        store.get_thing("cam-1").await.unwrap().unwrap().created_at,
        1_000_000
    );
    store.close().await;
}

#[tokio::test]
async fn data_survives_reopening_and_migrations_are_idempotent() {
    let f = Sqlite::open().await;
    assert_all_migrations(&f.store.schema_versions().await.unwrap());
    f.store.create_thing(&thing("t1")).await.unwrap();
    f.store
        .insert_reports(&[report(
            "t1",
            42,
            1234,
            vec![custom("c", MetricValue::Strings(vec!["x".into()]))],
        )])
        .await
        .unwrap();
    let path = f.path();
    // Dropped without close: the acknowledged write must already be on disk.
    drop(f.store);

    for _ in 0..2 {
        let s = SqliteStore::open(&path).await.unwrap();
        assert_all_migrations(&s.schema_versions().await.unwrap());
        assert!(s.get_thing("t1").await.unwrap().is_some());
        assert_eq!(s.count_reports().await.unwrap(), 1);
        let v = s
            .metric_values(
                "t1",
                &Metric::Custom("c".into()),
                0,
                2000,
                &PageRequest::default(),
            )
            .await
            .unwrap();
        assert_eq!(v.items[0].value, MetricValue::Strings(vec!["x".into()]));
        // Still deduplicated after reopening.
        assert_eq!(
            s.insert_reports(&[report("t1", 42, 5000, vec![])])
                .await
                .unwrap(),
            0
        );
        s.close().await;
    }
    drop(f.dir);
}

#[tokio::test]
async fn opening_creates_the_file_and_refuses_a_non_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.db");
    assert!(!path.exists());
    let s = SqliteStore::open(&path).await.unwrap();
    assert!(path.exists());
    s.close().await;

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let e = SqliteStore::open(&junk).await.unwrap_err();
    assert!(matches!(e, StoreError::Backend(_)), "{e:?}");
}

#[tokio::test]
async fn in_memory_store_works() {
    let s = SqliteStore::open_in_memory().await.unwrap();
    s.create_thing(&thing("t")).await.unwrap();
    s.insert_reports(&[report("t", 1, 1, vec![])])
        .await
        .unwrap();
    assert_eq!(s.count_reports().await.unwrap(), 1);
    assert_all_migrations(&s.schema_versions().await.unwrap());
}

/// Inserts 20,000 realistic reports in batches of 250 and prints the rate. It asserts only
/// that every report was stored; the number is for the benchmark log, not a pass mark.
/// `cargo test --release -p fleetward-store --test store -- --nocapture insert_throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_throughput() {
    let f = Sqlite::open().await;
    let total = 20_000u64;
    let batch = 250u64;
    let things = 1_000u64;
    let now = 1_700_000_000_000i64;
    let dps = |i: u64| {
        vec![
            dp(AwsMetric::NumListeningTcpPorts, MetricValue::Count(3)),
            dp(
                AwsMetric::ListeningTcpPorts,
                MetricValue::Ports(vec![22, 80, 443]),
            ),
            dp(AwsMetric::NumListeningUdpPorts, MetricValue::Count(1)),
            dp(AwsMetric::ListeningUdpPorts, MetricValue::Ports(vec![5353])),
            dp(AwsMetric::AllBytesIn, MetricValue::Count(10_000 + i)),
            dp(AwsMetric::AllBytesOut, MetricValue::Count(20_000 + i)),
            dp(AwsMetric::AllPacketsIn, MetricValue::Count(100 + i)),
            dp(AwsMetric::AllPacketsOut, MetricValue::Count(200 + i)),
            dp(
                AwsMetric::NumEstablishedTcpConnections,
                MetricValue::Count(2),
            ),
            dp(
                AwsMetric::DestinationIpAddresses,
                MetricValue::Cidrs(vec![
                    "192.0.2.1".parse().unwrap(),
                    "2001:db8::1".parse().unwrap(),
                ]),
            ),
        ]
    };
    let batches: Vec<Vec<StoredReport>> = (0..total / batch)
        .map(|b| {
            (0..batch)
                .map(|k| {
                    let i = b * batch + k;
                    report(
                        &format!("thing-{:04}", i % things),
                        i / things,
                        now + i as i64,
                        dps(i),
                    )
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    let mut stored = 0;
    for b in &batches {
        stored += f.store.insert_reports(b).await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(stored as u64, total);
    assert_eq!(f.store.count_reports().await.unwrap(), total);
    println!(
        "insert_throughput: {total} reports in batches of {batch}: {secs:.3} s, {:.0} reports/s",
        total as f64 / secs
    );
}

#[tokio::test]
async fn both_migrations_apply_on_a_fresh_database_and_on_reopen() {
    let f = Sqlite::open().await;
    assert_eq!(f.store.schema_versions().await.unwrap(), [1, 2, 3, 4]);
    let f = f.reopen().await;
    assert_eq!(f.store.schema_versions().await.unwrap(), [1, 2, 3, 4]);
    f.store.close().await;

    let mem = SqliteStore::open_in_memory().await.unwrap();
    assert_eq!(mem.schema_versions().await.unwrap(), [1, 2, 3, 4]);
    // Version 1's tables still work beside version 2's.
    mem.create_custom_metric(&metric("m")).await.unwrap();
    assert_eq!(mem.count_reports().await.unwrap(), 0);
}

#[tokio::test]
async fn a_version_1_database_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    // Build the database exactly as a version-1 build left it, with a version-1 event in it.
    {
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true);
        let mut c = SqliteConnection::connect_with(&options).await.unwrap();
        let v1 = include_str!("../../migrations/sqlite/0001_init.sql");
        sqlx::raw_sql(
            "CREATE TABLE schema_migrations (version BIGINT NOT NULL PRIMARY KEY,
             name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(&mut c)
        .await
        .unwrap();
        sqlx::raw_sql(v1).execute(&mut c).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations VALUES (1, 'init', $1, 0)")
            .bind(hex::encode(Sha256::digest(v1.as_bytes())))
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO violation_events (violation_id, thing, security_profile, behavior,
             event_type, event_time) VALUES ($1, 't', 'sp', 'msgs', 'in-alarm', 5)",
        )
        .bind(vid(1))
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
    }

    let s = SqliteStore::open(&path).await.unwrap();
    assert_eq!(s.schema_versions().await.unwrap(), [1, 2, 3, 4]);
    let events = s
        .list_violation_events(
            &ViolationEventFilter {
                from_ms: 0,
                to_ms: 10,
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].behavior_definition, None);
    assert_eq!(events[0].event_type, ViolationEventType::InAlarm);
    s.create_security_profile(&profile("sp", 1)).await.unwrap();
    s.close().await;
}
