//! Things and their principals: create, describe, list, delete, attach and detach a
//! certificate, and the reverse listing of a principal's things.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{NAME, Op, Pat, TpsClass, Ty, body, path, query};
use crate::params::Params;
use crate::{ApiError, ApiState, Body, empty};
use fleetward_service::registry::{
    self as registry, AttributePayload, CreateThingRequest, ListThingsRequest,
};

use super::{ApiResult, PAGING};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
    Op {
        name: "ListPrincipalThings",
        method: "GET",
        path: "/principals/things",
        members: &[PAGING[0], PAGING[1]],
        output: &["things", "nextToken"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "CreateThing",
        method: "POST",
        path: THING,
        members: &[
            path("thingName", NAME),
            body("thingTypeName", NAME),
            body("attributePayload", Ty::Doc("AttributePayload")),
            body("billingGroupName", NAME),
        ],
        output: &["thingName", "thingArn", "thingId"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
            "ResourceAlreadyExists",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DescribeThing",
        method: "GET",
        path: THING,
        members: &[path("thingName", NAME)],
        output: &[
            "defaultClientId",
            "thingName",
            "thingId",
            "thingArn",
            "attributes",
            "version",
        ],
        errors: &[
            "ResourceNotFound",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "ListThings",
        method: "GET",
        path: "/things",
        members: &[
            PAGING[0],
            PAGING[1],
            query("attributeName", ATTRIBUTE_NAME),
            query("attributeValue", ATTRIBUTE_VALUE),
            query("thingTypeName", NAME),
            query("usePrefixAttributeValue", Ty::Bool),
        ],
        output: &["things", "nextToken"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "DeleteThing",
        method: "DELETE",
        path: THING,
        members: &[path("thingName", NAME), query("expectedVersion", Ty::Long)],
        output: &[],
        errors: &[
            "ResourceNotFound",
            "VersionConflict",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "AttachThingPrincipal",
        method: "PUT",
        path: PRINCIPALS,
        members: &[
            path("thingName", NAME),
            query(
                "thingPrincipalType",
                Ty::Enum(&["EXCLUSIVE_THING", "NON_EXCLUSIVE_THING"]),
            ),
        ],
        output: &[],
        errors: &[
            "ResourceNotFound",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DetachThingPrincipal",
        method: "DELETE",
        path: PRINCIPALS,
        members: &[path("thingName", NAME)],
        output: &[],
        errors: &[
            "ResourceNotFound",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListThingPrincipals",
        method: "GET",
        path: PRINCIPALS,
        members: &[PAGING[0], PAGING[1], path("thingName", NAME)],
        output: &["principals", "nextToken"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Describe,
    },
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            THING,
            post(create_thing).get(describe_thing).delete(delete_thing),
        )
        .route("/things", get(list_things))
        .route(
            PRINCIPALS,
            put(attach_thing_principal)
                .delete(detach_thing_principal)
                .get(list_thing_principals),
        )
        .route("/principals/things", get(list_principal_things))
}

const THING: &str = "/things/{thingName}";

const PRINCIPALS: &str = "/things/{thingName}/principals";

/// The `x-amzn-principal` header of AttachThingPrincipal and DetachThingPrincipal.
const PRINCIPAL_HEADER: &str = "x-amzn-principal";

const ATTRIBUTE_NAME: Ty = Ty::Str {
    min: 0,
    max: 128,
    pat: Pat::Any,
};

const ATTRIBUTE_VALUE: Ty = Ty::Str {
    min: 0,
    max: 800,
    pat: Pat::Any,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateThingBody {
    #[serde(default)]
    thing_type_name: Option<String>,
    #[serde(default)]
    attribute_payload: Option<AttributePayload>,
    #[serde(default)]
    billing_group_name: Option<String>,
}

async fn create_thing(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<CreateThingBody>,
) -> ApiResult<registry::CreateThingResponse> {
    let req = CreateThingRequest {
        thing_name: p.req("thingName").to_owned(),
        thing_type_name: b.thing_type_name,
        attribute_payload: b.attribute_payload,
        billing_group_name: b.billing_group_name,
    };
    let r = registry::create_thing(&s.ctx, &req).await.map_err(|e| {
        ApiError::from(e).with_existing(
            &req.thing_name,
            registry::thing_arn(&s.ctx.scope, &req.thing_name),
        )
    })?;
    Ok(Json(r))
}

async fn describe_thing(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::DescribeThingResponse> {
    Ok(Json(
        registry::describe_thing(&s.ctx, p.req("thingName")).await?,
    ))
}

async fn list_things(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingsResponse> {
    let req = ListThingsRequest {
        paging: p.paging(),
        attribute_name: p.str("attributeName").map(str::to_owned),
        attribute_value: p.str("attributeValue").map(str::to_owned),
        thing_type_name: p.str("thingTypeName").map(str::to_owned),
        use_prefix_attribute_value: p.bool("usePrefixAttributeValue"),
    };
    Ok(Json(registry::list_things(&s.ctx, &req).await?))
}

async fn delete_thing(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    registry::delete_thing(&s.ctx, p.req("thingName"), p.int("expectedVersion")).await?;
    Ok(empty())
}

fn principal(headers: &HeaderMap) -> Result<&str, ApiError> {
    match headers.get(PRINCIPAL_HEADER) {
        None => Err(ApiError::invalid(
            "Value null at 'principal' failed to satisfy constraint: Member must not be null",
        )),
        Some(v) => v
            .to_str()
            .map_err(|_| ApiError::invalid("principal: the x-amzn-principal header is not text")),
    }
}

async fn attach_thing_principal(
    State(s): State<ApiState>,
    p: Params,
    headers: HeaderMap,
) -> ApiResult<Value> {
    registry::attach_thing_principal(
        &s.ctx,
        p.req("thingName"),
        principal(&headers)?,
        p.str("thingPrincipalType"),
    )
    .await?;
    Ok(empty())
}

async fn detach_thing_principal(
    State(s): State<ApiState>,
    p: Params,
    headers: HeaderMap,
) -> ApiResult<Value> {
    registry::detach_thing_principal(&s.ctx, p.req("thingName"), principal(&headers)?).await?;
    Ok(empty())
}

async fn list_thing_principals(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingPrincipalsResponse> {
    Ok(Json(
        registry::list_thing_principals(&s.ctx, p.req("thingName"), &p.paging()).await?,
    ))
}

async fn list_principal_things(
    State(s): State<ApiState>,
    p: Params,
    headers: HeaderMap,
) -> ApiResult<registry::ListPrincipalThingsResponse> {
    Ok(Json(
        registry::list_principal_things(&s.ctx, principal(&headers)?, &p.paging()).await?,
    ))
}
