//! Baseline image: the runtime, the panic handler and the inputs, and no library code.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    loop {
        let inputs = fleetward_size_probe::inputs();
        black_box(inputs.report.report_id);
    }
}
