//! Listing: one range scan of the primary key (`COLLATE "C"`, so byte order) per page,
//! bounded by the prefix and its successor and limited to the page size.

use super::conn::Fail;
use super::error::{PostgresError, backend};
use super::schema::ListShape;
use super::{PostgresStore, modified_at, version_at};
use crate::{ListPage, ListRequest, Listed, Meta, StoreError};

/// One page of `request`; see the [module documentation](super#listing).
pub(super) async fn page<V: serde::de::DeserializeOwned>(
    store: &PostgresStore,
    request: &ListRequest,
) -> Result<ListPage<V>, StoreError> {
    let prefix = request.prefix_str();
    if prefix.contains('\0') {
        // No key holds NUL, so no key starts with this prefix.
        return Ok(ListPage::from_entries(Vec::new(), request));
    }
    let (lower, inclusive) = lower_bound(prefix, request.after_key());
    let upper = successor(prefix);
    let shape = ListShape {
        inclusive,
        bounded: upper.is_some(),
        values: request.wants_values(),
    };
    let limit = i64::try_from(request.limit_value()).unwrap_or(i64::MAX);
    let mut conn = store.conn().await?;
    let sql = store.inner.sql.list(shape);
    let timeout = store.inner.options.statement_timeout;
    let rows = match &upper {
        Some(upper) => conn.query(sql, &[&lower, upper, &limit], timeout).await,
        None => conn.query(sql, &[&lower, &limit], timeout).await,
    }
    .map_err(Fail::read_error)?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let key: String = row
            .try_get(0)
            .map_err(|e| backend(PostgresError::Column(e)))?;
        let meta = Meta {
            version: version_at(row, 1).map_err(backend)?,
            last_modified: modified_at(row, 2).map_err(backend)?,
        };
        let value = if shape.values {
            let data: &[u8] = row
                .try_get(3)
                .map_err(|e| backend(PostgresError::Column(e)))?;
            Some(crate::codec::decode(&key, meta, data)?.value)
        } else {
            None
        };
        entries.push(Listed { key, meta, value });
    }
    Ok(ListPage::from_entries(entries, request))
}

/// The lower end of the range: the cursor (exclusive) when it sorts at or after the prefix,
/// else the prefix (inclusive). A cursor holding NUL is cut before it: no key holds NUL, and
/// the keys after `"a\0..."` are exactly the keys after `"a"`.
fn lower_bound<'a>(prefix: &'a str, after: Option<&'a str>) -> (&'a str, bool) {
    let after = after.map(|a| a.find('\0').map_or(a, |nul| &a[..nul]));
    match after {
        Some(after) if after.as_bytes() >= prefix.as_bytes() => (after, false),
        _ => (prefix, true),
    }
}

/// The smallest string above every string that starts with `prefix`: the prefix with its
/// last character replaced by the next one (trailing `U+10FFFF`s dropped first). `None`
/// when there is none (the empty prefix, or only `U+10FFFF`s): every key at or after the
/// prefix then starts with it. UTF-8 byte order is code-point order, so this bounds the
/// byte-ordered range exactly.
pub(super) fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::{lower_bound, successor};

    #[test]
    fn successors_bound_the_prefix_range() {
        assert_eq!(successor(""), None);
        assert_eq!(successor("a").as_deref(), Some("b"));
        assert_eq!(successor("user:").as_deref(), Some("user;"));
        assert_eq!(successor("a%").as_deref(), Some("a&"));
        assert_eq!(successor("é").as_deref(), Some("ê"));
        assert_eq!(successor("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(successor("\u{10FFFF}\u{10FFFF}"), None);
        for prefix in ["a", "é", "ab\u{7F}", "x\u{FFFF}", "\u{D7FF}", "z\u{10FFFF}"] {
            let upper = successor(prefix).unwrap();
            for tail in ["", "\u{10FFFF}\u{10FFFF}", "\u{0}", "zzz"] {
                let key = format!("{prefix}{tail}");
                assert!(key.as_bytes() < upper.as_bytes(), "{key:?} < {upper:?}");
            }
            assert!(!upper.starts_with(prefix));
        }
    }

    #[test]
    fn lower_bounds() {
        assert_eq!(lower_bound("p/", None), ("p/", true));
        assert_eq!(lower_bound("p/", Some("a")), ("p/", true));
        assert_eq!(lower_bound("p/", Some("p/")), ("p/", false));
        assert_eq!(lower_bound("p/", Some("p/x")), ("p/x", false));
        assert_eq!(lower_bound("p/", Some("p/x\0y")), ("p/x", false));
        assert_eq!(lower_bound("", Some("")), ("", false));
    }
}
