//! Background retention over a real SQLite store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fleetward_proto::Format;
use fleetward_server::retention::run_retention;
use fleetward_server::supervisor::Shutdown;
use fleetward_store::StoredReport;
use fleetward_store::prelude::*;
use fleetward_store::sqlite::SqliteStore;

fn report(thing: &str, report_id: u64, received_at: i64) -> StoredReport {
    StoredReport {
        thing: thing.into(),
        report_id,
        received_at,
        format: Format::Json,
        size: 100,
        datapoints: vec![],
    }
}

#[tokio::test]
async fn background_retention_prunes_old_data() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("fleetward.db"))
        .await
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let day = 24 * 3600 * 1000;
    store
        .insert_reports(&[report("t", 1, now - 20 * day), report("t", 2, now - day)])
        .await
        .unwrap();
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let task = tokio::spawn(run_retention(
        shared,
        Duration::from_secs(14 * 24 * 3600),
        Duration::from_millis(20),
        Shutdown::never(),
    ));
    // Bounded wait so a broken task fails the test instead of hanging it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while store.count_reports().await.unwrap() != 1 {
        assert!(Instant::now() < deadline, "retention never pruned");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    assert_eq!(store.last_reports().await.unwrap()[0].report_id, 2);
}
