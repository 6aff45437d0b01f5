//! Broker: where reports enter. Two implementations behind one small surface:
//!
//! - [`embedded`]: an in-process MQTT 3.1.1/5 broker (rmqtt) with a mutual-TLS listener. It
//!   identifies devices by their certificate, enforces policies, and reports what it sees of
//!   each device as [`BrokerEvent`]s (the cloud-side metrics).
//! - [`external`]: Fleetward as a client of an existing broker through a shared subscription;
//!   that broker's ACLs are in charge and no cloud-side metrics exist.
//!
//! Both hand every report topic's payload to the ingest [`crate::ingest::Pipeline`] and
//! publish its answer. Nothing outside this module names rmqtt or rumqttc, so either can be
//! replaced without touching ingest, store or detection.

pub mod authz;
pub mod embedded;
pub mod external;
pub mod sessions;

use tokio::sync::mpsc;

pub use fleetward_core::ingest::cloud::BrokerEvent;

/// Where the broker sends events. Emitting never blocks the broker: when the consumer falls
/// behind, events are dropped and counted (metrics must not slow MQTT down).
#[derive(Clone)]
pub struct EventTx {
    tx: mpsc::Sender<BrokerEvent>,
    dropped: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl EventTx {
    /// A sender with room for `capacity` events, and its receiver.
    pub fn channel(capacity: usize) -> (EventTx, mpsc::Receiver<BrokerEvent>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let dropped = std::sync::Arc::default();
        (EventTx { tx, dropped }, rx)
    }

    /// Sends `event`, or counts it as dropped.
    pub fn emit(&self, event: BrokerEvent) {
        if self.tx.try_send(event).is_err() {
            self.dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Events dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Milliseconds since the Unix epoch: the unit of every timestamp Fleetward stores. The
/// broker stamps events with the wall clock as they happen.
pub use fleetward_core::aws::time::system_now_ms as now_ms;
