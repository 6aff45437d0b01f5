//! Device identity on the certificate side: the facts the server keys certificates by, and the
//! self-managed CA that issues them.
//!
//! A device is identified by its client certificate, never by the MQTT client id. At connect
//! time the TLS layer (rmqtt) only reports the certificate's subject and serial, so the
//! registry stores those two exactly as rmqtt renders them next to AWS's `certificateId` (the
//! SHA-256 of the DER). [`CertFacts`] computes all of them from one parse so they can never
//! disagree.
//!
//! Everything here is pure except [`Ca::load_or_create`], the one place that touches the disk.

mod ca;
mod facts;

pub use ca::{CA_CERT_FILE, CA_KEY_FILE, Ca, IssuedCert};
pub use facts::{CertFacts, certificate_der, verify_issued_by, verify_issued_by_der};

use std::path::PathBuf;

/// What can go wrong reading certificates or running the CA.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The text holds no PEM `CERTIFICATE` block.
    #[error("no PEM CERTIFICATE block found")]
    NoCertificate,
    /// The PEM framing or base64 is broken.
    #[error("malformed PEM: {0}")]
    Pem(String),
    /// The DER is not an X.509 certificate.
    #[error("malformed certificate: {0}")]
    Der(String),
    /// Bytes follow the certificate; the fingerprint would be ambiguous.
    #[error("unexpected data after the certificate")]
    TrailingData,
    /// A name given for a certificate is unusable.
    #[error("invalid certificate name {name:?}: {reason}")]
    InvalidName {
        /// The name as given.
        name: String,
        /// Why it was refused.
        reason: String,
    },
    /// Key or certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// The system clock is before 1970 or beyond what X.509 can encode.
    #[error("system clock is out of range for a certificate")]
    Clock,
    /// The operating system's random source failed.
    #[error("no secure random source: {0}")]
    Random(String),
    /// Reading or writing a CA file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Only one of the CA's two files exists; refusing to guess which one to trust.
    #[error(
        "{} exists but {} does not; restore it, or remove both to create a new CA \
         (certificates it issued will then no longer be trusted)",
        present.display(),
        missing.display()
    )]
    IncompleteCa {
        /// The file that exists.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// The stored CA is unusable.
    #[error("invalid CA in {}: {reason}", dir.display())]
    InvalidCa {
        /// The CA directory.
        dir: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
