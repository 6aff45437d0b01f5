//! `encode` with format and key style both chosen at run time: JSON and CBOR encoders linked.
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
        let style = black_box(KeyStyle::Short);
        let format = black_box(Format::Json);
        black_box(encode(&inputs.report, format, style, &mut buf)).ok();
        black_box(&mut buf);
    }
}
