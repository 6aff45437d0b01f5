//! Per-interface traffic counters from `net/dev`.
//!
//! Hand-written rather than procfs-core's: older kernels print `eth0:123456789` with no space
//! once a counter is wide, and one bad line must not lose the other interfaces.

use super::Parsed;
use super::sockets::shorten;

/// One interface's cumulative counters, as the kernel keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfCounters {
    /// The interface name.
    pub name: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

/// Parses `net/dev`; header lines are recognised by their `|` and skipped silently.
pub fn parse(text: &[u8]) -> Parsed<IfCounters> {
    let text = String::from_utf8_lossy(text);
    let mut out = Parsed::default();
    for (n, line) in text.lines().enumerate() {
        if line.contains('|') || line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Some(c) => out.items.push(c),
            None => out.warnings.push(format!(
                "line {}: not a net/dev row, skipped: {:?}",
                n + 1,
                shorten(line)
            )),
        }
    }
    out
}

fn parse_line(line: &str) -> Option<IfCounters> {
    let (name, rest) = line.split_once(':')?;
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return None;
    }
    let mut fields = [0u64; 16];
    let mut it = rest.split_whitespace();
    for f in &mut fields {
        *f = it.next()?.parse().ok()?;
    }
    Some(IfCounters {
        name: name.to_owned(),
        rx_bytes: fields[0],
        rx_packets: fields[1],
        tx_bytes: fields[8],
        tx_packets: fields[9],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     789    0    0    0     0          0         0   123456     789    0    0    0     0       0          0
  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0
  wlan0:18446744073709551615 5 0 0 0 0 0 0 7 8 0 0 0 0 0 0
";

    #[test]
    fn parses_rows_including_glued_names() {
        let p = parse(DEV.as_bytes());
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        assert_eq!(p.items.len(), 3);
        assert_eq!(p.items[1].name, "eth0");
        assert_eq!(
            (
                p.items[1].rx_bytes,
                p.items[1].rx_packets,
                p.items[1].tx_bytes,
                p.items[1].tx_packets
            ),
            (1000, 10, 2000, 20)
        );
        assert_eq!(p.items[2].name, "wlan0");
        assert_eq!(p.items[2].rx_bytes, u64::MAX);
    }

    #[test]
    fn truncated_and_garbage_rows_are_skipped() {
        let text = format!(
            "{DEV}  eth1: 1 2 3\n  eth2: -5 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\nno colon here\n  eth3: 18446744073709551616 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n  eth4: 1 2 0 0 0 0 0"
        );
        let p = parse(text.as_bytes());
        assert_eq!(p.items.len(), 3);
        assert_eq!(p.warnings.len(), 5, "{:?}", p.warnings);
    }
}
