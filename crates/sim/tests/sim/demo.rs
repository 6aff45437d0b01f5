//! The demo's machinery end to end: a real server with compressed time, a provisioned fleet
//! with real certificates over mutual TLS, the starter profiles attached to the class groups,
//! and the simulator's attacks judged against its ground-truth file.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use fleetward_sim::demo::{Demo, DemoOptions};
use fleetward_sim::{Scenario, Simulation, truth};
use fleetward_store::{
    PageRequest, Store, ViolationEvent, ViolationEventFilter, ViolationEventType,
};
use tokio::sync::watch;

/// Every violation event stored so far.
async fn all_events(store: &dyn Store) -> Vec<ViolationEvent> {
    let filter = ViolationEventFilter {
        thing: None,
        profile: None,
        from_ms: 0,
        to_ms: i64::MAX,
    };
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = store
            .list_violation_events(
                &filter,
                &PageRequest {
                    next_token: token,
                    max_results: Some(PageRequest::MAX_LIMIT),
                },
            )
            .await
            .unwrap();
        out.extend(page.items);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

/// Starts the demo with `devices` devices, a 1 s tick (the demo's own) and runs `ticks` ticks.
async fn run_demo(
    devices: usize,
    ticks: u64,
    attacks: bool,
) -> (tempfile::TempDir, Demo, fleetward_sim::Summary) {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DemoOptions::new(dir.path().join("data"));
    opts.devices = devices;
    opts.attacks = attacks;
    opts.seed = 7;
    opts.truth = Some(dir.path().join("truth.jsonl"));
    let demo = Demo::start(opts).await.expect("demo starts");
    assert_eq!(demo.time_scale, 300);
    assert_eq!(demo.profiles.len(), 3);
    let sim = Simulation::new(demo.sim_config(Some(ticks)));
    let (_stop_tx, stop_rx) = watch::channel(false);
    let summary = sim.run(stop_rx).await.expect("simulation runs");
    // Detection works off the ingest queue and closed cloud windows: let it drain.
    tokio::time::sleep(Duration::from_secs(3)).await;
    (dir, demo, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_covered_attack_raises_its_violation_on_its_thing_and_nothing_else() {
    let (dir, demo, summary) = run_demo(20, 60, true).await;
    let store = demo.running.store.as_ref();

    let labels = truth::read(&dir.path().join("truth.jsonl")).unwrap();
    let scenarios: BTreeSet<&str> = labels.iter().map(|l| l.scenario.as_str()).collect();
    assert_eq!(
        scenarios.len(),
        Scenario::ALL.len(),
        "one wave of every scenario fits 60 ticks: {labels:?}"
    );
    assert_eq!(summary.attacks.len(), labels.len());
    assert!(summary.counters.accepted > 0, "{:?}", summary.counters);

    let events = all_events(store).await;
    let raised: BTreeMap<(String, String), &ViolationEvent> = events
        .iter()
        .filter(|e| e.event_type == ViolationEventType::InAlarm)
        .map(|e| ((e.thing.clone(), e.behavior.clone()), e))
        .collect();
    let report = format!(
        "truth: {labels:#?}\nraised: {:#?}\ncounters: {:?}",
        raised.keys().collect::<Vec<_>>(),
        summary.counters
    );

    // (thing, behavior) pairs the ground truth explains.
    let mut explained = BTreeSet::new();
    for label in &labels {
        let scenario = Scenario::parse(&label.scenario).expect("known scenario");
        for behavior in scenario.expected() {
            explained.insert((label.thing.clone(), (*behavior).to_owned()));
            let event = raised
                .get(&(label.thing.clone(), (*behavior).to_owned()))
                .unwrap_or_else(|| {
                    panic!(
                        "{} on {} did not raise {behavior}\n{report}",
                        label.scenario, label.thing
                    )
                });
            // The violation is under the profile of the thing's class.
            let class = label.thing.split('-').nth(1).unwrap();
            assert_eq!(event.profile, format!("{class}-baseline"), "{report}");
        }
    }
    for key in raised.keys() {
        assert!(
            explained.contains(key),
            "{key:?} went into alarm without an attack explaining it\n{report}"
        );
    }
    // Nothing is in alarm that the ground truth does not explain.
    let active = store
        .list_active_violations(None, None, &PageRequest::default())
        .await
        .unwrap();
    for v in &active.items {
        assert!(
            explained.contains(&(v.thing.clone(), v.behavior.clone())),
            "{} / {} is in alarm\n{report}",
            v.thing,
            v.behavior
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_without_attacks_raises_no_violation() {
    let (dir, demo, summary) = run_demo(12, 30, false).await;
    let labels = truth::read(&dir.path().join("truth.jsonl")).unwrap();
    assert!(labels.is_empty(), "{labels:?}");
    assert!(summary.attacks.is_empty());
    // The fleet did report, through every class's profile.
    assert!(summary.counters.accepted >= 12, "{:?}", summary.counters);
    let events = all_events(demo.running.store.as_ref()).await;
    assert!(
        events.is_empty(),
        "baseline traffic raised violations: {:#?}",
        events
            .iter()
            .map(|e| (&e.thing, &e.behavior, e.event_type, &e.value))
            .collect::<Vec<_>>()
    );
    // Reports were evaluated: every device's behavior states exist under its class profile.
    for profile in &demo.profiles {
        let states = demo.running.store.behavior_states(profile).await.unwrap();
        assert!(!states.is_empty(), "{profile} evaluated nothing");
    }
}
