//! Registry routes: the subset of AWS IoT's registry that Detect needs (things, thing groups,
//! certificates, principals, policies).
//!
//! Each handler reads its members (checked against [`OPS`] before it runs), calls
//! [`fleetward_service::registry`] and returns its response. The service layer pokes detection after membership and thing
//! changes, since they change which profiles cover which things.
//!
//! Two members travel where the operation table cannot describe them and are read here:
//! the `principal` of AttachThingPrincipal, DetachThingPrincipal and ListPrincipalThings is the
//! `x-amzn-principal` header. CreateKeysAndCertificate issues with the CA in the service context; without one it answers
//! 503 `ServiceUnavailableException` rather than pretend.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::ops::{
    ANY, MAX_RESULTS, NAME, Op, Pat, TpsClass, Ty, body, body_req, path, query, query_req,
};
use super::params::Params;
use super::{ApiError, ApiState, Body, empty};
use fleetward_service::registry::{
    self as registry, AttributePayload, CreatePolicyRequest, CreateThingGroupRequest,
    CreateThingRequest, ListThingGroupsRequest, ListThingsRequest, MarkerPaging,
    RegisterCertificateRequest, ThingGroupMembershipRequest, ThingGroupProperties,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

const THING: &str = "/things/{thingName}";
const PRINCIPALS: &str = "/things/{thingName}/principals";
const GROUP: &str = "/thing-groups/{thingGroupName}";
const CERTIFICATE: &str = "/certificates/{certificateId}";
const POLICY: &str = "/policies/{policyName}";
/// The `x-amzn-principal` header of AttachThingPrincipal and DetachThingPrincipal.
pub const PRINCIPAL_HEADER: &str = "x-amzn-principal";

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
/// `[\w+=,.@-]+`, 1–128; the character class is checked by the service layer.
const POLICY_NAME: Ty = Ty::Str {
    min: 1,
    max: 128,
    pat: Pat::Any,
};
/// `(0x)?[a-fA-F0-9]+`, exactly 64; the digits are checked by the service layer.
const CERT_ID: Ty = Ty::Str {
    min: 64,
    max: 64,
    pat: Pat::Any,
};
const PEM: Ty = Ty::Str {
    min: 1,
    max: 65_536,
    pat: Pat::Any,
};
const CERT_STATUS: Ty = Ty::Enum(&[
    "ACTIVE",
    "INACTIVE",
    "REVOKED",
    "PENDING_TRANSFER",
    "REGISTER_INACTIVE",
    "PENDING_ACTIVATION",
]);
const PAGE_SIZE: Ty = Ty::Int { min: 1, max: 250 };
const MARKER: Ty = Ty::Str {
    min: 0,
    max: 1024,
    pat: Pat::Any,
};
const PAGING: [super::ops::Member; 2] = [query("nextToken", ANY), query("maxResults", MAX_RESULTS)];

/// The registry operations (botocore's `iot` model).
pub(crate) const OPS: &[Op] = &[
    Op {
        name: "DeleteThingGroup",
        method: "DELETE",
        path: GROUP,
        members: &[
            path("thingGroupName", NAME),
            query("expectedVersion", Ty::Long),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "VersionConflict",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListThingGroupsForThing",
        method: "GET",
        path: "/things/{thingName}/thing-groups",
        members: &[path("thingName", NAME), PAGING[0], PAGING[1]],
        output: &["thingGroups", "nextToken"],
        errors: &[
            "InvalidRequest",
            "InternalFailure",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Describe,
    },
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
    Op {
        name: "CreateThingGroup",
        method: "POST",
        path: GROUP,
        members: &[
            path("thingGroupName", NAME),
            body("parentGroupName", NAME),
            body("thingGroupProperties", Ty::Doc("ThingGroupProperties")),
            body("tags", Ty::Doc("list<Tag>")),
        ],
        output: &["thingGroupName", "thingGroupArn", "thingGroupId"],
        errors: &[
            "InvalidRequest",
            "ResourceAlreadyExists",
            "Throttling",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DescribeThingGroup",
        method: "GET",
        path: GROUP,
        members: &[path("thingGroupName", NAME)],
        output: &[
            "thingGroupName",
            "thingGroupId",
            "thingGroupArn",
            "version",
            "thingGroupProperties",
            "thingGroupMetadata",
        ],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "ListThingGroups",
        method: "GET",
        path: "/thing-groups",
        members: &[
            PAGING[0],
            PAGING[1],
            query("parentGroup", NAME),
            query("namePrefixFilter", NAME),
            query("recursive", Ty::Bool),
        ],
        output: &["thingGroups", "nextToken"],
        errors: &[
            "InvalidRequest",
            "InternalFailure",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "AddThingToThingGroup",
        method: "PUT",
        path: "/thing-groups/addThingToThingGroup",
        members: &[
            body("thingGroupName", NAME),
            body("thingGroupArn", ANY),
            body("thingName", NAME),
            body("thingArn", ANY),
            body("overrideDynamicGroups", Ty::Bool),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "RemoveThingFromThingGroup",
        method: "PUT",
        path: "/thing-groups/removeThingFromThingGroup",
        members: &[
            body("thingGroupName", NAME),
            body("thingGroupArn", ANY),
            body("thingName", NAME),
            body("thingArn", ANY),
        ],
        output: &[],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "InternalFailure",
            "ResourceNotFound",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "ListThingsInThingGroup",
        method: "GET",
        path: "/thing-groups/{thingGroupName}/things",
        members: &[
            path("thingGroupName", NAME),
            query("recursive", Ty::Bool),
            PAGING[0],
            PAGING[1],
        ],
        output: &["things", "nextToken"],
        errors: &[
            "InvalidRequest",
            "InternalFailure",
            "ResourceNotFound",
            "Throttling",
        ],
        tps: TpsClass::Describe,
    },
    Op {
        name: "CreateKeysAndCertificate",
        method: "POST",
        path: "/keys-and-certificate",
        members: &[query("setAsActive", Ty::Bool)],
        output: &[
            "certificateArn",
            "certificateId",
            "certificatePem",
            "keyPair",
        ],
        errors: &[
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "RegisterCertificate",
        method: "POST",
        path: "/certificate/register",
        members: &[
            body_req("certificatePem", PEM),
            body("caCertificatePem", PEM),
            query("setAsActive", Ty::Bool),
            body("status", CERT_STATUS),
        ],
        output: &["certificateArn", "certificateId"],
        errors: &[
            "ResourceAlreadyExists",
            "InvalidRequest",
            "CertificateValidation",
            "CertificateState",
            "CertificateConflict",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
    },
    Op {
        name: "DescribeCertificate",
        method: "GET",
        path: CERTIFICATE,
        members: &[path("certificateId", CERT_ID)],
        output: &["certificateDescription"],
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
        name: "ListCertificates",
        method: "GET",
        path: "/certificates",
        members: &[
            query("pageSize", PAGE_SIZE),
            query("marker", MARKER),
            query("isAscendingOrder", Ty::Bool),
        ],
        output: &["certificates", "nextMarker"],
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
        name: "UpdateCertificate",
        method: "PUT",
        path: CERTIFICATE,
        members: &[
            path("certificateId", CERT_ID),
            query_req("newStatus", CERT_STATUS),
        ],
        output: &[],
        errors: &[
            "ResourceNotFound",
            "CertificateState",
            "InvalidRequest",
            "Throttling",
            "Unauthorized",
            "ServiceUnavailable",
            "InternalFailure",
        ],
        tps: TpsClass::Default,
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
];

/// The registry routes, merged into [`super::router`].
pub(crate) fn routes() -> Router<ApiState> {
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
        .route(
            GROUP,
            post(create_thing_group)
                .get(describe_thing_group)
                .delete(delete_thing_group),
        )
        .route(
            "/things/{thingName}/thing-groups",
            get(list_thing_groups_for_thing),
        )
        .route("/principals/things", get(list_principal_things))
        .route("/attached-policies/{target}", post(list_attached_policies))
        .route("/thing-groups", get(list_thing_groups))
        .route(
            "/thing-groups/addThingToThingGroup",
            put(add_thing_to_group),
        )
        .route(
            "/thing-groups/removeThingFromThingGroup",
            put(remove_thing_from_group),
        )
        .route(
            "/thing-groups/{thingGroupName}/things",
            get(list_things_in_group),
        )
        .route("/keys-and-certificate", post(create_keys_and_certificate))
        .route("/certificate/register", post(register_certificate))
        .route(
            CERTIFICATE,
            get(describe_certificate).put(update_certificate),
        )
        .route("/certificates", get(list_certificates))
        .route(POLICY, post(create_policy).get(get_policy))
        .route("/policies", get(list_policies))
        .route("/target-policies/{policyName}", put(attach_policy))
}

// --- things ------------------------------------------------------------------------------------

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

// --- thing groups ------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateThingGroupBody {
    #[serde(default)]
    parent_group_name: Option<String>,
    #[serde(default)]
    thing_group_properties: Option<ThingGroupProperties>,
    #[serde(default)]
    tags: Option<Value>,
}

async fn create_thing_group(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<CreateThingGroupBody>,
) -> ApiResult<registry::CreateThingGroupResponse> {
    let req = CreateThingGroupRequest {
        thing_group_name: p.req("thingGroupName").to_owned(),
        parent_group_name: b.parent_group_name,
        thing_group_properties: b.thing_group_properties,
        tags: b.tags,
    };
    let r = registry::create_thing_group(&s.ctx, &req)
        .await
        .map_err(|e| {
            ApiError::from(e).with_existing(
                &req.thing_group_name,
                registry::thing_group_arn(&s.ctx.scope, &req.thing_group_name),
            )
        })?;
    Ok(Json(r))
}

async fn describe_thing_group(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::DescribeThingGroupResponse> {
    Ok(Json(
        registry::describe_thing_group(&s.ctx, p.req("thingGroupName")).await?,
    ))
}

async fn delete_thing_group(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    registry::delete_thing_group(&s.ctx, p.req("thingGroupName"), p.int("expectedVersion")).await?;
    Ok(empty())
}

async fn list_thing_groups_for_thing(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingGroupsResponse> {
    Ok(Json(
        registry::list_thing_groups_for_thing(&s.ctx, p.req("thingName"), &p.paging()).await?,
    ))
}

async fn list_thing_groups(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingGroupsResponse> {
    let req = ListThingGroupsRequest {
        paging: p.paging(),
        parent_group: p.str("parentGroup").map(str::to_owned),
        name_prefix_filter: p.str("namePrefixFilter").map(str::to_owned),
        recursive: p.bool("recursive"),
    };
    Ok(Json(registry::list_thing_groups(&s.ctx, &req).await?))
}

async fn add_thing_to_group(
    State(s): State<ApiState>,
    Body(req): Body<ThingGroupMembershipRequest>,
) -> ApiResult<Value> {
    registry::add_thing_to_thing_group(&s.ctx, &req).await?;
    Ok(empty())
}

async fn remove_thing_from_group(
    State(s): State<ApiState>,
    Body(req): Body<ThingGroupMembershipRequest>,
) -> ApiResult<Value> {
    if req.override_dynamic_groups.is_some() {
        return Err(ApiError::invalid(
            "overrideDynamicGroups: not a member of RemoveThingFromThingGroup",
        ));
    }
    registry::remove_thing_from_thing_group(&s.ctx, &req).await?;
    Ok(empty())
}

async fn list_things_in_group(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListThingsInThingGroupResponse> {
    Ok(Json(
        registry::list_things_in_thing_group(
            &s.ctx,
            p.req("thingGroupName"),
            p.bool("recursive").unwrap_or(false),
            &p.paging(),
        )
        .await?,
    ))
}

// --- certificates ------------------------------------------------------------------------------

async fn create_keys_and_certificate(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::CreateKeysAndCertificateResponse> {
    Ok(Json(
        registry::create_keys_and_certificate(&s.ctx, None, p.bool("setAsActive").unwrap_or(false))
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RegisterCertificateBody {
    certificate_pem: String,
    #[serde(default)]
    ca_certificate_pem: Option<String>,
    #[serde(default)]
    status: Option<String>,
}

async fn register_certificate(
    State(s): State<ApiState>,
    p: Params,
    Body(b): Body<RegisterCertificateBody>,
) -> ApiResult<registry::RegisterCertificateResponse> {
    let req = RegisterCertificateRequest {
        certificate_pem: b.certificate_pem,
        ca_certificate_pem: b.ca_certificate_pem,
        set_as_active: p.bool("setAsActive"),
        status: b.status,
    };
    let r = registry::register_certificate(&s.ctx, &req)
        .await
        .map_err(|e| {
            let err = ApiError::from(e);
            // A duplicate parsed, so its id is known; name it as AWS does.
            match fleetward_service::pki::CertFacts::from_pem(&req.certificate_pem) {
                Ok(f) => {
                    let arn = registry::certificate_arn(&s.ctx.scope, &f.id);
                    err.with_existing(&f.id, arn)
                }
                Err(_) => err,
            }
        })?;
    Ok(Json(r))
}

async fn describe_certificate(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::DescribeCertificateResponse> {
    Ok(Json(
        registry::describe_certificate(&s.ctx, p.req("certificateId")).await?,
    ))
}

fn marker_paging(p: &Params) -> MarkerPaging {
    MarkerPaging {
        marker: p.str("marker").map(str::to_owned),
        page_size: p.int("pageSize").and_then(|n| u32::try_from(n).ok()),
        ascending_order: p.bool("isAscendingOrder"),
    }
}

async fn list_certificates(
    State(s): State<ApiState>,
    p: Params,
) -> ApiResult<registry::ListCertificatesResponse> {
    Ok(Json(
        registry::list_certificates(&s.ctx, &marker_paging(&p)).await?,
    ))
}

async fn update_certificate(State(s): State<ApiState>, p: Params) -> ApiResult<Value> {
    registry::update_certificate(&s.ctx, p.req("certificateId"), p.req("newStatus")).await?;
    Ok(empty())
}

// --- policies ----------------------------------------------------------------------------------

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
