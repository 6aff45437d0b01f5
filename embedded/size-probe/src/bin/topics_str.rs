//! `topic::build` (the `&str` form, with its UTF-8 check) and `topic::parse` on its result, with
//! topic, prefix and thing chosen at run time.
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
        if let Ok(s) = black_box(topic::build(&mut buf, inputs.prefix, inputs.thing, t)) {
            black_box(topic::parse(black_box(s), inputs.prefix));
        }
        black_box(&mut buf);
    }
}
