//! Rules Detect administration over the data directory: `profiles`, `custom-metrics`,
//! `dimensions`, `violations`.
//!
//! Each command is a thin shell over [`fleetward_service::detect`], the same service layer the
//! AWS-compatible HTTP routes use, so the CLI and the API can never disagree on a rule. Output
//! is the AWS response JSON; mistakes the operator can fix exit 2, everything else 1.

use std::io::Read;
use std::process::ExitCode;

use clap::Subcommand;

use fleetward_service::detect::{
    self as admin, CreateCustomMetricRequest, CreateDimensionRequest, Paging,
    SecurityProfileRequest,
};

use super::offline::{DataDir, Failure, json, open_ctx};
use super::output::{self, View};

#[derive(Debug, Subcommand)]
pub(super) enum ProfilesCommand {
    /// Create or update a security profile from an AWS CreateSecurityProfile JSON document
    /// (`securityProfileName`, `behaviors`, `alertTargets`, …).
    Apply {
        /// The document; `-` reads stdin.
        #[arg(short = 'f', long = "file")]
        file: String,
    },
    /// List security profiles.
    List,
    /// Describe a security profile, with its targets.
    Show {
        /// The profile name.
        name: String,
    },
    /// Attach a profile to a target ARN (`…:all/things`, `…:thinggroup/<name>`, …).
    Attach {
        /// The profile name.
        name: String,
        /// The target ARN.
        #[arg(long)]
        target: String,
    },
    /// Detach a profile from a target ARN.
    Detach {
        /// The profile name.
        name: String,
        /// The target ARN.
        #[arg(long)]
        target: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum CustomMetricsCommand {
    /// Register a custom metric (CreateCustomMetric).
    Create {
        /// 1-128 of [a-zA-Z0-9:_-], not starting with `aws:`.
        #[arg(long)]
        name: String,
        /// string-list, ip-address-list, number-list or number.
        #[arg(long = "type")]
        metric_type: String,
        /// A friendly name for consoles.
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List custom metrics with their types.
    List,
}

#[derive(Debug, Subcommand)]
pub(super) enum DimensionsCommand {
    /// Create a TOPIC_FILTER dimension (CreateDimension).
    Create {
        /// 1-128 of [a-zA-Z0-9:_-].
        #[arg(long)]
        name: String,
        /// MQTT topic filters (1-100).
        #[arg(long, num_args = 1.., required = true)]
        values: Vec<String>,
    },
    /// List dimensions.
    List,
}

#[derive(Debug, Subcommand)]
pub(super) enum ViolationsCommand {
    /// List active violations (ListActiveViolations).
    List {
        /// Only this thing's.
        #[arg(long)]
        thing: Option<String>,
        /// Only this profile's.
        #[arg(long)]
        profile: Option<String>,
    },
}

/// Reads and parses the document, naming the file and the line and column of a JSON error.
fn read_profile(file: &str) -> Result<SecurityProfileRequest, Failure> {
    let (label, text) = if file == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("stdin: {e}"), 2))?;
        ("<stdin>".to_owned(), text)
    } else {
        let text = std::fs::read_to_string(file).map_err(|e| Failure(format!("{file}: {e}"), 2))?;
        (file.to_owned(), text)
    };
    serde_json::from_str(&text).map_err(|e| {
        Failure(
            format!(
                "{label}:{}:{}: invalid CreateSecurityProfile document: {e}",
                e.line(),
                e.column()
            ),
            2,
        )
    })
}

/// Shows the whole result through [`output`]: a table of the chosen view on a terminal, JSON
/// otherwise.
fn show(r: Result<serde_json::Value, Failure>, json: bool, view: View) -> ExitCode {
    output::finish(r.map_err(|Failure(m, c)| (m, c)), json, Some(view))
}

const PROFILE_ROWS: View = View::Rows {
    list: "securityProfileIdentifiers",
    columns: &[("PROFILE", "name"), ("ARN", "arn")],
};
const PROFILE_DETAIL: View = View::Detail {
    fields: &[
        ("Name", "securityProfileName"),
        ("Description", "securityProfileDescription"),
        ("Version", "version"),
        ("Targets", "securityProfileTargets"),
        ("Alert targets", "alertTargets"),
        ("Modified", "lastModifiedDate"),
    ],
    list: "behaviors",
    columns: &[
        ("BEHAVIOR", "name"),
        ("METRIC", "metric"),
        ("OPERATOR", "criteria.comparisonOperator"),
        ("VALUE", "criteria.value"),
        ("STATISTIC", "criteria.statisticalThreshold.statistic"),
        ("DURATION (s)", "criteria.durationSeconds"),
        ("DIMENSION", "metricDimension.dimensionName"),
    ],
};

pub(super) async fn profiles(dir: DataDir, cmd: ProfilesCommand) -> ExitCode {
    let view = match &cmd {
        ProfilesCommand::List => PROFILE_ROWS,
        ProfilesCommand::Show { .. } => PROFILE_DETAIL,
        _ => View::Fields,
    };
    let json = dir.json;
    show(profiles_inner(dir, cmd).await, json, view)
}

async fn profiles_inner(dir: DataDir, cmd: ProfilesCommand) -> Result<serde_json::Value, Failure> {
    // Parse the document before opening the store, so a typo never creates a data dir.
    let request = match &cmd {
        ProfilesCommand::Apply { file } => Some(read_profile(file)?),
        _ => None,
    };
    let ctx = open_ctx(&dir).await?;
    #[allow(unused_variables)]
    let (store, scope) = (ctx.store(), &ctx.scope);
    match cmd {
        ProfilesCommand::Apply { .. } => {
            let Some(req) = request else {
                return Err(Failure("no document".into(), 1));
            };
            json(&admin::apply_security_profile(&ctx, &req).await?)
        }
        ProfilesCommand::List => {
            // Operators want the whole list, not a page.
            let mut all = Vec::new();
            let mut paging = Paging {
                next_token: None,
                max_results: Some(fleetward_store::PageRequest::MAX_LIMIT),
            };
            loop {
                let page = admin::list_security_profiles(&ctx, None, None, &paging).await?;
                all.extend(page.security_profile_identifiers);
                match page.next_token {
                    Some(t) => paging.next_token = Some(t),
                    None => break,
                }
            }
            Ok(serde_json::json!({ "securityProfileIdentifiers": json(&all)? }))
        }
        ProfilesCommand::Show { name } => {
            let mut v = json(&admin::describe_security_profile(&ctx, &name).await?)?;
            let mut targets = Vec::new();
            let mut paging = Paging {
                next_token: None,
                max_results: Some(fleetward_store::PageRequest::MAX_LIMIT),
            };
            loop {
                let page = admin::list_targets_for_security_profile(&ctx, &name, &paging).await?;
                targets.extend(page.security_profile_targets);
                match page.next_token {
                    Some(t) => paging.next_token = Some(t),
                    None => break,
                }
            }
            if let Some(obj) = v.as_object_mut() {
                obj.insert("securityProfileTargets".into(), json(&targets)?);
            }
            Ok(v)
        }
        ProfilesCommand::Attach { name, target } => {
            admin::attach_security_profile(&ctx, &name, &target).await?;
            Ok(
                serde_json::json!({ "securityProfileName": name, "securityProfileTargetArn": target }),
            )
        }
        ProfilesCommand::Detach { name, target } => {
            admin::detach_security_profile(&ctx, &name, &target).await?;
            Ok(
                serde_json::json!({ "securityProfileName": name, "securityProfileTargetArn": target }),
            )
        }
    }
}

pub(super) async fn custom_metrics(dir: DataDir, cmd: CustomMetricsCommand) -> ExitCode {
    let view = match &cmd {
        CustomMetricsCommand::List => View::Rows {
            list: "customMetrics",
            columns: &[
                ("METRIC", "metricName"),
                ("TYPE", "metricType"),
                ("DISPLAY NAME", "displayName"),
                ("CREATED", "creationDate"),
            ],
        },
        CustomMetricsCommand::Create { .. } => View::Fields,
    };
    let json = dir.json;
    show(custom_metrics_inner(dir, cmd).await, json, view)
}

async fn custom_metrics_inner(
    dir: DataDir,
    cmd: CustomMetricsCommand,
) -> Result<serde_json::Value, Failure> {
    let ctx = open_ctx(&dir).await?;
    #[allow(unused_variables)]
    let (store, scope) = (ctx.store(), &ctx.scope);
    match cmd {
        CustomMetricsCommand::Create {
            name,
            metric_type,
            display_name,
        } => {
            let req = CreateCustomMetricRequest {
                metric_name: name,
                display_name,
                metric_type,
            };
            json(&admin::create_custom_metric(&ctx, &req).await?)
        }
        CustomMetricsCommand::List => {
            let all = admin::describe_all_custom_metrics(&ctx).await?;
            Ok(serde_json::json!({ "customMetrics": json(&all)? }))
        }
    }
}

pub(super) async fn dimensions(dir: DataDir, cmd: DimensionsCommand) -> ExitCode {
    let view = match &cmd {
        DimensionsCommand::List => View::Rows {
            list: "dimensionNames",
            columns: &[("DIMENSION", "")],
        },
        DimensionsCommand::Create { .. } => View::Fields,
    };
    let json = dir.json;
    show(dimensions_inner(dir, cmd).await, json, view)
}

async fn dimensions_inner(
    dir: DataDir,
    cmd: DimensionsCommand,
) -> Result<serde_json::Value, Failure> {
    let ctx = open_ctx(&dir).await?;
    #[allow(unused_variables)]
    let (store, scope) = (ctx.store(), &ctx.scope);
    match cmd {
        DimensionsCommand::Create { name, values } => {
            let req = CreateDimensionRequest {
                name,
                dimension_type: "TOPIC_FILTER".into(),
                string_values: values,
            };
            json(&admin::create_dimension(&ctx, &req).await?)
        }
        DimensionsCommand::List => {
            let mut names = Vec::new();
            let mut paging = Paging {
                next_token: None,
                max_results: Some(fleetward_store::PageRequest::MAX_LIMIT),
            };
            loop {
                let page = admin::list_dimensions(&ctx, &paging).await?;
                names.extend(page.dimension_names);
                match page.next_token {
                    Some(t) => paging.next_token = Some(t),
                    None => break,
                }
            }
            Ok(serde_json::json!({ "dimensionNames": names }))
        }
    }
}

pub(super) async fn violations(dir: DataDir, cmd: ViolationsCommand) -> ExitCode {
    let view = View::Rows {
        list: "activeViolations",
        columns: &[
            ("THING", "thingName"),
            ("PROFILE", "securityProfileName"),
            ("BEHAVIOR", "behavior.name"),
            ("METRIC", "behavior.metric"),
            ("LAST VALUE", "lastViolationValue"),
            ("SINCE", "violationStartTime"),
            ("VERIFICATION", "verificationState"),
            ("VIOLATION ID", "violationId"),
        ],
    };
    let json = dir.json;
    show(violations_inner(dir, cmd).await, json, view)
}

async fn violations_inner(
    dir: DataDir,
    cmd: ViolationsCommand,
) -> Result<serde_json::Value, Failure> {
    let ctx = open_ctx(&dir).await?;
    #[allow(unused_variables)]
    let (store, scope) = (ctx.store(), &ctx.scope);
    match cmd {
        ViolationsCommand::List { thing, profile } => {
            let mut all = Vec::new();
            let mut paging = Paging {
                next_token: None,
                max_results: Some(fleetward_store::PageRequest::MAX_LIMIT),
            };
            loop {
                let page = admin::list_active_violations(
                    &ctx,
                    thing.as_deref(),
                    profile.as_deref(),
                    &admin::ViolationFilters::default(),
                    &paging,
                )
                .await?;
                all.extend(page.active_violations);
                match page.next_token {
                    Some(t) => paging.next_token = Some(t),
                    None => break,
                }
            }
            Ok(serde_json::json!({ "activeViolations": json(&all)? }))
        }
    }
}
