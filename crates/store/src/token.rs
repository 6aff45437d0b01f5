//! Paging tokens in the store's error type: the one format of
//! [`fleetward_core::aws::paging`], shared by every backend.

use fleetward_core::aws::paging;

use crate::{StoreError, StoreResult};

fn token_error(_: paging::PagingError) -> StoreError {
    StoreError::InvalidToken
}

/// Encodes the key `parts` of the last item of a page of `list`.
pub(crate) fn encode(list: &str, parts: &[&str]) -> String {
    paging::encode_token(list, parts)
}

/// Decodes a token of `list` into exactly `n` key parts; `InvalidToken` for anything else.
pub(crate) fn decode(token: &str, list: &str, n: usize) -> StoreResult<Vec<String>> {
    paging::decode_token(token, list, n).map_err(token_error)
}

/// Decodes a token whose key is one name; no token starts before every name.
pub(crate) fn after_name(token: Option<&str>, list: &str) -> StoreResult<String> {
    paging::after_name(token, list).map_err(token_error)
}

/// Parses an integer key part.
pub(crate) fn int(part: &str) -> StoreResult<i64> {
    part.parse().map_err(|_| StoreError::InvalidToken)
}
