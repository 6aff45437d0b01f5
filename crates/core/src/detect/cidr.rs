//! CIDR blocks for `in-cidr-set` / `not-in-cidr-set`, pre-parsed once per behavior.
//!
//! Small enough not to warrant a dependency: a network address as a 128-bit integer and a
//! prefix length, IPv4 kept apart from IPv6. IPv4-mapped IPv6 addresses (what a dual-stack
//! listener reports for IPv4 clients) are compared as the IPv4 address they carry.

use core::fmt;
use core::net::IpAddr;

/// An IP network: `10.0.0.0/8`, `2001:db8::/32`, or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    v6: bool,
    network: u128,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The address part is not an IPv4 or IPv6 address.
    #[error("not an IP address or CIDR block")]
    Address,
    /// The prefix length is not a number within the family's bits.
    #[error("prefix length must be 0-{max}")]
    Prefix {
        /// 32 or 128.
        max: u8,
    },
}

impl Cidr {
    /// Parses `addr` or `addr/len`. Host bits are ignored (`10.1.2.3/8` is `10.0.0.0/8`),
    /// as routers and AWS treat them.
    pub fn parse(s: &str) -> Result<Cidr, CidrError> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| CidrError::Address)?;
        let ip = ip.to_canonical();
        let (v6, bits, max) = match ip {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), 32u8),
            IpAddr::V6(v6) => (true, u128::from(v6), 128u8),
        };
        let prefix = match prefix {
            None => max,
            // `u8::from_str` accepts `+5`; a prefix length is digits only.
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u8>() {
                    Ok(p) if p <= max => p,
                    _ => return Err(CidrError::Prefix { max }),
                }
            }
            Some(_) => return Err(CidrError::Prefix { max }),
        };
        Ok(Cidr {
            v6,
            network: bits & mask(prefix, max),
            prefix,
        })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, bits, max) = match ip.to_canonical() {
            IpAddr::V4(v4) => (false, u128::from(u32::from(v4)), 32u8),
            IpAddr::V6(v6) => (true, u128::from(v6), 128u8),
        };
        v6 == self.v6 && bits & mask(self.prefix, max) == self.network
    }
}

fn mask(prefix: u8, max: u8) -> u128 {
    let host_bits = u32::from(max - prefix);
    let all = if max == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    all.checked_shl(host_bits).unwrap_or(0) & all
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ip = if self.v6 {
            IpAddr::from(core::net::Ipv6Addr::from(self.network))
        } else {
            IpAddr::from(core::net::Ipv4Addr::from(
                u32::try_from(self.network).unwrap_or(0),
            ))
        };
        write!(f, "{ip}/{}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn v4_blocks_and_hosts() {
        let c = Cidr::parse("10.1.2.3/8").unwrap();
        assert_eq!(c.to_string(), "10.0.0.0/8");
        assert!(c.contains(ip("10.255.0.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        let host = Cidr::parse("192.168.1.1").unwrap();
        assert!(host.contains(ip("192.168.1.1")));
        assert!(!host.contains(ip("192.168.1.2")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
    }

    #[test]
    fn v6_and_mapped() {
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains(ip("2001:db8:1::5")));
        assert!(!c.contains(ip("2001:db9::1")));
        // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
        assert!(
            Cidr::parse("10.0.0.0/8")
                .unwrap()
                .contains(ip("::ffff:10.0.0.7"))
        );
        // Families never match each other.
        assert!(!Cidr::parse("::/0").unwrap().contains(ip("10.0.0.1")));
    }

    #[test]
    fn refusals() {
        assert_eq!(
            Cidr::parse("10.0.0.0/33"),
            Err(CidrError::Prefix { max: 32 })
        );
        assert_eq!(Cidr::parse("::/129"), Err(CidrError::Prefix { max: 128 }));
        assert_eq!(Cidr::parse("10.0.0.0/"), Err(CidrError::Prefix { max: 32 }));
        assert_eq!(Cidr::parse("10.0.0/8"), Err(CidrError::Address));
        assert_eq!(Cidr::parse("banana"), Err(CidrError::Address));
    }
}
