//! CA and device certificates, and which things they are attached to.

use async_trait::async_trait;

#[allow(unused_imports)]
use crate::*;

/// CA and device certificates, and which things they are attached to. Part of [`Store`](crate::Store).
#[async_trait]
pub trait CertificateStore: Send + Sync {
    /// Registers a CA certificate.
    async fn insert_ca(&self, ca: &CaCertificate) -> StoreResult<()>;

    /// All registered CAs.
    async fn list_cas(&self) -> StoreResult<Vec<CaCertificate>>;

    /// Registers a device certificate; `AlreadyExists` if its id, or its (subject, serial)
    /// pair, is already registered (the pair must identify one certificate, see
    /// [`Certificate::subject`]).
    async fn insert_certificate(&self, cert: &Certificate) -> StoreResult<()>;

    /// A certificate by id (64 hex, the SHA-256 of its DER).
    async fn get_certificate(&self, id: &str) -> StoreResult<Option<Certificate>>;

    /// A certificate by the subject and serial the TLS layer reports.
    async fn find_certificate(
        &self,
        subject: &str,
        serial: &str,
    ) -> StoreResult<Option<Certificate>>;

    /// Certificates, newest first, a page at a time.
    async fn list_certificates(&self, page: &PageRequest) -> StoreResult<Page<Certificate>>;

    /// Sets a certificate's status; `NotFound` if absent.
    async fn set_certificate_status(&self, id: &str, status: CertStatus) -> StoreResult<()>;

    /// Attaches a certificate (principal) to a thing (idempotent; both must exist).
    async fn attach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()>;

    /// Detaches a certificate from a thing (idempotent).
    async fn detach_thing_principal(&self, thing: &str, cert_id: &str) -> StoreResult<()>;

    /// Certificate ids attached to a thing.
    async fn thing_principals(&self, thing: &str) -> StoreResult<Vec<String>>;

    /// Things a certificate is attached to.
    async fn principal_things(&self, cert_id: &str) -> StoreResult<Vec<String>>;
}
