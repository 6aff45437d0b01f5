//! Provisioning a simulated fleet: things in class groups, certificates from the server's CA,
//! and the starter security profiles attached to the groups.
//!
//! It works on the store and CA of a data directory, in process (`fleetward demo`) or beside a
//! running server (`fleetward simulate`: SQLite in WAL mode lets both write). Device keys are
//! kept in a credentials directory so a second run reuses the same identities instead of
//! registering a new certificate per device per run.

use std::path::Path;

use fleetward_service::Ctx;

use fleetward_service::data_dir::write_private;
use fleetward_service::detect::{self as admin, ArnScope, SecurityProfileRequest};
use fleetward_service::pki::{Ca, CertFacts};
use fleetward_store::{CertStatus, Certificate, NewThing, NewThingGroup, Store, StoreError};

use super::class::{DeviceClass, DeviceSpec};
use super::device::Credentials;

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    /// The registry could not be read or written.
    #[error("registry: {0}")]
    Store(#[from] StoreError),
    /// A certificate could not be issued.
    #[error("certificate for {thing}: {reason}")]
    Certificate {
        /// The thing.
        thing: String,
        /// What went wrong.
        reason: String,
    },
    /// A credentials file could not be written.
    #[error("{path}: {reason}")]
    Files {
        /// The file or directory.
        path: String,
        /// The OS error.
        reason: String,
    },
    /// A starter profile was refused (a bug: the test suite applies them).
    #[error("starter profile {profile}: {reason}")]
    Profile {
        /// The profile.
        profile: String,
        /// Why.
        reason: String,
    },
}

/// Registers every device of `specs` (thing, class group, ACTIVE certificate from `ca`,
/// attached) and returns its credentials. Keys are kept in `dir/<thing>/` (`device.pem`,
/// `device.key`, `ca.pem`, as `certs create` writes them); a device whose files hold a
/// certificate that is still registered and ACTIVE reuses it.
pub async fn provision_fleet(
    store: &dyn Store,
    ca: &Ca,
    specs: &[DeviceSpec],
    dir: &Path,
) -> Result<Vec<Credentials>, ProvisionError> {
    for class in DeviceClass::ALL {
        if store.get_group(class.group()).await?.is_none() {
            store
                .create_group(&NewThingGroup {
                    name: class.group().to_owned(),
                    parent: None,
                    description: Some(format!("Simulated {}s (fleetward simulate)", class.name())),
                })
                .await?;
        }
    }
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        if store.get_thing(&spec.thing).await?.is_none() {
            store
                .create_thing(&NewThing {
                    name: spec.thing.clone(),
                    ..NewThing::default()
                })
                .await?;
        }
        let groups = store.groups_of_thing(&spec.thing).await?;
        if !groups.iter().any(|g| g == spec.class.group()) {
            store
                .add_thing_to_group(spec.class.group(), &spec.thing)
                .await?;
        }
        let files = dir.join(&spec.thing);
        let creds = match reusable(store, &files, &spec.thing).await? {
            Some(c) => c,
            None => issue(store, ca, &spec.thing, &files).await?,
        };
        out.push(creds);
    }
    Ok(out)
}

/// The credentials in `files` if their certificate is registered, ACTIVE and attached to
/// `thing`.
async fn reusable(
    store: &dyn Store,
    files: &Path,
    thing: &str,
) -> Result<Option<Credentials>, ProvisionError> {
    let (Ok(cert_pem), Ok(key_pem)) = (
        std::fs::read_to_string(files.join("device.pem")),
        std::fs::read_to_string(files.join("device.key")),
    ) else {
        return Ok(None);
    };
    let Ok(facts) = CertFacts::from_pem(&cert_pem) else {
        return Ok(None);
    };
    let active = store
        .get_certificate(&facts.id)
        .await?
        .is_some_and(|c| c.status == CertStatus::Active);
    let attached = store
        .principal_things(&facts.id)
        .await?
        .iter()
        .any(|t| t == thing);
    Ok((active && attached).then_some(Credentials { cert_pem, key_pem }))
}

async fn issue(
    store: &dyn Store,
    ca: &Ca,
    thing: &str,
    files: &Path,
) -> Result<Credentials, ProvisionError> {
    let issued = ca
        .issue_device(thing)
        .map_err(|e| ProvisionError::Certificate {
            thing: thing.to_owned(),
            reason: e.to_string(),
        })?;
    let f = &issued.facts;
    store
        .insert_certificate(&Certificate {
            id: f.id.clone(),
            pem: issued.cert_pem.clone(),
            status: CertStatus::Active,
            ca_id: Some(ca.facts().id.clone()),
            subject: f.subject.clone(),
            serial: f.serial.clone(),
            not_after: f.not_after,
            created_at: fleetward_core::aws::time::system_now_ms(),
        })
        .await?;
    store.attach_thing_principal(thing, &f.id).await?;
    let io = |e: std::io::Error| ProvisionError::Files {
        path: files.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::create_dir_all(files).map_err(io)?;
    write_private(&files.join("device.key"), issued.key_pem.as_bytes()).map_err(io)?;
    std::fs::write(files.join("device.pem"), &issued.cert_pem).map_err(io)?;
    std::fs::write(files.join("ca.pem"), ca.pem()).map_err(io)?;
    Ok(Credentials {
        cert_pem: issued.cert_pem,
        key_pem: issued.key_pem,
    })
}

/// The ARN of a class's thing group.
pub fn group_arn(scope: &ArnScope, class: DeviceClass) -> String {
    format!(
        "arn:aws:iot:{}:{}:thinggroup/{}",
        scope.region,
        scope.account,
        class.group()
    )
}

/// Applies the three starter profiles and attaches each to its class's group; returns the
/// profile names.
pub async fn apply_starter_profiles(ctx: &Ctx) -> Result<Vec<String>, ProvisionError> {
    let scope = &ctx.scope;
    let mut names = Vec::new();
    for class in DeviceClass::ALL {
        let req: SecurityProfileRequest =
            serde_json::from_str(class.starter_profile()).map_err(|e| ProvisionError::Profile {
                profile: class.name().to_owned(),
                reason: e.to_string(),
            })?;
        let applied = admin::apply_security_profile(ctx, &req)
            .await
            .map_err(|e| ProvisionError::Profile {
                profile: class.name().to_owned(),
                reason: e.to_string(),
            })?;
        admin::attach_security_profile(
            ctx,
            &applied.security_profile_name,
            &group_arn(scope, class),
        )
        .await
        .map_err(|e| ProvisionError::Profile {
            profile: applied.security_profile_name.clone(),
            reason: format!("attaching to {}: {e}", group_arn(scope, class)),
        })?;
        names.push(applied.security_profile_name);
    }
    Ok(names)
}
