//! Webhook signatures: HMAC-SHA256 of the body with the target's secret. Pure.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signature: `X-Fleetward-Signature: sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Fleetward-Signature";

/// The signature header's value for `body` under `secret`: `sha256=` and the lowercase hex
/// HMAC-SHA256. Receivers recompute it over the raw body and compare in constant time.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail; the fallback only satisfies the
    // type.
    match <Hmac<Sha256> as KeyInit>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::from("sha256="),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2() {
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn empty_key_and_body() {
        assert_eq!(
            signature(b"", b""),
            "sha256=b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"
        );
    }
}
