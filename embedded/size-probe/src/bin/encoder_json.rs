//! `encode` with Format::Json fixed at compile time (key style chosen at run time).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::{Format, KeyStyle, encode};
use fleetward_size_probe::BUF_LEN;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        let style = black_box(KeyStyle::Long);
        black_box(encode(&inputs.report, Format::Json, style, &mut buf)).ok();
        black_box(&mut buf);
    }
}
