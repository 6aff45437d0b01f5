//! The data directory as `serve` and the offline CLI open it: private from the first moment.

use std::os::unix::fs::PermissionsExt;

use fleetward_service::data_dir::{self, DB_FILE};
use fleetward_store::prelude::*;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A new data directory is 0700 and the database, its WAL and its shared-memory file are
/// 0600, including after writes; an existing world-readable database is tightened on open.
#[tokio::test]
async fn the_data_dir_and_database_files_are_private() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("data");
    let (store, _, created) = data_dir::open(&dir).await.unwrap();
    assert!(created);
    store
        .create_thing(&fleetward_store::NewThing {
            name: "t".into(),
            attributes: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(mode(&dir), 0o700);
    for file in [DB_FILE, "fleetward.db-wal", "fleetward.db-shm"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    store.close().await;

    std::fs::set_permissions(dir.join(DB_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (store, _, created) = data_dir::open(&dir).await.unwrap();
    assert!(!created);
    assert_eq!(mode(&dir.join(DB_FILE)), 0o600);
    store.close().await;
}
