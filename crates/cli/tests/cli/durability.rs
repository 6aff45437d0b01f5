//! A crash never loses an acknowledged report: the server is killed with SIGKILL while devices
//! publish, and every report it answered ACCEPTED is in the store afterwards.

use std::time::Duration;

use fleetward_testkit::server as common;

use crate::load::{Load, assert_all_stored, serve};

const DEVICES: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_accepted_report() {
    fleetward_server::server::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut creds = Vec::new();
    {
        let (store, _, _) = fleetward_service::data_dir::open(&data).await.unwrap();
        for i in 0..DEVICES {
            creds.push(common::provision(store.as_ref(), &data, &format!("crash-{i}")).await);
        }
    }

    let (mut child, _lines, addr) = serve(&data);
    let load = Load::start(addr, &creds);
    // Kill it only once it is well into the load, not at a fixed time.
    load.wait_for_accepted(25, Duration::from_secs(60)).await;
    child.kill().expect("SIGKILL"); // std's kill() sends SIGKILL on Unix
    child.wait().unwrap();
    let accepted = load.finish().await;
    let total: usize = accepted.values().map(Vec::len).sum();
    assert!(
        total > 20,
        "the load was too light to test anything ({total} accepted)"
    );
    let (store, _, _) = fleetward_service::data_dir::open(&data).await.unwrap();
    assert_all_stored(store.as_ref(), &accepted).await;
    eprintln!("{total} acknowledged reports all survived SIGKILL");
}
