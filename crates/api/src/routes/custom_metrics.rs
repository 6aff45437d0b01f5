//! Custom metrics: create, describe, update, delete, list.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{CLIENT_TOKEN, NAME, Op, Pat, TpsClass, Ty, body, body_req, path};
use crate::params::Params;
use crate::{ApiState, Body, empty};
use fleetward_service::detect::{self as admin, CreateCustomMetricRequest};

use super::{ApiResult, PAGING, idempotent};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
    Op {
        name: "CreateCustomMetric",
        method: "POST",
        path: CUSTOM_METRIC,
        members: &[
            path("metricName", NAME),
            body("displayName", DISPLAY_NAME),
            body_req("metricType", METRIC_TYPE),
            body("tags", Ty::Doc("list<Tag>")),
            body_req("clientRequestToken", CLIENT_TOKEN),
        ],
        output: &["metricName", "metricArn"],
        errors: &[
            "InvalidRequest",
            "LimitExceeded",
            "ResourceAlreadyExists",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DescribeCustomMetric",
        method: "GET",
        path: CUSTOM_METRIC,
        members: &[path("metricName", NAME)],
        output: &[
            "metricName",
            "metricArn",
            "metricType",
            "displayName",
            "creationDate",
            "lastModifiedDate",
        ],
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "UpdateCustomMetric",
        method: "PATCH",
        path: CUSTOM_METRIC,
        members: &[
            path("metricName", NAME),
            body_req("displayName", DISPLAY_NAME),
        ],
        output: &[
            "metricName",
            "metricArn",
            "metricType",
            "displayName",
            "creationDate",
            "lastModifiedDate",
        ],
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DeleteCustomMetric",
        method: "DELETE",
        path: CUSTOM_METRIC,
        members: &[path("metricName", NAME)],
        output: &[],
        errors: &["InvalidRequest", "Throttling", "InternalFailure"],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListCustomMetrics",
        method: "GET",
        path: "/custom-metrics",
        members: &[PAGING[0], PAGING[1]],
        output: &["metricNames", "nextToken"],
        errors: &["InvalidRequest", "Throttling", "InternalFailure"],
        tps: TpsClass::Default,
    },
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            CUSTOM_METRIC,
            post(create_custom_metric)
                .get(describe_custom_metric)
                .patch(update_custom_metric)
                .delete(delete_custom_metric),
        )
        .route("/custom-metrics", get(list_custom_metrics))
}

const CUSTOM_METRIC: &str = "/custom-metric/{metricName}";

const DISPLAY_NAME: Ty = Ty::Str {
    min: 0,
    max: 128,
    pat: Pat::Printable,
};

const METRIC_TYPE: Ty = Ty::Enum(&["string-list", "ip-address-list", "number-list", "number"]);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateCustomMetricBody {
    #[serde(default)]
    display_name: Option<String>,
    metric_type: String,
    /// Accepted for compatibility; Fleetward does not store tags yet.
    #[serde(default)]
    #[allow(dead_code)]
    tags: Option<Value>,
    /// Required by the model (SDKs fill it in): a repeat with the same token succeeds again.
    client_request_token: String,
}

async fn create_custom_metric(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<CreateCustomMetricBody>,
) -> ApiResult<Value> {
    let req = CreateCustomMetricRequest {
        metric_name: p.req("metricName").to_owned(),
        display_name: b.display_name,
        metric_type: b.metric_type,
    };
    let result = admin::create_custom_metric(&s.ctx, &req).await;
    let token = format!(
        "{}\n{}\n{:?}",
        b.client_request_token, req.metric_type, req.display_name
    );
    idempotent(
        &s,
        "CreateCustomMetric",
        &req.metric_name,
        &token,
        result,
        s.ctx
            .scope
            .arn(&format!("custommetric/{}", req.metric_name)),
    )
}

async fn describe_custom_metric(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::CustomMetricDescription> {
    let r = admin::describe_custom_metric(&s.ctx, p.req("metricName")).await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateCustomMetricBody {
    display_name: String,
}

async fn update_custom_metric(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<UpdateCustomMetricBody>,
) -> ApiResult<admin::CustomMetricDescription> {
    let r = admin::update_custom_metric(&s.ctx, p.req("metricName"), &b.display_name).await?;
    Ok(Json(r))
}

async fn delete_custom_metric(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    admin::delete_custom_metric(&s.ctx, p.req("metricName")).await?;
    Ok(empty())
}

async fn list_custom_metrics(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListCustomMetricsResponse> {
    let r = admin::list_custom_metrics(&s.ctx, &p.paging()).await?;
    Ok(Json(r))
}
