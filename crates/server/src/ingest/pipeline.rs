//! The ingest pipeline: validation, admission, durable batched storage, then the answer.
//!
//! Reports from every connection meet in one bounded queue in front of a single writer task,
//! which commits them in batches. A connection's handler waits for its report's commit before
//! the answer is published, so `ACCEPTED` always means "stored"; and because the queue is
//! bounded, a slow disk slows the broker's reading instead of growing memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use fleetward_proto::Format;
use fleetward_proto::answer::{Answer, ErrorCode};
use tokio::sync::{mpsc, oneshot};

use super::custom::{CustomTypes, mismatch};
use super::throttle::{Admission, Last, admit};
use fleetward_store::{Store, StoreError, StoredReport};

/// Tuning for the pipeline.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// Minimum time between accepted reports of one thing (AWS: 300 s). Zero disables it.
    pub min_interval: Duration,
    /// Reports waiting for the writer before producers wait (backpressure).
    pub queue_capacity: usize,
    /// Most reports committed in one transaction.
    pub max_batch: usize,
    /// Registered custom metric types; a report whose custom datapoint has another type is
    /// refused with `InvalidPayload`. `None` checks nothing (offline tools, benchmarks).
    pub custom_types: Option<Arc<CustomTypes>>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            min_interval: Duration::from_secs(300),
            queue_capacity: 4096,
            max_batch: 512,
            custom_types: None,
        }
    }
}

/// Receives reports after they are committed: the internal interface detection plugs into.
pub trait ReportSink: Send + Sync {
    /// Called with each committed batch, in commit order.
    fn reports_stored(&self, reports: &[StoredReport]);
}

/// Counters the pipeline keeps, for `/metrics` and tests.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// Reports answered ACCEPTED (including redeliveries).
    pub accepted: std::sync::atomic::AtomicU64,
    /// Reports answered REJECTED, by any code.
    pub rejected: std::sync::atomic::AtomicU64,
    /// Of those, rejected as Throttled.
    pub throttled: std::sync::atomic::AtomicU64,
    /// Redeliveries answered without storing.
    pub redelivered: std::sync::atomic::AtomicU64,
    /// Reports that could not be stored (no answer was sent).
    pub store_failures: std::sync::atomic::AtomicU64,
}

/// Why a report got no answer.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed; the report was not acknowledged.
    #[error("report not stored: {0}")]
    Store(String),
    /// The pipeline is shutting down.
    #[error("ingest pipeline stopped")]
    Stopped,
}

/// A report to store, or (`None`) a barrier: its completion means every job queued before it
/// has been committed or has failed.
struct Job {
    report: Option<StoredReport>,
    done: oneshot::Sender<Result<(), String>>,
}

/// The pipeline's front: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

struct Inner {
    tx: mpsc::Sender<Job>,
    /// Set by [`Pipeline::drain`]: new reports are refused (and get no answer).
    closing: std::sync::atomic::AtomicBool,
    last: Mutex<HashMap<String, Last>>,
    min_interval_ms: i64,
    stats: Arc<IngestStats>,
    custom_types: Option<Arc<CustomTypes>>,
}

impl Pipeline {
    /// Starts the writer task and returns the pipeline. The last accepted report of every
    /// thing is loaded from the store, so throttling and redelivery survive a restart.
    pub async fn start(
        store: Arc<dyn Store>,
        config: PipelineConfig,
        sinks: Vec<Arc<dyn ReportSink>>,
    ) -> Result<Pipeline, StoreError> {
        let last: HashMap<String, Last> = store
            .last_reports()
            .await?
            .into_iter()
            .map(|l| {
                let v = Last {
                    report_id: l.report_id,
                    received_at: l.received_at,
                };
                (l.thing, v)
            })
            .collect();
        let (tx, rx) = mpsc::channel(config.queue_capacity.max(1));
        let stats = Arc::new(IngestStats::default());
        tokio::spawn(writer(store, rx, config.max_batch.max(1), sinks));
        Ok(Pipeline {
            inner: Arc::new(Inner {
                tx,
                closing: std::sync::atomic::AtomicBool::new(false),
                last: Mutex::new(last),
                min_interval_ms: i64::try_from(config.min_interval.as_millis()).unwrap_or(i64::MAX),
                stats,
                custom_types: config.custom_types,
            }),
        })
    }

    /// The pipeline's counters.
    pub fn stats(&self) -> Arc<IngestStats> {
        self.inner.stats.clone()
    }

    /// Ingests one report `thing` published on a `format` topic, received at `now` (epoch
    /// ms). Returns the answer to publish; `Err` means no answer may be sent (not stored).
    pub async fn ingest(
        &self,
        thing: &str,
        format: Format,
        payload: &[u8],
        now: i64,
    ) -> Result<Answer, IngestError> {
        use std::sync::atomic::Ordering::{Acquire, Relaxed};
        if self.inner.closing.load(Acquire) {
            return Err(IngestError::Stopped);
        }
        let stats = &self.inner.stats;
        let outcome = super::check(payload, format, thing, u64::try_from(now).unwrap_or(0));
        let Some(report) = outcome.report else {
            stats.rejected.fetch_add(1, Relaxed);
            return Ok(outcome.answer);
        };
        let report_id = report.report_id;
        if let Some(types) = &self.inner.custom_types
            && let Some(msg) = mismatch(&report.datapoints, &|name| types.get(name))
        {
            stats.rejected.fetch_add(1, Relaxed);
            let ts = u64::try_from(now).unwrap_or(0);
            return Ok(Answer::rejected(
                thing,
                Some(report_id),
                ErrorCode::InvalidPayload,
                &msg,
                ts,
            ));
        }
        // Decide and provisionally record under one lock, so two concurrent reports of one
        // thing cannot both pass the throttle.
        let previous = {
            let mut last = self
                .inner
                .last
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let previous = last.get(thing).copied();
            match admit(previous, report_id, now, self.inner.min_interval_ms) {
                Admission::Redelivery => None,
                Admission::Throttled { wait_ms } => {
                    stats.rejected.fetch_add(1, Relaxed);
                    stats.throttled.fetch_add(1, Relaxed);
                    let msg = format!(
                        "{thing} reported {}s after its previous accepted report; the minimum interval is {}s (retry in {}s)",
                        (self.inner.min_interval_ms - wait_ms) / 1000,
                        self.inner.min_interval_ms / 1000,
                        (wait_ms + 999) / 1000,
                    );
                    let ts = u64::try_from(now).unwrap_or(0);
                    return Ok(Answer::rejected(
                        thing,
                        Some(report_id),
                        ErrorCode::Throttled,
                        &msg,
                        ts,
                    ));
                }
                Admission::Accept => {
                    last.insert(
                        thing.to_owned(),
                        Last {
                            report_id,
                            received_at: now,
                        },
                    );
                    Some(previous)
                }
            }
        };
        let Some(previous) = previous else {
            // The original may still be on its way to the disk (reports of one connection
            // are processed concurrently): answer only once everything queued before now is
            // committed, and only if the original is what got stored.
            self.barrier().await?;
            let stored = {
                let last = self
                    .inner
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                last.get(thing).is_some_and(|l| l.report_id == report_id)
            };
            if !stored {
                return Err(IngestError::Store(format!(
                    "report {report_id} of {thing} was redelivered but its original was not stored"
                )));
            }
            stats.accepted.fetch_add(1, Relaxed);
            stats.redelivered.fetch_add(1, Relaxed);
            return Ok(outcome.answer);
        };
        let stored = StoredReport {
            thing: thing.to_owned(),
            report_id,
            received_at: now,
            format,
            size: payload.len(),
            datapoints: report.datapoints,
        };
        match self.commit(stored).await {
            Ok(()) => {
                stats.accepted.fetch_add(1, Relaxed);
                Ok(outcome.answer)
            }
            Err(e) => {
                stats.store_failures.fetch_add(1, Relaxed);
                // Undo the provisional record so the device's next report is not throttled
                // against one that was never stored.
                let mut last = self
                    .inner
                    .last
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if last
                    .get(thing)
                    .is_some_and(|l| l.report_id == report_id && l.received_at == now)
                {
                    match previous {
                        Some(p) => last.insert(thing.to_owned(), p),
                        None => last.remove(thing),
                    };
                }
                Err(e)
            }
        }
    }

    /// Stops taking reports and waits until every report taken before has been committed
    /// (or has failed), so each can still be answered. Later calls to [`Pipeline::ingest`]
    /// fail with [`IngestError::Stopped`] and send no answer.
    pub async fn drain(&self) {
        self.inner
            .closing
            .store(true, std::sync::atomic::Ordering::Release);
        let _ = self.enqueue(None).await;
    }

    async fn commit(&self, report: StoredReport) -> Result<(), IngestError> {
        self.enqueue(Some(report)).await
    }

    async fn barrier(&self) -> Result<(), IngestError> {
        self.enqueue(None).await
    }

    async fn enqueue(&self, report: Option<StoredReport>) -> Result<(), IngestError> {
        let (done, wait) = oneshot::channel();
        self.inner
            .tx
            .send(Job { report, done })
            .await
            .map_err(|_| IngestError::Stopped)?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(IngestError::Store(e)),
            Err(_) => Err(IngestError::Stopped),
        }
    }
}

/// The single writer: drains the queue in batches, one transaction each.
async fn writer(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Job>,
    max_batch: usize,
    sinks: Vec<Arc<dyn ReportSink>>,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut jobs, max_batch).await > 0 {
        let mut reports = Vec::with_capacity(jobs.len());
        let mut waiters = Vec::with_capacity(jobs.len());
        for job in jobs.drain(..) {
            reports.extend(job.report);
            waiters.push(job.done);
        }
        let result = if reports.is_empty() {
            Ok(0)
        } else {
            store.insert_reports(&reports).await
        };
        match &result {
            Ok(_) if !reports.is_empty() => {
                for sink in &sinks {
                    sink.reports_stored(&reports);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, batch = reports.len(), "storing reports failed"),
        }
        let result = result.map(|_| ()).map_err(|e| e.to_string());
        for done in waiters {
            // A handler that gave up waiting is fine: its report is stored regardless.
            let _ = done.send(result.clone());
        }
    }
}
