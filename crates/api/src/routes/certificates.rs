//! Certificates: CreateKeysAndCertificate (from Fleetward's CA), RegisterCertificate,
//! describe, list and status updates.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::ops::{Op, Pat, TpsClass, Ty, body, body_req, path, query, query_req};
use crate::params::Params;
use crate::{ApiError, ApiState, Body, empty};
use fleetward_service::registry::{self as registry, RegisterCertificateRequest};

use super::{ApiResult, MARKER, PAGE_SIZE, marker_paging};

/// The operations of this resource.
pub(super) const OPS: &[Op] = &[
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
];

/// The routes of this resource.
pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/keys-and-certificate", post(create_keys_and_certificate))
        .route("/certificate/register", post(register_certificate))
        .route(
            CERTIFICATE,
            get(describe_certificate).put(update_certificate),
        )
        .route("/certificates", get(list_certificates))
}

const CERTIFICATE: &str = "/certificates/{certificateId}";

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
