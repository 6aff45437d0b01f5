use super::*;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "fleetward-pki-test-{}-{:016x}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new_ca() -> (TempDir, Ca) {
    let tmp = TempDir::new();
    let (ca, created) = Ca::load_or_create(&tmp.path().join("ca")).expect("create CA");
    assert!(created);
    (tmp, ca)
}

/// rmqtt-net 0.5.0 `TlsCertExtractor::extract_cert_info`, verbatim apart from taking the DER
/// directly instead of from the TLS session.
fn rmqtt_extract(der: &[u8]) -> Option<(Option<String>, String, String)> {
    use x509_parser::parse_x509_certificate;
    let (_, parsed) = parse_x509_certificate(der).ok()?;
    let common_name = parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(|s| s.to_string());
    let subject = parsed.subject().to_string();
    let serial = parsed.serial.to_str_radix(16);
    Some((common_name, subject, serial))
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[test]
fn ca_is_created_then_reloaded_unchanged() {
    let (tmp, ca) = new_ca();
    let dir = tmp.path().join("ca");
    assert!(ca.facts().is_ca);
    assert!(
        ca.facts().subject.starts_with("CN=Fleetward CA "),
        "{}",
        ca.facts().subject
    );
    assert_eq!(ca.facts().subject, ca.facts().issuer, "self-signed");
    assert_eq!(ca.cert_path(), dir.join(CA_CERT_FILE));
    let ten_years_ms = 10 * 365 * 24 * 3600 * 1000_i64;
    let span = ca.facts().not_after - ca.facts().not_before;
    assert!(
        span >= ten_years_ms && span <= ten_years_ms + 2 * 3600 * 1000,
        "{span}"
    );

    let (again, created) = Ca::load_or_create(&dir).expect("reload");
    assert!(!created);
    assert_eq!(again.facts(), ca.facts());
    assert_eq!(again.pem(), ca.pem());
    // The reloaded CA still signs certificates that chain to the same CA.
    let dev = again.issue_device("thing-1").expect("issue");
    assert!(verify_issued_by(&dev.cert_pem, ca.pem()));
}

#[test]
fn two_cas_get_distinct_names() {
    let (_a, a) = new_ca();
    let (_b, b) = new_ca();
    assert_ne!(a.facts().subject, b.facts().subject);
    assert_ne!(a.facts().id, b.facts().id);
}

#[cfg(unix)]
#[test]
fn key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let (tmp, _ca) = new_ca();
    let meta = std::fs::metadata(tmp.path().join("ca").join(CA_KEY_FILE)).expect("stat key");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(tmp.path().join("ca")).expect("stat dir");
    assert_eq!(
        dir.permissions().mode() & 0o077,
        0,
        "CA dir is not group/other accessible"
    );
}

#[test]
fn half_a_ca_is_refused() {
    let (tmp, _ca) = new_ca();
    let dir = tmp.path().join("ca");
    std::fs::remove_file(dir.join(CA_CERT_FILE)).expect("rm");
    let err = Ca::load_or_create(&dir).expect_err("must refuse");
    assert!(matches!(err, PkiError::IncompleteCa { .. }), "{err}");
    assert!(err.to_string().contains("ca.key exists but"), "{err}");
    assert!(
        dir.join(CA_KEY_FILE).exists(),
        "the key is never overwritten"
    );
}

#[test]
fn mismatched_key_is_refused() {
    let (tmp_a, _a) = new_ca();
    let (tmp_b, _b) = new_ca();
    let a = tmp_a.path().join("ca");
    std::fs::copy(
        tmp_b.path().join("ca").join(CA_KEY_FILE),
        a.join("other.key"),
    )
    .expect("cp");
    std::fs::rename(a.join("other.key"), a.join(CA_KEY_FILE)).expect("mv");
    let err = Ca::load_or_create(&a).expect_err("must refuse");
    assert!(err.to_string().contains("is not the key of"), "{err}");
}

#[test]
fn device_cert_facts() {
    let (_tmp, ca) = new_ca();
    let dev = ca.issue_device("thing-1").expect("issue");
    let f = &dev.facts;
    assert_eq!(f.id.len(), 64);
    assert!(is_lower_hex(&f.id));
    let der = certificate_der(&dev.cert_pem).expect("der");
    assert_eq!(f.id, hex::encode(Sha256::digest(&der)));
    assert_eq!(f, &CertFacts::from_pem(&dev.cert_pem).expect("facts"));
    assert_eq!(f, &CertFacts::from_der(&der).expect("facts"));
    assert_eq!(f.subject, "CN=thing-1");
    assert_eq!(f.common_name.as_deref(), Some("thing-1"));
    assert_eq!(f.issuer, ca.facts().subject);
    assert!(!f.is_ca);
    assert!(
        is_lower_hex(&f.serial) && !f.serial.starts_with('0'),
        "{}",
        f.serial
    );
    let year_ms = 365 * 24 * 3600 * 1000_i64;
    let span = f.not_after - f.not_before;
    assert!(
        span >= year_ms && span <= year_ms + 2 * 3600 * 1000,
        "{span}"
    );
    assert!(dev.key_pem.contains("BEGIN PRIVATE KEY"));
    assert!(
        !format!("{dev:?}").contains("PRIVATE KEY"),
        "Debug must not leak the key"
    );

    let parsed = x509_parser::parse_x509_certificate(&der).expect("parse").1;
    // The issuer name must be byte-identical to the CA subject, or TLS stacks won't chain.
    let ca_der = certificate_der(ca.pem()).expect("ca der");
    let ca_parsed = x509_parser::parse_x509_certificate(&ca_der)
        .expect("parse")
        .1;
    assert_eq!(parsed.issuer().as_raw(), ca_parsed.subject().as_raw());
    let eku = parsed
        .extended_key_usage()
        .expect("eku")
        .expect("eku present")
        .value;
    assert!(eku.client_auth && !eku.server_auth);
}

#[test]
fn subject_and_serial_render_like_rmqtt() {
    let (_tmp, ca) = new_ca();
    for name in ["thing-1", "Sensor 7, Hall \"B\"", "ünïcødé", "a+b=c;d"] {
        let dev = ca.issue_device(name).expect("issue");
        let der = certificate_der(&dev.cert_pem).expect("der");
        let (cn, subject, serial) = rmqtt_extract(&der).expect("rmqtt parses it");
        assert_eq!(dev.facts.subject, subject, "{name}");
        assert_eq!(dev.facts.serial, serial, "{name}");
        assert_eq!(dev.facts.common_name, cn, "{name}");
    }
    let ca_der = certificate_der(ca.pem()).expect("der");
    let (_, subject, serial) = rmqtt_extract(&ca_der).expect("rmqtt parses it");
    assert_eq!(
        (ca.facts().subject.as_str(), ca.facts().serial.as_str()),
        (subject.as_str(), serial.as_str())
    );
}

#[test]
fn serials_are_unique() {
    let (_tmp, ca) = new_ca();
    let serials: std::collections::HashSet<String> = (0..20)
        .map(|_| ca.issue_device("same-name").expect("issue").facts.serial)
        .collect();
    assert_eq!(serials.len(), 20);
}

#[test]
fn verify_issued_by_checks_the_signer() {
    let (_a, a) = new_ca();
    let (_b, b) = new_ca();
    let dev = a.issue_device("thing-1").expect("issue");
    assert!(verify_issued_by(&dev.cert_pem, a.pem()));
    assert!(!verify_issued_by(&dev.cert_pem, b.pem()));
    // A leaf is not a CA, even for itself.
    assert!(!verify_issued_by(&dev.cert_pem, &dev.cert_pem));
    assert!(!verify_issued_by("garbage", a.pem()));
    assert!(!verify_issued_by(&dev.cert_pem, "garbage"));
    // The CA is self-signed, so it verifies against itself.
    assert!(verify_issued_by(a.pem(), a.pem()));
}

#[test]
fn verify_issued_by_rejects_an_impostor_ca_with_the_same_name() {
    use rcgen::{CertificateParams, DistinguishedName, DnType, Issuer, KeyPair, PublicKeyData};
    use x509_parser::prelude::FromDer;
    let (_tmp, real) = new_ca();
    // The real CA's name and extensions with another key: only the signature tells them apart.
    let fake_key = KeyPair::generate().expect("key");
    let fake_spki_der = fake_key.subject_public_key_info();
    let fake_issuer = Issuer::from_ca_cert_pem(real.pem(), fake_key).expect("issuer");
    let mut leaf = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "thing-1");
    leaf.distinguished_name = dn;
    let leaf_key = KeyPair::generate().expect("key");
    let forged = leaf.signed_by(&leaf_key, &fake_issuer).expect("forge");
    let forged_facts = CertFacts::from_pem(&forged.pem()).expect("facts");
    assert_eq!(forged_facts.issuer, real.facts().subject, "names collide");
    assert!(!verify_issued_by(&forged.pem(), real.pem()));
    // Sanity: the forgery is well signed, just not by the real CA.
    let (_, fake_spki) =
        x509_parser::x509::SubjectPublicKeyInfo::from_der(&fake_spki_der).expect("spki");
    let parsed = x509_parser::parse_x509_certificate(forged.der())
        .expect("parse")
        .1;
    assert!(parsed.verify_signature(Some(&fake_spki)).is_ok());
}

#[test]
fn server_cert_names_localhost_and_given_names() {
    let (_tmp, ca) = new_ca();
    let names = vec![
        "broker.example".to_owned(),
        "10.0.0.5".to_owned(),
        "localhost".to_owned(),
    ];
    let srv = ca.issue_server(&names).expect("issue");
    assert!(verify_issued_by(&srv.cert_pem, ca.pem()));
    assert_eq!(srv.facts.subject, "CN=broker.example");
    let der = certificate_der(&srv.cert_pem).expect("der");
    let parsed = x509_parser::parse_x509_certificate(&der).expect("parse").1;
    let san = parsed
        .subject_alternative_name()
        .expect("san")
        .expect("san present")
        .value;
    use x509_parser::extensions::GeneralName;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &san.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => ips.push(match b.len() {
                4 => std::net::IpAddr::from(<[u8; 4]>::try_from(*b).expect("v4")),
                _ => std::net::IpAddr::from(<[u8; 16]>::try_from(*b).expect("v6")),
            }),
            other => panic!("unexpected SAN {other}"),
        }
    }
    assert_eq!(dns, ["localhost", "broker.example"], "duplicates removed");
    let want: Vec<std::net::IpAddr> = ["127.0.0.1", "::1", "10.0.0.5"]
        .iter()
        .map(|s| s.parse().expect("ip"))
        .collect();
    assert_eq!(ips, want);
    let eku = parsed
        .extended_key_usage()
        .expect("eku")
        .expect("eku present")
        .value;
    assert!(eku.server_auth && !eku.client_auth);
    assert!(ca.issue_server(&[]).is_ok());
}

#[test]
fn bad_names_are_refused() {
    let (_tmp, ca) = new_ca();
    assert!(matches!(
        ca.issue_device(""),
        Err(PkiError::InvalidName { .. })
    ));
    assert!(matches!(
        ca.issue_device("a\nb"),
        Err(PkiError::InvalidName { .. })
    ));
    for bad in [
        "bad name!",
        "",
        "a..b",
        "-a.b",
        "a.b-",
        &"x".repeat(64),
        "*",
    ] {
        let err = ca.issue_server(&[bad.to_owned()]);
        assert!(
            matches!(err, Err(PkiError::InvalidName { .. })),
            "{bad:?}: {err:?}"
        );
    }
    for good in [
        "*.example.com",
        "broker-1.local",
        "fe80::1",
        "192.168.1.1",
        "UPPER.case",
    ] {
        assert!(ca.issue_server(&[good.to_owned()]).is_ok(), "{good}");
    }
}

#[test]
fn pem_edge_cases() {
    let (_tmp, ca) = new_ca();
    let dev = ca.issue_device("thing-1").expect("issue");
    // A key before the certificate in one file is skipped.
    let bundle = format!("{}{}", dev.key_pem, dev.cert_pem);
    assert_eq!(CertFacts::from_pem(&bundle).expect("facts"), dev.facts);
    // CRLF line endings are fine.
    let crlf = dev.cert_pem.replace('\n', "\r\n");
    assert_eq!(CertFacts::from_pem(&crlf).expect("facts"), dev.facts);
    assert!(matches!(
        CertFacts::from_pem(&dev.key_pem),
        Err(PkiError::NoCertificate)
    ));
    assert!(matches!(
        CertFacts::from_pem(""),
        Err(PkiError::NoCertificate)
    ));
    let broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(CertFacts::from_pem(broken), Err(PkiError::Pem(_))));
    let der = certificate_der(&dev.cert_pem).expect("der");
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(matches!(
        CertFacts::from_der(&trailing),
        Err(PkiError::TrailingData)
    ));
    assert!(matches!(
        CertFacts::from_der(&der[..der.len() / 2]),
        Err(PkiError::Der(_))
    ));
}

#[test]
fn ca_can_be_shared_across_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Ca>();
    assert_send_sync::<IssuedCert>();
}
