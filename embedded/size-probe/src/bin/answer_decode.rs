//! `answer::decode` for a JSON and a CBOR answer.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use core::hint::black_box;

use cortex_m_rt::entry;
use fleetward_proto::Format;
use fleetward_proto::answer::decode;

#[entry]
fn main() -> ! {
    loop {
        let inputs = fleetward_size_probe::inputs();
        let json = decode(inputs.answer_json, black_box(Format::Json));
        black_box(&json);
        let cbor = decode(inputs.answer_cbor, black_box(Format::Cbor));
        black_box(&cbor);
    }
}
