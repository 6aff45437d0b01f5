//! Listening TCP ports and established TCP connections, from `net/tcp` and `net/tcp6`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

use super::ifaces::IfaceMap;
use super::sockets::{SocketRow, TCP_ESTABLISHED, TCP_LISTEN};
use super::{ConnEntry, PortEntry};

/// Listening ports, one entry per (port, interface), sorted by port.
///
/// A port bound on both `0.0.0.0` and `::` is one entry, not two (the Python agent sends it
/// twice).
pub fn listening(rows: &[SocketRow], ifaces: &IfaceMap) -> Vec<PortEntry> {
    let set: BTreeSet<(u16, Option<&str>)> = rows
        .iter()
        .filter(|r| r.state == TCP_LISTEN && r.local.port() != 0)
        .map(|r| (r.local.port(), ifaces.lookup(r.local.ip())))
        .collect();
    to_ports(set)
}

pub(crate) fn to_ports(set: BTreeSet<(u16, Option<&str>)>) -> Vec<PortEntry> {
    set.into_iter()
        .map(|(port, iface)| PortEntry {
            port,
            interface: iface.map(str::to_owned),
        })
        .collect()
}

/// Established connections, sorted, IPv4-mapped peers written as IPv4.
pub fn established(rows: &[SocketRow], ifaces: &IfaceMap) -> Vec<ConnEntry> {
    let set: BTreeSet<(SocketAddr, u16, Option<&str>)> = rows
        .iter()
        .filter(|r| r.state == TCP_ESTABLISHED)
        .map(|r| (unmap(r.remote), r.local.port(), ifaces.lookup(r.local.ip())))
        .collect();
    set.into_iter()
        .map(|(remote, local_port, iface)| ConnEntry {
            remote,
            local_port,
            interface: iface.map(str::to_owned),
        })
        .collect()
}

/// `[::ffff:1.2.3.4]:443` is the IPv4 peer `1.2.3.4:443` seen through a dual-stack socket.
fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            None => addr,
        },
        IpAddr::V4(_) => addr,
    }
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

    fn ifaces() -> IfaceMap {
        IfaceMap::new([
            ("10.0.0.5".parse().unwrap(), "eth0".to_owned()),
            ("127.0.0.1".parse().unwrap(), "lo".to_owned()),
        ])
    }

    #[test]
    fn listening_dedups_v4_and_v6_wildcards_and_maps_interfaces() {
        let rows = [
            row("0.0.0.0:22", "0.0.0.0:0", TCP_LISTEN),
            row("[::]:22", "[::]:0", TCP_LISTEN),
            row("127.0.0.1:631", "0.0.0.0:0", TCP_LISTEN),
            row("10.0.0.5:8080", "0.0.0.0:0", TCP_LISTEN),
            row("10.0.0.5:40000", "1.2.3.4:443", TCP_ESTABLISHED),
        ];
        let ports = listening(&rows, &ifaces());
        let got: Vec<(u16, Option<&str>)> = ports
            .iter()
            .map(|p| (p.port, p.interface.as_deref()))
            .collect();
        assert_eq!(got, [(22, None), (631, Some("lo")), (8080, Some("eth0"))]);
    }

    #[test]
    fn established_maps_peers_and_interfaces() {
        let rows = [
            row("10.0.0.5:40000", "1.2.3.4:443", TCP_ESTABLISHED),
            row(
                "[::ffff:10.0.0.5]:22",
                "[::ffff:5.6.7.8]:50000",
                TCP_ESTABLISHED,
            ),
            row("[2001:db8::1]:22", "[2001:db8::2]:50001", TCP_ESTABLISHED),
            row("0.0.0.0:22", "0.0.0.0:0", TCP_LISTEN),
        ];
        let conns = established(&rows, &ifaces());
        assert_eq!(conns.len(), 3);
        assert_eq!(conns[0].remote, "1.2.3.4:443".parse().unwrap());
        assert_eq!(conns[0].interface.as_deref(), Some("eth0"));
        assert_eq!(conns[1].remote, "5.6.7.8:50000".parse().unwrap());
        assert_eq!(conns[1].local_port, 22);
        assert_eq!(conns[1].interface.as_deref(), Some("eth0"));
        assert_eq!(conns[2].remote, "[2001:db8::2]:50001".parse().unwrap());
        assert_eq!(conns[2].interface, None);
    }
}
