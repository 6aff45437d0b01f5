//! The report's key names, long and short.
//!
//! AWS documents every key twice (`listening_tcp_ports` / `tp`); devices pick one style per
//! report, but real clients mix them (see `accept-mixed-keys`), so the decoder looks keys up by
//! either name and the encoder writes one style consistently.

/// Which spelling of the report keys to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyStyle {
    /// `header`, `report_id`, `listening_tcp_ports`, …: readable, the AWS default for JSON.
    #[default]
    Long,
    /// `hed`, `rid`, `tp`, …: saves bytes on constrained links.
    Short,
}

/// One report key in both spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The long name, e.g. `listening_tcp_ports`.
    pub long: &'static str,
    /// The short name, e.g. `tp`.
    pub short: &'static str,
}

impl Key {
    const fn new(long: &'static str, short: &'static str) -> Self {
        Self { long, short }
    }

    /// The spelling for `style`.
    pub const fn get(self, style: KeyStyle) -> &'static str {
        match style {
            KeyStyle::Long => self.long,
            KeyStyle::Short => self.short,
        }
    }

    /// Whether `name` is either spelling of this key.
    pub fn is(self, name: &str) -> bool {
        name == self.long || name == self.short
    }
}

/// `header` / `hed`
pub const HEADER: Key = Key::new("header", "hed");
/// `report_id` / `rid`
pub const REPORT_ID: Key = Key::new("report_id", "rid");
/// `version` / `v`
pub const VERSION: Key = Key::new("version", "v");
/// `metrics` / `met`
pub const METRICS: Key = Key::new("metrics", "met");
/// `custom_metrics` / `cmet`
pub const CUSTOM_METRICS: Key = Key::new("custom_metrics", "cmet");
/// `listening_tcp_ports` / `tp`
pub const LISTENING_TCP_PORTS: Key = Key::new("listening_tcp_ports", "tp");
/// `listening_udp_ports` / `up`
pub const LISTENING_UDP_PORTS: Key = Key::new("listening_udp_ports", "up");
/// `ports` / `pts`
pub const PORTS: Key = Key::new("ports", "pts");
/// `port` / `pt`
pub const PORT: Key = Key::new("port", "pt");
/// `interface` / `if`
pub const INTERFACE: Key = Key::new("interface", "if");
/// `total` / `t`
pub const TOTAL: Key = Key::new("total", "t");
/// `network_stats` / `ns`
pub const NETWORK_STATS: Key = Key::new("network_stats", "ns");
/// `bytes_in` / `bi`
pub const BYTES_IN: Key = Key::new("bytes_in", "bi");
/// `bytes_out` / `bo`
pub const BYTES_OUT: Key = Key::new("bytes_out", "bo");
/// `packets_in` / `pi`
pub const PACKETS_IN: Key = Key::new("packets_in", "pi");
/// `packets_out` / `po`
pub const PACKETS_OUT: Key = Key::new("packets_out", "po");
/// `tcp_connections` / `tc`
pub const TCP_CONNECTIONS: Key = Key::new("tcp_connections", "tc");
/// `established_connections` / `ec`
pub const ESTABLISHED_CONNECTIONS: Key = Key::new("established_connections", "ec");
/// `connections` / `cs`
pub const CONNECTIONS: Key = Key::new("connections", "cs");
/// `remote_addr` / `rad`
pub const REMOTE_ADDR: Key = Key::new("remote_addr", "rad");
/// `local_port` / `lp`
pub const LOCAL_PORT: Key = Key::new("local_port", "lp");
/// `local_interface` / `li`
pub const LOCAL_INTERFACE: Key = Key::new("local_interface", "li");

/// Custom metric value keys have no short form (the AWS embedded SDK defines them once).
pub const NUMBER: &str = "number";
/// See [`NUMBER`].
pub const NUMBER_LIST: &str = "number_list";
/// See [`NUMBER`].
pub const STRING_LIST: &str = "string_list";
/// See [`NUMBER`].
pub const IP_LIST: &str = "ip_list";
