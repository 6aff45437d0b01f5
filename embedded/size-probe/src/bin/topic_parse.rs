//! `topic::parse` alone, on a topic and prefix chosen at run time.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::topic;
use fleetward_size_probe::BUF_LEN;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        black_box(topic::parse(inputs.topic, inputs.prefix));
        black_box(&mut buf);
    }
}
