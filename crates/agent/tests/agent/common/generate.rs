//! Writes `/proc/net` socket tables in the kernel's format, for fixtures and the benchmark.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

/// The kernel prints each 32-bit word of an address in host byte order.
pub fn hex_addr(ip: IpAddr) -> String {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes
        .chunks(4)
        .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
        .collect()
}

pub fn row(sl: usize, local: SocketAddr, remote: SocketAddr, state: u8) -> String {
    format!(
        "{sl:4}: {}:{:04X} {}:{:04X} {state:02X} 00000000:00000000 00:00000000 00000000  1000        0 {} 1 0000000000000000 20 4 30 10 -1\n",
        hex_addr(local.ip()),
        local.port(),
        hex_addr(remote.ip()),
        remote.port(),
        100_000 + sl
    )
}

pub const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

pub fn table(rows: &[(SocketAddr, SocketAddr, u8)]) -> String {
    let mut s = String::from(HEADER);
    for (i, (l, r, st)) in rows.iter().enumerate() {
        s.push_str(&row(i, *l, *r, *st));
    }
    s
}

/// `n` TCP sockets split over IPv4 and IPv6: a tenth listening, the rest established.
pub fn many_tcp(n: usize) -> (String, String) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for i in 0..n {
        let port = 1024 + (i % 60000) as u16;
        let listening = i % 10 == 0;
        let (local, remote, st): (SocketAddr, SocketAddr, u8) = if i % 2 == 0 {
            if listening {
                (
                    format!("0.0.0.0:{port}").parse().unwrap(),
                    "0.0.0.0:0".parse().unwrap(),
                    0x0A,
                )
            } else {
                (
                    format!("10.0.0.5:{port}").parse().unwrap(),
                    format!("93.184.{}.{}:443", (i / 250) % 250, i % 250 + 1)
                        .parse()
                        .unwrap(),
                    0x01,
                )
            }
        } else if listening {
            (
                format!("[::]:{port}").parse().unwrap(),
                "[::]:0".parse().unwrap(),
                0x0A,
            )
        } else {
            (
                format!("[2001:db8::5]:{port}").parse().unwrap(),
                format!("[2001:db8:1::{:x}]:443", i + 1).parse().unwrap(),
                0x01,
            )
        };
        if i % 2 == 0 {
            v4.push((local, remote, st));
        } else {
            v6.push((local, remote, st));
        }
    }
    (table(&v4), table(&v6))
}

pub const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  123456     789    0    0    0     0          0         0   123456     789    0    0    0     0       0          0
  eth0: 1000000 1000 0 0 0 0 0 0 2000000 2000 0 0 0 0 0 0
";

pub const IF_INET6: &str = "00000000000000000000000000000001 01 80 10 80       lo
20010db8000000000000000000000005 02 40 00 80     eth0
";

/// Writes a whole proc root with `n` TCP sockets into `dir`.
pub fn write_proc(dir: &std::path::Path, n: usize) {
    std::fs::create_dir_all(dir.join("net")).unwrap();
    let (tcp, tcp6) = many_tcp(n);
    std::fs::write(dir.join("net/tcp"), tcp).unwrap();
    std::fs::write(dir.join("net/tcp6"), tcp6).unwrap();
    let mut udp = String::from(HEADER);
    let _ = write!(
        udp,
        "{}{}",
        row(
            0,
            "0.0.0.0:68".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
            7
        ),
        row(
            1,
            "10.0.0.5:123".parse().unwrap(),
            "0.0.0.0:0".parse().unwrap(),
            7
        )
    );
    std::fs::write(dir.join("net/udp"), udp).unwrap();
    std::fs::write(
        dir.join("net/udp6"),
        table(&[("[::]:5353".parse().unwrap(), "[::]:0".parse().unwrap(), 7)]),
    )
    .unwrap();
    std::fs::write(dir.join("net/dev"), NET_DEV).unwrap();
    std::fs::write(dir.join("net/if_inet6"), IF_INET6).unwrap();
}
