//! Provisioning commands over the data directory's registry: `certs`, `things`, `groups`.
//!
//! They work directly on the same SQLite database a running server uses (WAL allows it), so a
//! device can be provisioned or a certificate deactivated without the API. Each command is a
//! thin shell over [`fleetward_service::registry`], the service layer the AWS-compatible routes call, so the
//! CLI and the API apply the same rules. Output is JSON, in the shapes AWS's CLI prints for the
//! matching calls, so scripts can parse it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::offline::{DataDir, Failure};
use super::output::{self, View};
use fleetward_service::data_dir::write_private;
use fleetward_service::registry::{
    self as registry, CreateThingGroupRequest, CreateThingRequest, RegisterCertificateRequest,
    ThingGroupMembershipRequest,
};
use fleetward_service::{Ctx, ServiceError};
use fleetward_store::Certificate;

#[derive(Debug, Subcommand)]
pub(super) enum CertsCommand {
    /// Create a key and a certificate signed by the Fleetward CA, register it and attach it to
    /// a thing (CreateKeysAndCertificate + AttachThingPrincipal). Creates the thing if needed.
    Create {
        /// The thing the certificate is for.
        #[arg(long)]
        thing: String,
        /// Where to write device.pem, device.key and ca.pem.
        #[arg(long)]
        out: PathBuf,
    },
    /// Register an existing certificate (PEM) signed by a registered CA (RegisterCertificate).
    Register {
        /// The certificate, PEM.
        #[arg(long)]
        cert: PathBuf,
        /// Attach it to this thing.
        #[arg(long)]
        thing: Option<String>,
        /// ACTIVE or INACTIVE.
        #[arg(long, default_value = "ACTIVE")]
        status: String,
    },
    /// Change a certificate's status (UpdateCertificate): ACTIVE, INACTIVE or REVOKED.
    Update {
        /// The certificate id (64 hex).
        cert_id: String,
        /// The new status.
        #[arg(long)]
        status: String,
    },
    /// List certificates, newest first.
    List,
    /// Describe a certificate (DescribeCertificate), with the things it is attached to.
    Show {
        /// The certificate id (64 hex).
        cert_id: String,
    },
    /// Attach a certificate to a thing (AttachThingPrincipal).
    Attach {
        /// The certificate id (64 hex).
        cert_id: String,
        /// The thing.
        #[arg(long)]
        thing: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum ThingsCommand {
    /// Register a thing.
    Create {
        /// The thing name.
        name: String,
    },
    /// List things.
    List,
    /// Describe a thing (DescribeThing), with its groups and certificates.
    Show {
        /// The thing name.
        name: String,
    },
    /// Delete a thing (DeleteThing; refused while certificates are attached, as in AWS).
    Delete {
        /// The thing name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(super) enum GroupsCommand {
    /// Create a thing group, optionally nested under a parent.
    Create {
        /// The group name.
        name: String,
        /// The parent group.
        #[arg(long)]
        parent: Option<String>,
    },
    /// Add a thing to a group.
    AddThing {
        /// The group.
        group: String,
        /// The thing.
        thing: String,
    },
    /// Remove a thing from a group.
    RemoveThing {
        /// The group.
        group: String,
        /// The thing.
        thing: String,
    },
    /// List groups.
    List,
    /// Describe a group (DescribeThingGroup), with the things in it and its descendants.
    Show {
        /// The group name.
        name: String,
    },
    /// Delete a group (DeleteThingGroup; refused while it has child groups).
    Delete {
        /// The group name.
        name: String,
    },
}

fn json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(v).map_err(|e| Failure(e.to_string(), 1))
}

fn finish(r: Result<serde_json::Value, Failure>, json: bool, view: View) -> ExitCode {
    output::finish(r.map_err(|Failure(m, c)| (m, c)), json, Some(view))
}

const CERT_COLUMNS: &[(&str, &str)] = &[
    ("CERTIFICATE ID", "certificateId"),
    ("STATUS", "status"),
    ("SUBJECT", "subject"),
    ("EXPIRES", "notAfter"),
    ("CREATED", "creationDate"),
];

/// A certificate as the listing prints it; times in epoch seconds like every AWS shape.
fn cert_json(c: &Certificate) -> serde_json::Value {
    json!({
        "certificateId": c.id,
        "status": c.status.as_str(),
        "caCertificateId": c.ca_id,
        "subject": c.subject,
        "notAfter": fleetward_core::aws::seconds(c.not_after),
        "creationDate": fleetward_core::aws::seconds(c.created_at),
    })
}

/// Creates `thing` unless it exists (whatever its attributes).
async fn ensure_thing(ctx: &Ctx, thing: &str) -> Result<(), Failure> {
    let req = CreateThingRequest {
        thing_name: thing.to_owned(),
        ..CreateThingRequest::default()
    };
    match registry::create_thing(ctx, &req).await {
        Ok(_) => Ok(()),
        Err(ServiceError::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn certs(dir: DataDir, cmd: CertsCommand) -> ExitCode {
    let view = match &cmd {
        CertsCommand::List => View::Rows {
            list: "certificates",
            columns: CERT_COLUMNS,
        },
        CertsCommand::Show { .. } => View::Detail {
            fields: &[
                ("Certificate ID", "certificateId"),
                ("ARN", "certificateArn"),
                ("Status", "status"),
                ("CA certificate ID", "caCertificateId"),
                ("Valid from", "validity.notBefore"),
                ("Valid until", "validity.notAfter"),
                ("Created", "creationDate"),
            ],
            list: "things",
            columns: &[("ATTACHED TO THING", "")],
        },
        _ => View::Fields,
    };
    let json = dir.json;
    finish(certs_inner(dir, cmd).await, json, view)
}

async fn certs_inner(dir: DataDir, cmd: CertsCommand) -> Result<serde_json::Value, Failure> {
    let ctx = super::offline::open_ctx(&dir).await?;
    #[allow(unused_variables)]
    let (store, scope) = (ctx.store(), &ctx.scope);
    match cmd {
        CertsCommand::Create { thing, out } => {
            ensure_thing(&ctx, &thing).await?;
            let created = registry::create_keys_and_certificate(&ctx, Some(&thing), true).await?;
            write_files(
                &out,
                &created.certificate_pem,
                &created.key_pair.private_key,
                ctx.ca.as_deref().map(|ca| ca.pem()).unwrap_or_default(),
            )?;
            registry::attach_thing_principal(&ctx, &thing, &created.certificate_arn, None).await?;
            Ok(json!({
                "certificateId": created.certificate_id,
                "certificateArn": created.certificate_arn,
                "thingName": thing,
                "certificatePem": out.join("device.pem"),
                "privateKey": out.join("device.key"),
                "caCertificate": out.join("ca.pem"),
            }))
        }
        CertsCommand::Register {
            cert,
            thing,
            status,
        } => {
            let pem = std::fs::read_to_string(&cert)
                .map_err(|e| Failure(format!("--cert {}: {e}", cert.display()), 2))?;
            let registered = registry::register_certificate(
                &ctx,
                &RegisterCertificateRequest {
                    certificate_pem: pem,
                    status: Some(status),
                    ..RegisterCertificateRequest::default()
                },
            )
            .await?;
            if let Some(thing) = &thing {
                registry::attach_thing_principal(&ctx, thing, &registered.certificate_arn, None)
                    .await?;
            }
            let c = store
                .get_certificate(&registered.certificate_id)
                .await
                .map_err(ServiceError::from)?
                .ok_or_else(|| Failure("the registered certificate vanished".into(), 1))?;
            Ok(cert_json(&c))
        }
        CertsCommand::Update { cert_id, status } => {
            registry::update_certificate(&ctx, &cert_id, &status).await?;
            let c = store
                .get_certificate(&cert_id.to_ascii_lowercase())
                .await
                .map_err(ServiceError::from)?
                .ok_or_else(|| Failure(format!("certificate '{cert_id}' does not exist"), 3))?;
            Ok(cert_json(&c))
        }
        CertsCommand::List => {
            let items = registry::all_certificates(&ctx).await?;
            Ok(json!({ "certificates": items.iter().map(cert_json).collect::<Vec<_>>() }))
        }
        CertsCommand::Show { cert_id } => {
            let d = registry::describe_certificate(&ctx, &cert_id)
                .await?
                .certificate_description;
            let things = store
                .principal_things(&d.certificate_id)
                .await
                .map_err(ServiceError::from)?;
            let mut v = json(&d)?;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("things".into(), json!(things));
            }
            Ok(v)
        }
        CertsCommand::Attach { cert_id, thing } => {
            let arn = registry::certificate_arn(scope, &cert_id.to_ascii_lowercase());
            registry::attach_thing_principal(&ctx, &thing, &arn, None).await?;
            Ok(json!({ "thingName": thing, "principal": arn }))
        }
    }
}

fn write_files(out: &Path, cert: &str, key: &str, ca: &str) -> Result<(), Failure> {
    let io = |p: &Path, e: std::io::Error| Failure(format!("--out {}: {e}", p.display()), 1);
    std::fs::create_dir_all(out).map_err(|e| io(out, e))?;
    let key_path = out.join("device.key");
    write_private(&key_path, key.as_bytes()).map_err(|e| io(&key_path, e))?;
    std::fs::write(out.join("device.pem"), cert).map_err(|e| io(out, e))?;
    std::fs::write(out.join("ca.pem"), ca).map_err(|e| io(out, e))?;
    Ok(())
}

pub(super) async fn things(dir: DataDir, cmd: ThingsCommand) -> ExitCode {
    let view = match &cmd {
        ThingsCommand::List => View::Rows {
            list: "things",
            columns: &[
                ("THING", "thingName"),
                ("VERSION", "version"),
                ("ATTRIBUTES", "attributes"),
            ],
        },
        ThingsCommand::Show { .. } => View::Detail {
            fields: &[
                ("Thing", "thingName"),
                ("ARN", "thingArn"),
                ("ID", "thingId"),
                ("Version", "version"),
                ("Attributes", "attributes"),
                ("Groups", "thingGroups"),
            ],
            list: "principals",
            columns: &[("CERTIFICATE", "")],
        },
        _ => View::Fields,
    };
    let json = dir.json;
    finish(things_inner(dir, cmd).await, json, view)
}

async fn things_inner(dir: DataDir, cmd: ThingsCommand) -> Result<serde_json::Value, Failure> {
    let ctx = super::offline::open_ctx(&dir).await?;
    #[allow(unused_variables)]
    let (store, scope) = (ctx.store(), &ctx.scope);
    match cmd {
        ThingsCommand::Create { name } => {
            let req = CreateThingRequest {
                thing_name: name,
                ..CreateThingRequest::default()
            };
            json(&registry::create_thing(&ctx, &req).await?)
        }
        ThingsCommand::List => {
            let things = registry::all_things(&ctx).await?;
            Ok(json!({ "things": json(&things)? }))
        }
        ThingsCommand::Show { name } => {
            let mut v = json(&registry::describe_thing(&ctx, &name).await?)?;
            let groups = store
                .groups_of_thing(&name)
                .await
                .map_err(ServiceError::from)?;
            let principals = registry::list_thing_principals(
                &ctx,
                &name,
                &fleetward_service::detect::Paging {
                    next_token: None,
                    max_results: Some(fleetward_store::PageRequest::MAX_LIMIT),
                },
            )
            .await?
            .principals;
            if let Some(obj) = v.as_object_mut() {
                obj.insert("thingGroups".into(), json!(groups));
                obj.insert("principals".into(), json!(principals));
            }
            Ok(v)
        }
        ThingsCommand::Delete { name } => {
            registry::delete_thing(&ctx, &name, None).await?;
            Ok(json!({}))
        }
    }
}

pub(super) async fn groups(dir: DataDir, cmd: GroupsCommand) -> ExitCode {
    let view = match &cmd {
        GroupsCommand::List => View::Rows {
            list: "thingGroups",
            columns: &[("GROUP", "groupName"), ("PARENT", "parentGroupName")],
        },
        GroupsCommand::Show { .. } => View::Detail {
            fields: &[
                ("Group", "thingGroupName"),
                ("ARN", "thingGroupArn"),
                ("Description", "thingGroupProperties.thingGroupDescription"),
                ("Parent", "thingGroupMetadata.parentGroupName"),
                ("Created", "thingGroupMetadata.creationDate"),
            ],
            list: "things",
            columns: &[("THING (here and below)", "")],
        },
        _ => View::Fields,
    };
    let json = dir.json;
    finish(groups_inner(dir, cmd).await, json, view)
}

async fn groups_inner(dir: DataDir, cmd: GroupsCommand) -> Result<serde_json::Value, Failure> {
    let ctx = super::offline::open_ctx(&dir).await?;
    #[allow(unused_variables)]
    let (store, scope) = (ctx.store(), &ctx.scope);
    match cmd {
        GroupsCommand::Create { name, parent } => {
            let req = CreateThingGroupRequest {
                thing_group_name: name,
                parent_group_name: parent,
                ..CreateThingGroupRequest::default()
            };
            json(&registry::create_thing_group(&ctx, &req).await?)
        }
        GroupsCommand::AddThing { group, thing } => {
            let req = ThingGroupMembershipRequest {
                thing_group_name: Some(group),
                thing_name: Some(thing),
                ..ThingGroupMembershipRequest::default()
            };
            registry::add_thing_to_thing_group(&ctx, &req).await?;
            Ok(json!({}))
        }
        GroupsCommand::Delete { name } => {
            registry::delete_thing_group(&ctx, &name, None).await?;
            Ok(json!({}))
        }
        GroupsCommand::RemoveThing { group, thing } => {
            let req = ThingGroupMembershipRequest {
                thing_group_name: Some(group),
                thing_name: Some(thing),
                ..ThingGroupMembershipRequest::default()
            };
            registry::remove_thing_from_thing_group(&ctx, &req).await?;
            Ok(json!({}))
        }
        GroupsCommand::Show { name } => {
            let mut v = json(&registry::describe_thing_group(&ctx, &name).await?)?;
            let mut things = Vec::new();
            let mut paging = fleetward_service::detect::Paging {
                next_token: None,
                max_results: Some(fleetward_store::PageRequest::MAX_LIMIT),
            };
            loop {
                let page = registry::list_things_in_thing_group(&ctx, &name, true, &paging).await?;
                things.extend(page.things);
                match page.next_token {
                    Some(t) => paging.next_token = Some(t),
                    None => break,
                }
            }
            if let Some(obj) = v.as_object_mut() {
                obj.insert("things".into(), json!(things));
            }
            Ok(v)
        }
        GroupsCommand::List => {
            let groups = registry::all_thing_groups(&ctx).await?;
            Ok(json!({ "thingGroups": groups.iter().map(|g| json!({
                "groupName": g.name,
                "groupArn": registry::thing_group_arn(scope, &g.name),
                "parentGroupName": g.parent,
            })).collect::<Vec<_>>() }))
        }
    }
}
