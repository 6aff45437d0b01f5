//! # fleetward-api
//!
//! The AWS-compatible operator API: AWS IoT's REST-JSON routes and shapes over the service
//! layer ([`fleetward_service::detect`], [`fleetward_service::registry`]), so the AWS CLI and SDKs work against
//! Fleetward by changing `--endpoint-url`.
//!
//! Handlers are thin: they read path, query and body members, check them against the model's
//! constraints ([`params`]), call the service layer and serialize its response. Every rule lives
//! in the service layer once; the transports (this API and the CLI) only parse and print.
//!
//! # Adding a resource
//!
//! Each AWS resource has one file in `routes/` (security profiles, violations, custom metrics,
//! dimensions, things, thing groups, certificates, policies). It exposes
//! `pub(super) fn routes() -> Router<ApiState>`, merged in `routes::routes`, and:
//! - declares its operations in its own `pub(super) const OPS: &[ops::Op]` (name, method,
//!   path, members with the model's constraints, errors, TPS class), chained by
//!   `routes::all_ops`: that table checks members before the handler runs, names the operation for
//!   rate limiting and drives `/openapi.json`, and a unit test compares it with botocore's
//!   model (`model/iot-subset.json`);
//! - takes `State<ApiState>`, [`params::Params`] (path and query members, already checked)
//!   and [`Body<T>`] (JSON, `{}` when empty, top-level members checked) and returns
//!   `Result<Json<T>, ApiError>` (or [`empty`] for operations whose response has no members);
//! - never sees authentication or throttling: [`router`] wraps every route in SigV4
//!   verification and the per-key rate limiter.
//!
//! Errors follow AWS's rest-json shape: the status code the model gives the error, the body
//! `{"message": "..."}` and the error name in `x-amzn-ErrorType`, which is where botocore's
//! rest-json parser reads the error code from (before `code` in the body), so SDKs raise the
//! same exception classes they would against AWS.
#![forbid(unsafe_code)]
// Untrusted input flows through this crate: no unwrap outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod auth;
pub mod idempotency;
pub mod keys;
pub mod limit;
mod openapi;
pub mod ops;
pub mod params;
mod routes;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use fleetward_core::aws::{AwsCode, AwsError};
use fleetward_service::{Ctx, ServiceError};

/// Largest request body accepted: a profile with 100 behaviors of 1000 values fits easily.
pub const MAX_BODY: usize = 1024 * 1024;

/// What every API handler reads.
#[derive(Clone)]
pub struct ApiState {
    /// What the service layer's operations run with (store, scope, clock, changes, CA).
    pub ctx: Ctx,
    /// Verifies SigV4 signatures against Fleetward's access keys.
    pub verifier: Arc<auth::Verifier>,
    /// Per-key, per-operation TPS limits.
    pub limiter: Arc<limit::RateLimits>,
    /// `clientRequestToken`s of recent creates, so a retried create succeeds again.
    pub tokens: Arc<idempotency::Tokens>,
}

impl ApiState {
    /// State over `ctx` with AWS's default TPS quotas.
    pub fn new(ctx: Ctx) -> Self {
        ApiState {
            verifier: Arc::new(auth::Verifier::new(ctx.store.clone(), ctx.clock.clone())),
            limiter: Arc::new(limit::RateLimits::new(limit::RateLimitConfig::default())),
            ctx,
            tokens: Arc::default(),
        }
    }
}

/// The whole API: every route module behind authentication and rate limiting, plus the
/// unauthenticated `/openapi.json`.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(routes::routes())
        .method_not_allowed_fallback(unknown_operation)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .route("/openapi.json", axum::routing::get(openapi::document))
        .fallback(unknown_operation)
        .layer(axum::middleware::map_response(request_id))
        .with_state(state)
}

/// Every response carries an `x-amzn-RequestId`, which SDKs surface as the request id
/// (`ResponseMetadata.RequestId` in boto3) and operators quote in bug reports.
async fn request_id(mut resp: Response) -> Response {
    let (a, b) = (fastrand::u64(..), fastrand::u64(..));
    let id = format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

async fn unknown_operation(req: Request) -> ApiError {
    ApiError::coded(
        AwsCode::UnknownOperation,
        format!("no operation at {} {}", req.method(), req.uri().path()),
    )
}

/// An error in AWS's rest-json shape: its row of the error-code table (status and name) and
/// its message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The AWS error, which gives the HTTP status and the `x-amzn-ErrorType` name.
    pub code: AwsCode,
    /// The human-readable message.
    pub message: String,
    /// `resourceId` and `resourceArn` of a `ResourceAlreadyExistsException`, as AWS sends them.
    pub existing: Option<(String, String)>,
}

impl ApiError {
    /// An error of the table's `code`, with `message`.
    pub fn coded(code: AwsCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            existing: None,
        }
    }

    /// Names the resource a `ResourceAlreadyExistsException` is about (other errors are
    /// returned unchanged).
    pub fn with_existing(mut self, id: &str, arn: String) -> Self {
        if self.code == AwsCode::ResourceAlreadyExists {
            self.existing = Some((id.to_owned(), arn));
        }
        self
    }

    /// 400 `InvalidRequestException`: the caller's mistake, named in the message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::coded(AwsCode::InvalidRequest, message)
    }

    /// 404 `ResourceNotFoundException`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::coded(AwsCode::ResourceNotFound, message)
    }

    /// 400 `ThrottlingException`: the model gives Throttling status 400 (botocore retries it
    /// by name, whatever the status).
    pub fn throttled() -> Self {
        Self::coded(AwsCode::Throttling, "Rate exceeded")
    }

    /// 500 `InternalFailureException`; the detail is logged, not sent.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "API internal failure");
        Self::coded(AwsCode::InternalFailure, "internal failure")
    }
}

impl From<ServiceError> for ApiError {
    /// Every service error answers through the one error-code table; an internal failure's
    /// detail is logged, not sent.
    fn from(e: ServiceError) -> Self {
        match e.code() {
            AwsCode::InternalFailure => ApiError::internal(e),
            code => ApiError::coded(code, e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "message": self.message });
        if let Some((id, arn)) = self.existing {
            body["resourceId"] = id.into();
            body["resourceArn"] = arn.into();
        }
        let body = body.to_string();
        let status =
            StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            "x-amzn-errortype",
            HeaderValue::from_static(self.code.name()),
        );
        resp
    }
}

/// A JSON request body, its top-level members checked against the operation's model members
/// ([`params::check_body`]). An empty body reads as `{}` (botocore sends none when no body
/// member is set); the Content-Type is not checked, since SDKs differ in what they send. A body
/// that does not parse is `InvalidRequestException` with serde's message, which names the
/// member.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let op = params::op_of(req.extensions())?;
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
        let value: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::invalid(format!("request body: {e}")))?
        };
        let mut errors = Vec::new();
        params::check_body(op, &value, &mut errors);
        params::finish(errors)?;
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::invalid(format!("request body: {e}")))
    }
}

/// The response of an operation whose output has no members: 200 with `{}`.
pub fn empty() -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({}))
}
