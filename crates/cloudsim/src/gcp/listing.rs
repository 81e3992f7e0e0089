//! One paged list response for every Memorystore collection (`pageSize` ≤ 1000, `pageToken`).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::Query;
use super::error::RpcError;
use crate::util::{decode_page_token, page_start, paginate};

const MAX_PAGE_SIZE: usize = 1000;

/// A list response of `field`: the page of `map`'s entries under `prefix` (and `keep`) that
/// `q` asks for, rendered, with `nextPageToken` when more follow.
pub fn list_page<T>(
    map: &BTreeMap<String, T>,
    prefix: &str,
    q: &Query,
    keep: impl Fn(&str) -> bool,
    field: &str,
    render: impl Fn(&T) -> Value,
) -> Result<Value, RpcError> {
    let (size, after) = page_params(q)?;
    let items = map
        .range(page_start(prefix, after.as_deref())..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), v));
    let (page, next) = paginate(items, after.as_deref(), size);
    let mut v = json!({ field: page.into_iter().map(render).collect::<Vec<_>>() });
    if let Some(next) = next {
        v["nextPageToken"] = next.into();
    }
    Ok(v)
}

fn page_params(q: &Query) -> Result<(usize, Option<String>), RpcError> {
    let size = match q.get("pageSize") {
        None | Some("") => MAX_PAGE_SIZE,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n < 0 => {
                return Err(RpcError::bad_field(
                    "page_size",
                    "page_size must not be negative",
                ));
            }
            Ok(0) => MAX_PAGE_SIZE,
            Ok(n) => usize::try_from(n)
                .unwrap_or(MAX_PAGE_SIZE)
                .min(MAX_PAGE_SIZE),
            Err(_) => {
                return Err(RpcError::bad_field(
                    "page_size",
                    format!("Invalid page_size {s:?}"),
                ));
            }
        },
    };
    let after = match q.get("pageToken") {
        None | Some("") => None,
        Some(t) => Some(
            decode_page_token(t)
                .ok_or_else(|| RpcError::bad_field("page_token", "The page token is invalid"))?,
        ),
    };
    Ok((size, after))
}
