//! Dimensions (topic filters): create, describe, update, delete, list.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{CLIENT_TOKEN, NAME, Op, TpsClass, Ty, body, body_req, path};
use crate::params::Params;
use crate::{ApiState, Body, empty};
use fleetward_service::detect::{self as admin, CreateDimensionRequest};

use super::{ApiResult, PAGING, idempotent};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
    Op {
        name: "CreateDimension",
        method: "POST",
        path: DIMENSION,
        members: &[
            path("name", NAME),
            body_req("type", Ty::Enum(&["TOPIC_FILTER"])),
            body_req("stringValues", STRING_VALUES),
            body("tags", Ty::Doc("list<Tag>")),
            body_req("clientRequestToken", CLIENT_TOKEN),
        ],
        output: &["name", "arn"],
        errors: &[
            "InternalFailure",
            "InvalidRequest",
            "LimitExceeded",
            "ResourceAlreadyExists",
            "Throttling",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DescribeDimension",
        method: "GET",
        path: DIMENSION,
        members: &[path("name", NAME)],
        output: &[
            "name",
            "arn",
            "type",
            "stringValues",
            "creationDate",
            "lastModifiedDate",
        ],
        errors: &[
            "InternalFailure",
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "UpdateDimension",
        method: "PATCH",
        path: DIMENSION,
        members: &[path("name", NAME), body_req("stringValues", STRING_VALUES)],
        output: &[
            "name",
            "arn",
            "type",
            "stringValues",
            "creationDate",
            "lastModifiedDate",
        ],
        errors: &[
            "InternalFailure",
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DeleteDimension",
        method: "DELETE",
        path: DIMENSION,
        members: &[path("name", NAME)],
        output: &[],
        errors: &["InternalFailure", "InvalidRequest", "Throttling"],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListDimensions",
        method: "GET",
        path: "/dimensions",
        members: &[PAGING[0], PAGING[1]],
        output: &["dimensionNames", "nextToken"],
        errors: &["InternalFailure", "InvalidRequest", "Throttling"],
        tps: TpsClass::Default,
    },
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            DIMENSION,
            post(create_dimension)
                .get(describe_dimension)
                .patch(update_dimension)
                .delete(delete_dimension),
        )
        .route("/dimensions", get(list_dimensions))
}

const DIMENSION: &str = "/dimensions/{name}";

const STRING_VALUES: Ty = Ty::StrList {
    min_items: 1,
    max_items: 100,
    max_len: 256,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateDimensionBody {
    #[serde(rename = "type")]
    dimension_type: String,
    string_values: Vec<String>,
    /// Accepted for compatibility; Fleetward does not store tags yet.
    #[serde(default)]
    #[allow(dead_code)]
    tags: Option<Value>,
    /// Required by the model (SDKs fill it in): a repeat with the same token succeeds again.
    client_request_token: String,
}

async fn create_dimension(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<CreateDimensionBody>,
) -> ApiResult<Value> {
    let req = CreateDimensionRequest {
        name: p.req("name").to_owned(),
        dimension_type: b.dimension_type,
        string_values: b.string_values,
    };
    let result = admin::create_dimension(&s.ctx, &req).await;
    let token = format!(
        "{}\n{}\n{:?}",
        b.client_request_token, req.dimension_type, req.string_values
    );
    idempotent(
        &s,
        "CreateDimension",
        &req.name,
        &token,
        result,
        s.ctx.scope.arn(&format!("dimension/{}", req.name)),
    )
}

async fn describe_dimension(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::DimensionDescription> {
    let r = admin::describe_dimension(&s.ctx, p.req("name")).await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateDimensionBody {
    string_values: Vec<String>,
}

async fn update_dimension(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<UpdateDimensionBody>,
) -> ApiResult<admin::DimensionDescription> {
    let r = admin::update_dimension(&s.ctx, p.req("name"), &b.string_values).await?;
    Ok(Json(r))
}

async fn delete_dimension(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    admin::delete_dimension(&s.ctx, p.req("name")).await?;
    Ok(empty())
}

async fn list_dimensions(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListDimensionsResponse> {
    let r = admin::list_dimensions(&s.ctx, &p.paging()).await?;
    Ok(Json(r))
}
