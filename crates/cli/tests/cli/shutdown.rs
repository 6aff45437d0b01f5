//! A clean stop: SIGTERM while 50 devices publish makes `fleetward serve` exit 0 within its
//! stop budget, every report it answered ACCEPTED is stored, the store is left closed (its WAL
//! checkpointed), and the next start on the same data directory serves again.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use fleetward_testkit::server as common;

use crate::load::{Load, assert_all_stored, serve};

const DEVICES: usize = 50;

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
}

/// Waits for the child to exit, up to `limit`; kills it and fails if it does not.
fn wait_exit(child: &mut Child, limit: Duration) -> (std::process::ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status, start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("fleetward serve did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_stops_cleanly_and_keeps_every_accepted_report() {
    fleetward_server::server::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut creds = Vec::new();
    {
        let (store, _, _) = fleetward_service::data_dir::open(&data).await.unwrap();
        for i in 0..DEVICES {
            creds.push(common::provision(store.as_ref(), &data, &format!("term-{i:02}")).await);
        }
        store.close().await;
    }

    let (mut child, mut lines, addr) = serve(&data);
    let load = Load::start(addr, &creds);
    // Stop only once the fleet is really publishing: a few reports from most devices.
    load.wait_for_accepted(4 * DEVICES, Duration::from_secs(60))
        .await;
    sigterm(&child);
    // The server's stop budget is 10 s (`server::STOP_WITHIN`); 5 s more for a loaded machine
    // to tear the process down.
    let (status, took) = wait_exit(&mut child, Duration::from_secs(15));
    assert!(status.success(), "exit status {status:?} after SIGTERM");
    let said: Vec<String> = lines.by_ref().map_while(Result::ok).collect();
    assert!(
        said.iter().any(|l| l == "stopped cleanly"),
        "serve did not report a clean stop: {said:?}"
    );
    eprintln!("SIGTERM → exit 0 in {took:?}");
    let accepted = load.finish().await;

    // The store was closed: SQLite checkpointed and removed its write-ahead log.
    let wal = data.join("fleetward.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "the store was not closed: {} is left with {} bytes",
        wal.display(),
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
    );

    let answered: usize = accepted.values().map(Vec::len).sum();
    assert!(answered >= 4 * DEVICES, "only {answered} accepted");
    let (store, _, _) = fleetward_service::data_dir::open(&data).await.unwrap();
    assert_all_stored(store.as_ref(), &accepted).await;
    store.close().await;
    eprintln!("{answered} acknowledged reports all stored after SIGTERM");

    // The next start finds a store it can serve from, and stops cleanly again.
    let (mut again, _lines, _) = serve(&data);
    sigterm(&again);
    let (status, _) = wait_exit(&mut again, Duration::from_secs(15));
    assert!(status.success(), "restart: exit status {status:?}");
}
