//! `answer::decode` for a JSON and a CBOR answer, the format chosen at run time.
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
        black_box(&decode(inputs.answer_json, black_box(Format::Json)));
        black_box(&decode(inputs.answer_cbor, black_box(Format::Cbor)));
        black_box(&mut buf);
    }
}
