//! Experiment: the report's addresses written with `core::fmt` (`write!` into a
//! `heapless::String<48>`), as the encoder does: what `core::net`'s `Display` costs alone.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::fmt::Write as _;
use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::report::CustomValue;
use fleetward_size_probe::BUF_LEN;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        if let Some(c) = inputs.report.metrics.and_then(|m| m.tcp_connections) {
            for c in c.connections {
                let mut s = heapless::String::<48>::new();
                black_box(write!(s, "{}", c.remote_addr)).ok();
                black_box(&s);
            }
        }
        for m in inputs.report.custom_metrics {
            if let CustomValue::IpList(ips) = m.value {
                for ip in ips {
                    let mut s = heapless::String::<48>::new();
                    black_box(write!(s, "{ip}")).ok();
                    black_box(&s);
                }
            }
        }
        black_box(&mut buf);
    }
}
