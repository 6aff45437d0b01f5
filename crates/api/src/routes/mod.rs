//! The routes, one module per AWS resource. Each module declares its operations in its own
//! `OPS` (name, method, path, members with the model's constraints, errors, TPS class) and its
//! handlers in `routes()`; [`all_ops`] and [`routes`] chain them, so adding a resource is one
//! file and two lines here.
//!
//! Each handler reads its members (checked against its `OPS` before it runs), calls the service
//! layer and returns its response; edits that change what detection or ingest sees are poked by
//! the service, never here.

mod certificates;
mod custom_metrics;
mod dimensions;
mod policies;

#[cfg(test)]
mod model_tests;
mod security_profiles;
mod thing_groups;
mod things;
mod violations;

use axum::{Json, Router};
use serde_json::Value;

use crate::ops::{ANY, MAX_RESULTS, Op, Pat, Ty, query};
use crate::params::Params;
use crate::{ApiError, ApiState};
use fleetward_service::registry::MarkerPaging;

/// Every operation, in route-module order.
pub(crate) fn all_ops() -> impl Iterator<Item = &'static Op> {
    [
        security_profiles::OPS,
        violations::OPS,
        custom_metrics::OPS,
        dimensions::OPS,
        things::OPS,
        thing_groups::OPS,
        certificates::OPS,
        policies::OPS,
    ]
    .into_iter()
    .flatten()
}

/// The operation routed at `method` + `path` (the route's template, as axum's `MatchedPath`).
pub(crate) fn find_op(method: &str, path: &str) -> Option<&'static Op> {
    all_ops().find(|o| o.method == method && o.path == path)
}

/// Every route.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .merge(security_profiles::routes())
        .merge(violations::routes())
        .merge(custom_metrics::routes())
        .merge(dimensions::routes())
        .merge(things::routes())
        .merge(thing_groups::routes())
        .merge(certificates::routes())
        .merge(policies::routes())
}

/// What a handler returns: the response shape as JSON, or an AWS error.
type ApiResult<T> = Result<Json<T>, ApiError>;

/// `nextToken` and `maxResults`, the paging members of the Detect listings.
const PAGING: [crate::ops::Member; 2] = [query("nextToken", ANY), query("maxResults", MAX_RESULTS)];

/// The answer of a create: a fresh one is remembered under its token; `AlreadyExists` with
/// the token (and the same request) of the create that made the resource replays that
/// create's answer. `token` is the client request token followed by the request's members,
/// so a different request under a reused token is not mistaken for a retry.
fn idempotent<T: serde::Serialize>(
    s: &ApiState,
    op: &'static str,
    name: &str,
    token: &str,
    result: Result<T, fleetward_service::ServiceError>,
    arn: String,
) -> ApiResult<Value> {
    match result {
        Ok(r) => {
            let v = serde_json::to_value(r).map_err(ApiError::internal)?;
            s.tokens.record(op, name, token, v.clone());
            Ok(Json(v))
        }
        Err(e @ fleetward_service::ServiceError::AlreadyExists(_)) => {
            match s.tokens.replay(op, name, token) {
                Some(v) => Ok(Json(v)),
                None => Err(ApiError::from(e).with_existing(name, arn)),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `pageSize`, the registry listings' page size (1–250).
const PAGE_SIZE: Ty = Ty::Int { min: 1, max: 250 };

/// `marker`, the registry listings' paging token.
const MARKER: Ty = Ty::Str {
    min: 0,
    max: 1024,
    pat: Pat::Any,
};

/// The registry listings' `marker`, `pageSize` and `isAscendingOrder` members.
fn marker_paging(p: &Params) -> MarkerPaging {
    MarkerPaging {
        marker: p.str("marker").map(str::to_owned),
        page_size: p.int("pageSize").and_then(|n| u32::try_from(n).ok()),
        ascending_order: p.bool("isAscendingOrder"),
    }
}
