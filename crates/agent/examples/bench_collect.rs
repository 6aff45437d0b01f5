//! CPU time of one collection against a generated proc root with N TCP sockets.
//!
//! `cargo run --release --example bench_collect -- 1000 2000 [DIR]` prints the CPU time per
//! collection (and per collection + report encoding), measured from the thread's own
//! scheduler accounting, not wall time, so other load on the machine does not count.

#[path = "../tests/agent/common/generate.rs"]
mod generate;

use std::sync::Arc;

use fleetward_agent::collect::ifaces::FixedInterfaces;
use fleetward_agent::collect::{CollectOptions, Collector, DirSource};
use fleetward_agent::report::{self, ReportSettings};
use fleetward_proto::{Format, KeyStyle};

/// CPU nanoseconds this thread has used: schedstat when available, else utime+stime ticks.
fn cpu_ns() -> u64 {
    if let Ok(s) = std::fs::read_to_string("/proc/thread-self/schedstat")
        && let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok())
    {
        return ns;
    }
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = after
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the command name.
    (f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0)) * 10_000_000
}

fn main() {
    let mut args = std::env::args().skip(1);
    let sockets: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    // A third argument keeps the fixture in that directory (for the Python comparison).
    let keep = args.next();
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = keep.map_or_else(|| tmp.path().to_path_buf(), std::path::PathBuf::from);
    generate::write_proc(&root, sockets);
    let dir = &root;
    let mut c = Collector::new(
        Arc::new(DirSource::new(dir)),
        Arc::new(FixedInterfaces(vec![(
            "10.0.0.5".parse().expect("ip"),
            "eth0".to_owned(),
        )])),
        CollectOptions::default(),
    );
    let settings = ReportSettings {
        format: Format::Json,
        keys: KeyStyle::Long,
        max_list_len: 100,
    };
    for _ in 0..20 {
        std::hint::black_box(c.collect_sync());
    }
    let t0 = cpu_ns();
    for _ in 0..rounds {
        std::hint::black_box(c.collect_sync());
    }
    let t1 = cpu_ns();
    let mut bytes = 0;
    for i in 0..rounds {
        let snap = c.collect_sync();
        bytes = report::build(&snap, None, i + 1, &settings)
            .expect("report")
            .len();
    }
    let t2 = cpu_ns();
    let snap = c.collect_sync();
    println!("sockets={sockets}");
    println!("rounds={rounds}");
    println!(
        "listening_tcp={} established={}",
        snap.tcp_ports.map_or(0, |l| l.len()),
        snap.connections.map_or(0, |l| l.len())
    );
    println!(
        "collect_cpu_us={:.1}",
        (t1 - t0) as f64 / rounds as f64 / 1000.0
    );
    println!(
        "collect_and_encode_cpu_us={:.1}",
        (t2 - t1) as f64 / rounds as f64 / 1000.0
    );
    println!("report_bytes={bytes}");
}
