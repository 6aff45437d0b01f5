//! Facts read from one certificate, rendered the way the rest of the system compares them.

use super::PkiError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;

/// What the server knows about a certificate. `subject` and `serial` must equal what rmqtt's
/// TLS certificate extractor reports at connect time, because that pair is how a connection is
/// mapped back to its registered certificate; both come from the same x509-parser 0.18 calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertFacts {
    /// SHA-256 of the DER, 64 lowercase hex: AWS's `certificateId`.
    pub id: String,
    /// Subject DN, x509-parser `Display` (e.g. `CN=thing-1`).
    pub subject: String,
    /// First subject common name, if any and if it is a string.
    pub common_name: Option<String>,
    /// Serial number, lowercase hex without leading zeros.
    pub serial: String,
    /// Issuer DN, x509-parser `Display`.
    pub issuer: String,
    /// Start of validity, epoch ms.
    pub not_before: i64,
    /// End of validity, epoch ms.
    pub not_after: i64,
    /// Whether basic constraints say `CA:true`.
    pub is_ca: bool,
}

impl CertFacts {
    /// Facts of the first `CERTIFICATE` block in `pem`.
    pub fn from_pem(pem: &str) -> Result<CertFacts, PkiError> {
        CertFacts::from_der(&certificate_der(pem)?)
    }

    /// Facts of a DER certificate. Trailing bytes are refused so the id is the fingerprint of
    /// exactly the certificate.
    pub fn from_der(der: &[u8]) -> Result<CertFacts, PkiError> {
        let cert = parse_der(der)?;
        Ok(CertFacts::of(der, &cert))
    }

    fn of(der: &[u8], cert: &X509Certificate<'_>) -> CertFacts {
        let ms = |secs: i64| secs.saturating_mul(1000);
        CertFacts {
            id: hex::encode(Sha256::digest(der)),
            // Same expressions as rmqtt-net 0.5's `TlsCertExtractor`.
            subject: cert.subject().to_string(),
            common_name: cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_owned),
            serial: cert.serial.to_str_radix(16),
            issuer: cert.issuer().to_string(),
            not_before: ms(cert.validity().not_before.timestamp()),
            not_after: ms(cert.validity().not_after.timestamp()),
            is_ca: cert.is_ca(),
        }
    }
}

fn parse_der(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|e| PkiError::Der(e.to_string()))?;
    if !rest.is_empty() {
        return Err(PkiError::TrailingData);
    }
    Ok(cert)
}

/// The DER of the first `CERTIFICATE` block in `pem`, skipping other blocks (a key bundled in
/// the same file, for instance). rustls wants DER; operators hand us PEM.
pub fn certificate_der(pem: &str) -> Result<Vec<u8>, PkiError> {
    for block in Pem::iter_from_buffer(pem.as_bytes()) {
        let block = block.map_err(|e| PkiError::Pem(e.to_string()))?;
        if block.label == "CERTIFICATE" {
            return Ok(block.contents);
        }
    }
    Err(PkiError::NoCertificate)
}

/// Whether `ca_pem` issued `cert_pem`: the CA is a CA, the names chain and the CA's key
/// verifies the signature. Validity periods are not checked; callers compare
/// [`CertFacts::not_before`]/[`CertFacts::not_after`] with their own clock so this stays pure.
/// Anything unparsable is simply "not issued by".
pub fn verify_issued_by(cert_pem: &str, ca_pem: &str) -> bool {
    match (certificate_der(cert_pem), certificate_der(ca_pem)) {
        (Ok(cert), Ok(ca)) => verify_issued_by_der(&cert, &ca),
        _ => false,
    }
}

/// [`verify_issued_by`] on DER.
pub fn verify_issued_by_der(cert_der: &[u8], ca_der: &[u8]) -> bool {
    let (Ok(cert), Ok(ca)) = (parse_der(cert_der), parse_der(ca_der)) else {
        return false;
    };
    // Name chaining is compared on the raw encoding first (what TLS stacks do) and on the
    // rendered form as a fallback for CAs that re-encode string types.
    let names_chain = cert.issuer().as_raw() == ca.subject().as_raw()
        || cert.issuer().to_string() == ca.subject().to_string();
    ca.is_ca() && names_chain && cert.verify_signature(Some(ca.public_key())).is_ok()
}
