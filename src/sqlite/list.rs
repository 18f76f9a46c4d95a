//! Listing: one range scan of the primary key per page, bounded below by the prefix (or the
//! cursor) and above by the prefix's byte successor, limited to the page size.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, params};

use super::conn::Connections;
use super::error::classify;
use super::ops;
use crate::{ListRequest, Meta, StoreError};

/// A listed row: key, version and time, and the encoded value when it was asked for.
pub(super) type ListedRow = (String, Meta, Option<Vec<u8>>);

/// The rows of one page of `request`, ascending by key bytes, on a reader connection.
pub(super) fn page(
    conn: &Connection,
    c: &Connections,
    request: &ListRequest,
) -> Result<Vec<ListedRow>, StoreError> {
    let prefix = request.prefix_str();
    let (lower, inclusive) = lower_bound(prefix, request.after_key());
    let upper = upper_bound(prefix.as_bytes());
    let values = request.wants_values();
    let limit = i64::try_from(request.limit_value()).unwrap_or(i64::MAX);
    let busy = c.settings.busy_timeout;
    let mut statement = conn
        .prepare_cached(c.sql.list(inclusive, values))
        .map_err(|e| classify(e, busy))?;
    // The upper bound is bound as TEXT although it need not be UTF-8: SQLite compares TEXT
    // with memcmp (`BINARY`), and a BLOB would sort after every TEXT key.
    let upper = ToSqlOutput::Borrowed(ValueRef::Text(&upper));
    let mut rows = statement
        .query(params![lower, upper, limit])
        .map_err(|e| classify(e, busy))?;
    let mut out = Vec::with_capacity(request.limit_value().min(64));
    while let Some(row) = rows.next().map_err(|e| classify(e, busy))? {
        let read = || -> rusqlite::Result<(String, Option<Vec<u8>>)> {
            let data = if values { Some(row.get(3)?) } else { None };
            Ok((row.get(0)?, data))
        };
        let (key, data) = read().map_err(|e| classify(e, busy))?;
        let meta = ops::meta_at(row, 1)?;
        out.push((key, meta, data));
    }
    Ok(out)
}

/// The lower end of the range: the cursor (exclusive) when it sorts at or after the prefix,
/// else the prefix (inclusive).
fn lower_bound<'a>(prefix: &'a str, after: Option<&'a str>) -> (&'a str, bool) {
    match after {
        Some(after) if after.as_bytes() >= prefix.as_bytes() => (after, false),
        _ => (prefix, true),
    }
}

/// The smallest byte string above every string that starts with `prefix`: the prefix with
/// its last byte below 0xFF incremented and what follows dropped. For the empty prefix it is
/// the single byte 0xFF, which no UTF-8 string reaches (UTF-8 never holds 0xFF), so every
/// key is below it.
fn upper_bound(prefix: &[u8]) -> Vec<u8> {
    crate::list::byte_successor(prefix).unwrap_or_else(|| vec![0xFF])
}

#[cfg(test)]
mod tests {
    use rusqlite::types::{ToSqlOutput, ValueRef};
    use rusqlite::{Connection, params};

    use super::{lower_bound, upper_bound};
    use crate::sqlite::schema::Sql;

    /// Every listing statement is a search of the primary key bounded on both sides, in
    /// index order: no table scan, no sort.
    #[test]
    fn every_listing_statement_is_a_primary_key_range_search() {
        let conn = Connection::open_in_memory().unwrap();
        let sql = Sql::new("t");
        conn.execute_batch(&sql.create).unwrap();
        for inclusive in [false, true] {
            for values in [false, true] {
                let text = sql.list(inclusive, values);
                let mut plan = conn.prepare(&format!("EXPLAIN QUERY PLAN {text}")).unwrap();
                let upper = ToSqlOutput::Borrowed(ValueRef::Text(b"p0"));
                let details: Vec<String> = plan
                    .query_map(params!["p/", upper, 10], |row| row.get(3))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                // SQLite writes `key>?` for `>=` too.
                assert_eq!(
                    details,
                    ["SEARCH t USING PRIMARY KEY (key>? AND key<?)"],
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn upper_bounds_close_the_prefix_range() {
        assert_eq!(upper_bound(b""), b"\xff");
        assert_eq!(upper_bound(b"a"), b"b");
        assert_eq!(upper_bound(b"a%"), b"a&");
        assert_eq!(upper_bound(b"a_"), b"a`");
        for prefix in ["", "a", "é", "\u{10FFFF}", "x\u{7F}", "a\0", "%_\\"] {
            let upper = upper_bound(prefix.as_bytes());
            for tail in ["", "\u{10FFFF}\u{10FFFF}", "\0", "zzz"] {
                let key = format!("{prefix}{tail}");
                assert!(key.as_bytes() < upper.as_slice(), "{key:?}");
            }
            assert!(!upper.starts_with(prefix.as_bytes()) || prefix.is_empty());
        }
    }

    #[test]
    fn lower_bounds() {
        assert_eq!(lower_bound("p/", None), ("p/", true));
        assert_eq!(lower_bound("p/", Some("a")), ("p/", true));
        assert_eq!(lower_bound("p/", Some("p/")), ("p/", false));
        assert_eq!(lower_bound("p/", Some("p/x")), ("p/x", false));
        assert_eq!(lower_bound("", Some("")), ("", false));
    }
}
