//! `fleetward alert-targets`: the named webhook, MQTT and log targets profiles send alerts to.

use std::process::ExitCode;

use clap::Subcommand;

use super::offline::DataDir;
use super::offline::{Failure, finish, json};
use fleetward_service::alerts::{self as targets, AlertTargetRequest};
use fleetward_store::AlertTargetKind;

#[derive(Debug, Subcommand)]
pub(super) enum AlertTargetsCommand {
    /// Create a target. Profiles name it by the last segment of
    /// `alertTargets.SNS.alertTargetArn` (the ARN printed here).
    Create {
        /// 1-256 of [A-Za-z0-9_-].
        name: String,
        /// POST alerts (AWS's Detect SNS message shape, HMAC-signed) to this http(s) URL.
        #[arg(long, conflicts_with_all = ["mqtt_topic", "log"])]
        webhook: Option<String>,
        /// The webhook's HMAC-SHA256 key (at least 16 characters); generated and printed
        /// once when omitted.
        #[arg(long, requires = "webhook")]
        secret: Option<String>,
        /// Publish alerts on this topic of the embedded broker.
        #[arg(long, conflicts_with = "log")]
        mqtt_topic: Option<String>,
        /// Write alerts to the server's log.
        #[arg(long)]
        log: bool,
    },
    /// List targets (secrets are never shown).
    List,
    /// Delete a target.
    Delete {
        /// The target's name.
        name: String,
    },
}

pub(super) async fn alert_targets(dir: DataDir, cmd: AlertTargetsCommand) -> ExitCode {
    finish(run(dir, cmd).await)
}

async fn run(dir: DataDir, cmd: AlertTargetsCommand) -> Result<serde_json::Value, Failure> {
    let request = match &cmd {
        AlertTargetsCommand::Create {
            name,
            webhook,
            secret,
            mqtt_topic,
            log,
        } => {
            let kind = match (webhook, mqtt_topic, log) {
                (Some(_), _, _) => AlertTargetKind::Webhook,
                (None, Some(_), _) => AlertTargetKind::Mqtt,
                (None, None, true) => AlertTargetKind::Log,
                (None, None, false) => {
                    return Err(Failure(
                        "alert-targets create: give one of --webhook URL, --mqtt-topic TOPIC or --log"
                            .into(),
                        2,
                    ));
                }
            };
            let req = AlertTargetRequest {
                name: name.clone(),
                kind,
                url: webhook.clone(),
                secret: secret.clone(),
                topic: mqtt_topic.clone(),
            };
            // Validate before opening the store, so a typo never creates a data dir.
            let errors = targets::validate(&req);
            if !errors.is_empty() {
                return Err(Failure(
                    format!("InvalidRequestException: {}", errors.join("; ")),
                    2,
                ));
            }
            Some(req)
        }
        _ => None,
    };
    let ctx = super::offline::open_ctx(&dir).await?;
    match cmd {
        AlertTargetsCommand::Create { .. } => {
            let Some(req) = request else {
                return Err(Failure("no request".into(), 1));
            };
            json(&targets::create_alert_target(&ctx, &req).await?)
        }
        AlertTargetsCommand::List => json(&targets::list_alert_targets(&ctx).await?),
        AlertTargetsCommand::Delete { name } => {
            targets::delete_alert_target(&ctx, &name).await?;
            Ok(serde_json::json!({ "deleted": name }))
        }
    }
}
