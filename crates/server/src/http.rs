//! The HTTP listener: `/healthz` and `/metrics` now; the AWS-compatible API joins it later.
//!
//! It listens on loopback by default: it is an operator surface, not a device one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::registry::Registry;

use crate::broker::EventTx;
use crate::ingest::IngestStats;
use crate::store::Store;

/// What the HTTP handlers read.
#[derive(Clone)]
pub struct HttpState {
    /// The store, for health.
    pub store: Arc<dyn Store>,
    /// Ingest counters.
    pub ingest: Arc<IngestStats>,
    /// Broker events (for the dropped-events counter), when the embedded broker runs.
    pub events: Option<EventTx>,
}

/// Binds the HTTP listener and serves until the process ends.
pub async fn serve(addr: SocketAddr, state: HttpState) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    Ok(local)
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

async fn metrics(State(s): State<HttpState>) -> impl IntoResponse {
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
