//! Violations and metric values: active violations, violation events, verification state,
//! and ListMetricValues.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{
    ANY, CRITERIA_TYPE, NAME, Op, Pat, THING_NAME, TpsClass, Ty, VERIFICATION_STATE, VIOLATION_ID,
    body, body_req, path, query, query_req,
};
use crate::params::Params;
use crate::{ApiState, Body, empty};
use fleetward_service::detect::{self as admin, MetricValuesQuery, ViolationFilters};
use fleetward_store::ViolationEventFilter;

use super::{ApiResult, PAGING};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
    Op {
        name: "ListActiveViolations",
        method: "GET",
        path: "/active-violations",
        members: &[
            query("thingName", THING_NAME),
            query("securityProfileName", NAME),
            query("behaviorCriteriaType", CRITERIA_TYPE),
            query("listSuppressedAlerts", Ty::Bool),
            query("verificationState", VERIFICATION_STATE),
            PAGING[0],
            PAGING[1],
        ],
        output: &["activeViolations", "nextToken"],
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListViolationEvents",
        method: "GET",
        path: "/violation-events",
        members: &[
            query_req("startTime", Ty::Timestamp),
            query_req("endTime", Ty::Timestamp),
            query("thingName", THING_NAME),
            query("securityProfileName", NAME),
            query("behaviorCriteriaType", CRITERIA_TYPE),
            query("listSuppressedAlerts", Ty::Bool),
            query("verificationState", VERIFICATION_STATE),
            PAGING[0],
            PAGING[1],
        ],
        output: &["violationEvents", "nextToken"],
        errors: &["InvalidRequest", "Throttling", "InternalFailure"],
        tps: TpsClass::Default,
    },
    Op {
        name: "PutVerificationStateOnViolation",
        method: "POST",
        path: "/violations/verification-state/{violationId}",
        members: &[
            path("violationId", VIOLATION_ID),
            body_req("verificationState", VERIFICATION_STATE),
            body("verificationStateDescription", VERIFICATION_DESCRIPTION),
        ],
        output: &[],
        errors: &["InvalidRequest", "Throttling", "InternalFailure"],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListMetricValues",
        method: "GET",
        path: "/metric-values",
        members: &[
            query_req("thingName", THING_NAME),
            query_req("metricName", ANY),
            query("dimensionName", NAME),
            query("dimensionValueOperator", Ty::Enum(&["IN", "NOT_IN"])),
            query_req("startTime", Ty::Timestamp),
            query_req("endTime", Ty::Timestamp),
            PAGING[1],
            PAGING[0],
        ],
        output: &["metricDatumList", "nextToken"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::MetricValues,
    },
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/active-violations", get(active_violations))
        .route("/violation-events", get(violation_events))
        .route(
            "/violations/verification-state/{violationId}",
            post(verification_state),
        )
        .route("/metric-values", get(metric_values))
}

const VERIFICATION_DESCRIPTION: Ty = Ty::Str {
    min: 0,
    max: 1000,
    pat: Pat::NoControl,
};

fn violation_filters(p: &Params) -> ViolationFilters {
    ViolationFilters {
        behavior_criteria_type: p.str("behaviorCriteriaType").map(str::to_owned),
        list_suppressed_alerts: p.bool("listSuppressedAlerts"),
        verification_state: p.str("verificationState").map(str::to_owned),
    }
}

async fn active_violations(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListActiveViolationsResponse> {
    let r = admin::list_active_violations(
        &s.ctx,
        p.str("thingName"),
        p.str("securityProfileName"),
        &violation_filters(&p),
        &p.paging(),
    )
    .await?;
    Ok(Json(r))
}

async fn violation_events(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListViolationEventsResponse> {
    let filter = ViolationEventFilter {
        thing: p.str("thingName").map(str::to_owned),
        profile: p.str("securityProfileName").map(str::to_owned),
        from_ms: p.time_ms("startTime").unwrap_or_default(),
        to_ms: p.time_ms("endTime").unwrap_or_default(),
    };
    let r =
        admin::list_violation_events(&s.ctx, &filter, &violation_filters(&p), &p.paging()).await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct VerificationBody {
    verification_state: String,
    #[serde(default)]
    verification_state_description: Option<String>,
}

async fn verification_state(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<VerificationBody>,
) -> ApiResult<Value> {
    admin::put_verification_state(
        &s.ctx,
        p.req("violationId"),
        &b.verification_state,
        b.verification_state_description.as_deref(),
    )
    .await?;
    Ok(empty())
}

async fn metric_values(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListMetricValuesResponse> {
    let q = MetricValuesQuery {
        thing: p.req("thingName"),
        metric: p.req("metricName"),
        dimension: p.str("dimensionName"),
        operator: p.str("dimensionValueOperator"),
        from_ms: p.time_ms("startTime").unwrap_or_default(),
        to_ms: p.time_ms("endTime").unwrap_or_default(),
    };
    let r = admin::list_metric_values(&s.ctx, &q, &p.paging()).await?;
    Ok(Json(r))
}
