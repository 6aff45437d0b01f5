//! Paging tokens: the last key of a page, wrapped so clients cannot mistake it for data.
//!
//! A token is the hex of `fw1␟<list>␟<key parts…>`. The list tag makes a token from one listing
//! invalid in another, and hex keeps it URL- and JSON-safe without escaping. The key is not
//! secret: a client that forges one only skips around in data it may already list.

use crate::store::{StoreError, StoreResult};

const MAGIC: &str = "fw1";
const SEP: char = '\u{1f}';

/// Encodes the key `parts` of a page of `list`. Only the last part may contain the separator.
pub(super) fn encode(list: &str, parts: &[&str]) -> String {
    let mut s =
        String::with_capacity(8 + list.len() + parts.iter().map(|p| p.len() + 1).sum::<usize>());
    s.push_str(MAGIC);
    s.push(SEP);
    s.push_str(list);
    for p in parts {
        s.push(SEP);
        s.push_str(p);
    }
    hex::encode(s)
}

/// Decodes a token of `list` into exactly `n` key parts; `InvalidToken` for anything else.
pub(super) fn decode(token: &str, list: &str, n: usize) -> StoreResult<Vec<String>> {
    let bytes = hex::decode(token).map_err(|_| StoreError::InvalidToken)?;
    let s = String::from_utf8(bytes).map_err(|_| StoreError::InvalidToken)?;
    let mut it = s.splitn(n + 2, SEP);
    if it.next() != Some(MAGIC) || it.next() != Some(list) {
        return Err(StoreError::InvalidToken);
    }
    let parts: Vec<String> = it.map(str::to_owned).collect();
    if parts.len() != n {
        return Err(StoreError::InvalidToken);
    }
    Ok(parts)
}

/// Decodes a token whose key is one name; no token starts before every name.
pub(super) fn after_name(token: Option<&str>, list: &str) -> StoreResult<String> {
    match token {
        None => Ok(String::new()),
        Some(t) => decode(t, list, 1)?
            .pop()
            .filter(|name| !name.is_empty())
            .ok_or(StoreError::InvalidToken),
    }
}

/// Parses an integer key part.
pub(super) fn int(part: &str) -> StoreResult<i64> {
    part.parse().map_err(|_| StoreError::InvalidToken)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = encode("things", &["a-thing"]);
        assert_eq!(decode(&t, "things", 1).unwrap(), vec!["a-thing".to_owned()]);
        let t = encode("values", &["17", "-3"]);
        assert_eq!(
            decode(&t, "values", 2).unwrap(),
            vec!["17".to_owned(), "-3".to_owned()]
        );
    }

    #[test]
    fn rejects_foreign_and_garbled_tokens() {
        let t = encode("things", &["a"]);
        assert!(matches!(
            decode(&t, "groups", 1),
            Err(StoreError::InvalidToken)
        ));
        assert!(matches!(
            decode(&t, "things", 2),
            Err(StoreError::InvalidToken)
        ));
        assert!(matches!(
            decode("zz", "things", 1),
            Err(StoreError::InvalidToken)
        ));
        assert!(matches!(
            decode("", "things", 1),
            Err(StoreError::InvalidToken)
        ));
        assert!(matches!(
            decode(&hex::encode("fw2\u{1f}things\u{1f}a"), "things", 1),
            Err(StoreError::InvalidToken)
        ));
        assert!(matches!(
            after_name(Some(&encode("things", &[""])), "things"),
            Err(StoreError::InvalidToken)
        ));
        assert!(matches!(int("x"), Err(StoreError::InvalidToken)));
    }
}
