//! Fuzz target `topic_match`; the checks are in `fuzz/src/lib.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fleetward_proto_fuzz::topic_match(data);
});
