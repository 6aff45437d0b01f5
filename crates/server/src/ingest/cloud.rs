//! Cloud-side metrics at run time: the broker's events folded by the pure aggregator
//! ([`fleetward_core::ingest::cloud`]), stored on a tick and handed to detection.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

pub use fleetward_core::ingest::cloud::*;

use crate::supervisor::Shutdown;
use fleetward_core::aws::Clock;
use fleetward_store::Store;

/// Receives cloud-side datapoints after they are stored: the interface detection plugs into.
pub trait CloudSink: Send + Sync {
    /// Called with each stored batch, in time order per thing.
    fn cloud_datapoints(&self, points: &[CloudDatapoint]);
}

/// Runs the aggregator: folds events as they come, closes windows by `clock`, stores
/// datapoints every `flush` and then hands them to `sink` (detection). Datapoints that could not be stored are still evaluated:
/// losing a window's history is better than missing an attack in it.
pub async fn run(
    mut events: mpsc::Receiver<BrokerEvent>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    window_ms: i64,
    flush: Duration,
    sink: Option<Arc<dyn CloudSink>>,
    mut shutdown: Shutdown,
) {
    let mut agg = CloudMetrics::with_window(window_ms);
    let mut tick = tokio::time::interval(flush);
    loop {
        // Datapoints are written on the tick only: one transaction per `flush` however many
        // messages flowed, where writing after each event (each message yields a size
        // datapoint) would cost a commit per message and let the event channel overflow.
        tokio::select! {
            ev = events.recv() => match ev {
                Some(ev) => {
                    agg.record(&ev);
                    continue;
                }
                None => break,
            },
            _ = tick.tick() => agg.roll(clock.now_ms()),
            // What is ready is stored below; counts of the open window are not yet datapoints.
            () = shutdown.wait() => break,
        }
        let ready = agg.take();
        if ready.is_empty() {
            continue;
        }
        if let Err(e) = store.insert_cloud_datapoints(&ready).await {
            tracing::error!(error = %e, n = ready.len(), "storing cloud-side datapoints failed");
        }
        if let Some(sink) = &sink {
            sink.cloud_datapoints(&ready);
        }
    }
    let ready = agg.take();
    if !ready.is_empty() {
        let _ = store.insert_cloud_datapoints(&ready).await;
        if let Some(sink) = &sink {
            sink.cloud_datapoints(&ready);
        }
    }
}
