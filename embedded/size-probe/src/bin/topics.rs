//! `topic::build` and `topic::parse`, with topic, prefix and thing chosen at run time.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::topic::{self, Format, Kind, Topic};

#[entry]
fn main() -> ! {
    let mut buf = [0u8; 256];
    loop {
        let inputs = fleetward_size_probe::inputs();
        let t = Topic { format: black_box(Format::Cbor), kind: black_box(Kind::Accepted) };
        let built = topic::build(&mut buf, inputs.prefix, inputs.thing, t);
        let built = black_box(built);
        if let Ok(s) = built {
            black_box(topic::parse(black_box(s), inputs.prefix));
        }
    }
}
