//! The self-managed CA: created on first start in the data dir, then reloaded.

use super::{CertFacts, PkiError, certificate_der};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SerialNumber,
};
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use x509_parser::time::ASN1Time;

/// The CA certificate's file name inside the CA directory.
pub const CA_CERT_FILE: &str = "ca.pem";
/// The CA private key's file name inside the CA directory (mode 0600).
pub const CA_KEY_FILE: &str = "ca.key";

const DAY_SECS: i64 = 24 * 60 * 60;
const CA_VALIDITY_SECS: i64 = 10 * 365 * DAY_SECS;
const LEAF_VALIDITY_SECS: i64 = 365 * DAY_SECS;
/// Backdating absorbs clock skew between the server and devices that check `notBefore`.
const BACKDATE_SECS: i64 = 60 * 60;

/// A freshly issued certificate with its private key. The key is shown once (as AWS's
/// CreateKeysAndCertificate does) and never stored by the server.
#[derive(Clone)]
pub struct IssuedCert {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// Its PKCS#8 private key, PEM.
    pub key_pem: String,
    /// Facts of the certificate, ready to register.
    pub facts: CertFacts,
}

impl fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCert")
            .field("facts", &self.facts)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The CA that signs device certificates and the broker's server certificate.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    facts: CertFacts,
    cert_path: PathBuf,
}

impl fmt::Debug for Ca {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ca")
            .field("facts", &self.facts)
            .field("cert_path", &self.cert_path)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// Loads the CA from `dir`, creating it (and `dir`) on first start. The flag says whether
    /// it was created, so the caller can tell the operator where the new CA lives.
    ///
    /// A directory holding only one of the two files is an error rather than a reason to start
    /// over: a new CA would silently orphan every certificate the old one issued.
    pub fn load_or_create(dir: &Path) -> Result<(Ca, bool), PkiError> {
        let cert_path = dir.join(CA_CERT_FILE);
        let key_path = dir.join(CA_KEY_FILE);
        match (exists(&cert_path)?, exists(&key_path)?) {
            (true, true) => Ok((Ca::load(dir, cert_path, &key_path)?, false)),
            (false, false) => Ok((Ca::create(dir, cert_path, &key_path)?, true)),
            (true, false) => Err(PkiError::IncompleteCa {
                present: cert_path,
                missing: key_path,
            }),
            (false, true) => Err(PkiError::IncompleteCa {
                present: key_path,
                missing: cert_path,
            }),
        }
    }

    fn load(dir: &Path, cert_path: PathBuf, key_path: &Path) -> Result<Ca, PkiError> {
        let bad = |reason: String| PkiError::InvalidCa {
            dir: dir.to_path_buf(),
            reason,
        };
        let cert_pem = read(&cert_path)?;
        let key_pem = read(key_path)?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| bad(format!("{CA_KEY_FILE}: {e}")))?;
        let der = certificate_der(&cert_pem)?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&der)
            .map_err(|e| bad(format!("{CA_CERT_FILE}: {e}")))?;
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(bad(format!(
                "{CA_KEY_FILE} is not the key of {CA_CERT_FILE}"
            )));
        }
        if !parsed.is_ca() {
            return Err(bad(format!("{CA_CERT_FILE} is not a CA certificate")));
        }
        let facts = CertFacts::from_der(&der)?;
        let issuer = Issuer::from_ca_cert_der(&der.as_slice().into(), key)?;
        Ok(Ca {
            issuer,
            cert_pem,
            facts,
            cert_path,
        })
    }

    fn create(dir: &Path, cert_path: PathBuf, key_path: &Path) -> Result<Ca, PkiError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // The suffix tells apart the CAs of different installations in trust stores and logs.
        dn.push(
            DnType::CommonName,
            format!("Fleetward CA {:08x}", fastrand::u32(..)),
        );
        dn.push(DnType::OrganizationName, "Fleetward");
        params.distinguished_name = dn;
        // Path length 0: this CA signs leaves only, so a leaked device key can never mint more.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        let (not_before, not_after) = validity(CA_VALIDITY_SECS)?;
        params.not_before = not_before.to_datetime();
        params.not_after = not_after.to_datetime();
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();

        create_dir(dir)?;
        // Key first: a crash in between leaves a key without a certificate, which
        // `load_or_create` reports instead of silently replacing.
        write_new(key_path, &key.serialize_pem(), 0o600)?;
        write_new(&cert_path, &cert_pem, 0o644)?;

        let facts = CertFacts::from_der(cert.der())?;
        Ok(Ca {
            issuer: Issuer::new(params, key),
            cert_pem,
            facts,
            cert_path,
        })
    }

    /// The CA certificate, PEM: what devices and `certs create` put in their trust store.
    pub fn pem(&self) -> &str {
        &self.cert_pem
    }

    /// Facts of the CA certificate (its `id` is the CA's `certificateId`).
    pub fn facts(&self) -> &CertFacts {
        &self.facts
    }

    /// Where the CA certificate is, for the startup message.
    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// Issues a device (TLS client) certificate with a fresh P-256 key, subject `CN=<name>`.
    pub fn issue_device(&self, common_name: &str) -> Result<IssuedCert, PkiError> {
        check_name(common_name)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(common_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    /// Issues the broker's TLS server certificate. It always names `localhost`, `127.0.0.1`
    /// and `::1` so local tools and tests connect without configuration, plus `names` (DNS
    /// names or IP addresses).
    pub fn issue_server(&self, names: &[String]) -> Result<IssuedCert, PkiError> {
        let mut sans: Vec<String> = ["localhost", "127.0.0.1", "::1"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        for name in names {
            check_host(name)?;
            if !sans.contains(name) {
                sans.push(name.clone());
            }
        }
        let mut params = CertificateParams::new(sans).map_err(|e| PkiError::InvalidName {
            name: names.join(","),
            reason: e.to_string(),
        })?;
        let cn = names.first().map_or("localhost", String::as_str);
        params.distinguished_name = common_name_dn(cn);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(params)
    }

    fn issue(&self, mut params: CertificateParams) -> Result<IssuedCert, PkiError> {
        params.serial_number = Some(random_serial()?);
        params.use_authority_key_identifier_extension = true;
        let (not_before, not_after) = validity(LEAF_VALIDITY_SECS)?;
        params.not_before = not_before.to_datetime();
        params.not_after = not_after.to_datetime();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(IssuedCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            facts: CertFacts::from_der(cert.der())?,
        })
    }
}

fn common_name_dn(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

/// Control characters would make the rendered subject ambiguous in logs and lookups.
fn check_name(name: &str) -> Result<(), PkiError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(PkiError::InvalidName {
        name: name.to_owned(),
        reason: reason.to_owned(),
    })
}

/// A server name must be an IP address or a DNS name (RFC 1123 labels, optionally `*.`-led):
/// anything else would be signed happily and then never match a TLS client's expectation.
fn check_host(name: &str) -> Result<(), PkiError> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let fail = |reason: &str| {
        Err(PkiError::InvalidName {
            name: name.to_owned(),
            reason: reason.to_owned(),
        })
    };
    if name.is_empty() || name.len() > 253 {
        return fail("must be 1 to 253 characters");
    }
    let host = name.strip_prefix("*.").unwrap_or(name);
    for label in host.split('.') {
        let ok = (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return fail("not an IP address or DNS name");
        }
    }
    Ok(())
}

/// 16 bytes from the operating system's cryptographic RNG, positive: unique per certificate,
/// which matters because connections are mapped back to certificates by (subject, serial), and
/// unpredictable, as CA/B rules ask of serials (a guessable serial helps forge a collision).
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    crate::random::fill(&mut bytes).map_err(|e| PkiError::Random(e.to_string()))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// From now (backdated) to `secs` ahead. Built through x509-parser's time type so this crate
/// need not depend on `time` itself.
fn validity(secs: i64) -> Result<(ASN1Time, ASN1Time), PkiError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PkiError::Clock)?
        .as_secs();
    let now = i64::try_from(now).map_err(|_| PkiError::Clock)?;
    let at = |t: i64| ASN1Time::from_timestamp(t).map_err(|_| PkiError::Clock);
    Ok((at(now - BACKDATE_SECS)?, at(now + secs)?))
}

fn exists(path: &Path) -> Result<bool, PkiError> {
    path.try_exists().map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| PkiError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// Writes a file that must not exist yet, with its final permissions from the first byte (a
/// key must never be readable by others, not even briefly), then syncs it.
fn write_new(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}
