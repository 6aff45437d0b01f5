//! Bound UDP ports, from `net/udp` and `net/udp6`.

use std::collections::BTreeSet;

use super::PortEntry;
use super::ifaces::IfaceMap;
use super::sockets::SocketRow;
use super::tcp::to_ports;

/// Ports of UDP sockets that receive from anyone: bound and not connected to one peer.
///
/// A connected UDP socket (a DNS or NTP client) is outbound traffic on an ephemeral port;
/// counting it would make the listening set churn on every query and raise false alarms.
pub fn bound(rows: &[SocketRow], ifaces: &IfaceMap) -> Vec<PortEntry> {
    let set: BTreeSet<(u16, Option<&str>)> = rows
        .iter()
        .filter(|r| r.local.port() != 0 && r.remote.ip().is_unspecified() && r.remote.port() == 0)
        .map(|r| (r.local.port(), ifaces.lookup(r.local.ip())))
        .collect();
    to_ports(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(local: &str, remote: &str, state: u8) -> SocketRow {
        SocketRow {
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            state,
        }
    }

    #[test]
    fn keeps_unconnected_binds_once_and_drops_clients() {
        let ifaces = IfaceMap::new([("10.0.0.5".parse().unwrap(), "eth0".to_owned())]);
        let rows = [
            row("0.0.0.0:68", "0.0.0.0:0", 7),
            row("[::]:5353", "[::]:0", 7),
            row("0.0.0.0:5353", "0.0.0.0:0", 7),
            row("10.0.0.5:123", "0.0.0.0:0", 7),
            row("10.0.0.5:41000", "8.8.8.8:53", 1),
        ];
        let got: Vec<(u16, Option<String>)> = bound(&rows, &ifaces)
            .into_iter()
            .map(|p| (p.port, p.interface))
            .collect();
        assert_eq!(
            got,
            [(68, None), (123, Some("eth0".to_owned())), (5353, None)]
        );
    }
}
