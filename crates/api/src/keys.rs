//! Access keys for the API: generation, and the admin key made at first start.
//!
//! Keys look like AWS's (a 20-character `AKIA…` id and a 40-character secret) so tools that
//! sanity-check credential shapes accept them. Both come from the operating system's secure
//! random source (`fleetward_service::random`, which also makes webhook secrets and
//! certificate serials).

use std::path::{Path, PathBuf};

use serde::Serialize;

use fleetward_store::{ApiKey, NewApiKey, Store, StoreError};

/// The admin key's file in the data directory.
pub const ADMIN_KEY_FILE: &str = "admin-key.json";

/// Why a key could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The secure random source failed.
    #[error("no secure random source")]
    Random,
    /// The store failed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The key file could not be written.
    #[error("writing {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// The OS error.
        reason: String,
    },
}

fn random(buf: &mut [u8]) -> Result<(), KeyError> {
    fleetward_service::random::fill(buf).map_err(|_| KeyError::Random)
}

/// `n` characters of `alphabet`, uniformly (rejection sampling, so no modulo bias).
fn random_string(alphabet: &[u8], n: usize) -> Result<String, KeyError> {
    let mut out = String::with_capacity(n);
    // The largest multiple of the alphabet size that fits a byte.
    let limit = 256 - (256 % alphabet.len());
    let mut buf = [0u8; 64];
    while out.len() < n {
        random(&mut buf)?;
        for &b in &buf {
            if usize::from(b) < limit && out.len() < n {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    Ok(out)
}

/// A new key id and secret named `name` (not stored).
pub fn generate(name: &str) -> Result<NewApiKey, KeyError> {
    const ID: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const SECRET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    Ok(NewApiKey {
        access_key_id: format!("AKIA{}", random_string(ID, 16)?),
        secret: random_string(SECRET, 40)?,
        name: name.to_owned(),
    })
}

/// Generates and stores a key.
pub async fn create(store: &dyn Store, name: &str) -> Result<ApiKey, KeyError> {
    Ok(store.create_api_key(&generate(name)?).await?)
}

/// What the admin key file holds: the names an AWS credentials file uses, plus the region.
#[derive(Debug, Serialize)]
struct KeyFile<'a> {
    aws_access_key_id: &'a str,
    aws_secret_access_key: &'a str,
    region: &'a str,
}

/// At first start (no key exists), creates the `admin` key and writes it to
/// `<data_dir>/admin-key.json` with mode 0600. Returns the file's path when it was written.
pub async fn ensure_admin_key(
    store: &dyn Store,
    data_dir: &Path,
    region: &str,
) -> Result<Option<PathBuf>, KeyError> {
    if !store.list_api_keys().await?.is_empty() {
        return Ok(None);
    }
    let key = create(store, "admin").await?;
    let path = data_dir.join(ADMIN_KEY_FILE);
    let body = serde_json::to_string_pretty(&KeyFile {
        aws_access_key_id: &key.access_key_id,
        aws_secret_access_key: &key.secret,
        region,
    })
    .map_err(|e| KeyError::File {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    fleetward_service::data_dir::write_private(&path, format!("{body}\n").as_bytes()).map_err(
        |e| KeyError::File {
            path: path.clone(),
            reason: e.to_string(),
        },
    )?;
    Ok(Some(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_aws_shapes_and_differ() {
        let a = generate("a").unwrap();
        let b = generate("b").unwrap();
        assert_eq!(a.access_key_id.len(), 20);
        assert!(a.access_key_id.starts_with("AKIA"));
        assert_eq!(a.secret.len(), 40);
        assert_ne!(a.access_key_id, b.access_key_id);
        assert_ne!(a.secret, b.secret);
    }
}
