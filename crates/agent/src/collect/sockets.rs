//! The shared reader for `/proc/net/{tcp,tcp6,udp,udp6}`: procfs-core parses, we keep going.
//!
//! procfs-core fails a whole table on one bad line. A socket table is read while the kernel
//! changes it and may be truncated, so the fast path parses the whole file and, only if that
//! fails, every line is parsed on its own and the bad ones are skipped with a warning.

use std::io::Cursor;
use std::net::SocketAddr;

use procfs_core::net::{TcpNetEntries, UdpNetEntries};
use procfs_core::{ExplicitSystemInfo, FromReadSI};

use super::Parsed;

/// Which table a text came from; TCP and UDP rows differ only in their state codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// `net/tcp` or `net/tcp6`.
    Tcp,
    /// `net/udp` or `net/udp6`.
    Udp,
}

/// One socket row, reduced to what a report needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketRow {
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port; unspecified for a listening or unconnected socket.
    pub remote: SocketAddr,
    /// The kernel's state code (`0x0A` LISTEN, `0x01` ESTABLISHED, `0x07` unconnected UDP).
    pub state: u8,
}

/// TCP LISTEN.
pub const TCP_LISTEN: u8 = 0x0A;
/// TCP ESTABLISHED.
pub const TCP_ESTABLISHED: u8 = 0x01;

const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

/// The kernel writes addresses in host byte order; the agent reads its own host's tables.
fn system_info() -> ExplicitSystemInfo {
    ExplicitSystemInfo {
        boot_time_secs: 0,
        ticks_per_second: 100,
        page_size: 4096,
        is_little_endian: cfg!(target_endian = "little"),
    }
}

fn parse_whole(proto: Proto, text: &[u8], si: &ExplicitSystemInfo) -> Option<Vec<SocketRow>> {
    match proto {
        Proto::Tcp => TcpNetEntries::from_read(Cursor::new(text), si)
            .ok()
            .map(|t| {
                t.0.into_iter()
                    .map(|e| SocketRow {
                        local: e.local_address,
                        remote: e.remote_address,
                        state: e.state.to_u8(),
                    })
                    .collect()
            }),
        Proto::Udp => UdpNetEntries::from_read(Cursor::new(text), si)
            .ok()
            .map(|t| {
                t.0.into_iter()
                    .map(|e| SocketRow {
                        local: e.local_address,
                        remote: e.remote_address,
                        state: e.state.to_u8(),
                    })
                    .collect()
            }),
    }
}

/// Parses a socket table; rows that do not parse are skipped and described in `warnings`.
pub fn parse(proto: Proto, text: &[u8]) -> Parsed<SocketRow> {
    let si = system_info();
    if let Some(items) = parse_whole(proto, text, &si) {
        return Parsed {
            items,
            warnings: Vec::new(),
        };
    }
    let text = String::from_utf8_lossy(text);
    let mut out = Parsed::default();
    let mut one = String::with_capacity(HEADER.len() + 256);
    for (n, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        one.clear();
        one.push_str(HEADER);
        one.push_str(line);
        match parse_whole(proto, one.as_bytes(), &si) {
            Some(rows) => out.items.extend(rows),
            None => out.warnings.push(format!(
                "line {}: not a socket row, skipped: {:?}",
                n + 1,
                shorten(line)
            )),
        }
    }
    out
}

/// A line cut for a log message, so a garbage file cannot flood the log.
pub(crate) fn shorten(line: &str) -> &str {
    let mut end = line.len().min(80);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.get(..end).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1000 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 1001 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn parses_a_clean_table_on_the_fast_path() {
        let p = parse(Proto::Tcp, TCP.as_bytes());
        assert!(p.warnings.is_empty());
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[0].local, "0.0.0.0:22".parse().unwrap());
        assert_eq!(p.items[0].state, TCP_LISTEN);
        assert_eq!(p.items[1].remote, "127.0.0.1:50000".parse().unwrap());
        assert_eq!(p.items[1].state, TCP_ESTABLISHED);
    }

    #[test]
    fn skips_bad_lines_and_keeps_the_rest() {
        let text = format!(
            "{TCP}   2: ZZZZ:0016 garbage\n   3: 00000000:0017 00000000:0000 0A 000\n\u{1}\u{2}\n   4: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1002 1\n"
        );
        let p = parse(Proto::Tcp, text.as_bytes());
        assert_eq!(p.items.len(), 3, "{:?}", p.items);
        assert_eq!(p.items[2].local.port(), 80);
        assert_eq!(p.warnings.len(), 3, "{:?}", p.warnings);
    }

    #[test]
    fn unknown_state_is_skipped() {
        let text = format!(
            "{TCP}   2: 00000000:0016 00000000:0000 FF 00000000:00000000 00:00000000 00000000     0        0 1000 1\n"
        );
        let p = parse(Proto::Tcp, text.as_bytes());
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let mut bytes = TCP.as_bytes().to_vec();
        bytes.extend_from_slice(b"   9: \xff\xfe\xfd 00000000:0000 0A\n");
        let p = parse(Proto::Tcp, &bytes);
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn empty_and_header_only_tables() {
        assert!(parse(Proto::Udp, b"").items.is_empty());
        let p = parse(Proto::Udp, HEADER.as_bytes());
        assert!(p.items.is_empty() && p.warnings.is_empty());
    }
}
