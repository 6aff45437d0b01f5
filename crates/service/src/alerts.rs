//! Managing alert targets: the service layer the CLI (and later the console) call.
//!
//! A target's name is what profiles put as the last segment of
//! `alertTargets.SNS.alertTargetArn`, so it follows SNS topic names: 1–256 of
//! `[A-Za-z0-9_-]`. A webhook without a secret gets a generated one, shown once at creation:
//! an unsigned alert could be forged by anyone who can reach the receiver.

use serde::Serialize;

use fleetward_core::aws::ArnScope;

use crate::Ctx;
use crate::error::{ServiceError, ServiceResult};
use crate::store::{AlertTarget, AlertTargetKind, NewAlertTarget};

/// Longest target name (SNS topic names).
const MAX_NAME_LEN: usize = 256;

/// What to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertTargetRequest {
    /// The name profiles refer to.
    pub name: String,
    /// Webhook, MQTT or log.
    pub kind: AlertTargetKind,
    /// Webhook: the `http` or `https` URL to POST to.
    pub url: Option<String>,
    /// Webhook: the HMAC-SHA256 key; generated when absent.
    pub secret: Option<String>,
    /// MQTT: the topic to publish on.
    pub topic: Option<String>,
}

/// A target as shown to operators: the secret never leaves the server after creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertTargetView {
    /// The name.
    pub name: String,
    /// `webhook`, `mqtt` or `log`.
    pub kind: &'static str,
    /// The ARN profiles put in `alertTargets.SNS.alertTargetArn`.
    pub alert_target_arn: String,
    /// Webhook URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// MQTT topic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// When it was created (epoch ms).
    pub created_at: i64,
    /// The generated webhook secret, in the creation response only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_secret: Option<String>,
}

fn view(t: AlertTarget, scope: &ArnScope) -> AlertTargetView {
    AlertTargetView {
        alert_target_arn: format!("arn:aws:sns:{}:{}:{}", scope.region, scope.account, t.name),
        name: t.name,
        kind: t.kind.as_str(),
        url: t.url,
        topic: t.topic,
        created_at: t.created_at,
        generated_secret: None,
    }
}

/// Every problem with `req`, empty when it is valid.
pub fn validate(req: &AlertTargetRequest) -> Vec<String> {
    let mut errors = Vec::new();
    let n = &req.name;
    if n.is_empty()
        || n.len() > MAX_NAME_LEN
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        errors.push(format!(
            "name: '{n}' must be 1-{MAX_NAME_LEN} characters of [A-Za-z0-9_-]"
        ));
    }
    let unexpected = |what: &str, present: bool, errors: &mut Vec<String>| {
        if present {
            errors.push(format!("{what}: not used by {} targets", req.kind.as_str()));
        }
    };
    match req.kind {
        AlertTargetKind::Webhook => {
            match req.url.as_deref().map(url::Url::parse) {
                None => errors.push("url: required for webhook targets".into()),
                Some(Err(e)) => errors.push(format!("url: not a URL: {e}")),
                Some(Ok(u)) if !matches!(u.scheme(), "http" | "https") => {
                    errors.push(format!("url: scheme '{}' is not http or https", u.scheme()))
                }
                Some(Ok(_)) => {}
            }
            if req.secret.as_deref().is_some_and(|s| s.len() < 16) {
                errors.push("secret: at least 16 characters".into());
            }
            unexpected("topic", req.topic.is_some(), &mut errors);
        }
        AlertTargetKind::Mqtt => {
            match req.topic.as_deref() {
                None | Some("") => errors.push("topic: required for mqtt targets".into()),
                Some(t) if t.contains(['+', '#', '\0']) => errors.push(format!(
                    "topic: '{t}' is a filter; publish topics have no '+', '#' or NUL"
                )),
                Some(t) if t.len() > 65_535 => errors.push("topic: longer than 65535 bytes".into()),
                Some(_) => {}
            }
            unexpected("url", req.url.is_some(), &mut errors);
            unexpected("secret", req.secret.is_some(), &mut errors);
        }
        AlertTargetKind::Log => {
            unexpected("url", req.url.is_some(), &mut errors);
            unexpected("secret", req.secret.is_some(), &mut errors);
            unexpected("topic", req.topic.is_some(), &mut errors);
        }
    }
    errors
}

/// Creates a target; a webhook without a secret gets a generated one, returned once.
pub async fn create_alert_target(
    ctx: &Ctx,
    req: &AlertTargetRequest,
) -> ServiceResult<AlertTargetView> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let errors = validate(req);
    if !errors.is_empty() {
        return Err(ServiceError::Invalid(errors));
    }
    // A webhook's HMAC key: 32 bytes from the operating system's cryptographic RNG.
    let generated = if req.kind == AlertTargetKind::Webhook && req.secret.is_none() {
        let mut key = [0u8; 32];
        crate::random::fill(&mut key)
            .map_err(|e| ServiceError::Internal(format!("no secure random source: {e}")))?;
        Some(hex::encode(key))
    } else {
        None
    };
    let created = store
        .create_alert_target(&NewAlertTarget {
            name: req.name.clone(),
            kind: req.kind,
            url: req.url.clone(),
            secret: req.secret.clone().or_else(|| generated.clone()),
            topic: req.topic.clone(),
        })
        .await?;
    let mut v = view(created, scope);
    v.generated_secret = generated;
    Ok(v)
}

/// Every target, by name.
pub async fn list_alert_targets(ctx: &Ctx) -> ServiceResult<Vec<AlertTargetView>> {
    let (store, scope) = (ctx.store(), &ctx.scope);
    let all =
        crate::store::all_pages(|p| async move { store.list_alert_targets(&p).await }).await?;
    Ok(all.into_iter().map(|t| view(t, scope)).collect())
}

/// Deletes a target. Alerts already in the outbox for it fail and are retried until it is
/// created again, so recreating a target under the same name loses nothing.
pub async fn delete_alert_target(ctx: &Ctx, name: &str) -> ServiceResult<()> {
    let store = ctx.store();
    if store.get_alert_target(name).await?.is_none() {
        return Err(ServiceError::NotFound(format!(
            "alert target '{name}' does not exist"
        )));
    }
    store.delete_alert_target(name).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(kind: AlertTargetKind) -> AlertTargetRequest {
        AlertTargetRequest {
            name: "ops-hook".into(),
            kind,
            url: None,
            secret: None,
            topic: None,
        }
    }

    #[test]
    fn webhook_needs_an_http_url() {
        let mut r = req(AlertTargetKind::Webhook);
        assert_eq!(validate(&r), ["url: required for webhook targets"]);
        r.url = Some("ftp://x".into());
        assert_eq!(validate(&r), ["url: scheme 'ftp' is not http or https"]);
        r.url = Some("https://hooks.example/x".into());
        assert!(validate(&r).is_empty());
        r.secret = Some("short".into());
        assert_eq!(validate(&r), ["secret: at least 16 characters"]);
    }

    #[test]
    fn mqtt_needs_a_publish_topic_and_names_are_sns_names() {
        let mut r = req(AlertTargetKind::Mqtt);
        r.name = "bad name".into();
        r.topic = Some("alerts/#".into());
        r.url = Some("http://x".into());
        assert_eq!(
            validate(&r),
            [
                "name: 'bad name' must be 1-256 characters of [A-Za-z0-9_-]",
                "topic: 'alerts/#' is a filter; publish topics have no '+', '#' or NUL",
                "url: not used by mqtt targets",
            ]
        );
    }

    #[test]
    fn log_takes_nothing() {
        let mut r = req(AlertTargetKind::Log);
        assert!(validate(&r).is_empty());
        r.topic = Some("x".into());
        assert_eq!(validate(&r), ["topic: not used by log targets"]);
    }
}
