//! The HTTP listener: `/healthz`, `/metrics` and the AWS-compatible API ([`fleetward_api`]) on
//! one port, optionally over TLS.
//!
//! It listens on loopback by default: it is an operator surface, not a device one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use crate::supervisor::Shutdown;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::broker::EventTx;
use crate::broker::sessions::{CloseReason, SessionStats};
use crate::detection::{DetectionStats, EventCounts};
use crate::ingest::IngestStats;
use fleetward_store::Store;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// The store, for health.
    pub store: Arc<dyn Store>,
    /// Ingest counters.
    pub ingest: Arc<IngestStats>,
    /// Broker events (for the dropped-events counter), when the embedded broker runs.
    pub events: Option<EventTx>,
    /// Detection's counters: violation events per profile and behavior.
    pub detection: Option<Arc<DetectionStats>>,
    /// Live sessions the embedded broker closed after an identity edit, by reason.
    pub sessions: Option<Arc<SessionStats>>,
    /// Whether `/metrics` answers other hosts than loopback. Its labels name profiles and
    /// behaviors, which tell an attacker what is watched, so by default only a scraper on the
    /// same host (or behind a local proxy) reads it.
    pub metrics_public: bool,
}

/// Requests handled at once across the listener; more wait for a slot (until their timeout).
pub const MAX_CONCURRENT_REQUESTS: usize = 256;

/// How long one request may take, body upload included, before it is answered 408.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A bound HTTP listener's serving loop: returns once `shutdown` fired and the requests in
/// flight were answered, or with the error that stopped it.
pub type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// A TLS certificate chain and its private key (PEM files): the HTTP listener's, or the
/// operator's own MQTT server certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, PEM.
    pub cert: std::path::PathBuf,
    /// Private key, PEM.
    pub key: std::path::PathBuf,
}

/// Binds the HTTP listener (plain, or TLS with `tls`) and serves `/healthz`, `/metrics` and
/// `api` (the AWS-compatible API and `/openapi.json`) on it. Returns the bound address and
/// the serving loop for the caller to run (under the supervisor), which stops accepting when
/// `shutdown` fires and returns once the requests in flight are answered.
pub async fn serve_with(
    addr: SocketAddr,
    state: HttpState,
    api: Router,
    tls: Option<&TlsFiles>,
    mut shutdown: Shutdown,
) -> std::io::Result<(SocketAddr, Serving)> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
        .merge(api)
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(tower::limit::GlobalConcurrencyLimitLayer::new(
            MAX_CONCURRENT_REQUESTS,
        ));
    if let Some(tls) = tls {
        // axum-server does each TLS handshake in its connection's task, so a slow client
        // cannot hold up the accept loop.
        let config =
            axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key).await?;
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let local = listener.local_addr()?;
        let handle = axum_server::Handle::new();
        let server = axum_server::from_tcp_rustls(listener, config).handle(handle.clone());
        let serving = async move {
            tokio::spawn(async move {
                shutdown.wait().await;
                // Stop accepting; give requests in flight 3 s to be answered.
                handle.graceful_shutdown(Some(std::time::Duration::from_secs(3)));
            });
            server
                .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                .await
                .map_err(|e| format!("HTTPS server: {e}"))
        };
        return Ok((local, Box::pin(serving)));
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let serving = async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { shutdown.wait().await })
        .await
        .map_err(|e| format!("HTTP server: {e}"))
    };
    Ok((local, Box::pin(serving)))
}

async fn healthz(State(s): State<HttpState>) -> impl IntoResponse {
    match s.store.count_reports().await {
        Ok(n) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "reports": n})),
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "unavailable", "error": e.to_string()})),
        ),
    }
}

/// Labels of the per-behavior violation counters, named as AWS's CloudWatch dimensions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BehaviorLabels {
    security_profile_name: String,
    behavior: String,
}

/// Labels of the closed-sessions counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// `sessions_closed{reason}`: live sessions closed because the registry no longer allows
/// them (a revoked or detached certificate, a policy that no longer allows the client id);
/// `connections_refused{reason}`: CONNECTs refused (an unknown certificate, a takeover, a
/// full broker, …), so a hostile device's attempts show even when it names no thing.
fn register_sessions(registry: &mut Registry, stats: &SessionStats) {
    let family = Family::<ReasonLabels, Counter>::default();
    for reason in CloseReason::ALL {
        family
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc_by(stats.closed(reason));
    }
    registry.register(
        "sessions_closed",
        "Live MQTT sessions closed after an identity edit, by reason",
        family,
    );
    let refused = Family::<ReasonLabels, Counter>::default();
    for (reason, n) in stats.refused() {
        refused.get_or_create(&ReasonLabels { reason }).inc_by(n);
    }
    registry.register(
        "connections_refused",
        "MQTT CONNECTs refused, by reason",
        refused,
    );
}

/// AWS's Detect CloudWatch metrics `Violations`, `ViolationsCleared` and
/// `ViolationsInvalidated` per (profile, behavior), plus detection's own counters.
fn register_detection(registry: &mut Registry, d: &DetectionStats) {
    /// A counter family: name, help, and which count of a behavior it reports.
    type CounterFamily = (&'static str, &'static str, fn(&EventCounts) -> u64);
    let families: [CounterFamily; 3] = [
        ("violations", "Violations raised (in-alarm events)", |c| {
            c.violations
        }),
        (
            "violations_cleared",
            "Violations cleared (alarm-cleared events)",
            |c| c.cleared,
        ),
        (
            "violations_invalidated",
            "Violations invalidated (alarm-invalidated events)",
            |c| c.invalidated,
        ),
    ];
    let snapshot = d.snapshot();
    for (name, help, pick) in families {
        let family = Family::<BehaviorLabels, Counter>::default();
        for ((profile, behavior), counts) in &snapshot {
            family
                .get_or_create(&BehaviorLabels {
                    security_profile_name: profile.clone(),
                    behavior: behavior.clone(),
                })
                .inc_by(pick(counts));
        }
        registry.register(name, help, family);
    }
    let own = [
        (
            "detection_reports",
            "Reports evaluated by detection",
            d.reports.load(Relaxed),
        ),
        (
            "detection_cloud_datapoints",
            "Cloud-side datapoints evaluated by detection",
            d.cloud_datapoints.load(Relaxed),
        ),
        (
            "detection_dropped",
            "Reports and cloud-side batches not evaluated because detection lagged",
            d.dropped.load(Relaxed),
        ),
    ];
    for (name, help, value) in own {
        registry.register(name, help, ConstCounter::new(value));
    }
}

async fn metrics(
    State(s): State<HttpState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
) -> axum::response::Response {
    if !metrics_allowed(peer.ip(), s.metrics_public) {
        return (
            StatusCode::FORBIDDEN,
            "/metrics answers loopback only; start serve with --metrics-public to serve it to other hosts\n",
        )
            .into_response();
    }
    metrics_body(&s).into_response()
}

/// Whether `/metrics` answers `peer`: loopback always, others only when made public.
fn metrics_allowed(peer: std::net::IpAddr, public: bool) -> bool {
    // Canonical first, so an IPv4-mapped IPv6 loopback (`::ffff:127.0.0.1`) counts too.
    public || peer.to_canonical().is_loopback()
}

fn metrics_body(s: &HttpState) -> impl IntoResponse + use<> {
    let mut registry = Registry::with_prefix("fleetward");
    let i = &s.ingest;
    let counters = [
        (
            "reports_accepted",
            "Reports answered ACCEPTED (including redeliveries)",
            i.accepted.load(Relaxed),
        ),
        (
            "reports_rejected",
            "Reports answered REJECTED",
            i.rejected.load(Relaxed),
        ),
        (
            "reports_throttled",
            "Reports rejected as Throttled",
            i.throttled.load(Relaxed),
        ),
        (
            "reports_redelivered",
            "Redelivered reports answered without storing",
            i.redelivered.load(Relaxed),
        ),
        (
            "reports_store_failures",
            "Reports that could not be stored (not answered)",
            i.store_failures.load(Relaxed),
        ),
        (
            "broker_events_dropped",
            "Broker events dropped because the metrics consumer lagged",
            s.events.as_ref().map_or(0, EventTx::dropped),
        ),
    ];
    for (name, help, value) in counters {
        registry.register(name, help, ConstCounter::new(value));
    }
    if let Some(d) = &s.detection {
        register_detection(&mut registry, d);
    }
    if let Some(stats) = &s.sessions {
        register_sessions(&mut registry, stats);
    }
    let mut body = String::new();
    match encode(&mut body, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            "encoding metrics failed".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::metrics_allowed;

    #[test]
    fn metrics_answer_loopback_unless_made_public() {
        for local in ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1"] {
            assert!(metrics_allowed(local.parse().unwrap(), false), "{local}");
        }
        for remote in ["10.0.0.7", "192.168.1.2", "2001:db8::1", "::ffff:10.0.0.7"] {
            assert!(!metrics_allowed(remote.parse().unwrap(), false), "{remote}");
            assert!(metrics_allowed(remote.parse().unwrap(), true), "{remote}");
        }
    }
}
