//! Paging: AWS's `nextToken`/`maxResults`, one token format, and one in-memory pager.
//!
//! Every listing, whether the store pages it with a keyset query or the service pages a list it
//! built itself, issues tokens in one format: the hex of `fw1␟<list>␟<key parts…>`. The list tag
//! makes a token of one listing invalid in another, and hex keeps it URL- and JSON-safe without
//! escaping. The key is not secret: a client that forges one only skips around in data it may
//! already list.

use serde::{Deserialize, Serialize};

/// Which page of a listing to return.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// The opaque token a previous page returned.
    pub next_token: Option<String>,
    /// Most items to return; implementations cap it (AWS's `maxResults` range is 1–250).
    pub max_results: Option<u32>,
}

impl PageRequest {
    /// Default page size when `max_results` is not given.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// Largest page size.
    pub const MAX_LIMIT: u32 = 250;

    /// The first page, at most `max_results` items.
    pub fn first(max_results: u32) -> Self {
        PageRequest {
            next_token: None,
            max_results: Some(max_results),
        }
    }

    /// The effective limit.
    pub fn limit(&self) -> u32 {
        self.max_results
            .unwrap_or(Self::DEFAULT_LIMIT)
            .clamp(1, Self::MAX_LIMIT)
    }

    /// A request from a caller's members, checking the page size against 1–`most` and naming
    /// `member` (`maxResults`, `pageSize`) when it is out of range. Without a size, the page
    /// holds [`Self::DEFAULT_LIMIT`] items, or `most` if that is smaller.
    pub fn checked(
        next_token: Option<&str>,
        max_results: Option<u32>,
        member: &'static str,
        most: u32,
    ) -> Result<Self, PagingError> {
        match max_results {
            Some(m) if !(1..=most).contains(&m) => Err(PagingError::PageSize {
                member,
                most,
                got: m,
            }),
            _ => Ok(PageRequest {
                next_token: next_token.map(str::to_owned),
                max_results: Some(max_results.unwrap_or(Self::DEFAULT_LIMIT.min(most))),
            }),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Token for the next page; `None` on the last page.
    pub next_token: Option<String>,
}

/// The paging members of most List calls (`nextToken`, `maxResults`), as AWS's JSON has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    /// The token a previous page returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
    /// 1–250.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_results: Option<u32>,
}

impl Paging {
    /// The store's page request, `maxResults` checked against 1–250.
    pub fn request(&self) -> Result<PageRequest, PagingError> {
        self.request_at_most(PageRequest::MAX_LIMIT)
    }

    /// The page request of a listing whose pages hold at most `most` items.
    pub fn request_at_most(&self, most: u32) -> Result<PageRequest, PagingError> {
        PageRequest::checked(
            self.next_token.as_deref(),
            self.max_results,
            "maxResults",
            most,
        )
    }
}

/// A paging member the caller got wrong (`InvalidRequestException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagingError {
    /// The page size is out of range.
    PageSize {
        /// The member that carried it.
        member: &'static str,
        /// The largest page allowed.
        most: u32,
        /// What was asked for.
        got: u32,
    },
    /// A token this listing did not issue.
    Token,
}

impl core::fmt::Display for PagingError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PagingError::PageSize { member, most, got } => {
                write!(f, "{member}: must be 1-{most}, got {got}")
            }
            PagingError::Token => f.write_str("nextToken: not a token this listing issued"),
        }
    }
}

impl std::error::Error for PagingError {}

const MAGIC: &str = "fw1";
const SEP: char = '\u{1f}';

/// Encodes the key `parts` of the last item of a page of `list`. Only the last part may
/// contain the separator.
pub fn encode_token(list: &str, parts: &[&str]) -> String {
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

/// Decodes a token of `list` into exactly `n` key parts.
pub fn decode_token(token: &str, list: &str, n: usize) -> Result<Vec<String>, PagingError> {
    let bytes = hex::decode(token).map_err(|_| PagingError::Token)?;
    let s = String::from_utf8(bytes).map_err(|_| PagingError::Token)?;
    let mut it = s.splitn(n + 2, SEP);
    if it.next() != Some(MAGIC) || it.next() != Some(list) {
        return Err(PagingError::Token);
    }
    let parts: Vec<String> = it.map(str::to_owned).collect();
    if parts.len() != n {
        return Err(PagingError::Token);
    }
    Ok(parts)
}

/// Decodes a token whose key is one non-empty name; no token means "before every name" (the
/// empty string).
pub fn after_name(token: Option<&str>, list: &str) -> Result<String, PagingError> {
    match token {
        None => Ok(String::new()),
        Some(t) => decode_token(t, list, 1)?
            .pop()
            .filter(|name| !name.is_empty())
            .ok_or(PagingError::Token),
    }
}

/// One page of `items` in the order of `key`, for listings the store cannot page itself (a
/// filtered tree, a short list, another order). Items with equal keys keep their order; the
/// key must be unique for paging to be exact.
pub fn memory_page<T>(
    mut items: Vec<T>,
    key: impl Fn(&T) -> String,
    list: &str,
    page: &PageRequest,
) -> Result<Page<T>, PagingError> {
    let after = match &page.next_token {
        None => None,
        Some(t) => Some(after_name(Some(t), list)?),
    };
    items.sort_by_cached_key(|i| key(i));
    let limit = page.limit() as usize;
    let mut rest = items
        .into_iter()
        .filter(|i| after.as_ref().is_none_or(|a| key(i) > *a))
        .peekable();
    let mut out = Vec::with_capacity(limit.min(64));
    while out.len() < limit {
        match rest.next() {
            Some(i) => out.push(i),
            None => break,
        }
    }
    let next_token = match (rest.peek(), out.last()) {
        (Some(_), Some(last)) => Some(encode_token(list, &[&key(last)])),
        _ => None,
    };
    Ok(Page {
        items: out,
        next_token,
    })
}

/// A key that sorts like `ms` as a string: the i64 mapped order-preservingly onto u64, in
/// fixed-width hex.
pub fn time_key(ms: i64) -> String {
    #[allow(clippy::cast_sign_loss)]
    let u = (ms as u64) ^ (1 << 63);
    format!("{u:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_refuse_other_listings() {
        let t = encode_token("things", &["a-thing"]);
        assert_eq!(decode_token(&t, "things", 1).unwrap(), vec!["a-thing"]);
        let t2 = encode_token("values", &["17", "-3"]);
        assert_eq!(decode_token(&t2, "values", 2).unwrap(), vec!["17", "-3"]);
        assert_eq!(decode_token(&t, "groups", 1), Err(PagingError::Token));
        assert_eq!(decode_token(&t, "things", 2), Err(PagingError::Token));
        assert_eq!(decode_token("zz", "things", 1), Err(PagingError::Token));
        assert_eq!(decode_token("", "things", 1), Err(PagingError::Token));
        assert_eq!(
            decode_token(&hex::encode("fw2\u{1f}things\u{1f}a"), "things", 1),
            Err(PagingError::Token)
        );
        assert_eq!(
            after_name(Some(&encode_token("things", &[""])), "things"),
            Err(PagingError::Token)
        );
    }

    #[test]
    fn memory_pages_walk_every_item_once() {
        let items: Vec<u32> = (0..25).rev().collect();
        let key = |i: &u32| format!("{i:03}");
        let mut page = PageRequest::first(10);
        let mut seen = Vec::new();
        loop {
            let p = memory_page(items.clone(), key, "n", &page).unwrap();
            assert!(p.items.len() <= 10);
            seen.extend(p.items);
            match p.next_token {
                Some(t) => page.next_token = Some(t),
                None => break,
            }
        }
        assert_eq!(seen, (0..25).collect::<Vec<_>>());
        let foreign = PageRequest {
            next_token: Some(encode_token("other", &["001"])),
            max_results: None,
        };
        assert_eq!(
            memory_page(items, key, "n", &foreign).unwrap_err(),
            PagingError::Token
        );
    }

    #[test]
    fn page_size_is_checked_against_the_listing() {
        assert_eq!(
            PageRequest::checked(None, Some(0), "maxResults", 250)
                .unwrap_err()
                .to_string(),
            "maxResults: must be 1-250, got 0"
        );
        let r = Paging::default().request_at_most(10).unwrap();
        assert_eq!(r.limit(), 10);
        assert_eq!(Paging::default().request().unwrap().limit(), 100);
    }

    #[test]
    fn time_keys_sort_like_times() {
        let mut ts = [5_i64, -3, 0, i64::MAX, i64::MIN, 1_700_000_000_000];
        let mut keys: Vec<String> = ts.iter().map(|t| time_key(*t)).collect();
        ts.sort_unstable();
        keys.sort();
        assert_eq!(keys, ts.iter().map(|t| time_key(*t)).collect::<Vec<_>>());
    }
}
