//! One trait per resource family; [`Store`](crate::Store) is all of them.

pub mod alerts;
pub mod catalog;
pub mod certificates;
pub mod detection;
pub mod keys;
pub mod lifecycle;
pub mod policies;
pub mod profiles;
pub mod telemetry;
pub mod things;
pub mod violations;

pub use alerts::AlertStore;
pub use catalog::CatalogStore;
pub use certificates::CertificateStore;
pub use detection::DetectionStore;
pub use keys::KeyStore;
pub use lifecycle::LifecycleStore;
pub use policies::PolicyStore;
pub use profiles::ProfileStore;
pub use telemetry::TelemetryStore;
pub use things::ThingStore;
pub use violations::ViolationStore;
