//! Mapping a socket's local address to the interface that holds it.
//!
//! `/proc` has no IPv4 interface addresses (IPv6 has `net/if_inet6`), so IPv4 comes from
//! getifaddrs through [`if_addrs`], behind [`InterfaceSource`] so tests can give a fixed map.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::Parsed;
use super::sockets::shorten;

/// Where IPv4 interface addresses come from.
pub trait InterfaceSource: Send + Sync {
    /// Every IPv4 address with the name of its interface.
    fn ipv4(&self) -> io::Result<Vec<(Ipv4Addr, String)>>;
}

/// The running system's interfaces, through getifaddrs.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemInterfaces;

impl InterfaceSource for SystemInterfaces {
    fn ipv4(&self) -> io::Result<Vec<(Ipv4Addr, String)>> {
        Ok(if_addrs::get_if_addrs()?
            .into_iter()
            .filter_map(|i| match i.ip() {
                IpAddr::V4(v4) => Some((v4, i.name)),
                IpAddr::V6(_) => None,
            })
            .collect())
    }
}

/// A fixed list of IPv4 addresses, for tests and for hosts where getifaddrs is unwanted.
#[derive(Debug, Clone, Default)]
pub struct FixedInterfaces(pub Vec<(Ipv4Addr, String)>);

impl InterfaceSource for FixedInterfaces {
    fn ipv4(&self) -> io::Result<Vec<(Ipv4Addr, String)>> {
        Ok(self.0.clone())
    }
}

/// Address to interface name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IfaceMap {
    by_addr: HashMap<IpAddr, String>,
}

impl IfaceMap {
    /// A map from `(address, interface)` pairs.
    pub fn new(pairs: impl IntoIterator<Item = (IpAddr, String)>) -> Self {
        IfaceMap {
            by_addr: pairs.into_iter().collect(),
        }
    }

    /// The interface holding `ip`; `None` for a wildcard bind, which is on every interface.
    pub fn lookup(&self, ip: IpAddr) -> Option<&str> {
        let ip = match ip {
            // A dual-stack socket shows IPv4 peers and binds as ::ffff:a.b.c.d.
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if ip.is_unspecified() {
            return None;
        }
        if let Some(name) = self.by_addr.get(&ip) {
            return Some(name);
        }
        // The whole of 127/8 is on the loopback interface, but only 127.0.0.1 is listed
        // (systemd-resolved listens on 127.0.0.53).
        match ip {
            IpAddr::V4(v4) if v4.is_loopback() => self
                .by_addr
                .get(&IpAddr::V4(Ipv4Addr::LOCALHOST))
                .map(String::as_str),
            _ => None,
        }
    }

    /// How many addresses are known.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether no address is known.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

/// Parses `net/if_inet6`: `<32 hex digits> <ifindex> <prefix> <scope> <flags> <name>`.
pub fn parse_if_inet6(text: &[u8]) -> Parsed<(Ipv6Addr, String)> {
    let text = String::from_utf8_lossy(text);
    let mut out = Parsed::default();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let parsed = match fields.as_slice() {
            [hex, _, _, _, _, name] => parse_hex_v6(hex).map(|a| (a, (*name).to_owned())),
            _ => None,
        };
        match parsed {
            Some(pair) => out.items.push(pair),
            None => out.warnings.push(format!(
                "line {}: not an if_inet6 row, skipped: {:?}",
                n + 1,
                shorten(line)
            )),
        }
    }
    out
}

fn parse_hex_v6(hex: &str) -> Option<Ipv6Addr> {
    if hex.len() != 32 {
        return None;
    }
    let n = u128::from_str_radix(hex, 16).ok()?;
    Some(Ipv6Addr::from(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> IfaceMap {
        IfaceMap::new([
            ("127.0.0.1".parse().unwrap(), "lo".to_owned()),
            ("10.0.0.5".parse().unwrap(), "eth0".to_owned()),
            ("fe80::1".parse().unwrap(), "eth0".to_owned()),
            ("::1".parse().unwrap(), "lo".to_owned()),
        ])
    }

    #[test]
    fn wildcards_have_no_interface() {
        let m = map();
        assert_eq!(m.lookup("0.0.0.0".parse().unwrap()), None);
        assert_eq!(m.lookup("::".parse().unwrap()), None);
    }

    #[test]
    fn maps_v4_v6_and_v4_mapped() {
        let m = map();
        assert_eq!(m.lookup("10.0.0.5".parse().unwrap()), Some("eth0"));
        assert_eq!(m.lookup("::ffff:10.0.0.5".parse().unwrap()), Some("eth0"));
        assert_eq!(m.lookup("fe80::1".parse().unwrap()), Some("eth0"));
        assert_eq!(m.lookup("::1".parse().unwrap()), Some("lo"));
        assert_eq!(m.lookup("127.0.0.53".parse().unwrap()), Some("lo"));
        assert_eq!(m.lookup("192.168.1.1".parse().unwrap()), None);
    }

    #[test]
    fn if_inet6_rows_and_garbage() {
        let text = b"00000000000000000000000000000001 01 80 10 80       lo\nfe800000000000000000000000000001 02 40 20 80     eth0\nnothex 02 40\nfe80000000000000000000000000zz01 02 40 20 80 eth1\n";
        let p = parse_if_inet6(text);
        assert_eq!(
            p.items,
            vec![
                ("::1".parse().unwrap(), "lo".to_owned()),
                ("fe80::1".parse().unwrap(), "eth0".to_owned())
            ]
        );
        assert_eq!(p.warnings.len(), 2);
    }
}
