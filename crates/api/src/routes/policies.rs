//! IoT policies: create, get, list, delete, attach to and detach from a principal, the
//! policies attached to one and the principals one is attached to.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{ANY, Op, Pat, TpsClass, Ty, body, body_req, path, query};
use crate::params::Params;
use crate::{ApiError, ApiState, Body, empty};
use fleetward_service::registry::{self as registry, CreatePolicyRequest};

use super::{ApiResult, MARKER, PAGE_SIZE, marker_paging};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
    Op {
        name: "ListAttachedPolicies",
        method: "POST",
        path: "/attached-policies/{target}",
        members: &[
            path("target", ANY),
            query("recursive", Ty::Bool),
            query("marker", MARKER),
            query("pageSize", PAGE_SIZE),
        ],
        output: &["policies", "nextMarker"],
        errors: &[
            "ResourceNotFound",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
            "LimitExceeded",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "CreatePolicy",
        method: "POST",
        path: POLICY,
        members: &[
            path("policyName", POLICY_NAME),
            body_req(
                "policyDocument",
                Ty::Str {
                    min: 0,
                    max: 404_600,
                    pat: Pat::Any,
                },
            ),
            body("tags", Ty::Doc("list<Tag>")),
        ],
        output: &[
            "policyName",
            "policyArn",
            "policyDocument",
            "policyVersionId",
        ],
        errors: &[
            "ResourceAlreadyExists",
            "MalformedPolicy",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "GetPolicy",
        method: "GET",
        path: POLICY,
        members: &[path("policyName", POLICY_NAME)],
        output: &[
            "policyName",
            "policyArn",
            "policyDocument",
            "defaultVersionId",
            "creationDate",
            "lastModifiedDate",
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
        name: "ListPolicies",
        method: "GET",
        path: "/policies",
        members: &[
            query("marker", MARKER),
            query("pageSize", PAGE_SIZE),
            query("isAscendingOrder", Ty::Bool),
        ],
        output: &["policies", "nextMarker"],
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
        name: "AttachPolicy",
        method: "PUT",
        path: "/target-policies/{policyName}",
        members: &[path("policyName", POLICY_NAME), body_req("target", ANY)],
        output: &[],
        errors: &[
            "ResourceNotFound",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
            "LimitExceeded",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DetachPolicy",
        method: "POST",
        path: "/target-policies/{policyName}",
        members: &[path("policyName", POLICY_NAME), body_req("target", ANY)],
        output: &[],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
            "LimitExceeded",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DeletePolicy",
        method: "DELETE",
        path: POLICY,
        members: &[path("policyName", POLICY_NAME)],
        output: &[],
        errors: &[
            "DeleteConflict",
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
        name: "ListTargetsForPolicy",
        method: "POST",
        path: "/policy-targets/{policyName}",
        members: &[
            path("policyName", POLICY_NAME),
            query("marker", MARKER),
            query("pageSize", PAGE_SIZE),
        ],
        output: &["targets", "nextMarker"],
        errors: &[
            "ResourceNotFound",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
            "LimitExceeded",
        ],
        tps: TpsClass::Describe,
    },
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/attached-policies/{target}", post(list_attached_policies))
        .route(
            POLICY,
            post(create_policy).get(get_policy).delete(delete_policy),
        )
        .route("/policies", get(list_policies))
        .route(
            "/target-policies/{policyName}",
            put(attach_policy).post(detach_policy),
        )
        .route(
            "/policy-targets/{policyName}",
            post(list_targets_for_policy),
        )
}

const POLICY: &str = "/policies/{policyName}";

/// `[\w+=,.@-]+`, 1–128; the character class is checked by the service layer.
const POLICY_NAME: Ty = Ty::Str {
    min: 1,
    max: 128,
    pat: Pat::Any,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreatePolicyBody {
    policy_document: String,
    #[serde(default)]
    tags: Option<Value>,
}

async fn create_policy(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<CreatePolicyBody>,
) -> ApiResult<registry::CreatePolicyResponse> {
    let req = CreatePolicyRequest {
        policy_name: p.req("policyName").to_owned(),
        policy_document: b.policy_document,
        tags: b.tags,
    };
    let r = registry::create_policy(&s.ctx, &req).await.map_err(|e| {
        ApiError::from(e).with_existing(
            &req.policy_name,
            registry::policy_arn(&s.ctx.scope, &req.policy_name),
        )
    })?;
    Ok(Json(r))
}

async fn get_policy(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::GetPolicyResponse> {
    Ok(Json(
        registry::get_policy(&s.ctx, p.req("policyName")).await?,
    ))
}

async fn list_policies(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListPoliciesResponse> {
    Ok(Json(
        registry::list_policies(&s.ctx, &marker_paging(&p)).await?,
    ))
}

async fn list_attached_policies(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListPoliciesResponse> {
    Ok(Json(
        registry::list_attached_policies(&s.ctx, p.req("target"), &marker_paging(&p)).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttachPolicyBody {
    target: String,
}

async fn attach_policy(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<AttachPolicyBody>,
) -> ApiResult<Value> {
    registry::attach_policy(&s.ctx, p.req("policyName"), &b.target).await?;
    Ok(empty())
}

async fn detach_policy(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<AttachPolicyBody>,
) -> ApiResult<Value> {
    registry::detach_policy(&s.ctx, p.req("policyName"), &b.target).await?;
    Ok(empty())
}

async fn delete_policy(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    registry::delete_policy(&s.ctx, p.req("policyName")).await?;
    Ok(empty())
}

async fn list_targets_for_policy(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListTargetsForPolicyResponse> {
    Ok(Json(
        registry::list_targets_for_policy(&s.ctx, p.req("policyName"), &marker_paging(&p)).await?,
    ))
}
