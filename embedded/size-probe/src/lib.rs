//! Shared parts of the size-probe firmware images: the panic handler and the inputs.
//!
//! Every binary, `baseline` included, calls [`inputs`], which passes the whole input table
//! through `core::hint::black_box`. So every image holds the same input data and nothing can
//! be constant-folded; the difference between an image and `baseline` is the code (and the
//! constant tables that code needs) for the API it exercises.
#![no_std]
#![forbid(unsafe_code)]

use core::hint::black_box;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use fleetward_proto::report::{
    Connection, Connections, CustomMetric, CustomValue, ListeningPort, Metrics, NetworkStats,
    PortList, RemoteAddr, Report, VERSION_1_0,
};

/// Halts on panic: the smallest handler there is (no message formatting is linked in).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// Everything the probes feed to the library.
pub struct Inputs {
    /// Topic prefix.
    pub prefix: &'static str,
    /// Thing name.
    pub thing: &'static str,
    /// A topic to match.
    pub topic: &'static str,
    /// A full report: every metric, all four custom metric types, IPv4 and IPv6 addresses.
    pub report: Report<'static>,
    /// An `ACCEPTED` answer, JSON.
    pub answer_json: &'static [u8],
    /// A `REJECTED` answer with details, CBOR.
    pub answer_cbor: &'static [u8],
}

const V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x42);

static TCP_PORTS: [ListeningPort<'static>; 2] = [
    ListeningPort {
        port: 22,
        interface: Some("eth0"),
    },
    ListeningPort {
        port: 8883,
        interface: None,
    },
];
static UDP_PORTS: [ListeningPort<'static>; 1] = [ListeningPort {
    port: 5353,
    interface: Some("wlan0"),
}];
static CONNECTIONS: [Connection<'static>; 3] = [
    Connection {
        remote_addr: RemoteAddr::Socket(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(192, 0, 2, 10),
            443,
        ))),
        local_port: Some(50_000),
        local_interface: Some("eth0"),
    },
    Connection {
        remote_addr: RemoteAddr::Socket(SocketAddr::V6(SocketAddrV6::new(V6, 8883, 0, 0))),
        local_port: None,
        local_interface: None,
    },
    Connection {
        remote_addr: RemoteAddr::Ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))),
        local_port: Some(1234),
        local_interface: None,
    },
];
static NUMBERS: [f64; 3] = [1.0, 2.5, -0.125];
static STRINGS: [&str; 2] = ["alpha", "beta"];
static IPS: [IpAddr; 2] = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), IpAddr::V6(V6)];
static CUSTOM: [CustomMetric<'static>; 4] = [
    CustomMetric {
        name: "cpu_usage",
        value: CustomValue::Number(42.5),
    },
    CustomMetric {
        name: "temps",
        value: CustomValue::NumberList(&NUMBERS),
    },
    CustomMetric {
        name: "tags",
        value: CustomValue::StringList(&STRINGS),
    },
    CustomMetric {
        name: "peers",
        value: CustomValue::IpList(&IPS),
    },
];

static INPUTS: Inputs = Inputs {
    prefix: fleetward_proto::topic::DEFAULT_PREFIX,
    thing: "sensor-0042",
    topic: "$aws/things/sensor-0042/defender/metrics/cbor/accepted",
    report: Report {
        report_id: 1_700_000_000_123,
        version: VERSION_1_0,
        metrics: Some(Metrics {
            listening_tcp_ports: Some(PortList { ports: &TCP_PORTS, total: Some(2) }),
            listening_udp_ports: Some(PortList { ports: &UDP_PORTS, total: None }),
            network_stats: Some(NetworkStats {
                bytes_in: 29_358_693_495,
                bytes_out: 26_485_035,
                packets_in: 10_013_573_555,
                packets_out: 11_382_615,
            }),
            tcp_connections: Some(Connections { connections: &CONNECTIONS, total: Some(3) }),
        }),
        custom_metrics: &CUSTOM,
    },
    answer_json: b"{\"thingName\":\"sensor-0042\",\"reportId\":1700000000123,\
        \"status\":\"ACCEPTED\",\"timestamp\":1700000000456}",
    // {"thingName":"t","reportId":7,"status":"REJECTED",
    //  "statusDetails":{"ErrorCode":"InvalidPayload","ErrorMessage":"bad"},"timestamp":5}
    answer_cbor: &[
        0xa5, 0x69, b't', b'h', b'i', b'n', b'g', b'N', b'a', b'm', b'e', 0x61, b't', 0x68, b'r',
        b'e', b'p', b'o', b'r', b't', b'I', b'd', 0x07, 0x66, b's', b't', b'a', b't', b'u', b's',
        0x68, b'R', b'E', b'J', b'E', b'C', b'T', b'E', b'D', 0x6d, b's', b't', b'a', b't', b'u',
        b's', b'D', b'e', b't', b'a', b'i', b'l', b's', 0xa2, 0x69, b'E', b'r', b'r', b'o', b'r',
        b'C', b'o', b'd', b'e', 0x6e, b'I', b'n', b'v', b'a', b'l', b'i', b'd', b'P', b'a', b'y',
        b'l', b'o', b'a', b'd', 0x6c, b'E', b'r', b'r', b'o', b'r', b'M', b'e', b's', b's', b'a',
        b'g', b'e', 0x63, b'b', b'a', b'd', 0x69, b't', b'i', b'm', b'e', b's', b't', b'a', b'm',
        b'p', 0x05,
    ],
};

/// Size of the output buffer every image zeroes (so `baseline` pays for zeroing it too).
pub const BUF_LEN: usize = 2048;

/// The input table, opaque to the optimizer (so every image keeps all of it).
#[inline(always)]
pub fn inputs() -> &'static Inputs {
    black_box(&INPUTS)
}
