//! The lean device path: `topic::build_bytes` (publish) and `topic::parse` (an incoming
//! answer's topic), with topic, prefix, thing and the incoming topic chosen at run time.
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
        black_box(topic::parse(inputs.topic, inputs.prefix));
        black_box(&mut buf);
    }
}
