//! Baseline image: the runtime, the panic handler, the inputs and a zeroed output buffer, and
//! no library code. Every other image is measured against this one.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_size_probe::BUF_LEN;

#[entry]
fn main() -> ! {
    let mut buf = [0u8; BUF_LEN];
    loop {
        let inputs = fleetward_size_probe::inputs();
        black_box(inputs.report.report_id);
        black_box(&mut buf);
    }
}
