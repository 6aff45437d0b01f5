//! `answer::decode` with Format::Json fixed at compile time.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::Format;
use fleetward_proto::answer::decode;
use fleetward_size_probe::BUF_LEN;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        black_box(&decode(inputs.answer_json, Format::Json));
        black_box(&mut buf);
    }
}
