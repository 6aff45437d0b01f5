//! Alerts: what a non-suppressed violation event sends, and to whom.
//!
//! Alert targets are named resources ([`fleetward_store::AlertTarget`]): a webhook, an MQTT topic
//! on the embedded broker, or the log. A security profile names its target the AWS way,
//! `alertTargets.SNS.alertTargetArn`, whose last ARN segment is the target's name, so AWS-format
//! profiles work unchanged. Detection enqueues one alert per event and target in the store's
//! outbox ([`message`] builds the AWS Detect SNS body); [`outbox`] delivers them at least once,
//! with exponential backoff, across restarts; [`sign`] signs webhook bodies.

pub mod outbox;

pub use fleetward_core::alert::{message, sign};
pub use fleetward_service::alerts as targets;

pub use message::{alert_target_names, idempotency_key, sns_message};
pub use outbox::{MqttPublish, Outbox, OutboxConfig};
pub use sign::{SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, signature, verify};
