//! Security profiles: create, describe, update, delete, list, attach to and detach from
//! targets, validate behaviors, and the ML training summaries a profile's behaviors have.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{
    ANY, DESCRIPTION, NAME, Op, TpsClass, Ty, body, body_req, path, query, query_req,
};
use crate::params::Params;
use crate::{ApiError, ApiState, Body, empty};
use fleetward_service::detect::{
    self as admin, SecurityProfileRequest, UpdateSecurityProfileRequest,
};

use super::{ApiResult, PAGING};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
    Op {
        name: "CreateSecurityProfile",
        method: "POST",
        path: PROFILE,
        members: &[
            path("securityProfileName", NAME),
            PROFILE_BODY[0],
            PROFILE_BODY[1],
            PROFILE_BODY[2],
            PROFILE_BODY[3],
            PROFILE_BODY[4],
            PROFILE_BODY[5],
            PROFILE_BODY[6],
        ],
        output: &["securityProfileName", "securityProfileArn"],
        errors: &[
            "InvalidRequest",
            "ResourceAlreadyExists",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DescribeSecurityProfile",
        method: "GET",
        path: PROFILE,
        members: &[path("securityProfileName", NAME)],
        output: PROFILE_OUT,
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "UpdateSecurityProfile",
        method: "PATCH",
        path: PROFILE,
        members: &[
            path("securityProfileName", NAME),
            query("expectedVersion", Ty::Long),
            PROFILE_BODY[0],
            PROFILE_BODY[1],
            PROFILE_BODY[2],
            PROFILE_BODY[3],
            PROFILE_BODY[4],
            PROFILE_BODY[6],
            body("deleteBehaviors", Ty::Bool),
            body("deleteAlertTargets", Ty::Bool),
            body("deleteAdditionalMetricsToRetain", Ty::Bool),
            body("deleteMetricsExportConfig", Ty::Bool),
        ],
        output: PROFILE_OUT,
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "VersionConflict",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DeleteSecurityProfile",
        method: "DELETE",
        path: PROFILE,
        members: &[
            path("securityProfileName", NAME),
            query("expectedVersion", Ty::Long),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "VersionConflict",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListSecurityProfiles",
        method: "GET",
        path: "/security-profiles",
        members: &[
            PAGING[0],
            PAGING[1],
            query("dimensionName", NAME),
            query("metricName", NAME),
        ],
        output: &["securityProfileIdentifiers", "nextToken"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "AttachSecurityProfile",
        method: "PUT",
        path: TARGETS,
        members: &[
            path("securityProfileName", NAME),
            query_req("securityProfileTargetArn", ANY),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "LimitExceeded",
            "VersionConflict",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DetachSecurityProfile",
        method: "DELETE",
        path: TARGETS,
        members: &[
            path("securityProfileName", NAME),
            query_req("securityProfileTargetArn", ANY),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListTargetsForSecurityProfile",
        method: "GET",
        path: TARGETS,
        members: &[path("securityProfileName", NAME), PAGING[0], PAGING[1]],
        output: &["securityProfileTargets", "nextToken"],
        errors: &[
            "InvalidRequest",
            "ResourceNotFound",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListSecurityProfilesForTarget",
        method: "GET",
        path: "/security-profiles-for-target",
        members: &[
            PAGING[0],
            PAGING[1],
            query("recursive", Ty::Bool),
            query_req("securityProfileTargetArn", ANY),
        ],
        output: &["securityProfileTargetMappings", "nextToken"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ValidateSecurityProfileBehaviors",
        method: "POST",
        path: "/security-profile-behaviors/validate",
        members: &[body_req("behaviors", BEHAVIORS)],
        output: &["valid", "validationErrors"],
        errors: &["InvalidRequest", "Throttling", "InternalFailure"],
        tps: TpsClass::Default,
    },
    Op {
        name: "GetBehaviorModelTrainingSummaries",
        method: "GET",
        path: "/behavior-model-training/summaries",
        members: &[
            query("securityProfileName", NAME),
            query("maxResults", Ty::Int { min: 1, max: 10 }),
            PAGING[0],
        ],
        output: &["summaries", "nextToken"],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            PROFILE,
            post(create_profile)
                .get(describe_profile)
                .patch(update_profile)
                .delete(delete_profile),
        )
        .route("/security-profiles", get(list_profiles))
        .route(TARGETS, put(attach).delete(detach).get(list_targets))
        .route("/security-profiles-for-target", get(profiles_for_target))
        .route("/security-profile-behaviors/validate", post(validate))
        .route(
            "/behavior-model-training/summaries",
            get(training_summaries),
        )
}

const PROFILE: &str = "/security-profiles/{securityProfileName}";

const TARGETS: &str = "/security-profiles/{securityProfileName}/targets";

const BEHAVIORS: Ty = Ty::Doc("list<Behavior> (max 100)");

const PROFILE_BODY: [crate::ops::Member; 7] = [
    body("securityProfileDescription", DESCRIPTION),
    body("behaviors", BEHAVIORS),
    body("alertTargets", Ty::Doc("map<SNS, AlertTarget>")),
    body("additionalMetricsToRetain", Ty::Doc("list<string>")),
    body(
        "additionalMetricsToRetainV2",
        Ty::Doc("list<MetricToRetain>"),
    ),
    body("tags", Ty::Doc("list<Tag>")),
    body("metricsExportConfig", Ty::Doc("MetricsExportConfig")),
];

const PROFILE_OUT: &[&str] = &[
    "securityProfileName",
    "securityProfileArn",
    "securityProfileDescription",
    "behaviors",
    "alertTargets",
    "additionalMetricsToRetainV2",
    "version",
    "creationDate",
    "lastModifiedDate",
];

async fn create_profile(
    State(s): State<ApiState>,
    p: Params,
    Body(mut body): Body<serde_json::Map<String, Value>>,
) -> ApiResult<admin::CreateSecurityProfileResponse> {
    no_metrics_export(&body)?;
    body.insert(
        "securityProfileName".to_owned(),
        Value::String(p.req("securityProfileName").to_owned()),
    );
    let req: SecurityProfileRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    let r = admin::create_security_profile(&s.ctx, &req)
        .await
        .map_err(|e| {
            ApiError::from(e).with_existing(
                &req.security_profile_name,
                s.ctx
                    .scope
                    .arn(&format!("securityprofile/{}", req.security_profile_name)),
            )
        })?;
    Ok(Json(r))
}

/// `metricsExportConfig` is in the model but Fleetward has no metrics export to configure;
/// say so instead of serde's "unknown field".
fn no_metrics_export(body: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    match body.get("metricsExportConfig") {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(ApiError::invalid(
            "metricsExportConfig: not supported (Fleetward has no metrics export)",
        )),
    }
}

async fn describe_profile(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::SecurityProfileDescription> {
    let r = admin::describe_security_profile(&s.ctx, p.req("securityProfileName")).await?;
    Ok(Json(r))
}

async fn update_profile(
    State(s): State<ApiState>,
    p: Params,
    Body(body): Body<serde_json::Map<String, Value>>,
) -> ApiResult<admin::SecurityProfileDescription> {
    no_metrics_export(&body)?;
    let req: UpdateSecurityProfileRequest = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    let r = admin::update_security_profile(
        &s.ctx,
        p.req("securityProfileName"),
        &req,
        p.int("expectedVersion"),
    )
    .await?;
    Ok(Json(r))
}

async fn delete_profile(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    admin::delete_security_profile(
        &s.ctx,
        p.req("securityProfileName"),
        p.int("expectedVersion"),
    )
    .await?;
    Ok(empty())
}

async fn list_profiles(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListSecurityProfilesResponse> {
    let r = admin::list_security_profiles(
        &s.ctx,
        p.str("dimensionName"),
        p.str("metricName"),
        &p.paging(),
    )
    .await?;
    Ok(Json(r))
}

async fn attach(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    admin::attach_security_profile(
        &s.ctx,
        p.req("securityProfileName"),
        p.req("securityProfileTargetArn"),
    )
    .await?;
    Ok(empty())
}

async fn detach(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    admin::detach_security_profile(
        &s.ctx,
        p.req("securityProfileName"),
        p.req("securityProfileTargetArn"),
    )
    .await?;
    Ok(empty())
}

async fn list_targets(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListTargetsForSecurityProfileResponse> {
    let r =
        admin::list_targets_for_security_profile(&s.ctx, p.req("securityProfileName"), &p.paging())
            .await?;
    Ok(Json(r))
}

async fn profiles_for_target(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::ListSecurityProfilesForTargetResponse> {
    let r = admin::list_security_profiles_for_target(
        &s.ctx,
        p.req("securityProfileTargetArn"),
        p.bool("recursive").unwrap_or(false),
        &p.paging(),
    )
    .await?;
    Ok(Json(r))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidateBody {
    behaviors: Vec<Value>,
}

async fn validate(
    State(s): State<ApiState>,
    Body(b): Body<ValidateBody>,
) -> ApiResult<admin::ValidateBehaviorsResponse> {
    let r = admin::validate_security_profile_behaviors(&s.ctx, &b.behaviors).await?;
    Ok(Json(r))
}

async fn training_summaries(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::TrainingSummariesResponse> {
    let r =
        admin::behavior_model_training_summaries(&s.ctx, p.str("securityProfileName"), &p.paging())
            .await?;
    Ok(Json(r))
}
