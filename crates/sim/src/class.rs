//! Device classes and their baselines: what a healthy camera, gateway or sensor reports.
//!
//! A baseline is the normal behavior a starter security profile (`examples/profiles/`)
//! describes: the usual listening ports, a daily traffic cycle with noise, stable destination
//! addresses and a normal number of established connections. Each device varies around its
//! class (its own traffic scale and daily phase), and every value is a pure function of the
//! seed, the device and the tick, so runs repeat exactly. The starter profiles' thresholds sit
//! well above a baseline's maximum (checked by the tests here), so a fleet without attacks
//! raises no violation.

use std::f64::consts::TAU;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use fleetward_proto::encode::EncodeError;
use fleetward_proto::report::{
    Connection, Connections, ListeningPort, Metrics, NetworkStats, PortList, RemoteAddr, Report,
    VERSION_1_0,
};
use fleetward_proto::{Format, KeyStyle};

use super::clock::SimClock;
use super::seed::{self, purpose};

/// Most connections listed in a report; the true count goes in `total` (as agents cap lists).
pub const MAX_LISTED_CONNECTIONS: usize = 32;

/// The kinds of device the simulator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceClass {
    /// An IP camera: streams video out all day, a few fixed services.
    Camera,
    /// A site gateway: talks to many sensors on the LAN and to the cloud.
    Gateway,
    /// A battery sensor: a trickle of data to its gateway and the cloud.
    Sensor,
}

impl DeviceClass {
    /// Every class.
    pub const ALL: [DeviceClass; 3] = [
        DeviceClass::Camera,
        DeviceClass::Gateway,
        DeviceClass::Sensor,
    ];

    /// `camera`, `gateway`, `sensor`: thing names and profile files use it.
    pub const fn name(self) -> &'static str {
        match self {
            DeviceClass::Camera => "camera",
            DeviceClass::Gateway => "gateway",
            DeviceClass::Sensor => "sensor",
        }
    }

    /// The thing group the fleet puts devices of this class in; the class's starter profile
    /// is attached to it.
    pub const fn group(self) -> &'static str {
        match self {
            DeviceClass::Camera => "cameras",
            DeviceClass::Gateway => "gateways",
            DeviceClass::Sensor => "sensors",
        }
    }

    /// The starter security profile for this class (AWS CreateSecurityProfile JSON), as
    /// shipped in `examples/profiles/`; embedded so `fleetward demo` works from anywhere.
    pub const fn starter_profile(self) -> &'static str {
        match self {
            DeviceClass::Camera => include_str!("../../../examples/profiles/camera.json"),
            DeviceClass::Gateway => include_str!("../../../examples/profiles/gateway.json"),
            DeviceClass::Sensor => include_str!("../../../examples/profiles/sensor.json"),
        }
    }

    /// The class of the `index`-th device of a fleet: 3 cameras, 1 gateway and 6 sensors in
    /// every 10, so even a small fleet has each class.
    pub const fn of_index(index: usize) -> DeviceClass {
        match index % 10 {
            0 | 4 | 7 => DeviceClass::Camera,
            1 => DeviceClass::Gateway,
            _ => DeviceClass::Sensor,
        }
    }

    /// The class's baseline.
    pub const fn baseline(self) -> &'static Baseline {
        match self {
            DeviceClass::Camera => &CAMERA,
            DeviceClass::Gateway => &GATEWAY,
            DeviceClass::Sensor => &SENSOR,
        }
    }
}

/// What is normal for a class.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// Listening TCP ports.
    pub tcp_ports: &'static [u16],
    /// Listening UDP ports.
    pub udp_ports: &'static [u16],
    /// Mean bytes sent per report interval.
    pub bytes_out: f64,
    /// Mean bytes received per report interval.
    pub bytes_in: f64,
    /// Mean packet sizes (out, in), to derive packet counts.
    pub packet_size: (f64, f64),
    /// Relative amplitude of the daily cycle (0: flat).
    pub daily_amplitude: f64,
    /// Hour of the simulated day when traffic peaks.
    pub peak_hour: f64,
    /// Relative noise on every interval (± this fraction).
    pub noise: f64,
    /// The services every device of the class keeps a connection to, and the local port.
    pub destinations: &'static [([u8; 4], u16, u16)],
    /// How many LAN peers are connected besides the destinations (min, max).
    pub lan_peers: (u64, u64),
    /// The LAN the peers are on (`10.<a>.<b>.x`).
    pub lan: [u8; 3],
}

/// Per-device traffic scale range (a device's mean is its class mean times this).
pub const SCALE_RANGE: (f64, f64) = (0.8, 1.2);
/// A device's daily peak is shifted by up to this many hours either way.
pub const PHASE_SHIFT_HOURS: f64 = 1.5;
/// Distinct LAN peers a device picks its connections from.
const PEER_POOL: u64 = 24;

const CAMERA: Baseline = Baseline {
    tcp_ports: &[80, 443, 554],
    udp_ports: &[3702, 5353],
    bytes_out: 24_000_000.0,
    bytes_in: 1_500_000.0,
    packet_size: (1_200.0, 90.0),
    daily_amplitude: 0.5,
    peak_hour: 14.0,
    noise: 0.15,
    destinations: &[
        ([10, 20, 0, 10], 554, 554),      // the NVR pulls the RTSP stream
        ([198, 18, 10, 20], 443, 49_152), // the vendor's video cloud
        ([198, 18, 10, 21], 443, 49_153), // the vendor's update service
    ],
    lan_peers: (0, 3),
    lan: [10, 20, 1],
};

const GATEWAY: Baseline = Baseline {
    tcp_ports: &[22, 443, 1883, 8883],
    udp_ports: &[53, 123, 5353, 5683],
    bytes_out: 6_000_000.0,
    bytes_in: 8_000_000.0,
    packet_size: (400.0, 300.0),
    daily_amplitude: 0.35,
    peak_hour: 10.0,
    noise: 0.2,
    destinations: &[
        ([198, 18, 20, 10], 8883, 50_001), // the IoT cloud (MQTT)
        ([198, 18, 20, 11], 443, 50_002),  // the fleet manager
        ([198, 18, 20, 12], 443, 50_003),  // the update service
        ([10, 0, 0, 53], 53, 50_004),      // the site DNS over TCP
    ],
    lan_peers: (10, 24),
    lan: [10, 30, 0],
};

const SENSOR: Baseline = Baseline {
    tcp_ports: &[8080],
    udp_ports: &[5683],
    bytes_out: 40_000.0,
    bytes_in: 12_000.0,
    packet_size: (120.0, 80.0),
    daily_amplitude: 0.25,
    peak_hour: 12.0,
    noise: 0.25,
    destinations: &[
        ([10, 30, 0, 1], 8883, 40_001),  // its gateway
        ([198, 18, 30, 5], 443, 40_002), // the vendor's telemetry endpoint
    ],
    lan_peers: (0, 1),
    lan: [10, 30, 2],
};

impl Baseline {
    /// The largest `bytes_out` any device of the class can report in an interval.
    pub fn max_bytes_out(&self) -> f64 {
        self.bytes_out * SCALE_RANGE.1 * (1.0 + self.daily_amplitude) * (1.0 + self.noise)
    }

    /// The largest `bytes_in` any device of the class can report in an interval.
    pub fn max_bytes_in(&self) -> f64 {
        self.bytes_in * SCALE_RANGE.1 * (1.0 + self.daily_amplitude) * (1.0 + self.noise)
    }

    /// The most established connections a device of the class has.
    pub fn max_connections(&self) -> u64 {
        self.destinations.len() as u64 + self.lan_peers.1
    }
}

/// One simulated device of a fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceSpec {
    /// Position in the fleet (seeds its randomness).
    pub index: usize,
    /// Its thing name.
    pub thing: String,
    /// Its class.
    pub class: DeviceClass,
}

/// The fleet of `n` devices named `<prefix><class>-<index>` (e.g. `sim-camera-0007`).
pub fn fleet(n: usize, prefix: &str) -> Vec<DeviceSpec> {
    (0..n)
        .map(|index| {
            let class = DeviceClass::of_index(index);
            DeviceSpec {
                index,
                thing: format!("{prefix}{}-{index:04}", class.name()),
                class,
            }
        })
        .collect()
}

/// An established connection in a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    /// The peer.
    pub remote: SocketAddr,
    /// The local port.
    pub local_port: u16,
}

/// What a device reports for one interval, before encoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Listening TCP ports.
    pub tcp_ports: Vec<u16>,
    /// Listening UDP ports.
    pub udp_ports: Vec<u16>,
    /// Traffic deltas.
    pub net: NetworkStats,
    /// Established connections.
    pub connections: Vec<Conn>,
    /// The true number of established connections, when more exist than `connections` lists.
    pub connections_total: Option<u64>,
}

impl DeviceSpec {
    /// The device's baseline sample at `tick`.
    pub fn baseline(&self, seed: u64, clock: &SimClock, tick: u64) -> Sample {
        let b = self.class.baseline();
        let dev = self.index as u64;
        let h = |p: u64| seed::hash(&[seed, dev, p, tick]);
        let fixed = |p: u64| seed::hash(&[seed, dev, p]);

        let scale =
            SCALE_RANGE.0 + (SCALE_RANGE.1 - SCALE_RANGE.0) * seed::unit(fixed(purpose::SCALE));
        let shift_h = PHASE_SHIFT_HOURS * seed::signed_unit(fixed(purpose::PHASE));
        let hour = clock.day_fraction(tick) * 24.0;
        let cycle = 1.0 + b.daily_amplitude * (TAU * (hour - b.peak_hour - shift_h) / 24.0).cos();
        let noisy = |mean: f64, p: u64| -> u64 {
            let n = 1.0 + b.noise * seed::signed_unit(h(p));
            // Non-negative and far below 2^53: the conversion is exact enough and cannot wrap.
            (mean * scale * cycle * n).max(0.0).round() as u64
        };
        let bytes_out = noisy(b.bytes_out, purpose::BYTES_OUT);
        let bytes_in = noisy(b.bytes_in, purpose::BYTES_IN);
        let packets = |bytes: u64, size: f64| ((bytes as f64 / size).ceil() as u64).max(1);

        let mut connections: Vec<Conn> = b
            .destinations
            .iter()
            .map(|(ip, port, local)| Conn {
                remote: SocketAddr::new(IpAddr::V4(Ipv4Addr::from(*ip)), *port),
                local_port: *local,
            })
            .collect();
        let peers = seed::range(h(purpose::PEERS), b.lan_peers.0, b.lan_peers.1);
        let first = seed::range(h(purpose::PEER_PICK), 0, PEER_POOL - 1);
        for k in 0..peers {
            let host = (first + k) % PEER_POOL;
            // Each device has its own stable peers: the host part depends on the device.
            let octet = u8::try_from(1 + (dev * 7 + host) % 250).unwrap_or(1);
            connections.push(Conn {
                remote: SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(b.lan[0], b.lan[1], b.lan[2], octet)),
                    8883,
                ),
                local_port: u16::try_from(41_000 + host).unwrap_or(41_000),
            });
        }
        Sample {
            tcp_ports: b.tcp_ports.to_vec(),
            udp_ports: b.udp_ports.to_vec(),
            net: NetworkStats {
                bytes_in,
                bytes_out,
                packets_in: packets(bytes_in, b.packet_size.1),
                packets_out: packets(bytes_out, b.packet_size.0),
            },
            connections,
            connections_total: None,
        }
    }
}

impl Sample {
    /// Encodes the sample as a Device Defender report with long keys, as the agents send.
    pub fn encode(&self, report_id: u64, format: Format) -> Result<Vec<u8>, EncodeError> {
        let tcp: Vec<ListeningPort<'_>> = self
            .tcp_ports
            .iter()
            .map(|p| ListeningPort {
                port: *p,
                interface: None,
            })
            .collect();
        let udp: Vec<ListeningPort<'_>> = self
            .udp_ports
            .iter()
            .map(|p| ListeningPort {
                port: *p,
                interface: None,
            })
            .collect();
        let listed = self.connections.len().min(MAX_LISTED_CONNECTIONS);
        let conns: Vec<Connection<'_>> = self.connections[..listed]
            .iter()
            .map(|c| Connection {
                remote_addr: RemoteAddr::Socket(c.remote),
                local_port: Some(c.local_port),
                local_interface: None,
            })
            .collect();
        let total = self
            .connections_total
            .or_else(|| (listed < self.connections.len()).then_some(self.connections.len() as u64));
        let report = Report {
            report_id,
            version: VERSION_1_0,
            metrics: Some(Metrics {
                listening_tcp_ports: Some(PortList {
                    ports: &tcp,
                    total: None,
                }),
                listening_udp_ports: Some(PortList {
                    ports: &udp,
                    total: None,
                }),
                network_stats: Some(self.net),
                tcp_connections: Some(Connections {
                    connections: &conns,
                    total,
                }),
            }),
            custom_metrics: &[],
        };
        let mut buf = vec![0u8; 4096 + 96 * (tcp.len() + udp.len() + conns.len())];
        let n = fleetward_proto::encode(&report, format, KeyStyle::Long, &mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fleetward_proto::decode::{AwsMetric, Metric, MetricValue, decode_report};

    fn clock() -> SimClock {
        SimClock::new(1_700_000_000_000 - 1_700_000_000_000 % 86_400_000, 300_000)
    }

    #[test]
    fn fleet_has_every_class_and_stable_names() {
        let f = fleet(10, "sim-");
        for c in DeviceClass::ALL {
            assert!(f.iter().any(|d| d.class == c), "{c:?}");
        }
        assert_eq!(f[0].thing, "sim-camera-0000");
        assert_eq!(f[1].thing, "sim-gateway-0001");
        assert_eq!(f[2].thing, "sim-sensor-0002");
        assert!(
            f.iter()
                .all(|d| fleetward_proto::topic::is_valid_thing_name(&d.thing))
        );
    }

    #[test]
    fn baseline_is_deterministic_and_varies_by_device_and_tick() {
        let f = fleet(3, "");
        let c = clock();
        assert_eq!(f[0].baseline(7, &c, 5), f[0].baseline(7, &c, 5));
        assert_ne!(f[0].baseline(7, &c, 5).net, f[0].baseline(7, &c, 6).net);
        assert_ne!(f[0].baseline(7, &c, 5).net, f[0].baseline(8, &c, 5).net);
    }

    #[test]
    fn traffic_follows_a_daily_cycle_within_its_bounds() {
        let c = clock();
        for d in fleet(30, "") {
            let b = d.class.baseline();
            let mut by_hour = [0f64; 24];
            for tick in 0..288 * 4 {
                let s = d.baseline(1, &c, tick);
                assert!((s.net.bytes_out as f64) <= b.max_bytes_out());
                assert!((s.net.bytes_in as f64) <= b.max_bytes_in());
                assert!(s.net.bytes_out > 0 && s.net.packets_out > 0);
                assert!(s.connections.len() as u64 <= b.max_connections());
                assert!(s.connections.len() >= b.destinations.len());
                by_hour[(c.day_fraction(tick) * 24.0) as usize] += s.net.bytes_out as f64;
            }
            // Peak hours carry clearly more than the trough twelve hours later.
            let peak = b.peak_hour as usize;
            let trough = (peak + 12) % 24;
            assert!(by_hour[peak] > by_hour[trough] * 1.3, "{d:?}");
        }
    }

    #[test]
    fn destinations_are_stable() {
        let c = clock();
        let d = &fleet(2, "")[1]; // a gateway: many peers
        let ips = |t| -> std::collections::BTreeSet<IpAddr> {
            d.baseline(3, &c, t)
                .connections
                .iter()
                .map(|c| c.remote.ip())
                .collect()
        };
        let all: std::collections::BTreeSet<IpAddr> = (0..500).flat_map(ips).collect();
        // Destinations plus at most the device's peer pool.
        assert!(all.len() as u64 <= d.class.baseline().destinations.len() as u64 + PEER_POOL);
    }

    #[test]
    fn a_sample_encodes_to_a_report_the_server_accepts() {
        let c = clock();
        for d in fleet(3, "sim-") {
            let s = d.baseline(1, &c, 0);
            for format in [Format::Json, Format::Cbor] {
                let bytes = s.encode(c.report_id(0), format).unwrap();
                let decoded = decode_report(&bytes, format, &d.thing).unwrap();
                assert_eq!(decoded.report_id, c.report_id(0));
                let bytes_out = decoded
                    .datapoints
                    .iter()
                    .find(|p| p.metric == Metric::Aws(AwsMetric::AllBytesOut))
                    .map(|p| p.value.clone());
                assert_eq!(bytes_out, Some(MetricValue::Count(s.net.bytes_out)));
            }
        }
    }

    #[test]
    fn long_connection_lists_are_capped_with_a_total() {
        let c = clock();
        let d = &fleet(1, "")[0];
        let mut s = d.baseline(1, &c, 0);
        let extra = s.connections[0];
        s.connections.extend(std::iter::repeat_n(extra, 100));
        let bytes = s.encode(c.report_id(0), Format::Json).unwrap();
        let decoded = decode_report(&bytes, Format::Json, "x").unwrap();
        let n = decoded
            .datapoints
            .iter()
            .find(|p| p.metric == Metric::Aws(AwsMetric::NumEstablishedTcpConnections))
            .map(|p| p.value.clone());
        assert_eq!(n, Some(MetricValue::Count(s.connections.len() as u64)));
    }
}
