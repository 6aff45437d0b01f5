//! Provisioning commands over the data directory's registry: `certs`, `things`, `groups`.
//!
//! They work directly on the same SQLite database a running server uses (WAL allows it), so a
//! device can be provisioned or a certificate deactivated without the API. Output is JSON, in
//! the shapes AWS's CLI prints for the matching calls, so scripts can parse it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use crate::pki::{CertFacts, verify_issued_by};
use crate::server::{open_data_dir, write_private};
use crate::store::{
    CertStatus, Certificate, NewThing, NewThingGroup, PageRequest, Store, StoreError,
};

/// Where the server's data lives: the flag and variable every offline command shares.
#[derive(Debug, Args)]
pub(super) struct DataDir {
    /// The server's data directory.
    #[arg(
        long,
        env = "FLEETWARD_DATA_DIR",
        default_value = "./fleetward-data",
        global = true
    )]
    pub(super) data_dir: PathBuf,
}

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
    /// List certificates.
    List,
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
    /// Delete a thing.
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
    /// List groups.
    List,
}

/// A failed command: the message, and whether it was the user's mistake (exit 2) or not (1).
struct Failure(String, u8);

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::Backend(_) => 1,
            _ => 2,
        };
        Failure(e.to_string(), code)
    }
}

fn finish(r: Result<serde_json::Value, Failure>) -> ExitCode {
    match r {
        Ok(v) => {
            super::out(&serde_json::to_string_pretty(&v).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(Failure(msg, code)) => {
            eprintln!("fleetward: {msg}");
            ExitCode::from(code)
        }
    }
}

async fn open(
    dir: &DataDir,
) -> Result<
    (
        std::sync::Arc<crate::store::sqlite::SqliteStore>,
        crate::pki::Ca,
    ),
    Failure,
> {
    open_data_dir(&dir.data_dir)
        .await
        .map(|(s, ca, _)| (s, ca))
        .map_err(|e| Failure(e.to_string(), 1))
}

fn valid_name(kind: &str, name: &str) -> Result<(), Failure> {
    if fleetward_proto::topic::is_valid_thing_name(name) {
        Ok(())
    } else {
        Err(Failure(
            format!("{kind} name '{name}' must be 1-128 characters of [a-zA-Z0-9:_-]"),
            2,
        ))
    }
}

fn parse_status(s: &str) -> Result<CertStatus, Failure> {
    CertStatus::parse(s).ok_or_else(|| {
        Failure(
            format!("--status {s}: expected ACTIVE, INACTIVE or REVOKED"),
            2,
        )
    })
}

fn cert_json(c: &Certificate) -> serde_json::Value {
    json!({
        "certificateId": c.id,
        "status": c.status.as_str(),
        "caCertificateId": c.ca_id,
        "subject": c.subject,
        "notAfter": c.not_after,
        "creationDate": c.created_at,
    })
}

pub(super) async fn certs(dir: DataDir, cmd: CertsCommand) -> ExitCode {
    finish(certs_inner(dir, cmd).await)
}

async fn certs_inner(dir: DataDir, cmd: CertsCommand) -> Result<serde_json::Value, Failure> {
    let (store, ca) = open(&dir).await?;
    let now = crate::broker::now_ms();
    match cmd {
        CertsCommand::Create { thing, out } => {
            valid_name("thing", &thing)?;
            if store.get_thing(&thing).await?.is_none() {
                store
                    .create_thing(&NewThing {
                        name: thing.clone(),
                        ..NewThing::default()
                    })
                    .await?;
            }
            let issued = ca
                .issue_device(&thing)
                .map_err(|e| Failure(e.to_string(), 1))?;
            write_files(&out, &issued.cert_pem, &issued.key_pem, ca.pem())?;
            let cert = certificate(
                &issued.facts,
                &issued.cert_pem,
                CertStatus::Active,
                Some(ca.facts().id.clone()),
                now,
            );
            store.insert_certificate(&cert).await?;
            store.attach_thing_principal(&thing, &cert.id).await?;
            Ok(json!({
                "certificateId": cert.id,
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
            let status = parse_status(&status)?;
            let pem = std::fs::read_to_string(&cert)
                .map_err(|e| Failure(format!("--cert {}: {e}", cert.display()), 2))?;
            let facts = CertFacts::from_pem(&pem)
                .map_err(|e| Failure(format!("--cert {}: {e}", cert.display()), 2))?;
            let cas = store.list_cas().await?;
            let Some(issuer) = cas
                .iter()
                .find(|c| c.status == CertStatus::Active && verify_issued_by(&pem, &c.pem))
            else {
                return Err(Failure(
                    "the certificate is not signed by a registered, ACTIVE CA".into(),
                    2,
                ));
            };
            let c = certificate(&facts, &pem, status, Some(issuer.id.clone()), now);
            store.insert_certificate(&c).await?;
            if let Some(thing) = &thing {
                store.attach_thing_principal(thing, &c.id).await?;
            }
            Ok(cert_json(&c))
        }
        CertsCommand::Update { cert_id, status } => {
            let status = parse_status(&status)?;
            store.set_certificate_status(&cert_id, status).await?;
            let c = store
                .get_certificate(&cert_id)
                .await?
                .ok_or_else(|| Failure(format!("certificate '{cert_id}' does not exist"), 2))?;
            Ok(cert_json(&c))
        }
        CertsCommand::List => {
            let items = all_pages(|p| {
                let store = store.clone();
                async move { store.list_certificates(&p).await }
            })
            .await?;
            Ok(json!({ "certificates": items.iter().map(cert_json).collect::<Vec<_>>() }))
        }
    }
}

fn certificate(
    f: &CertFacts,
    pem: &str,
    status: CertStatus,
    ca_id: Option<String>,
    now: i64,
) -> Certificate {
    Certificate {
        id: f.id.clone(),
        pem: pem.to_owned(),
        status,
        ca_id,
        subject: f.subject.clone(),
        serial: f.serial.clone(),
        not_after: f.not_after,
        created_at: now,
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

/// Collects every page of a listing.
async fn all_pages<T, F, Fut>(mut list: F) -> Result<Vec<T>, Failure>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<crate::store::Page<T>, StoreError>>,
{
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = list(PageRequest {
            next_token: token,
            max_results: Some(PageRequest::MAX_LIMIT),
        })
        .await?;
        out.extend(page.items);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
}

pub(super) async fn things(dir: DataDir, cmd: ThingsCommand) -> ExitCode {
    finish(things_inner(dir, cmd).await)
}

async fn things_inner(dir: DataDir, cmd: ThingsCommand) -> Result<serde_json::Value, Failure> {
    let (store, _) = open(&dir).await?;
    match cmd {
        ThingsCommand::Create { name } => {
            valid_name("thing", &name)?;
            let t = store
                .create_thing(&NewThing {
                    name,
                    ..NewThing::default()
                })
                .await?;
            Ok(json!({ "thingName": t.name, "version": t.version }))
        }
        ThingsCommand::List => {
            let items = all_pages(|p| {
                let store = store.clone();
                async move { store.list_things(&p).await }
            })
            .await?;
            Ok(
                json!({ "things": items.iter().map(|t| json!({"thingName": t.name, "version": t.version, "attributes": t.attributes})).collect::<Vec<_>>() }),
            )
        }
        ThingsCommand::Delete { name } => {
            store.delete_thing(&name).await?;
            Ok(json!({}))
        }
    }
}

pub(super) async fn groups(dir: DataDir, cmd: GroupsCommand) -> ExitCode {
    finish(groups_inner(dir, cmd).await)
}

async fn groups_inner(dir: DataDir, cmd: GroupsCommand) -> Result<serde_json::Value, Failure> {
    let (store, _) = open(&dir).await?;
    match cmd {
        GroupsCommand::Create { name, parent } => {
            valid_name("group", &name)?;
            let g = store
                .create_group(&NewThingGroup {
                    name,
                    parent,
                    description: None,
                })
                .await?;
            Ok(json!({ "thingGroupName": g.name, "parentGroupName": g.parent }))
        }
        GroupsCommand::AddThing { group, thing } => {
            store.add_thing_to_group(&group, &thing).await?;
            Ok(json!({}))
        }
        GroupsCommand::List => {
            let items = all_pages(|p| {
                let store = store.clone();
                async move { store.list_groups(None, &p).await }
            })
            .await?;
            Ok(
                json!({ "thingGroups": items.iter().map(|g| json!({"groupName": g.name, "parentGroupName": g.parent})).collect::<Vec<_>>() }),
            )
        }
    }
}
