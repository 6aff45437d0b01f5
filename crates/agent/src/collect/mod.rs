//! Collection: reading the proc root (and getifaddrs) into an owned [`Snapshot`].
//!
//! IO stays at the edge, behind [`ProcSource`] and [`ifaces::InterfaceSource`]; every parser
//! takes already-read text and reports bad lines as warnings instead of failing.

pub mod builtins;
pub mod ifaces;
pub mod netdev;
pub mod sockets;
pub mod tcp;
pub mod udp;
pub mod user;

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tracing::{debug, warn};

use crate::deltas::Counters;
use builtins::CpuTimes;
use ifaces::{IfaceMap, InterfaceSource};
use sockets::{Proto, SocketRow};
use user::UserMetric;

/// Reads files below a proc root (`/proc`, or `/host_proc` in a container).
pub trait ProcSource: Send + Sync {
    /// The content of `<root>/<rel>`.
    fn read(&self, rel: &str) -> io::Result<Vec<u8>>;
    /// How many processes exist: the numeric entries of the root.
    fn process_count(&self) -> io::Result<u64>;
    /// The root, for messages.
    fn root(&self) -> &Path;
}

/// A proc root on disk: the live `/proc` or a fixture directory.
#[derive(Debug, Clone)]
pub struct DirSource {
    root: PathBuf,
}

impl DirSource {
    /// Reads below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSource { root: root.into() }
    }
}

impl ProcSource for DirSource {
    fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        std::fs::read(self.root.join(rel))
    }

    fn process_count(&self) -> io::Result<u64> {
        let mut n = 0u64;
        for entry in std::fs::read_dir(&self.root)? {
            let name = entry?.file_name();
            if name
                .to_str()
                .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            {
                n += 1;
            }
        }
        Ok(n)
    }

    fn root(&self) -> &Path {
        &self.root
    }
}

/// What a parser kept, and what it skipped and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<T> {
    /// The rows that parsed.
    pub items: Vec<T>,
    /// One sentence per skipped line.
    pub warnings: Vec<String>,
}

impl<T> Default for Parsed<T> {
    fn default() -> Self {
        Parsed {
            items: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// A listening port and its interface (`None` for a wildcard bind).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortEntry {
    /// The port.
    pub port: u16,
    /// The interface.
    pub interface: Option<String>,
}

/// An established TCP connection.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConnEntry {
    /// The peer.
    pub remote: SocketAddr,
    /// The local port.
    pub local_port: u16,
    /// The local interface (`None` when the local address is on no known interface).
    pub interface: Option<String>,
}

/// An owned custom metric value (the proto's borrows from it).
#[derive(Debug, Clone, PartialEq)]
pub enum CustomValue {
    /// One number.
    Number(f64),
    /// Numbers.
    NumberList(Vec<f64>),
    /// Strings.
    StringList(Vec<String>),
    /// IP addresses.
    IpList(Vec<IpAddr>),
}

/// A named custom metric value.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomEntry {
    /// The registered name.
    pub name: String,
    /// The value.
    pub value: CustomValue,
}

/// The standard metric groups, each of which can be turned off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricGroups {
    /// `listening_tcp_ports`.
    pub listening_tcp_ports: bool,
    /// `listening_udp_ports`.
    pub listening_udp_ports: bool,
    /// `tcp_connections`.
    pub tcp_connections: bool,
    /// `network_stats`.
    pub network_stats: bool,
}

impl Default for MetricGroups {
    fn default() -> Self {
        MetricGroups {
            listening_tcp_ports: true,
            listening_udp_ports: true,
            tcp_connections: true,
            network_stats: true,
        }
    }
}

/// The built-in custom metrics. Off by default: AWS drops custom metrics that are not
/// registered in the account, so each one is a deliberate choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Builtins {
    /// `cpu_usage` (number, percent since the previous collection).
    pub cpu_usage: bool,
    /// `memory_used` (number, bytes).
    pub memory_used: bool,
    /// `uptime` (number, seconds).
    pub uptime: bool,
    /// `process_count` (number).
    pub process_count: bool,
    /// `interfaces` (string_list of interface names; its length is the interface count).
    pub interfaces: bool,
}

/// Names of the built-ins, which user metrics may not reuse.
pub const BUILTIN_NAMES: [&str; 5] = [
    "cpu_usage",
    "memory_used",
    "uptime",
    "process_count",
    "interfaces",
];

/// What to collect.
#[derive(Debug, Clone, Default)]
pub struct CollectOptions {
    /// Standard groups.
    pub groups: MetricGroups,
    /// Built-in custom metrics.
    pub builtins: Builtins,
    /// User-defined custom metrics.
    pub user: Vec<UserMetric>,
    /// Count loopback traffic in `network_stats`.
    pub include_loopback: bool,
}

/// One collection's results; a `None` group was disabled or could not be read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Listening TCP ports.
    pub tcp_ports: Option<Vec<PortEntry>>,
    /// Bound UDP ports.
    pub udp_ports: Option<Vec<PortEntry>>,
    /// Established TCP connections.
    pub connections: Option<Vec<ConnEntry>>,
    /// Cumulative traffic counters per interface (loopback filtered per the options).
    pub counters: Option<BTreeMap<String, Counters>>,
    /// Custom metrics that read and typed correctly.
    pub custom: Vec<CustomEntry>,
}

/// Reads a proc root into snapshots; keeps the previous CPU sample for `cpu_usage`.
pub struct Collector {
    proc: Arc<dyn ProcSource>,
    ifaces: Arc<dyn InterfaceSource>,
    opts: CollectOptions,
    prev_cpu: Option<CpuTimes>,
}

impl Collector {
    /// A collector over `proc` and `ifaces`.
    pub fn new(
        proc: Arc<dyn ProcSource>,
        ifaces: Arc<dyn InterfaceSource>,
        opts: CollectOptions,
    ) -> Self {
        Collector {
            proc,
            ifaces,
            opts,
            prev_cpu: None,
        }
    }

    /// Takes the first CPU sample, so the first report can carry a CPU usage.
    pub fn prime(&mut self) {
        if self.opts.builtins.cpu_usage {
            self.prev_cpu = self.read_text("stat").and_then(|t| builtins::parse_cpu(&t));
        }
    }

    /// Everything but the user metrics, which may run commands.
    pub fn collect_sync(&mut self) -> Snapshot {
        let g = self.opts.groups;
        let need_sockets = g.listening_tcp_ports || g.listening_udp_ports || g.tcp_connections;
        let map = if need_sockets {
            self.iface_map()
        } else {
            IfaceMap::default()
        };
        let mut snap = Snapshot::default();
        if (g.listening_tcp_ports || g.tcp_connections)
            && let Some(rows) = self.table(Proto::Tcp, "net/tcp", "net/tcp6")
        {
            if g.listening_tcp_ports {
                snap.tcp_ports = Some(tcp::listening(&rows, &map));
            }
            if g.tcp_connections {
                snap.connections = Some(tcp::established(&rows, &map));
            }
        }
        if g.listening_udp_ports {
            snap.udp_ports = self
                .table(Proto::Udp, "net/udp", "net/udp6")
                .map(|rows| udp::bound(&rows, &map));
        }
        let need_dev = g.network_stats || self.opts.builtins.interfaces;
        let dev = if need_dev { self.netdev() } else { None };
        if g.network_stats {
            snap.counters = dev.as_ref().map(|d| {
                d.iter()
                    .map(|c| {
                        (
                            c.name.clone(),
                            Counters {
                                bytes_in: c.rx_bytes,
                                bytes_out: c.tx_bytes,
                                packets_in: c.rx_packets,
                                packets_out: c.tx_packets,
                            },
                        )
                    })
                    .collect()
            });
        }
        self.builtins(dev.as_deref(), &mut snap.custom);
        snap
    }

    /// A full collection, user metrics included (failures are logged and left out).
    pub async fn collect(&mut self) -> Snapshot {
        let mut snap = self.collect_sync();
        for m in &self.opts.user {
            match user::read(m).await {
                Ok(value) => snap.custom.push(CustomEntry {
                    name: m.name.clone(),
                    value,
                }),
                Err(e) => warn!(metric = %m.name, "custom metric left out of the report: {e}"),
            }
        }
        snap
    }

    fn read_text(&self, rel: &str) -> Option<String> {
        match self.proc.read(rel) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(e) => {
                warn!("cannot read {}: {e}", self.proc.root().join(rel).display());
                None
            }
        }
    }

    fn iface_map(&self) -> IfaceMap {
        let mut pairs: Vec<(IpAddr, String)> = match self.ifaces.ipv4() {
            Ok(v) => v.into_iter().map(|(a, n)| (IpAddr::V4(a), n)).collect(),
            Err(e) => {
                warn!("cannot list IPv4 interface addresses: {e}");
                Vec::new()
            }
        };
        match self.proc.read("net/if_inet6") {
            Ok(text) => {
                let p = ifaces::parse_if_inet6(&text);
                self.log_skipped("net/if_inet6", &p.warnings);
                pairs.extend(p.items.into_iter().map(|(a, n)| (IpAddr::V6(a), n)));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => warn!("cannot read net/if_inet6: {e}"),
        }
        IfaceMap::new(pairs)
    }

    /// Both families of a socket table; `None` if the IPv4 one cannot be read, since an empty
    /// list would tell the service every port had closed. A missing IPv6 table means IPv6 is off.
    fn table(&self, proto: Proto, v4: &str, v6: &str) -> Option<Vec<SocketRow>> {
        let mut rows = match self.proc.read(v4) {
            Ok(text) => {
                let p = sockets::parse(proto, &text);
                self.log_skipped(v4, &p.warnings);
                p.items
            }
            Err(e) => {
                warn!(
                    "cannot read {}: {e}; its metrics are left out",
                    self.proc.root().join(v4).display()
                );
                return None;
            }
        };
        match self.proc.read(v6) {
            Ok(text) => {
                let p = sockets::parse(proto, &text);
                self.log_skipped(v6, &p.warnings);
                rows.extend(p.items);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => debug!("no {v6}: IPv6 is off"),
            Err(e) => warn!("cannot read {}: {e}", self.proc.root().join(v6).display()),
        }
        Some(rows)
    }

    fn netdev(&self) -> Option<Vec<netdev::IfCounters>> {
        let text = match self.proc.read("net/dev") {
            Ok(t) => t,
            Err(e) => {
                warn!(
                    "cannot read {}: {e}",
                    self.proc.root().join("net/dev").display()
                );
                return None;
            }
        };
        let p = netdev::parse(&text);
        self.log_skipped("net/dev", &p.warnings);
        let include_lo = self.opts.include_loopback;
        Some(
            p.items
                .into_iter()
                .filter(|c| include_lo || c.name != "lo")
                .collect(),
        )
    }

    fn builtins(&mut self, dev: Option<&[netdev::IfCounters]>, out: &mut Vec<CustomEntry>) {
        let b = self.opts.builtins;
        let mut push = |name: &str, value| {
            out.push(CustomEntry {
                name: name.to_owned(),
                value,
            })
        };
        if b.cpu_usage {
            let now = self.read_text("stat").and_then(|t| builtins::parse_cpu(&t));
            match (self.prev_cpu, now) {
                (Some(prev), Some(now)) => match builtins::cpu_percent(prev, now) {
                    Some(p) => push("cpu_usage", CustomValue::Number(p)),
                    None => debug!("cpu_usage: no CPU time passed since the last sample"),
                },
                (_, None) => warn!("cpu_usage left out: stat has no cpu line"),
                (None, Some(_)) => debug!("cpu_usage: first sample taken"),
            }
            if now.is_some() {
                self.prev_cpu = now;
            }
        }
        if b.memory_used {
            match self
                .read_text("meminfo")
                .and_then(|t| builtins::parse_memory_used(&t))
            {
                Some(m) => push("memory_used", CustomValue::Number(m as f64)),
                None => warn!("memory_used left out: meminfo lacks MemTotal or MemAvailable"),
            }
        }
        if b.uptime {
            match self
                .read_text("uptime")
                .and_then(|t| builtins::parse_uptime(&t))
            {
                Some(u) => push("uptime", CustomValue::Number(u)),
                None => warn!("uptime left out: uptime is not a number"),
            }
        }
        if b.process_count {
            match self.proc.process_count() {
                Ok(n) => push("process_count", CustomValue::Number(n as f64)),
                Err(e) => warn!("process_count left out: {e}"),
            }
        }
        if b.interfaces {
            match dev {
                Some(d) => push(
                    "interfaces",
                    CustomValue::StringList(d.iter().map(|c| c.name.clone()).collect()),
                ),
                None => warn!("interfaces left out: net/dev unreadable"),
            }
        }
    }

    fn log_skipped(&self, rel: &str, warnings: &[String]) {
        // One summary line, then the first few: a garbage file must not flood the log.
        if warnings.is_empty() {
            return;
        }
        warn!(
            "{}: skipped {} bad line(s)",
            self.proc.root().join(rel).display(),
            warnings.len()
        );
        for w in warnings.iter().take(5) {
            warn!("{rel}: {w}");
        }
    }
}
