//! `clientRequestToken`: a create repeated with the same token succeeds again with the first
//! answer, as AWS documents for CreateCustomMetric and CreateDimension.
//!
//! SDKs fill the token in once per call and keep it across their retries, so this is what
//! makes a retry after a lost response succeed instead of failing with
//! `ResourceAlreadyExistsException`. The same name with a different token still fails. Tokens
//! are remembered in memory only: retries happen within seconds, and after a restart a repeat
//! gets the error AWS would give a stranger.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

/// Most remembered creates; past it the memory starts over (a retry then sees the error).
const CAPACITY: usize = 10_000;

/// (operation, resource name) → (token, the answer).
type Seen = HashMap<(&'static str, String), (String, Value)>;

/// The tokens of recent creates, by operation and resource name.
#[derive(Default)]
pub struct Tokens {
    seen: Mutex<Seen>,
}

impl Tokens {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        match self.seen.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Remembers that `op` created `name` with `token` and answered `response`.
    pub fn record(&self, op: &'static str, name: &str, token: &str, response: Value) {
        let mut seen = self.lock();
        if seen.len() >= CAPACITY {
            seen.clear();
        }
        seen.insert((op, name.to_owned()), (token.to_owned(), response));
    }

    /// The first answer, when `op` already created `name` with this same `token`.
    pub fn replay(&self, op: &'static str, name: &str, token: &str) -> Option<Value> {
        self.lock()
            .get(&(op, name.to_owned()))
            .filter(|(t, _)| t == token)
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_token_replays_other_token_does_not() {
        let t = Tokens::default();
        t.record(
            "CreateDimension",
            "d",
            "tok",
            serde_json::json!({"name": "d"}),
        );
        assert_eq!(
            t.replay("CreateDimension", "d", "tok"),
            Some(serde_json::json!({"name": "d"}))
        );
        assert_eq!(t.replay("CreateDimension", "d", "other"), None);
        assert_eq!(t.replay("CreateCustomMetric", "d", "tok"), None);
    }
}
