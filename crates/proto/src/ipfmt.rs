//! Address text without `core::fmt`: `core::net`'s `Display` costs about 3.5 KB of flash on a
//! Cortex-M, this about 0.7 KB (`docs/size.md`).
//!
//! The text is what `core::net`'s `Display` writes, so the server's `IpAddr::from_str` /
//! `SocketAddr::from_str` read back the same address:
//!
//! * IPv4: `a.b.c.d`.
//! * IPv6: RFC 5952: lowercase hex without leading zeros, the longest run of two or more zero
//!   groups written `::` (the first such run on a tie).
//! * IPv4-mapped IPv6 (`::ffff:0:0/96`): `::ffff:a.b.c.d`, RFC 5952 §5's recommended form.
//!   IPv4-compatible addresses (`::a.b.c.d`, deprecated) are written in hex like any other
//!   IPv6 address, as core does.
//! * Sockets: `a.b.c.d:port` and `[v6]:port` (scope id and flow label are not sent).

use core::net::{IpAddr, Ipv6Addr, SocketAddr};

/// `[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535` is 47 bytes: the longest text.
const CAP: usize = 48;

/// Address text being built on the stack.
pub(crate) struct AddrText {
    buf: [u8; CAP],
    len: usize,
}

/// A hex digit, lowercase.
pub(crate) fn hex_digit(n: u8) -> u8 {
    let n = n & 0xf;
    if n < 10 { b'0' + n } else { b'a' - 10 + n }
}

impl AddrText {
    pub(crate) const fn new() -> Self {
        AddrText {
            buf: [0; CAP],
            len: 0,
        }
    }

    /// The text written, ASCII.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    // Called from a dozen places: kept out of line, which saves flash.
    #[inline(never)]
    fn push(&mut self, b: u8) {
        // CAP fits the longest address, so nothing is ever dropped here.
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = b;
            self.len += 1;
        }
    }

    fn dec(&mut self, n: u16) {
        // The leading digits first; at most 5 levels deep.
        if n >= 10 {
            self.dec(n / 10);
        }
        self.push(b'0' + (n % 10) as u8); // one digit
    }

    fn hex(&mut self, n: u16) {
        // One digit per started nibble, at least one: `0`, `ab`, `1234`.
        let digits = (19 - (n | 1).leading_zeros()) / 4; // 1..=4; `| 1` gives 0 its digit
        for i in (0..digits).rev() {
            // Masked to one nibble, so the cast keeps every bit.
            self.push(hex_digit((n >> (4 * i)) as u8));
        }
    }

    fn v4(&mut self, octets: &[u8]) {
        for (i, o) in octets.iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.dec(u16::from(*o));
        }
    }

    fn v6(&mut self, ip: &Ipv6Addr) {
        let octets = ip.octets();
        // The eight groups, big-endian (not `segments()`: its byte swaps cost flash).
        let (groups, _) = octets.as_chunks::<2>();
        // The longest run of zero groups, the first on a tie; runs of 1 are not compressed,
        // so a run must beat 1. With none, `gap` stays past the end.
        let (mut gap, mut gap_len, mut run) = (groups.len(), 1, 0);
        for (i, g) in groups.iter().enumerate() {
            run = if *g == [0, 0] { run + 1 } else { 0 };
            if run > gap_len {
                gap_len = run;
                gap = i + 1 - run; // `run <= i + 1`
            }
        }
        // IPv4-mapped (`::ffff:0:0/96`): five zero groups, then `ffff`. That run of 5 is
        // the longest there can be, so the hex below starts `::ffff:`; the last two groups
        // are written `a.b.c.d`.
        let mapped = gap == 0 && gap_len == 5 && groups.get(5) == Some(&[0xff, 0xff]);
        let mut i = 0;
        while let Some(g) = groups.get(i) {
            if i == gap {
                // `::` stands for the run and the separators around it.
                self.push(b':');
                self.push(b':');
                i += gap_len;
                continue;
            }
            if i > 0 && i != gap + gap_len {
                self.push(b':');
            }
            if mapped && i == 6 {
                self.v4(octets.get(12..).unwrap_or_default());
                return;
            }
            self.hex(u16::from_be_bytes(*g));
            i += 1;
        }
    }

    /// Any address, as `IpAddr`'s `Display` writes it.
    pub(crate) fn ip(&mut self, ip: &IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.v4(&v4.octets()),
            IpAddr::V6(v6) => self.v6(v6),
        }
    }

    /// `a.b.c.d:port` or `[v6]:port`.
    pub(crate) fn socket(&mut self, s: &SocketAddr) {
        match s {
            SocketAddr::V4(s) => self.v4(&s.ip().octets()),
            SocketAddr::V6(s) => {
                self.push(b'[');
                self.v6(s.ip());
                self.push(b']');
            }
        }
        self.push(b':');
        self.dec(s.port());
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::format;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    use std::str::FromStr;

    use super::AddrText;

    fn ip_text(ip: IpAddr) -> std::string::String {
        let mut t = AddrText::new();
        t.ip(&ip);
        std::str::from_utf8(t.as_bytes()).unwrap().into()
    }

    fn check(ip: IpAddr, port: u16) {
        let text = ip_text(ip);
        assert_eq!(text, format!("{ip}"), "{ip:?}");
        assert_eq!(IpAddr::from_str(&text).unwrap(), ip);
        let mut t = AddrText::new();
        t.socket(&SocketAddr::new(ip, port));
        let sock = std::str::from_utf8(t.as_bytes()).unwrap();
        assert_eq!(sock, format!("{}", SocketAddr::new(ip, port)));
        assert_eq!(
            SocketAddr::from_str(sock).unwrap(),
            SocketAddr::new(ip, port)
        );
    }

    /// A small xorshift generator: deterministic, no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn matches_core_display_and_parses_back() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.0.5",
            "::",
            "::1",
            "1::",
            "2001:db8::42",
            "2001:db8:0:0:1:0:0:1",
            "2001:0:0:1:0:0:0:1",
            "1:0:1:0:1:0:1:0",
            "0:1:0:0:1:0:0:0",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "::ffff:1.2.3.4",
            "::ffff:0.0.0.0",
            "::1.2.3.4",
            "::ffff:0:1.2.3.4",
            "64:ff9b::1.2.3.4",
            "fe80::1",
        ] {
            check(ip.parse().unwrap(), 65535);
            check(ip.parse().unwrap(), 0);
        }
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..50_000 {
            let a = rng.next();
            let b = rng.next();
            // Sparse groups, so zero runs of every length and position show up.
            let mask = rng.next();
            let mut segs = [0u16; 8];
            for (i, s) in segs.iter_mut().enumerate() {
                let word = if i < 4 {
                    a >> (16 * i)
                } else {
                    b >> (16 * (i - 4))
                };
                if (mask >> (i * 3)) & 3 != 0 {
                    *s = word as u16;
                }
            }
            check(IpAddr::V6(Ipv6Addr::from(segs)), (a >> 48) as u16);
            if mask & (1 << 40) != 0 {
                let v4 = Ipv4Addr::from((b >> 32) as u32);
                check(IpAddr::V6(v4.to_ipv6_mapped()), b as u16);
                check(IpAddr::V4(v4), (a >> 16) as u16);
            }
        }
    }
}
