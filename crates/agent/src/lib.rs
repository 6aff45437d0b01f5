//! fleetward-agent: reports Device Defender metrics from /proc (work in progress).
#![forbid(unsafe_code)]
