//! What devices moving from AWS expect at the edge: several listeners (8883 and 443, with the
//! AWS IoT SDKs' ALPN), a broker certificate that names the host they dial, or the operator's
//! own certificate.

use std::time::{Duration, SystemTime};

use fleetward_proto::Format;
use fleetward_proto::answer::Status;
use fleetward_server::http::TlsFiles;
use fleetward_testkit::server::{self as common, Device, DeviceCreds, Seen};
use rumqttc::{TlsConfiguration, Transport};
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime, pem::PemObject};

fn report(report_id: u64) -> Vec<u8> {
    format!(
        r#"{{"header":{{"report_id":{report_id},"version":"1.0"}},"metrics":{{"network_stats":{{"bytes_in":1,"bytes_out":1,"packets_in":1,"packets_out":1}}}}}}"#
    )
    .into_bytes()
}

/// A device's TLS settings with the ALPN the AWS IoT SDKs send on port 443, trusting `ca`.
fn aws_sdk_transport(creds: &DeviceCreds, ca: &str) -> Transport {
    Transport::tls_with_config(TlsConfiguration::Simple {
        ca: ca.as_bytes().to_vec(),
        alpn: Some(vec![b"x-amzn-mqtt-ca".to_vec()]),
        client_auth: Some((
            creds.cert.as_bytes().to_vec(),
            creds.key.as_bytes().to_vec(),
        )),
    })
}

/// Whether the chain in `chain_pem` is valid for `name` under the roots in `ca_pem`.
fn valid_for(chain_pem: &str, ca_pem: &str, name: &str) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .map(Result::unwrap)
        .collect();
    let verifier = rustls::client::WebPkiServerVerifier::builder(roots.into())
        .build()
        .unwrap();
    verifier
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::try_from(name.to_owned()).unwrap(),
            &[],
            UnixTime::since_unix_epoch(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap(),
            ),
        )
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_serves_devices_and_the_certificate_names_the_server_names() {
    let s = common::start(|c| {
        c.mqtt_listen = vec!["127.0.0.1:0".parse().unwrap(); 2];
        c.server_names = vec!["devices.example.com".into(), "10.1.2.3".into()];
    })
    .await;
    let addrs = s.running.mqtt_addrs.clone();
    assert_eq!(addrs.len(), 2);
    assert_ne!(addrs[0], addrs[1]);
    let mut ca = String::new();
    for (i, addr) in addrs.into_iter().enumerate() {
        let thing = format!("cam-{i}");
        let creds = s.provision(&thing).await;
        let mut d = Device::connect_with(addr, &thing, Some(&creds), &creds.ca, |o| {
            o.set_transport(aws_sdk_transport(&creds, &creds.ca));
        })
        .await;
        d.expect_connected().await;
        d.subscribe_answers(Format::Json).await;
        let (_, a) = d.report(&thing, Format::Json, &report(1)).await;
        assert_eq!(a.status, Status::Accepted, "on listener {i}");
        ca = creds.ca;
    }
    let chain = std::fs::read_to_string(s.data_dir().join("broker/server.pem")).unwrap();
    for name in ["devices.example.com", "10.1.2.3", "localhost", "127.0.0.1"] {
        assert!(valid_for(&chain, &ca, name), "not valid for {name}");
    }
    assert!(!valid_for(&chain, &ca, "other.example.com"));
}

/// With the operator's own certificate, the broker presents it: a device trusting the
/// operator's CA connects, one trusting only Fleetward's CA does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operators_own_broker_certificate_is_presented() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let files = TlsFiles {
        cert: dir.path().join("broker.pem"),
        key: dir.path().join("broker.key"),
    };
    std::fs::write(&files.cert, leaf.pem()).unwrap();
    std::fs::write(&files.key, key.serialize_pem()).unwrap();

    let s = common::start(|c| c.mqtt_tls = Some(files)).await;
    let creds = s.provision("cam-1").await;
    let operator_ca = ca_cert.pem();
    let mut d = Device::connect(s.mqtt_addr(), "cam-1", Some(&creds), &operator_ca).await;
    d.expect_connected().await;
    d.subscribe_answers(Format::Json).await;
    let (_, a) = d.report("cam-1", Format::Json, &report(1)).await;
    assert_eq!(a.status, Status::Accepted);

    let mut d = Device::connect(s.mqtt_addr(), "cam-1", Some(&creds), &creds.ca).await;
    match tokio::time::timeout(Duration::from_secs(10), d.next()).await {
        Ok(Seen::Closed(_)) => {}
        other => panic!("a device not trusting the operator's CA connected: {other:?}"),
    }
}
