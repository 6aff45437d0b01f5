//! The API as a started server serves it: the admin key file written at first start, the
//! HTTPS listener, and a device connecting over mutual TLS with a certificate the API issued.

use std::os::unix::fs::PermissionsExt;
use std::time::SystemTime;

use fleetward_service::pki::Ca;
use fleetward_testkit::server::{self as common, Device, DeviceCreds};
use fleetward_testkit::sigv4::{Client, Key};
use serde_json::{Value, json};

async fn server() -> (common::TestServer, Client) {
    let s = common::start(|c| {
        c.api_rate_limits = fleetward_api::limit::RateLimitConfig::UNLIMITED;
    })
    .await;
    let client = Client::new(
        format!("http://{}", s.running.http_addr),
        Key::admin(&s.data_dir()),
    );
    (s, client)
}

fn arn(resource: &str) -> String {
    format!("arn:aws:iot:us-east-1:000000000000:{resource}")
}

/// A signed request carrying the `x-amzn-principal` header (signed too, as botocore does).
async fn with_principal(
    c: &Client,
    method: &str,
    path: &str,
    principal: &str,
) -> common::sigv4::Reply {
    let mut headers = c.sign(method, path, b"", SystemTime::now());
    headers.push(("x-amzn-principal".to_owned(), principal.to_owned()));
    c.send(method, path, headers, Vec::new()).await
}

#[tokio::test]
async fn admin_key_file_is_private_and_authenticates() {
    let (s, c) = server().await;
    let path = s.data_dir().join("admin-key.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(s.running.admin_key_file.as_deref(), Some(path.as_path()));
    c.call("GET", "/security-profiles", None).await.ok();
    assert_eq!(c.unsigned("GET", "/healthz").await.status, 200);
    // One key exists now; the file is not rewritten at the next start.
    assert_eq!(s.store().list_api_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn https_listener_serves_the_api() {
    fleetward_server::server::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("http.pem"), dir.path().join("http.key"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let s = common::start(|c| {
        c.http_tls = Some(fleetward_server::http::TlsFiles {
            cert: cert_path.clone(),
            key: key_path.clone(),
        });
    })
    .await;
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", s.running.http_addr)
        .build()
        .unwrap();
    let mut c = Client::new(
        format!("https://localhost:{}", s.running.http_addr.port()),
        Key::admin(&s.data_dir()),
    );
    c.http = http;
    assert_eq!(c.unsigned("GET", "/healthz").await.status, 200);
    c.call("GET", "/security-profiles", None).await.ok();
    // Plain HTTP on the TLS port does not get an answer.
    let plain = reqwest::get(format!("http://{}/healthz", s.running.http_addr)).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[tokio::test]
async fn certificate_routes_and_a_device_with_an_api_issued_certificate() {
    let (s, c) = server().await;

    let keys = c
        .call("POST", "/keys-and-certificate?setAsActive=true", None)
        .await;
    let keys = keys.ok().clone();
    let id = keys["certificateId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    assert_eq!(keys["certificateArn"], arn(&format!("cert/{id}")));
    assert!(
        keys["keyPair"]["PrivateKey"]
            .as_str()
            .unwrap()
            .contains("PRIVATE KEY")
    );
    assert!(
        keys["keyPair"]["PublicKey"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let inactive = c.call("POST", "/keys-and-certificate", None).await;
    let inactive_id = inactive.ok()["certificateId"].as_str().unwrap().to_owned();
    c.call("POST", "/keys-and-certificate?setAsActive=sure", None)
        .await
        .error(400, "InvalidRequestException");

    let d = c.call("GET", &format!("/certificates/{id}"), None).await;
    let desc = &d.ok()["certificateDescription"];
    assert_eq!(desc["status"], "ACTIVE");
    assert_eq!(desc["certificatePem"], keys["certificatePem"]);
    assert_eq!(desc["ownedBy"], "000000000000");
    assert!(desc["validity"]["notAfter"].is_f64());
    let d = c
        .call("GET", &format!("/certificates/{inactive_id}"), None)
        .await;
    assert_eq!(d.ok()["certificateDescription"]["status"], "INACTIVE");
    c.call("GET", "/certificates/abc", None)
        .await
        .error(400, "InvalidRequestException");
    c.call("GET", &format!("/certificates/{}", "z".repeat(64)), None)
        .await
        .error(400, "InvalidRequestException");
    c.call("GET", &format!("/certificates/{}", "0".repeat(64)), None)
        .await
        .error(404, "ResourceNotFoundException");

    // A device connects over mutual TLS with the API-issued certificate once it is attached.
    c.call("POST", "/things/cam-1", None).await.ok();
    let cert_arn = keys["certificateArn"].as_str().unwrap();
    with_principal(&c, "PUT", "/things/cam-1/principals", cert_arn)
        .await
        .ok();
    let creds = DeviceCreds {
        thing: "cam-1".into(),
        cert_id: id.clone(),
        cert: keys["certificatePem"].as_str().unwrap().to_owned(),
        key: keys["keyPair"]["PrivateKey"].as_str().unwrap().to_owned(),
        ca: std::fs::read_to_string(&s.running.ca_path).unwrap(),
    };
    let mut device = Device::connect(s.mqtt_addr(), "cam-1", Some(&creds), &creds.ca).await;
    device.expect_connected().await;

    // UpdateCertificate: enum checked, REVOKED final (406).
    c.call(
        "PUT",
        &format!("/certificates/{inactive_id}?newStatus=ACTIVE"),
        None,
    )
    .await
    .ok();
    for (query, status, name) in [
        ("newStatus=BOGUS", 400, "InvalidRequestException"),
        ("newStatus=PENDING_TRANSFER", 400, "InvalidRequestException"),
        ("", 400, "InvalidRequestException"),
    ] {
        c.call("PUT", &format!("/certificates/{inactive_id}?{query}"), None)
            .await
            .error(status, name);
    }
    c.call(
        "PUT",
        &format!("/certificates/{inactive_id}?newStatus=REVOKED"),
        None,
    )
    .await
    .ok();
    c.call(
        "PUT",
        &format!("/certificates/{inactive_id}?newStatus=ACTIVE"),
        None,
    )
    .await
    .error(406, "CertificateStateException");
    c.call(
        "PUT",
        &format!("/certificates/{}?newStatus=ACTIVE", "0".repeat(64)),
        None,
    )
    .await
    .error(404, "ResourceNotFoundException");

    // RegisterCertificate.
    let (ca, _) = Ca::load_or_create(&s.data_dir().join("ca")).unwrap();
    let own = ca.issue_device("sensor-1").unwrap();
    let r = c
        .call(
            "POST",
            "/certificate/register?setAsActive=true",
            Some(json!({"certificatePem": own.cert_pem})),
        )
        .await;
    assert_eq!(r.ok()["certificateId"], own.facts.id);
    let d = c
        .call("GET", &format!("/certificates/{}", own.facts.id), None)
        .await;
    assert_eq!(d.ok()["certificateDescription"]["status"], "ACTIVE");
    let dup = c
        .call(
            "POST",
            "/certificate/register",
            Some(json!({"certificatePem": own.cert_pem})),
        )
        .await;
    dup.error(409, "ResourceAlreadyExistsException");
    assert_eq!(dup.body["resourceId"], own.facts.id);
    let other = ca.issue_device("sensor-2").unwrap();
    c.call(
        "POST",
        "/certificate/register",
        Some(
            json!({"certificatePem": other.cert_pem, "caCertificatePem": ca.pem(),
                    "status": "INACTIVE"}),
        ),
    )
    .await
    .ok();
    let foreign_dir = tempfile::tempdir().unwrap();
    let (foreign, _) = Ca::load_or_create(foreign_dir.path()).unwrap();
    let stranger = foreign.issue_device("stranger").unwrap();
    for (body, status, name) in [
        (
            json!({"certificatePem": stranger.cert_pem}),
            400,
            "CertificateValidationException",
        ),
        (
            json!({"certificatePem": "garbage"}),
            400,
            "CertificateValidationException",
        ),
        (json!({}), 400, "InvalidRequestException"),
        (
            json!({"certificatePem": ca.issue_device("s3").unwrap().cert_pem, "status": "NOPE"}),
            400,
            "InvalidRequestException",
        ),
    ] {
        c.call("POST", "/certificate/register", Some(body))
            .await
            .error(status, name);
    }

    // ListCertificates: marker/pageSize/isAscendingOrder.
    let collect = |ascending: bool| {
        let c = c.clone();
        async move {
            let mut ids = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                let mut q = format!("/certificates?pageSize=2&isAscendingOrder={ascending}");
                if let Some(m) = &marker {
                    q.push_str(&format!("&marker={m}"));
                }
                let r = c.call("GET", &q, None).await;
                let body = r.ok();
                for cert in body["certificates"].as_array().unwrap() {
                    assert_eq!(cert["certificateMode"], "DEFAULT");
                    ids.push(cert["certificateId"].as_str().unwrap().to_owned());
                }
                match body.get("nextMarker").and_then(Value::as_str) {
                    Some(m) => marker = Some(m.to_owned()),
                    None => return ids,
                }
            }
        }
    };
    let desc = collect(false).await;
    let mut asc = collect(true).await;
    assert_eq!(desc.len(), 4);
    asc.reverse();
    assert_eq!(asc, desc);
    c.call("GET", "/certificates?pageSize=0", None)
        .await
        .error(400, "InvalidRequestException");
}
