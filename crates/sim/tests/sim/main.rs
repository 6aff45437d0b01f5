//! The simulator crate's one test binary: the demo's machinery end to end against a real
//! server with compressed time.

mod demo;
