//! The attacks the simulator injects, and the seeded schedule of which device suffers which
//! attack when.
//!
//! Four attacks change what a device reports ([`Scenario::apply`]); four change how it talks
//! to the broker (publishing where it may not, reconnecting in a loop, a second device with
//! the same certificate, silence) and are carried out by [`super::device`]. Each scenario names
//! the starter-profile behaviors it must raise ([`Scenario::expected`]), which is what the
//! tests check against the ground truth.
//!
//! The schedule comes in *waves*: in every wave of [`WAVE_TICKS`] ticks each scenario hits one
//! device, chosen by a seeded permutation so that one wave's victims are distinct, for a few
//! ticks that end before the wave does. A run of known length schedules only whole waves, so
//! every label in the ground truth describes an attack that ran to its end.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::class::{Conn, DeviceSpec, Sample};
use super::seed::{self, purpose};

/// Ticks before the first attack: every device connects and reports normally first.
pub const FIRST_TICK: u64 = 5;
/// Ticks per wave of attacks.
pub const WAVE_TICKS: u64 = 40;
/// Shortest attack, in ticks.
pub const MIN_DURATION: u64 = 5;
/// Longest attack, in ticks.
pub const MAX_DURATION: u64 = 10;
/// Refused publishes per tick during an authorization-failure storm.
pub const STORM_PUBLISHES_PER_TICK: u32 = 20;
/// Disconnect/reconnect cycles per tick while flapping.
pub const FLAPS_PER_TICK: u32 = 6;
/// Ports a backdoor listens on (telnet, Mirai's alternate telnet, common shells).
const BACKDOOR_PORTS: [u16; 5] = [23, 2323, 4444, 5555, 31337];

/// One kind of attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// A new listening TCP port.
    BackdoorPort,
    /// A burst of outbound traffic.
    Exfiltration,
    /// Connections to new destination addresses.
    CommandAndControl,
    /// Hundreds of established connections.
    PortScan,
    /// Publishes to another thing's topic, refused by the broker.
    AuthorizationFailureStorm,
    /// Disconnects and reconnects several times per interval.
    ReconnectFlapping,
    /// A second device connects with this device's certificate and client id.
    SharedCertificate,
    /// The device stops reporting and drops off the network.
    Silent,
}

impl Scenario {
    /// Every scenario, in schedule order.
    pub const ALL: [Scenario; 8] = [
        Scenario::BackdoorPort,
        Scenario::Exfiltration,
        Scenario::CommandAndControl,
        Scenario::PortScan,
        Scenario::AuthorizationFailureStorm,
        Scenario::ReconnectFlapping,
        Scenario::SharedCertificate,
        Scenario::Silent,
    ];

    /// The name used in the ground truth.
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::BackdoorPort => "backdoor-port",
            Scenario::Exfiltration => "exfiltration",
            Scenario::CommandAndControl => "command-and-control",
            Scenario::PortScan => "port-scan",
            Scenario::AuthorizationFailureStorm => "authorization-failure-storm",
            Scenario::ReconnectFlapping => "reconnect-flapping",
            Scenario::SharedCertificate => "shared-certificate",
            Scenario::Silent => "silent",
        }
    }

    /// The scenario named `name`.
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The starter-profile behaviors (`examples/profiles/*.json`, by name) this scenario raises
    /// on the attacked thing. Empty: no starter behavior covers it. A silent device sends no
    /// datapoint, and Rules Detect evaluates datapoints as they arrive, so silence alone raises
    /// nothing (an alarm it was already in is invalidated after two days).
    pub const fn expected(self) -> &'static [&'static str] {
        match self {
            Scenario::BackdoorPort => &["listening-tcp-ports"],
            Scenario::Exfiltration => &["bytes-out"],
            Scenario::CommandAndControl => &["destination-ips"],
            Scenario::PortScan => &["established-connections"],
            Scenario::AuthorizationFailureStorm => &["authorization-failures"],
            Scenario::ReconnectFlapping | Scenario::SharedCertificate => {
                &["disconnects", "connection-attempts"]
            }
            Scenario::Silent => &[],
        }
    }

    /// Whether the attack changes the report (rather than the device's MQTT behavior).
    pub const fn changes_report(self) -> bool {
        matches!(
            self,
            Scenario::BackdoorPort
                | Scenario::Exfiltration
                | Scenario::CommandAndControl
                | Scenario::PortScan
        )
    }

    /// Changes `sample` (the device's baseline at some tick of the attack) as this attack
    /// would. The attack's parameters depend on the seed, the device and the attack's start,
    /// so they stay the same for the attack's whole duration.
    pub fn apply(self, sample: &mut Sample, device: &DeviceSpec, seed: u64, start: u64) {
        let b = device.class.baseline();
        let h = |k: u64| seed::hash(&[seed, device.index as u64, purpose::ATTACK, start, k]);
        match self {
            Scenario::BackdoorPort => {
                let free: Vec<u16> = BACKDOOR_PORTS
                    .into_iter()
                    .filter(|p| !b.tcp_ports.contains(p))
                    .collect();
                let pick = seed::range(h(0), 0, free.len().saturating_sub(1) as u64);
                if let Some(port) = usize::try_from(pick).ok().and_then(|i| free.get(i)) {
                    sample.tcp_ports.push(*port);
                    sample.tcp_ports.sort_unstable();
                }
            }
            Scenario::Exfiltration => {
                // Twenty to thirty times the most the class ever sends in an interval.
                let factor = 20.0 + 10.0 * seed::unit(h(1));
                let bytes = (b.max_bytes_out() * factor).round() as u64;
                sample.net.bytes_out = bytes;
                sample.net.packets_out = bytes / 1_400 + 1;
            }
            Scenario::CommandAndControl => {
                // TEST-NET-3: outside every allowed destination.
                let n = seed::range(h(2), 1, 2);
                for k in 0..n {
                    let host = u8::try_from(seed::range(h(3 + k), 1, 254)).unwrap_or(1);
                    let port = [443, 8443, 6667][usize::try_from(h(6 + k) % 3).unwrap_or(0)];
                    sample.connections.push(Conn {
                        remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, host)), port),
                        local_port: u16::try_from(52_000 + k).unwrap_or(52_000),
                    });
                }
            }
            Scenario::PortScan => {
                // Sweeps the device's own LAN: only the connection count is abnormal.
                let n = seed::range(h(9), 200, 400);
                let target = u8::try_from(seed::range(h(10), 1, 254)).unwrap_or(1);
                for k in 0..n {
                    let port = u16::try_from(1 + k % 1024).unwrap_or(1);
                    sample.connections.push(Conn {
                        remote: SocketAddr::new(
                            IpAddr::V4(Ipv4Addr::new(b.lan[0], b.lan[1], b.lan[2], target)),
                            port,
                        ),
                        local_port: u16::try_from(30_000 + k).unwrap_or(30_000),
                    });
                }
            }
            Scenario::AuthorizationFailureStorm
            | Scenario::ReconnectFlapping
            | Scenario::SharedCertificate
            | Scenario::Silent => {}
        }
    }
}

/// One scheduled attack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attack {
    /// The attacked device's index in the fleet.
    pub device: usize,
    /// Its thing name.
    pub thing: String,
    /// What happens.
    pub scenario: Scenario,
    /// First tick of the attack.
    pub start: u64,
    /// First tick after it.
    pub end: u64,
    /// For a storm: the device whose topic is targeted.
    pub peer: Option<usize>,
}

impl Attack {
    /// Whether the attack is under way at `tick`.
    pub fn covers(&self, tick: u64) -> bool {
        (self.start..self.end).contains(&tick)
    }
}

/// The attack schedule of a fleet.
#[derive(Debug, Clone)]
pub struct Schedule {
    seed: u64,
    things: Vec<String>,
}

impl Schedule {
    /// The schedule for `fleet` under `seed`.
    pub fn new(seed: u64, fleet: &[DeviceSpec]) -> Schedule {
        Schedule {
            seed,
            things: fleet.iter().map(|d| d.thing.clone()).collect(),
        }
    }

    /// The wave that `tick` belongs to, if any (ticks before [`FIRST_TICK`] have none).
    pub fn wave_of(tick: u64) -> Option<u64> {
        tick.checked_sub(FIRST_TICK).map(|t| t / WAVE_TICKS)
    }

    /// First tick after wave `k`.
    pub fn wave_end(k: u64) -> u64 {
        FIRST_TICK.saturating_add(k.saturating_add(1).saturating_mul(WAVE_TICKS))
    }

    /// The attacks of wave `k`: one per scenario (as many as the fleet has devices for), on
    /// distinct devices, each starting and ending inside the wave.
    pub fn wave(&self, k: u64) -> Vec<Attack> {
        let n = self.things.len();
        if n == 0 {
            return Vec::new();
        }
        let base = FIRST_TICK.saturating_add(k.saturating_mul(WAVE_TICKS));
        let h = |parts: &[u64]| {
            let mut all = vec![self.seed, purpose::SCHEDULE, k];
            all.extend_from_slice(parts);
            seed::hash(&all)
        };
        // A seeded Fisher-Yates shuffle of the fleet: the first eight are this wave's victims.
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = usize::try_from(seed::range(h(&[0, i as u64]), 0, i as u64)).unwrap_or(0);
            order.swap(i, j);
        }
        let attacked = Scenario::ALL.len().min(n);
        Scenario::ALL
            .iter()
            .zip(order.iter())
            .enumerate()
            .map(|(i, (scenario, &device))| {
                let tag = i as u64 + 1;
                let duration = seed::range(h(&[tag, 1]), MIN_DURATION, MAX_DURATION);
                // End at least one tick before the wave does, so alarms can clear in between.
                let latest = WAVE_TICKS - 1 - duration;
                let start = base + seed::range(h(&[tag, 2]), 0, latest);
                let peer = (*scenario == Scenario::AuthorizationFailureStorm).then(|| {
                    // Prefer a device that is not attacked in this wave.
                    if n > attacked {
                        order[attacked
                            + usize::try_from(h(&[tag, 3]) % (n - attacked) as u64).unwrap_or(0)]
                    } else {
                        order[(i + 1) % n]
                    }
                });
                Attack {
                    device,
                    thing: self.things[device].clone(),
                    scenario: *scenario,
                    start,
                    end: start + duration,
                    peer,
                }
            })
            .collect()
    }

    /// Every attack of the waves that end by `ticks` (a run of `ticks` ticks).
    pub fn whole_waves(&self, ticks: u64) -> Vec<Attack> {
        let mut out = Vec::new();
        let mut k = 0;
        while Schedule::wave_end(k) <= ticks {
            out.extend(self.wave(k));
            k += 1;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::{DeviceClass, fleet};
    use crate::clock::SimClock;

    #[test]
    fn names_round_trip() {
        for s in Scenario::ALL {
            assert_eq!(Scenario::parse(s.name()), Some(s));
        }
        assert_eq!(Scenario::parse("nope"), None);
    }

    #[test]
    fn waves_are_deterministic_distinct_and_inside_their_window() {
        let f = fleet(20, "sim-");
        let s = Schedule::new(42, &f);
        assert_eq!(s.wave(3), Schedule::new(42, &f).wave(3));
        assert_ne!(s.wave(0), Schedule::new(43, &f).wave(0));
        for k in 0..20 {
            let w = s.wave(k);
            assert_eq!(w.len(), 8);
            let base = FIRST_TICK + k * WAVE_TICKS;
            let mut devices: Vec<usize> = w.iter().map(|a| a.device).collect();
            devices.sort_unstable();
            devices.dedup();
            assert_eq!(devices.len(), 8, "one attack per device per wave");
            for a in &w {
                assert!(a.start >= base && a.end < Schedule::wave_end(k), "{a:?}");
                assert!((MIN_DURATION..=MAX_DURATION).contains(&(a.end - a.start)));
                assert_eq!(a.thing, f[a.device].thing);
                assert_eq!(Schedule::wave_of(a.start), Some(k));
                if a.scenario == Scenario::AuthorizationFailureStorm {
                    let peer = a.peer.unwrap();
                    assert!(
                        !devices.contains(&peer),
                        "the storm's target is not attacked"
                    );
                } else {
                    assert_eq!(a.peer, None);
                }
            }
        }
    }

    #[test]
    fn small_fleets_get_fewer_attacks() {
        let f = fleet(3, "");
        let w = Schedule::new(1, &f).wave(0);
        assert_eq!(w.len(), 3);
        assert!(Schedule::new(1, &[]).wave(0).is_empty());
    }

    #[test]
    fn whole_waves_fit_the_run() {
        let f = fleet(12, "");
        let s = Schedule::new(9, &f);
        assert!(s.whole_waves(FIRST_TICK + WAVE_TICKS - 1).is_empty());
        assert_eq!(s.whole_waves(60).len(), 8);
        assert_eq!(s.whole_waves(FIRST_TICK + 2 * WAVE_TICKS).len(), 16);
        assert!(s.whole_waves(60).iter().all(|a| a.end < 60));
        assert_eq!(Schedule::wave_of(FIRST_TICK - 1), None);
    }

    #[test]
    fn report_attacks_change_only_their_metric() {
        let clock = SimClock::new(1_700_000_000_000, 300_000);
        for d in fleet(3, "") {
            let base = d.baseline(5, &clock, 7);
            let b = d.class.baseline();

            let mut s = base.clone();
            Scenario::BackdoorPort.apply(&mut s, &d, 5, 7);
            assert_eq!(s.tcp_ports.len(), base.tcp_ports.len() + 1);
            assert!(s.tcp_ports.iter().any(|p| !b.tcp_ports.contains(p)));
            assert_eq!((s.net, &s.connections), (base.net, &base.connections));

            let mut s = base.clone();
            Scenario::Exfiltration.apply(&mut s, &d, 5, 7);
            assert!(s.net.bytes_out as f64 >= 20.0 * b.max_bytes_out());
            assert_eq!(
                (&s.tcp_ports, &s.connections),
                (&base.tcp_ports, &base.connections)
            );

            let mut s = base.clone();
            Scenario::CommandAndControl.apply(&mut s, &d, 5, 7);
            let new: Vec<_> = s.connections[base.connections.len()..].to_vec();
            assert!(!new.is_empty());
            assert!(new.iter().all(
                |c| matches!(c.remote.ip(), IpAddr::V4(v) if v.octets()[..3] == [203, 0, 113])
            ));
            assert!(s.connections.len() as u64 <= b.max_connections() + 2);

            let mut s = base.clone();
            Scenario::PortScan.apply(&mut s, &d, 5, 7);
            assert!(s.connections.len() >= 200 + base.connections.len());
            assert!(
                s.connections[base.connections.len()..]
                    .iter()
                    .all(|c| matches!(c.remote.ip(), IpAddr::V4(v) if v.octets()[..3] == b.lan))
            );

            for io in [
                Scenario::AuthorizationFailureStorm,
                Scenario::ReconnectFlapping,
                Scenario::SharedCertificate,
                Scenario::Silent,
            ] {
                let mut s = base.clone();
                io.apply(&mut s, &d, 5, 7);
                assert_eq!(s, base);
                assert!(!io.changes_report());
            }
            // The same attack has the same parameters on every tick.
            let (mut a, mut b2) = (d.baseline(5, &clock, 8), d.baseline(5, &clock, 9));
            Scenario::BackdoorPort.apply(&mut a, &d, 5, 7);
            Scenario::BackdoorPort.apply(&mut b2, &d, 5, 7);
            assert_eq!(a.tcp_ports, b2.tcp_ports);
        }
        let _ = DeviceClass::ALL;
    }
}
