//! Alerts, the pure part: the AWS Detect SNS message an event sends and the webhook signature.
//! Delivery (the outbox, HTTP, MQTT) is the server's.

pub mod message;
pub mod sign;

pub use message::{alert_target_names, idempotency_key, sns_message};
pub use sign::{SIGNATURE_HEADER, SignatureError, TIMESTAMP_HEADER, signature, verify};
