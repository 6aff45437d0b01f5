//! A small AWS API client for tests: requests signed with AWS Signature Version 4 by
//! `aws-sigv4` (the AWS SDK for Rust's signer), the way the SDKs sign them, sent over real HTTP
//! or handed straight to an in-process service ([`Client::via`]), such as the API's router.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use serde_json::Value;

/// Credentials: the access key id and secret.
#[derive(Debug, Clone)]
pub struct Key {
    /// The access key id.
    pub id: String,
    /// The secret access key.
    pub secret: String,
}

impl Key {
    /// The admin key the server wrote to `<data_dir>/admin-key.json` at first start.
    pub fn admin(data_dir: &Path) -> Key {
        let text = std::fs::read_to_string(data_dir.join("admin-key.json")).expect("admin key");
        let v: Value = serde_json::from_str(&text).unwrap();
        Key {
            id: v["aws_access_key_id"].as_str().unwrap().to_owned(),
            secret: v["aws_secret_access_key"].as_str().unwrap().to_owned(),
        }
    }
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// `x-amzn-errortype`, when present.
    pub error_type: Option<String>,
    /// `x-amzn-requestid`, when present.
    pub request_id: Option<String>,
    /// The JSON body (a string when it is not JSON, null when empty).
    pub body: Value,
}

impl Reply {
    /// Asserts an AWS error: status, name, a `message`; returns the message.
    #[track_caller]
    pub fn error(&self, status: u16, name: &str) -> String {
        assert_eq!(
            (self.status, self.error_type.as_deref()),
            (status, Some(name)),
            "body: {}",
            self.body
        );
        self.body["message"].as_str().expect("message").to_owned()
    }

    /// Asserts 200 and returns the body.
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "{:?}: {}", self.error_type, self.body);
        &self.body
    }
}

/// An in-process transport: takes the request as sent on the wire (with its `host` header)
/// and returns the response.
pub type Via = Arc<
    dyn Fn(http::Request<Vec<u8>>) -> Pin<Box<dyn Future<Output = http::Response<Vec<u8>>> + Send>>
        + Send
        + Sync,
>;

/// A client of one server.
#[derive(Clone)]
pub struct Client {
    /// `scheme://host:port`: what is signed as the host, and where HTTP requests go.
    pub base: String,
    /// The credentials requests are signed with.
    pub key: Key,
    /// The signing region.
    pub region: String,
    /// The HTTP client, when requests go over a socket.
    pub http: reqwest::Client,
    /// The in-process transport, when set: requests never touch a socket.
    pub via: Option<Via>,
}

impl Client {
    /// A client of `base` (`scheme://host:port`) signing with `key` in us-east-1.
    pub fn new(base: impl Into<String>, key: Key) -> Client {
        Client {
            base: base.into(),
            key,
            region: "us-east-1".into(),
            http: reqwest::Client::new(),
            via: None,
        }
    }

    /// Sends every request through `via` instead of HTTP.
    pub fn via(mut self, via: Via) -> Client {
        self.via = Some(via);
        self
    }

    /// A signed request, now.
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        self.call_at(method, path, body, SystemTime::now()).await
    }

    /// A signed request, signed as of `time`.
    pub async fn call_at(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        time: SystemTime,
    ) -> Reply {
        let bytes = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        let headers = self.sign(method, path, &bytes, time);
        self.send(method, path, headers, bytes).await
    }

    /// The headers SigV4 adds for this request (x-amz-date, authorization), plus host and
    /// content-type, which are signed too.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        time: SystemTime,
    ) -> Vec<(String, String)> {
        self.sign_body(method, path, SignableBody::Bytes(body), time)
    }

    /// [`Client::sign`] with the payload declared `UNSIGNED-PAYLOAD` (in a signed
    /// `x-amz-content-sha256` header), as S3-style signers may send it.
    pub fn sign_unsigned_payload(
        &self,
        method: &str,
        path: &str,
        time: SystemTime,
    ) -> Vec<(String, String)> {
        self.sign_body(method, path, SignableBody::UnsignedPayload, time)
    }

    fn sign_body(
        &self,
        method: &str,
        path: &str,
        body: SignableBody<'_>,
        time: SystemTime,
    ) -> Vec<(String, String)> {
        let unsigned = matches!(body, SignableBody::UnsignedPayload);
        let url = format!("{}{}", self.base, path);
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_owned();
        let mut headers = vec![
            ("host".to_owned(), host),
            ("content-type".to_owned(), "application/json".to_owned()),
        ];
        if unsigned {
            headers.push((
                "x-amz-content-sha256".to_owned(),
                "UNSIGNED-PAYLOAD".to_owned(),
            ));
        }
        let identity = aws_smithy_runtime_api::client::identity::Identity::from(
            aws_credential_types::Credentials::new(
                &self.key.id,
                &self.key.secret,
                None,
                None,
                "test",
            ),
        );
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("iot")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new(
            method,
            url.as_str(),
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            body,
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        for (k, v) in instructions.headers() {
            headers.push((k.to_owned(), v.to_owned()));
        }
        headers
    }

    /// A presigned URL's path and query for a GET of `path`, signed as of `time`, valid for
    /// `expires` (the payload is UNSIGNED-PAYLOAD, as botocore presigns).
    pub fn presign(&self, path: &str, expires: std::time::Duration, time: SystemTime) -> String {
        self.presign_method("GET", path, expires, time)
    }

    /// [`Client::presign`] for another method (the payload is still UNSIGNED-PAYLOAD).
    pub fn presign_method(
        &self,
        method: &str,
        path: &str,
        expires: std::time::Duration,
        time: SystemTime,
    ) -> String {
        let url = format!("{}{}", self.base, path);
        let host = url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap()
            .to_owned();
        let identity = aws_smithy_runtime_api::client::identity::Identity::from(
            aws_credential_types::Credentials::new(
                &self.key.id,
                &self.key.secret,
                None,
                None,
                "test",
            ),
        );
        let mut settings = SigningSettings::default();
        settings.signature_location = aws_sigv4::http_request::SignatureLocation::QueryParams;
        settings.expires_in = Some(expires);
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("iot")
            .time(time)
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let request = SignableRequest::new(
            method,
            url.as_str(),
            [("host", host.as_str())].into_iter(),
            SignableBody::UnsignedPayload,
        )
        .unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut out = path.to_owned();
        for (k, v) in instructions.params() {
            out.push(if out.contains('?') { '&' } else { '?' });
            out.push_str(k);
            out.push('=');
            out.push_str(&percent_encode(v));
        }
        out
    }

    /// Sends a request with exactly these headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Reply {
        if let Some(via) = &self.via {
            return self.send_via(via, method, path, headers, body).await;
        }
        let mut req = self.http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{}", self.base, path),
        );
        for (k, v) in headers {
            if k != "host" {
                req = req.header(k, v);
            }
        }
        let resp = req.body(body).send().await.expect("request sent");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        reply(status, &headers, text)
    }

    async fn send_via(
        &self,
        via: &Via,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Reply {
        let host = self
            .base
            .split("://")
            .nth(1)
            .unwrap_or(&self.base)
            .to_owned();
        let mut req = http::Request::builder().method(method).uri(path);
        if !headers.iter().any(|(k, _)| k == "host") {
            req = req.header("host", host);
        }
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let resp = via(req.body(body).expect("request")).await;
        let text = String::from_utf8_lossy(resp.body()).into_owned();
        reply(resp.status().as_u16(), resp.headers(), text)
    }

    /// An unsigned request.
    pub async fn unsigned(&self, method: &str, path: &str) -> Reply {
        self.send(method, path, Vec::new(), Vec::new()).await
    }
}

/// The reply to a response with `status`, `headers` and body `text`, whichever transport
/// carried it.
fn reply(status: u16, headers: &http::HeaderMap, text: String) -> Reply {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        error_type: header("x-amzn-errortype"),
        request_id: header("x-amzn-requestid"),
        body,
    }
}

/// Percent-encodes everything but SigV4's unreserved characters.
fn percent_encode(v: &str) -> String {
    v.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
