//! Revocation latency: from an UpdateCertificate call to the device seeing its session closed.
//!
//! Starts a real server (ephemeral ports, a temporary data directory), provisions `--tries`
//! devices and connects each over mutual TLS. Then, one device at a time, it revokes the
//! device's certificate through the signed HTTP API (`PUT /certificates/{id}?newStatus=REVOKED`,
//! what `aws iot update-certificate` sends) and measures until the device's MQTT connection
//! ends. Prints p50, p90 and max.
//!
//! ```sh
//! cargo run --release -p fleetward-server --example bench_revocation -- --tries 100
//! ```

use std::time::{Duration, Instant};

use clap::Parser;
use fleetward_testkit::server::{self as common, Device, Seen};
use fleetward_testkit::sigv4::{Client, Key};

#[derive(Parser)]
struct Args {
    /// How many devices to connect and revoke, one after the other.
    #[arg(long, default_value_t = 100)]
    tries: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let s = common::start(|c| {
        c.api_rate_limits = fleetward_api::limit::RateLimitConfig::UNLIMITED;
    })
    .await;
    let api = Client::new(
        format!("http://{}", s.running.http_addr),
        Key::admin(&s.data_dir()),
    );
    let mut devices = Vec::with_capacity(args.tries);
    for i in 0..args.tries {
        let thing = format!("rev-{i}");
        let creds = s.provision(&thing).await;
        let mut d = Device::connect(s.mqtt_addr(), &thing, Some(&creds), &creds.ca).await;
        d.expect_connected().await;
        devices.push((creds, d));
    }
    let mut took = Vec::with_capacity(args.tries);
    for (creds, mut d) in devices {
        let start = Instant::now();
        api.call(
            "PUT",
            &format!("/certificates/{}?newStatus=REVOKED", creds.cert_id),
            None,
        )
        .await
        .ok();
        loop {
            match d.next().await {
                Seen::Closed(_) | Seen::Refused(_) => break,
                _ => continue,
            }
        }
        took.push(start.elapsed());
    }
    took.sort();
    let at = |q: f64| {
        let i = ((took.len() as f64 - 1.0) * q).round() as usize;
        took[i.min(took.len() - 1)]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "revocation: {} tries, UpdateCertificate -> session closed: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        took.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(took[took.len() - 1]),
    );
    s.running.stop().await;
}
