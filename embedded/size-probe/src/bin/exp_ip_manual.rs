//! Experiment: the report's addresses written by the hand-written formatter in `exp/ipfmt.rs`
//! (same text as core's `Display`, as a `&str` like the encoder needs), to compare with
//! `exp_ip_core`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::report::{CustomValue, RemoteAddr};
use fleetward_size_probe::BUF_LEN;

#[path = "../exp/ipfmt.rs"]
mod ipfmt;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        if let Some(c) = inputs.report.metrics.and_then(|m| m.tcp_connections) {
            for c in c.connections {
                let mut out = ipfmt::Out::new();
                match c.remote_addr {
                    RemoteAddr::Socket(sa) => out.socket(sa.ip(), sa.port()),
                    RemoteAddr::Ip(ip) => out.ip(ip),
                }
                black_box(out.as_str());
            }
        }
        for m in inputs.report.custom_metrics {
            if let CustomValue::IpList(ips) = m.value {
                for ip in ips {
                    let mut out = ipfmt::Out::new();
                    out.ip(*ip);
                    black_box(out.as_str());
                }
            }
        }
        black_box(&mut buf);
    }
}
