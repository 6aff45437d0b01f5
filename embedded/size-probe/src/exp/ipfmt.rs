//! Experiment: a hand-written address formatter producing exactly what core's `Display` does
//! (RFC 5952 for IPv6, `::ffff:a.b.c.d` for IPv4-mapped), without `core::fmt`.
//!
//! Used only to measure what `core::fmt` + `core::net`'s `Display` cost on a Cortex-M; the
//! host check that it matches core byte for byte is in docs/size.md.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest output: `[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535` is 47 bytes.
pub const CAP: usize = 48;

/// A fixed string being filled. Pushing ASCII `char`s into a `heapless::String` keeps it a
/// `&str` without `core::str::from_utf8` (368 bytes of code + a 256-byte table on Cortex-M).
pub struct Out {
    s: heapless::String<CAP>,
}

impl Out {
    /// An empty buffer.
    pub const fn new() -> Self {
        Out {
            s: heapless::String::new(),
        }
    }

    /// The text written.
    pub fn as_str(&self) -> &str {
        &self.s
    }

    fn push(&mut self, b: u8) {
        // Only ASCII is pushed, and the capacity fits the longest address.
        let _ = self.s.push(char::from(b));
    }

    fn dec(&mut self, n: u16) {
        let mut digits = [0u8; 5];
        let mut i = digits.len();
        let mut n = n;
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for &d in &digits[i..] {
            self.push(d);
        }
    }

    fn hex(&mut self, n: u16) {
        let mut started = false;
        for shift in [12u32, 8, 4, 0] {
            let nib = ((n >> shift) & 0xf) as u8;
            if nib != 0 || started || shift == 0 {
                started = true;
                self.push(if nib < 10 {
                    b'0' + nib
                } else {
                    b'a' + nib - 10
                });
            }
        }
    }

    /// `a.b.c.d`
    pub fn v4(&mut self, ip: Ipv4Addr) {
        for (i, o) in ip.octets().into_iter().enumerate() {
            if i > 0 {
                self.push(b'.');
            }
            self.dec(u16::from(o));
        }
    }

    fn groups(&mut self, segs: &[u16]) {
        for (i, s) in segs.iter().enumerate() {
            if i > 0 {
                self.push(b':');
            }
            self.hex(*s);
        }
    }

    /// RFC 5952, as core writes it.
    pub fn v6(&mut self, ip: Ipv6Addr) {
        if let Some(v4) = ip.to_ipv4_mapped() {
            for &b in b"::ffff:" {
                self.push(b);
            }
            self.v4(v4);
            return;
        }
        let segs = ip.segments();
        // Longest run of zero groups (first one wins a tie); only runs of 2+ are compressed.
        let (mut best_start, mut best_len, mut cur_start, mut cur_len) = (0, 0, 0, 0);
        for (i, s) in segs.iter().enumerate() {
            if *s == 0 {
                if cur_len == 0 {
                    cur_start = i;
                }
                cur_len += 1;
                if cur_len > best_len {
                    best_start = cur_start;
                    best_len = cur_len;
                }
            } else {
                cur_len = 0;
            }
        }
        if best_len > 1 {
            self.groups(segs.get(..best_start).unwrap_or_default());
            self.push(b':');
            self.push(b':');
            self.groups(segs.get(best_start + best_len..).unwrap_or_default());
        } else {
            self.groups(&segs);
        }
    }

    /// Any address, as `IpAddr`'s `Display` writes it.
    pub fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => self.v4(v4),
            IpAddr::V6(v6) => self.v6(v6),
        }
    }

    /// `a.b.c.d:port` or `[v6]:port`, as `RemoteAddr`'s `Display` writes a socket address.
    pub fn socket(&mut self, ip: IpAddr, port: u16) {
        match ip {
            IpAddr::V4(v4) => self.v4(v4),
            IpAddr::V6(v6) => {
                self.push(b'[');
                self.v6(v6);
                self.push(b']');
            }
        }
        self.push(b':');
        self.dec(port);
    }
}
