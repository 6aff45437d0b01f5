//! The API under test: the router over a temporary data directory, and a SigV4 client whose
//! requests go straight to it.

use std::sync::Arc;

use axum::body::Body;
use fleetward_api::limit::{RateLimitConfig, RateLimits};
use fleetward_api::{ApiState, router};
use fleetward_core::aws::ArnScope;
use fleetward_service::{CountChanges, Ctx};
use fleetward_store::Store;
use fleetward_store::sqlite::SqliteStore;
use fleetward_testkit::sigv4::{Client, Key};
use tower::ServiceExt;

/// What a test can look at besides the API: the store behind it, the data directory, and the
/// edits the service layer reported.
pub struct TestApi {
    /// Keeps the data directory alive as long as the test.
    _dir: tempfile::TempDir,
    pub store: Arc<SqliteStore>,
    pub changes: Arc<CountChanges>,
}

impl TestApi {
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }
}

/// The API with no rate limits, and a client signed with the admin key.
pub async fn server() -> (TestApi, Client) {
    server_with(RateLimitConfig::UNLIMITED).await
}

/// The API with `limits`, and a client signed with the admin key.
pub async fn server_with(limits: RateLimitConfig) -> (TestApi, Client) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (store, ca, _) = fleetward_service::data_dir::open(&data)
        .await
        .expect("data dir");
    fleetward_api::keys::ensure_admin_key(store.as_ref(), &data, "us-east-1")
        .await
        .expect("admin key");
    let changes = Arc::new(CountChanges::default());
    let ctx = Ctx::new(store.clone())
        .with_scope(ArnScope::new("us-east-1", "000000000000"))
        .with_changes(changes.clone())
        .with_ca(Arc::new(ca));
    let mut state = ApiState::new(ctx);
    state.limiter = Arc::new(RateLimits::new(limits));
    let app = router(state);
    let client = Client::new("http://api.test", Key::admin(&data)).via(Arc::new(move |req| {
        let app = app.clone();
        Box::pin(async move {
            let resp = app
                .oneshot(req.map(Body::from))
                .await
                .expect("the router is infallible");
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("response body");
            http::Response::from_parts(parts, bytes.to_vec())
        })
    }));
    (
        TestApi {
            _dir: dir,
            store,
            changes,
        },
        client,
    )
}

/// An ARN in the test account and region.
pub fn arn(resource: &str) -> String {
    format!("arn:aws:iot:us-east-1:000000000000:{resource}")
}
