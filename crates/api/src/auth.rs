//! AWS Signature Version 4 verification against the access keys Fleetward manages.
//!
//! The signature is not checked by re-implementing SigV4: the request as received (method,
//! path and query as sent, the headers the client signed, the body or its declared hash) is
//! signed again with `aws-sigv4`, the signer the AWS SDK for Rust uses, with the key's secret,
//! the client's date, region and service, and the two signatures are compared in constant time.
//! The settings are the ones AWS's non-S3 services expect: the path is double-encoded, no
//! header is excluded beyond those the client chose not to sign, the payload hash is not added
//! as a header.
//!
//! What AWS answers, and so do we (403 unless noted), with the error names SDKs know:
//! - no `Authorization` header: `MissingAuthenticationTokenException`;
//! - a malformed one, or one for another algorithm or service: `IncompleteSignatureException`;
//! - an unknown or disabled access key: `UnrecognizedClientException`;
//! - a wrong signature, or an `x-amz-date` more than 15 minutes from our clock:
//!   `InvalidSignatureException` (AWS's "Signature expired" wording for the latter, which SDKs
//!   recognise as clock skew).
//!
//! Presigned URLs (the signature in `X-Amz-*` query parameters, valid for `X-Amz-Expires`
//! seconds) are accepted too; their payload is `UNSIGNED-PAYLOAD` as botocore presigns, or the
//! body's hash. `UNSIGNED-PAYLOAD` (presigned or in `x-amz-content-sha256`) is accepted only
//! for GET and HEAD: a request that changes state must sign its body.
//!
//! The form, scope and time of the signature and the access key are checked before the body
//! is read, so an unauthenticated client cannot make the server buffer a body.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleetward_core::aws::{AwsCode, Clock};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation,
    SigningSettings, UriPathNormalizationMode, sign,
};
use axum::body::{Body as AxumBody, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::{ApiError, ApiState, MAX_BODY};
use fleetward_store::Store;

/// The only algorithm AWS's services accept from SDKs.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The signing name in AWS IoT's model.
pub const SERVICE: &str = "iot";
/// Largest difference between the request's date and ours, as AWS allows.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// `last_used_at` is written at most this often per key, so authentication does not turn
/// every API call into a durable write.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The identity a verified request carries (a request extension for handlers that care).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The access key id that signed it.
    pub access_key_id: String,
}

/// A request whose headers passed [`Verifier::check_headers`], waiting for its body.
pub struct Checked {
    header: AuthHeader,
    secret: String,
    access_key_id: String,
    when: SystemTime,
}

/// Verifies signatures against the store's access keys.
pub struct Verifier {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    touched: Mutex<HashMap<String, i64>>,
}

impl Verifier {
    /// A verifier over `store`'s keys, checking request times against `clock`.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Verifier {
            store,
            clock,
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// Now, as the signature check compares request times with it.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(u64::try_from(self.clock.now_ms()).unwrap_or(0))
    }

    /// Checks the request's signature; returns the access key id on success.
    pub async fn verify(
        &self,
        parts: &Parts,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Caller, ApiError> {
        let checked = self.check_headers(parts, now).await?;
        self.check_signature(parts, body, checked).await
    }

    /// What can be checked before the body is read: the signature's form and scope, the
    /// request time against the clock, the access key, and that a request changing state does
    /// not declare its payload unsigned. A request failing these costs no body read.
    pub async fn check_headers(&self, parts: &Parts, now: SystemTime) -> Result<Checked, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        let (h, amz_date) = match parts.headers.get(axum::http::header::AUTHORIZATION) {
            Some(auth) => {
                let auth = auth
                    .to_str()
                    .map_err(|_| incomplete("Authorization header is not ASCII"))?;
                let amz_date = parts
                    .headers
                    .get("x-amz-date")
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header; only X-Amz-Date is supported")
                    })?;
                (parse_authorization(auth)?, amz_date.to_owned())
            }
            None if query_param(query, "X-Amz-Signature").is_some() => parse_presigned(parts)?,
            None => return Err(missing_token()),
        };
        if h.service != SERVICE {
            return Err(incomplete(format!(
                "Credential should be scoped to correct service: '{SERVICE}'."
            )));
        }
        let when = parse_amz_date(&amz_date).ok_or_else(|| {
            incomplete(format!("X-Amz-Date '{amz_date}' is not yyyyMMddTHHmmssZ"))
        })?;
        if !amz_date.starts_with(&h.date) {
            return Err(invalid_signature(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
                h.date,
                amz_date.get(..8).unwrap_or(&amz_date)
            )));
        }
        match &h.presigned {
            None => check_skew(when, now, &amz_date)?,
            Some(p) => check_presigned_window(when, p.expires, now, &amz_date)?,
        }

        let key = self
            .store
            .get_api_key(&h.access_key_id)
            .await
            .map_err(ApiError::internal)?
            .filter(|k| !k.disabled)
            .ok_or_else(|| {
                ApiError::coded(
                    AwsCode::UnrecognizedClient,
                    "The security token included in the request is invalid.",
                )
            })?;

        if !changes_nothing(&parts.method)
            && h.presigned.is_none()
            && parts
                .headers
                .get("x-amz-content-sha256")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"UNSIGNED-PAYLOAD"))
        {
            return Err(invalid_signature(
                "UNSIGNED-PAYLOAD is accepted only for GET and HEAD requests; sign the body",
            ));
        }
        Ok(Checked {
            header: h,
            secret: key.secret,
            access_key_id: key.access_key_id,
            when,
        })
    }

    /// The signature check proper, over the body, after [`Verifier::check_headers`].
    pub async fn check_signature(
        &self,
        parts: &Parts,
        body: &[u8],
        checked: Checked,
    ) -> Result<Caller, ApiError> {
        let Checked {
            header: h,
            secret,
            access_key_id,
            when,
        } = checked;
        // A presigned request's payload is not known when the URL is made: botocore signs
        // UNSIGNED-PAYLOAD, other signers the (empty) body's hash. Either is accepted for a
        // read; a request that changes state must have signed its body, or whoever holds the
        // URL (or sees the request) could replay it with a body of their own.
        let bodies: &[Option<bool>] = match (&h.presigned, changes_nothing(&parts.method)) {
            (Some(_), true) => &[Some(true), Some(false)],
            (Some(_), false) => &[Some(false)],
            (None, _) => &[None],
        };
        let mut matched = false;
        for unsigned in bodies {
            let expected = self.signature(parts, body, &h, &secret, when, *unsigned)?;
            matched |= constant_time_eq(expected.as_bytes(), h.signature.as_bytes());
        }
        if !matched {
            return Err(invalid_signature(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.",
            ));
        }
        self.touch(&access_key_id).await;
        Ok(Caller { access_key_id })
    }

    /// The signature of the request as received, computed with `secret`.
    fn signature(
        &self,
        parts: &Parts,
        body: &[u8],
        h: &AuthHeader,
        secret: &str,
        when: SystemTime,
        unsigned_payload: Option<bool>,
    ) -> Result<String, ApiError> {
        let mut headers: Vec<(&str, &str)> = Vec::with_capacity(h.signed_headers.len());
        for name in &h.signed_headers {
            let name = name.as_str();
            let mut any = false;
            for v in parts.headers.get_all(name) {
                let v = v
                    .to_str()
                    .map_err(|_| incomplete(format!("signed header '{name}' is not ASCII")))?;
                headers.push((name, v));
                any = true;
            }
            if !any {
                return Err(invalid_signature(format!(
                    "signed header '{name}' is missing from the request"
                )));
            }
        }
        let body = match unsigned_payload {
            Some(true) => SignableBody::UnsignedPayload,
            Some(false) => SignableBody::Bytes(body),
            None => match parts
                .headers
                .get("x-amz-content-sha256")
                .and_then(|v| v.to_str().ok())
            {
                Some("UNSIGNED-PAYLOAD") => SignableBody::UnsignedPayload,
                Some(declared) => {
                    let actual = hex::encode(Sha256::digest(body));
                    if !declared.eq_ignore_ascii_case(&actual) {
                        return Err(ApiError::coded(
                            AwsCode::ContentSha256Mismatch,
                            "The provided 'x-amz-content-sha256' header does not match what was computed.",
                        ));
                    }
                    SignableBody::Precomputed(declared.to_owned())
                }
                None => SignableBody::Bytes(body),
            },
        };
        let uri = match &h.presigned {
            Some(p) => p.uri.clone(),
            None => parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned(),
        };
        let request = SignableRequest::new(parts.method.as_str(), uri, headers.into_iter(), body)
            .map_err(|e| incomplete(format!("request cannot be canonicalized: {e}")))?;

        let mut settings = SigningSettings::default();
        settings.percent_encoding_mode = PercentEncodingMode::Double;
        settings.payload_checksum_kind = PayloadChecksumKind::NoHeader;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Enabled;
        // Sign exactly the headers the client listed (they were filtered above).
        settings.excluded_headers = Some(Vec::new());
        if let Some(p) = &h.presigned {
            settings.signature_location = SignatureLocation::QueryParams;
            settings.expires_in = Some(Duration::from_secs(p.expires));
        }

        let identity = aws_smithy_runtime_api::client::identity::Identity::from(
            aws_credential_types::Credentials::new(
                h.access_key_id.as_str(),
                secret,
                None,
                None,
                "fleetward",
            ),
        );
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(h.region.as_str())
            .name(SERVICE)
            .time(when)
            .settings(settings)
            .build()
            .map_err(ApiError::internal)?
            .into();
        let (_, signature) = sign(request, &params)
            .map_err(|e| incomplete(format!("request cannot be signed: {e}")))?
            .into_parts();
        Ok(signature)
    }

    /// Records the key's use, at most once a minute per key; a failure is logged, never fatal.
    async fn touch(&self, id: &str) {
        let now = self.clock.now_ms();
        let due = {
            let mut touched = match self.touched.lock() {
                Ok(t) => t,
                Err(poisoned) => poisoned.into_inner(),
            };
            let last = touched.get(id).copied().unwrap_or(i64::MIN);
            if now.saturating_sub(last) >= TOUCH_EVERY_MS {
                touched.insert(id.to_owned(), now);
                true
            } else {
                false
            }
        };
        if due && let Err(e) = self.store.touch_api_key(id, now).await {
            tracing::warn!(error = %e, key = id, "could not record access key use");
        }
    }
}

/// What a request claims: the parts of `Authorization: AWS4-HMAC-SHA256 Credential=…,
/// SignedHeaders=…, Signature=…`, or of a presigned URL's `X-Amz-*` query parameters.
#[derive(Debug, PartialEq, Eq)]
struct AuthHeader {
    access_key_id: String,
    date: String,
    region: String,
    service: String,
    signed_headers: Vec<String>,
    signature: String,
    presigned: Option<Presigned>,
}

/// A presigned URL's validity and its path and query without the signing parameters (the
/// signer adds them back when it recomputes the signature).
#[derive(Debug, PartialEq, Eq)]
struct Presigned {
    expires: u64,
    uri: String,
}

/// Longest validity of a presigned URL, as AWS allows (7 days).
const MAX_PRESIGN_SECS: u64 = 7 * 24 * 3600;
/// The query parameters a presigned URL's signature travels in.
const PRESIGN_PARAMS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
];

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The claim of a presigned URL, and its `X-Amz-Date`.
fn parse_presigned(parts: &Parts) -> Result<(AuthHeader, String), ApiError> {
    let query = parts.uri.query().unwrap_or_default();
    let get = |name: &str| {
        query_param(query, name)
            .ok_or_else(|| incomplete(format!("presigned URL: {name} is missing")))
    };
    if get("X-Amz-Algorithm")? != ALGORITHM {
        return Err(incomplete(format!(
            "presigned URL: X-Amz-Algorithm must be {ALGORITHM}"
        )));
    }
    let expires: u64 = get("X-Amz-Expires")?
        .parse()
        .ok()
        .filter(|e| (1..=MAX_PRESIGN_SECS).contains(e))
        .ok_or_else(|| {
            incomplete(format!(
                "presigned URL: X-Amz-Expires must be 1-{MAX_PRESIGN_SECS} seconds"
            ))
        })?;
    let kept = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            form_urlencoded::parse(query.as_bytes())
                .filter(|(k, _)| !PRESIGN_PARAMS.contains(&k.as_ref())),
        )
        .finish();
    let path = parts.uri.path();
    let uri = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{kept}")
    };
    let header = format!(
        "{ALGORITHM} Credential={}, SignedHeaders={}, Signature={}",
        get("X-Amz-Credential")?,
        get("X-Amz-SignedHeaders")?,
        get("X-Amz-Signature")?
    );
    let mut claim = parse_authorization(&header)?;
    claim.presigned = Some(Presigned { expires, uri });
    Ok((claim, get("X-Amz-Date")?))
}

/// A presigned URL is valid from its date (give or take the clock skew) for `expires` seconds.
fn check_presigned_window(
    when: SystemTime,
    expires: u64,
    now: SystemTime,
    shown: &str,
) -> Result<(), ApiError> {
    if when > now + MAX_SKEW {
        return check_skew(when, now, shown);
    }
    if when + Duration::from_secs(expires) < now {
        return Err(invalid_signature(format!(
            "Signature expired: {shown} + {expires} s is now earlier than {}",
            format_amz_date(now)
        )));
    }
    Ok(())
}

fn parse_authorization(v: &str) -> Result<AuthHeader, ApiError> {
    let rest = v
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            incomplete(format!(
                "Authorization header requires the {ALGORITHM} algorithm"
            ))
        })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let field = field.trim();
        match field.split_once('=') {
            Some(("Credential", c)) => credential = Some(c),
            Some(("SignedHeaders", s)) => signed = Some(s),
            Some(("Signature", s)) => signature = Some(s),
            _ => {
                return Err(incomplete(format!(
                    "Authorization header: unexpected '{field}'"
                )));
            }
        }
    }
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(incomplete(
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters",
        ));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(incomplete(format!(
            "Credential '{credential}' must be <access key>/<yyyyMMdd>/<region>/<service>/aws4_request"
        )));
    };
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if signed_headers.iter().any(|h| h.is_empty()) || !signed_headers.contains(&"host") {
        return Err(incomplete(
            "SignedHeaders must list the signed headers, including host",
        ));
    }
    Ok(AuthHeader {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers: signed_headers.into_iter().map(str::to_owned).collect(),
        signature: signature.to_owned(),
        presigned: None,
    })
}

/// `20150830T123600Z` → time.
fn parse_amz_date(v: &str) -> Option<SystemTime> {
    let t = chrono::NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ").ok()?;
    let secs = u64::try_from(t.and_utc().timestamp()).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

fn format_amz_date(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%Y%m%dT%H%M%SZ").to_string()
}

fn check_skew(when: SystemTime, now: SystemTime, shown: &str) -> Result<(), ApiError> {
    let earliest = now.checked_sub(MAX_SKEW).unwrap_or(UNIX_EPOCH);
    let latest = now + MAX_SKEW;
    if when < earliest {
        return Err(invalid_signature(format!(
            "Signature expired: {shown} is now earlier than {} ({} - 15 min.)",
            format_amz_date(earliest),
            format_amz_date(now)
        )));
    }
    if when > latest {
        return Err(invalid_signature(format!(
            "Signature not yet current: {shown} is still later than {} ({} + 15 min.)",
            format_amz_date(latest),
            format_amz_date(now)
        )));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn missing_token() -> ApiError {
    ApiError::coded(
        AwsCode::MissingAuthenticationToken,
        "Missing Authentication Token",
    )
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::coded(AwsCode::IncompleteSignature, message)
}

/// Whether a request with this method reads only: the ones whose payload may go unsigned.
fn changes_nothing(method: &axum::http::Method) -> bool {
    matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD)
}

fn invalid_signature(message: impl Into<String>) -> ApiError {
    ApiError::coded(AwsCode::InvalidSignature, message)
}

/// The middleware every API route runs behind: buffers the body (the signature covers it),
/// verifies the signature, applies the key's rate limit for the operation, and hands the
/// request on with the body restored and the [`Caller`] as an extension.
pub async fn authenticate(State(state): State<ApiState>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    // A request with no signature at all is refused before its body is read.
    if !parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
        && query_param(parts.uri.query().unwrap_or_default(), "X-Amz-Signature").is_none()
    {
        return missing_token().into_response();
    }
    let checked = match state
        .verifier
        .check_headers(&parts, state.verifier.now())
        .await
    {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::coded(
                AwsCode::RequestTooLarge,
                format!("request body: larger than {MAX_BODY} bytes"),
            )
            .into_response();
        }
    };
    let caller = match state
        .verifier
        .check_signature(&parts, &bytes, checked)
        .await
    {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    // No operation: a known path with a method it does not serve, which the router answers
    // with UnknownOperationException; there is no budget to take from.
    let op = crate::routes::find_op(
        parts.method.as_str(),
        parts
            .extensions
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or_default(),
    );
    if let Some(op) = op
        && let Err(e) = state.limiter.check(&caller.access_key_id, op)
    {
        return e.into_response();
    }
    let key = caller.access_key_id.clone();
    parts.extensions.insert(caller);
    if let Some(op) = op {
        parts.extensions.insert(crate::ops::Routed(op));
    }
    let resp = next
        .run(Request::from_parts(parts, AxumBody::from(bytes)))
        .await;
    tracing::debug!(
        operation = op.map_or("-", |o| o.name),
        key = %key,
        status = resp.status().as_u16(),
        "API call"
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_authorization_header_botocore_sends() {
        let h = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd",
        )
        .unwrap();
        assert_eq!(h.access_key_id, "AKIDEXAMPLE");
        assert_eq!(h.date, "20150830");
        assert_eq!(h.region, "us-east-1");
        assert_eq!(h.service, "iot");
        assert_eq!(h.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(h.signature, "abcd");
    }

    #[test]
    fn rejects_malformed_headers() {
        for bad in [
            "AWS4-HMAC-SHA1 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 Credential=a/b/c/aws4_request, SignedHeaders=host, Signature=x",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, Signature=x",
            "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=x-amz-date, Signature=x",
        ] {
            let e = parse_authorization(bad).unwrap_err();
            assert_eq!(e.code.name(), "IncompleteSignatureException", "{bad}");
        }
    }

    #[test]
    fn skew_of_more_than_15_minutes_is_refused_either_way() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert!(check_skew(now - Duration::from_secs(14 * 60), now, "x").is_ok());
        assert!(check_skew(now + Duration::from_secs(14 * 60), now, "x").is_ok());
        let e = check_skew(now - Duration::from_secs(16 * 60), now, "x").unwrap_err();
        assert!(e.message.starts_with("Signature expired"), "{}", e.message);
        assert!(check_skew(now + Duration::from_secs(16 * 60), now, "x").is_err());
    }

    #[test]
    fn amz_dates_round_trip() {
        let t = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(format_amz_date(t), "20150830T123600Z");
        assert!(parse_amz_date("2015-08-30T12:36:00Z").is_none());
    }
}
