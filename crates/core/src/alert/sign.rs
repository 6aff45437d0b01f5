//! Webhook signatures: HMAC-SHA256, under the target's secret, of the send time and the body.
//! Pure.
//!
//! The time is signed with the body so a receiver can refuse a captured request replayed
//! later: it checks the signature, then that the signed time is recent ([`verify`] does both).
//! The signed text is `"<unix seconds>." + body`, the scheme Stripe's and GitHub's webhooks
//! made familiar.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header carrying the signature: `X-Fleetward-Signature: sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Fleetward-Signature";

/// The header carrying the signed send time, in Unix seconds: `X-Fleetward-Timestamp: 1765000000`.
pub const TIMESTAMP_HEADER: &str = "X-Fleetward-Timestamp";

/// How far a receiver should let the signed time be from its own clock, in seconds.
pub const DEFAULT_TOLERANCE_SECS: i64 = 300;

/// The MAC over `"<timestamp_secs>." + body`. HMAC takes keys of any length, so this is
/// always `Some`; the `Option` only carries the crate's fallible signature.
fn mac(secret: &[u8], timestamp_secs: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).ok()?;
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The signature header's value for `body` sent at `timestamp_secs` under `secret`: `sha256=`
/// and the lowercase hex HMAC-SHA256 of `"<timestamp_secs>." + body`.
pub fn signature(secret: &[u8], timestamp_secs: i64, body: &[u8]) -> String {
    let hex = mac(secret, timestamp_secs, body)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("sha256={hex}")
}

/// Why a webhook request's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    /// A header is missing its `sha256=` prefix, or is not hex, or the time is not a number.
    Malformed,
    /// The signature does not match the body and time under this secret.
    Mismatch,
    /// The signed time is further than the tolerance from now: a replay, or a skewed clock.
    Stale,
}

/// Checks a received request: the signature must match `body` and the signed time under
/// `secret` (compared in constant time), and the time must be within `tolerance_secs` of
/// `now_secs`.
pub fn verify(
    secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp_header
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed)?;
    let sig = signature_header
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed)?;
    mac(secret, ts, body)
        .ok_or(SignatureError::Mismatch)?
        .verify_slice(&sig)
        .map_err(|_| SignatureError::Mismatch)?;
    if now_secs.abs_diff(ts) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4231_test_case_2_over_time_and_body() {
        // RFC 4231 case 2's key and message, with the message split as "<time>.<body>".
        assert_eq!(
            signature(b"Jefe", 0, b"what do ya want for nothing?"),
            format!("sha256={}", {
                let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
                m.update(b"0.what do ya want for nothing?");
                hex::encode(m.finalize().into_bytes())
            })
        );
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verify_accepts_a_fresh_signature_and_refuses_replays_and_forgeries() {
        let (secret, body, t) = (b"k".as_slice(), b"{\"a\":1}".as_slice(), 1_765_000_000);
        let sig = signature(secret, t, body);
        let ts = t.to_string();
        assert_eq!(verify(secret, &ts, &sig, body, t + 10, 300), Ok(()));
        // Captured and replayed an hour later.
        assert_eq!(
            verify(secret, &ts, &sig, body, t + 3600, 300),
            Err(SignatureError::Stale)
        );
        // The time moved forward to pass the window: the signature no longer matches.
        let later = (t + 3600).to_string();
        assert_eq!(
            verify(secret, &later, &sig, body, t + 3600, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(secret, &ts, &sig, b"{\"a\":2}", t, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &ts, &sig, body, t, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(secret, "soon", &sig, body, t, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(secret, &ts, "md5=00", body, t, 300),
            Err(SignatureError::Malformed)
        );
    }
}
