//! `topic::build_bytes` alone, with topic, prefix and thing chosen at run time.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::topic::{self, Format, Kind, Topic};
use fleetward_size_probe::BUF_LEN;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        let t = Topic {
            format: black_box(Format::Cbor),
            kind: black_box(Kind::Accepted),
        };
        black_box(topic::build_bytes(&mut buf, inputs.prefix, inputs.thing, t)).ok();
        black_box(&mut buf);
    }
}
