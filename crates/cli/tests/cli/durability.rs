//! A crash never loses an acknowledged report: the server is killed with SIGKILL while devices
//! publish, and every report it answered ACCEPTED is in the store afterwards.

use std::time::Duration;

use fleetward_testkit::server as common;

use crate::load::{Load, assert_all_stored, serve, serve_on};

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

/// A restart right after a stop with devices connected binds the same port at once: the old
/// server's connections sit in TIME_WAIT on it, which without SO_REUSEADDR fails the bind for
/// about a minute. Devices reconnect and are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_restart_binds_the_same_port() {
    fleetward_server::server::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut creds = Vec::new();
    {
        let (store, _, _) = fleetward_service::data_dir::open(&data).await.unwrap();
        for i in 0..DEVICES {
            creds.push(common::provision(store.as_ref(), &data, &format!("restart-{i}")).await);
        }
    }
    let (mut child, _lines, addr) = serve(&data);
    // Idle devices: with nothing unread on them, the server's exit closes their connections
    // with a FIN, leaving them in TIME_WAIT on its port (unread data would reset them instead).
    let mut idle = Vec::new();
    for c in &creds {
        let mut d = common::Device::connect(addr, &c.thing, Some(c), &c.ca).await;
        d.expect_connected().await;
        idle.push(d);
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert!(child.wait().unwrap().success());
    for d in &mut idle {
        assert!(matches!(d.next().await, common::Seen::Closed(_)));
    }

    let (mut child, _lines, again) = serve_on(&data, &addr.to_string());
    assert_eq!(again, addr);
    let load = Load::start(addr, &creds);
    load.wait_for_accepted(DEVICES, Duration::from_secs(60))
        .await;
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    let accepted = load.finish().await;
    assert!(accepted.values().map(Vec::len).sum::<usize>() >= DEVICES);
}
