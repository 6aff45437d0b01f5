//! Device Defender Detect routes: security profiles and their targets, behavior validation,
//! violations, metric values, custom metrics, dimensions and ML training summaries.
//!
//! Each handler reads its members (checked against [`OPS`] before it runs), calls
//! [`fleetward_service::detect`] and returns its response. Changes that alter which behaviors watch which
//! things poke detection; custom metric changes poke ingest's type table.

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::ops::{
    ANY, CLIENT_TOKEN, CRITERIA_TYPE, DESCRIPTION, MAX_RESULTS, NAME, Op, Pat, THING_NAME,
    TpsClass, Ty, VERIFICATION_STATE, VIOLATION_ID, body, body_req, path, query, query_req,
};
use super::params::Params;
use super::{ApiError, ApiState, Body, empty};
use fleetward_service::detect::{
    self as admin, CreateCustomMetricRequest, CreateDimensionRequest, MetricValuesQuery,
    SecurityProfileRequest, UpdateSecurityProfileRequest, ViolationFilters,
};
use fleetward_store::ViolationEventFilter;

type ApiResult<T> = Result<Json<T>, ApiError>;

const PROFILE: &str = "/security-profiles/{securityProfileName}";
const TARGETS: &str = "/security-profiles/{securityProfileName}/targets";
const CUSTOM_METRIC: &str = "/custom-metric/{metricName}";
const DIMENSION: &str = "/dimensions/{name}";

const DISPLAY_NAME: Ty = Ty::Str {
    min: 0,
    max: 128,
    pat: Pat::Printable,
};
const VERIFICATION_DESCRIPTION: Ty = Ty::Str {
    min: 0,
    max: 1000,
    pat: Pat::NoControl,
};
const METRIC_TYPE: Ty = Ty::Enum(&["string-list", "ip-address-list", "number-list", "number"]);
const STRING_VALUES: Ty = Ty::StrList {
    min_items: 1,
    max_items: 100,
    max_len: 256,
};
const BEHAVIORS: Ty = Ty::Doc("list<Behavior> (max 100)");

const PROFILE_BODY: [super::ops::Member; 7] = [
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

const PAGING: [super::ops::Member; 2] = [query("nextToken", ANY), query("maxResults", MAX_RESULTS)];

/// The Detect operations (service-side.md Appendix A).
pub(crate) const OPS: &[Op] = &[
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

/// The Detect routes.
pub(crate) fn routes() -> Router<ApiState> {
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
        .route("/active-violations", get(active_violations))
        .route("/violation-events", get(violation_events))
        .route(
            "/violations/verification-state/{violationId}",
            post(verification_state),
        )
        .route("/metric-values", get(metric_values))
        .route(
            CUSTOM_METRIC,
            post(create_custom_metric)
                .get(describe_custom_metric)
                .patch(update_custom_metric)
                .delete(delete_custom_metric),
        )
        .route("/custom-metrics", get(list_custom_metrics))
        .route(
            DIMENSION,
            post(create_dimension)
                .get(describe_dimension)
                .patch(update_dimension)
                .delete(delete_dimension),
        )
        .route("/dimensions", get(list_dimensions))
        .route(
            "/behavior-model-training/summaries",
            get(training_summaries),
        )
}

// --- security profiles -----------------------------------------------------------------------

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

// --- violations and metric values -------------------------------------------------------------

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

// --- custom metrics ----------------------------------------------------------------------------

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

// --- dimensions --------------------------------------------------------------------------------

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

async fn training_summaries(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<admin::TrainingSummariesResponse> {
    let r =
        admin::behavior_model_training_summaries(&s.ctx, p.str("securityProfileName"), &p.paging())
            .await?;
    Ok(Json(r))
}
