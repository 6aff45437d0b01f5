//! Experiment: the copied encoder with addresses written without `core::fmt`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::{Format, KeyStyle};
use fleetward_size_probe::BUF_LEN;

#[path = "../exp/encode_copy.rs"]
mod encode_copy;
#[path = "../exp/ipfmt.rs"]
#[allow(dead_code)]
mod ipfmt;

const MANUAL_IP: bool = true;
const INT_BITS: bool = false;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        let style = black_box(KeyStyle::Short);
        let format = black_box(Format::Json);
        black_box(encode_copy::encode(&inputs.report, format, style, &mut buf)).ok();
        black_box(&mut buf);
    }
}
