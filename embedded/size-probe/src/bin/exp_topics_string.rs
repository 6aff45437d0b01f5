//! Experiment: the copied `build` writing into a `heapless::String<256>` (no `from_utf8`) +
//! `parse` using `split_once`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::topic::{Format, Kind, Topic};
use fleetward_size_probe::BUF_LEN;

#[path = "../exp/topic_copy.rs"]
#[allow(dead_code)]
mod topic_copy;

const SPLIT_ONCE: bool = true;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        let t = Topic {
            format: black_box(Format::Cbor),
            kind: black_box(Kind::Accepted),
        };
        let mut topic = heapless::String::<256>::new();
        if let Ok(s) = black_box(topic_copy::build_string(
            &mut topic,
            inputs.prefix,
            inputs.thing,
            t,
        )) {
            black_box(topic_copy::parse(black_box(s), inputs.prefix));
        }
        black_box(&mut buf);
    }
}
