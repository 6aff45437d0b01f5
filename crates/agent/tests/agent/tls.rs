//! Mutual TLS against a private Mosquitto with certificates made by rcgen.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use fleetward_agent::config::Config;
use fleetward_agent::{Event, Reporter, RunOptions};
use fleetward_proto::answer::Status;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    other_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap()
}

fn make_pki(dir: &Path) -> Pki {
    let ca1 = ca("fleetward test CA");
    let server_key = KeyPair::generate().unwrap();
    let mut sp =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    sp.distinguished_name.push(DnType::CommonName, "localhost");
    let server = sp.signed_by(&server_key, &ca1).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut cp = CertificateParams::new(Vec::<String>::new()).unwrap();
    cp.distinguished_name.push(DnType::CommonName, "device-1");
    let client = cp.signed_by(&client_key, &ca1).unwrap();
    let other = ca("some other CA");
    let w = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: w("ca.pem", ca1.pem()),
        server_cert: w("server.pem", server.pem()),
        server_key: w("server.key", server_key.serialize_pem()),
        client_cert: w("client.pem", client.pem()),
        client_key: w("client.key", client_key.serialize_pem()),
        other_ca: w("other-ca.pem", other.pem()),
    }
}

/// A broker with a plain listener (for the responder) and a TLS one requiring client certs.
fn tls_broker() -> (Mosquitto, u16, Pki, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let tls_port = free_port();
    let broker = Mosquitto::start(&format!(
        "listener {tls_port} 127.0.0.1\ncafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\n",
        pki.ca.display(),
        pki.server_cert.display(),
        pki.server_key.display()
    ));
    wait_listening(tls_port);
    (broker, tls_port, pki, dir)
}

fn tls_config(thing: &str, port: u16, pki: &Pki) -> Config {
    let mut c = Config {
        thing_name: thing.to_owned(),
        interval_secs: 1,
        allow_short_interval: true,
        ..Config::default()
    };
    c.mqtt.host = "localhost".to_owned();
    c.mqtt.port = port;
    c.mqtt.tls = true;
    c.mqtt.ca_file = Some(pki.ca.clone());
    c.mqtt.cert_file = Some(pki.client_cert.clone());
    c.mqtt.key_file = Some(pki.client_key.clone());
    c.mqtt.backoff_initial_secs = 1;
    c.mqtt.backoff_max_secs = 2;
    c
}

fn now() -> RunOptions {
    RunOptions {
        first_delay: Some(Duration::ZERO),
        once: false,
    }
}

#[tokio::test]
async fn mutual_tls_reports_are_accepted() {
    let (broker, tls_port, pki, _dir) = tls_broker();
    let mut resp = responder(broker.port).await;
    let proc = FixtureProc::new();
    let thing = unique_thing("tls");
    let mut cfg = tls_config(&thing, tls_port, &pki);
    // ALPN is offered as on AWS port 443; a broker that does not use ALPN ignores it.
    cfg.mqtt.alpn = vec!["x-amzn-mqtt-ca".to_owned()];
    let (h, mut events) = event_channel();
    let reporter = Reporter::start(&cfg, proc.sources(), now(), h).unwrap();
    let seen = wait_for(&mut resp.seen, 20, "a report over TLS", |s| {
        s.thing == thing
    })
    .await;
    assert_eq!(seen.status, Status::Accepted);
    wait_for(
        &mut events,
        20,
        "Accepted over TLS",
        |e| matches!(e, Event::Accepted { report_id } if *report_id == seen.report_id),
    )
    .await;
    reporter.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_client_certificate_the_broker_refuses() {
    let (_broker, tls_port, pki, _dir) = tls_broker();
    let proc = FixtureProc::new();
    let mut cfg = tls_config(&unique_thing("nocert"), tls_port, &pki);
    cfg.mqtt.cert_file = None;
    cfg.mqtt.key_file = None;
    let (h, mut events) = event_channel();
    let reporter = Reporter::start(&cfg, proc.sources(), now(), h).unwrap();
    let e = wait_for(&mut events, 20, "a failure", |e| {
        matches!(e, Event::MqttFailure { .. } | Event::Ready)
    })
    .await;
    assert!(matches!(e, Event::MqttFailure { .. }), "{e}");
    reporter.stop().await.unwrap();
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_refused() {
    let (_broker, tls_port, pki, _dir) = tls_broker();
    let proc = FixtureProc::new();
    let mut cfg = tls_config(&unique_thing("badca"), tls_port, &pki);
    cfg.mqtt.ca_file = Some(pki.other_ca.clone());
    let (h, mut events) = event_channel();
    let reporter = Reporter::start(&cfg, proc.sources(), now(), h).unwrap();
    let e = wait_for(&mut events, 20, "a failure", |e| {
        matches!(e, Event::MqttFailure { .. } | Event::Ready)
    })
    .await;
    let text = e.to_string();
    assert!(matches!(e, Event::MqttFailure { .. }), "{text}");
    assert!(text.to_lowercase().contains("certificate"), "{text}");
    reporter.stop().await.unwrap();
}

#[test]
fn missing_key_file_is_an_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let mut cfg = tls_config("t", 8883, &pki);
    cfg.mqtt.key_file = Some(dir.path().join("nope.key"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let proc = FixtureProc::new();
    let (h, _events) = event_channel();
    let err = rt
        .block_on(async { Reporter::start(&cfg, proc.sources(), now(), h).map(|_| ()) })
        .unwrap_err();
    assert!(err.to_string().contains("nope.key"), "{err}");
}
