//! The delivery task: drains the store's alert outbox at least once.
//!
//! State lives only in the store (attempts, next attempt time, delivered time), so a restart
//! resumes where the last run stopped; an alert being sent when the process died is sent
//! again, and its `Idempotency-Key` lets the receiver drop the duplicate. A failed attempt is
//! retried after an exponential backoff with jitter, capped at [`OutboxConfig::max_backoff`].

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::supervisor::Shutdown;
use fleetward_core::aws::{Clock, SystemClock};
use tokio::sync::Notify;

use super::sign::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use fleetward_store::{AlertTarget, AlertTargetKind, OutboxAlert, Store};

/// Publishes a payload on a topic of the embedded broker (topic, payload).
pub type MqttPublish =
    Arc<dyn Fn(String, Vec<u8>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How the outbox polls and retries.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// Longest wait between two looks at the outbox when nobody wakes the task.
    pub poll: Duration,
    /// Most alerts taken per look.
    pub batch: u32,
    /// Backoff after the first failure; doubles with each further one.
    pub base_backoff: Duration,
    /// The backoff never exceeds this.
    pub max_backoff: Duration,
    /// Per-request timeout of a webhook POST.
    pub timeout: Duration,
    /// Violations whose alerts are delivered at the same time. One violation's alerts go
    /// out one after the other, in the order they were enqueued.
    pub concurrency: usize,
    /// Where "now" comes from: when an alert is due, when it was delivered.
    pub clock: Arc<dyn Clock>,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        OutboxConfig {
            poll: Duration::from_secs(1),
            batch: 100,
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(600),
            timeout: Duration::from_secs(10),
            concurrency: 16,
            clock: Arc::new(SystemClock),
        }
    }
}

/// The delay before retrying after `attempts` failures (1 = the first): `base · 2^(attempts-1)`
/// capped at `cap`, then "equal jitter": half of it fixed, the other half scaled by `random`
/// (in `[0, 1)`), so retries of many alerts spread out but never exceed the cap.
pub fn backoff(attempts: u32, base: Duration, cap: Duration, random: f64) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(cap);
    let half = full / 2;
    half + half.mul_f64(random.clamp(0.0, 1.0))
}

/// The outbox delivery task.
pub struct Outbox {
    store: Arc<dyn Store>,
    cfg: OutboxConfig,
    http: reqwest::Client,
    mqtt: Option<MqttPublish>,
    wake: Arc<Notify>,
}

impl Outbox {
    /// A task over `store`'s outbox; `mqtt` delivers MQTT targets (without it they fail and
    /// are retried). Wake it through [`Outbox::waker`] after enqueueing.
    pub fn new(store: Arc<dyn Store>, cfg: OutboxConfig, mqtt: Option<MqttPublish>) -> Outbox {
        // No redirects: a receiver (or whoever took over its name) must not be able to bounce a
        // signed alert to another host; a 3xx is a failed delivery, retried like any other.
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "HTTP client with timeout unavailable; using defaults");
                reqwest::Client::new()
            });
        Outbox {
            store,
            cfg,
            http,
            mqtt,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Notifying it makes the task look at the outbox now rather than at the next poll.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Delivers due alerts until `shutdown` fires; a pass under way finishes first, so
    /// every delivery made is recorded. What is left stays queued for the next start.
    pub async fn run(self, mut shutdown: Shutdown) {
        while !shutdown.is_stopping() {
            let delivered = match self.deliver_due().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "reading the alert outbox failed");
                    0
                }
            };
            // A full batch means more may be due: go again at once.
            if delivered < self.cfg.batch as usize {
                tokio::select! {
                    () = self.wake.notified() => {}
                    () = tokio::time::sleep(self.cfg.poll) => {}
                    () = shutdown.wait() => {}
                }
            }
        }
    }

    /// One pass: tries every due alert at most once. Returns how many were due.
    ///
    /// Alerts are grouped by violation (the idempotency key starts with its id): groups are
    /// delivered concurrently, up to [`OutboxConfig::concurrency`], and a group's alerts one
    /// after the other, so a receiver sees a violation's `in-alarm` before its
    /// `alarm-cleared`. When one fails, the rest of its group waits for its retry. Deliveries
    /// are recorded in one transaction per pass.
    pub async fn deliver_due(&self) -> fleetward_store::StoreResult<usize> {
        use futures_util::stream::{self, StreamExt};
        let now = self.cfg.clock.now_ms();
        let due = self.store.due_alerts(now, self.cfg.batch).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut targets: HashMap<&str, Result<AlertTarget, String>> = HashMap::new();
        for a in &due {
            if !targets.contains_key(a.target.as_str()) {
                let t = match self.store.get_alert_target(&a.target).await {
                    Ok(Some(t)) => Ok(t),
                    Ok(None) => Err(format!("alert target '{}' does not exist", a.target)),
                    Err(e) => Err(e.to_string()),
                };
                targets.insert(a.target.as_str(), t);
            }
        }
        // Indices into `due`: owned values keep the stream's closure free of borrowed input.
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<&str, usize> = HashMap::new();
        for (n, a) in due.iter().enumerate() {
            let violation = a
                .idempotency_key
                .split(':')
                .next()
                .unwrap_or(&a.idempotency_key);
            let i = *index.entry(violation).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[i].push(n);
        }
        let (targets, due_ref) = (&targets, &due);
        let outcomes: Vec<Vec<(usize, Result<(), String>)>> = stream::iter(groups)
            .map(|group: Vec<usize>| async move {
                let mut out = Vec::with_capacity(group.len());
                let mut failed: Option<String> = None;
                for n in group {
                    let alert = &due_ref[n];
                    if let Some(first) = &failed {
                        out.push((
                            n,
                            Err(format!(
                                "waiting for an earlier alert of the same violation: {first}"
                            )),
                        ));
                        continue;
                    }
                    let result = match targets.get(alert.target.as_str()) {
                        Some(Ok(target)) => self.deliver(target, alert).await,
                        Some(Err(e)) => Err(e.clone()),
                        None => Err(format!("alert target '{}' not looked up", alert.target)),
                    };
                    if let Err(e) = &result {
                        failed = Some(e.clone());
                    }
                    out.push((n, result));
                }
                out
            })
            .buffer_unordered(self.cfg.concurrency.max(1))
            .collect()
            .await;
        let done = self.cfg.clock.now_ms();
        let mut delivered = Vec::new();
        for group in outcomes {
            // The first failure sets when the whole rest of its violation is retried, so the
            // alerts behind it can never overtake it.
            let mut retry_at: Option<i64> = None;
            for (n, result) in group {
                let alert = &due[n];
                let Err(error) = result else {
                    delivered.push(alert.id);
                    continue;
                };
                let attempts = u32::try_from(alert.attempts.saturating_add(1)).unwrap_or(1);
                let next = *retry_at.get_or_insert_with(|| {
                    let delay = backoff(
                        attempts,
                        self.cfg.base_backoff,
                        self.cfg.max_backoff,
                        fastrand::f64(),
                    );
                    done.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(0))
                });
                tracing::warn!(
                    target: "fleetward::alert",
                    alert_target = %alert.target,
                    idempotency_key = %alert.idempotency_key,
                    attempts,
                    retry_in_ms = next.saturating_sub(done),
                    %error,
                    "alert delivery failed"
                );
                if let Err(e) = self.store.mark_alert_failed(alert.id, &error, next).await {
                    tracing::error!(id = alert.id, error = %e, "recording alert failure failed");
                }
            }
        }
        if let Err(e) = self.store.mark_alerts_delivered(&delivered, done).await {
            // They are sent again on the next pass; receivers drop them by Idempotency-Key.
            tracing::error!(n = delivered.len(), error = %e, "recording alert deliveries failed");
        }
        Ok(due.len())
    }

    async fn deliver(&self, target: &AlertTarget, alert: &OutboxAlert) -> Result<(), String> {
        match target.kind {
            AlertTargetKind::Webhook => self.post(target, alert).await,
            AlertTargetKind::Mqtt => {
                let (Some(publish), Some(topic)) = (&self.mqtt, &target.topic) else {
                    return Err(if target.topic.is_none() {
                        "MQTT alert target has no topic".to_owned()
                    } else {
                        "no embedded broker to publish on".to_owned()
                    });
                };
                publish(topic.clone(), alert.body.clone().into_bytes()).await;
                Ok(())
            }
            AlertTargetKind::Log => {
                tracing::warn!(
                    target: "fleetward::alert",
                    alert_target = %target.name,
                    idempotency_key = %alert.idempotency_key,
                    body = %alert.body,
                    "alert"
                );
                Ok(())
            }
        }
    }

    async fn post(&self, target: &AlertTarget, alert: &OutboxAlert) -> Result<(), String> {
        let Some(url) = &target.url else {
            return Err("webhook alert target has no url".to_owned());
        };
        // What logs and the stored error may show of the URL.
        let shown = redact(url);
        let mut req = self
            .http
            .post(url)
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", &alert.idempotency_key);
        if let Some(secret) = &target.secret {
            // The receiver checks the signed time against its own clock to refuse replays, so
            // it is wall-clock time, not the server's (possibly scaled) clock.
            let now = fleetward_core::aws::time::system_now_ms().div_euclid(1000);
            req = req.header(TIMESTAMP_HEADER, now.to_string()).header(
                SIGNATURE_HEADER,
                signature(secret.as_bytes(), now, alert.body.as_bytes()),
            );
        }
        let resp = req
            .body(alert.body.clone())
            .send()
            .await
            .map_err(|e| format!("POST {shown}: {}", e.without_url()))?;
        let status = resp.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("POST {shown}: HTTP {status}"))
        }
    }
}

/// `url` without the credentials it may carry (`https://user:secret@host/…` →
/// `https://***@host/…`) or its query (which often holds a token), for logs and the outbox's
/// stored error.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let had_credentials = !u.username().is_empty() || u.password().is_some();
            let _ = u.set_password(None);
            let _ = u.set_username("");
            if u.query().is_some() {
                u.set_query(Some("***"));
            }
            let text = u.to_string();
            match (had_credentials, text.split_once("://")) {
                (true, Some((scheme, rest))) => format!("{scheme}://***@{rest}"),
                _ => text,
            }
        }
        Err(_) => "(unparsable url)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            redact("https://ops:hunter2@hooks.example/alert?token=abc"),
            "https://***@hooks.example/alert?***"
        );
        assert_eq!(
            redact("http://hooks.example:8080/a"),
            "http://hooks.example:8080/a"
        );
        assert_eq!(redact("not a url"), "(unparsable url)");
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps_at_ten_minutes() {
        let (base, cap) = (Duration::from_secs(1), Duration::from_secs(600));
        assert_eq!(backoff(1, base, cap, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, base, cap, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(4, base, cap, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(4, base, cap, 0.5), Duration::from_secs(6));
        assert_eq!(backoff(20, base, cap, 1.0), cap);
        assert_eq!(
            backoff(u32::MAX, base, cap, 0.99).min(cap),
            backoff(u32::MAX, base, cap, 0.99)
        );
        assert!(backoff(u32::MAX, base, cap, 0.99) <= cap);
    }
}
