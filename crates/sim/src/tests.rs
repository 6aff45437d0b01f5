//! The model against the starter profiles, through the server's own decoder and detection
//! engine: baselines never violate, each report-changing attack raises exactly its behaviors.

use std::collections::BTreeSet;

use fleetward_proto::Format;
use fleetward_proto::decode::decode_report;

use super::class::{DeviceClass, DeviceSpec, fleet};
use super::clock::SimClock;
use super::scenario::Scenario;
use fleetward_core::detect::runtime::{Detector, Origin};
use fleetward_core::detect::{Behavior, compile_behaviors};
use fleetward_service::detect::SecurityProfileRequest;

fn detector() -> Detector {
    let mut d = Detector::new();
    for class in DeviceClass::ALL {
        let req: SecurityProfileRequest = serde_json::from_str(class.starter_profile()).unwrap();
        let behaviors: Vec<Behavior> = req
            .behaviors
            .iter()
            .map(|b| serde_json::from_value(b.clone()).unwrap())
            .collect();
        let compiled = compile_behaviors(&behaviors, &|_| None, &|_| None).unwrap();
        assert!(d.set_profile(class.group(), compiled, 0).is_empty());
    }
    d
}

/// The behaviors that went into alarm when `device` reported its tick-`tick` sample (with
/// `attack` applied), after a compliant report.
fn alarms(
    d: &mut Detector,
    device: &DeviceSpec,
    clock: &SimClock,
    tick: u64,
    attack: Option<Scenario>,
) -> BTreeSet<String> {
    let mut sample = device.baseline(11, clock, tick);
    if let Some(a) = attack {
        a.apply(&mut sample, device, 11, tick);
    }
    let bytes = sample.encode(clock.report_id(tick), Format::Json).unwrap();
    let decoded = decode_report(&bytes, Format::Json, &device.thing).unwrap();
    let events = d.on_datapoints(
        &device.thing,
        &[device.class.group()],
        clock.at(tick),
        &decoded.datapoints,
        Origin {
            topic: None,
            client_id: &device.thing,
        },
        &mut || "v".to_owned(),
    );
    events
        .into_iter()
        .map(|e| {
            assert_eq!(e.event_type.as_str(), "in-alarm", "{e:?}");
            e.behavior
        })
        .collect()
}

#[test]
fn baselines_stay_inside_the_starter_profiles() {
    let clock = SimClock::starting_near(1_700_000_000_000);
    let mut d = detector();
    // Two simulated days of 60 devices: every hour of the cycle, every class, many draws.
    for tick in 0..576 {
        for device in fleet(60, "sim-") {
            let raised = alarms(&mut d, &device, &clock, tick, None);
            assert!(
                raised.is_empty(),
                "{} at tick {tick}: {raised:?}",
                device.thing
            );
        }
    }
}

#[test]
fn each_report_attack_raises_exactly_its_behaviors() {
    let clock = SimClock::starting_near(1_700_000_000_000);
    for device in fleet(30, "sim-") {
        for scenario in Scenario::ALL.into_iter().filter(|s| s.changes_report()) {
            let mut d = detector();
            assert!(alarms(&mut d, &device, &clock, 100, None).is_empty());
            let raised = alarms(&mut d, &device, &clock, 101, Some(scenario));
            let expected: BTreeSet<String> = scenario
                .expected()
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            assert_eq!(raised, expected, "{} {scenario:?}", device.thing);
        }
    }
}

#[test]
fn every_expected_behavior_exists_in_every_starter_profile() {
    for class in DeviceClass::ALL {
        let req: SecurityProfileRequest = serde_json::from_str(class.starter_profile()).unwrap();
        let names: BTreeSet<String> = req
            .behaviors
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect();
        for s in Scenario::ALL {
            for b in s.expected() {
                assert!(names.contains(*b), "{class:?} lacks {b} for {s:?}");
            }
        }
        assert_eq!(
            req.security_profile_name,
            format!("{}-baseline", class.name())
        );
    }
}

#[test]
fn time_scale_makes_a_tick_one_report_interval() {
    use std::time::Duration;
    assert_eq!(super::time_scale_for(Duration::from_secs(1)), 300);
    assert_eq!(super::time_scale_for(Duration::from_millis(250)), 1200);
    assert_eq!(super::time_scale_for(Duration::from_secs(600)), 1);
    assert_eq!(super::time_scale_for(Duration::ZERO), 300_000);
}
