//! Listing: one range scan of the primary key (`VARBINARY`, so byte order) per page,
//! bounded by the prefix and its successor and limited to the page size.

use mysql_async::{Params, Value};

use super::MysqlStore;
use super::error::backend;
use super::row::{bytes_at, key_at, modified_at, version_at};
use super::schema::ListShape;
use crate::list::byte_successor as successor;
use crate::{ListPage, ListRequest, Listed, Meta, StoreError};

/// One page of `request`; see the [module documentation](super#listing).
pub(super) async fn page<V: serde::de::DeserializeOwned>(
    store: &MysqlStore,
    request: &ListRequest,
) -> Result<ListPage<V>, StoreError> {
    let prefix = request.prefix_str().as_bytes();
    let (lower, inclusive) = match request.after_key() {
        Some(after) if after.as_bytes() >= prefix => (after.as_bytes(), false),
        _ => (prefix, true),
    };
    let upper = successor(prefix);
    let shape = ListShape {
        inclusive,
        bounded: upper.is_some(),
        values: request.wants_values(),
    };
    let mut params = vec![Value::Bytes(lower.to_vec())];
    if let Some(upper) = upper {
        params.push(Value::Bytes(upper));
    }
    params.push(Value::UInt(request.limit_value() as u64));
    let mut conn = store.conn().await?;
    let rows = conn
        .exec(
            store.inner.sql.list(shape),
            Params::Positional(params),
            store.inner.options.statement_timeout,
            false,
        )
        .await
        .map_err(|f| f.read_error())?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        let key = key_at(row, 0).map_err(backend)?;
        let meta = Meta {
            version: version_at(row, 1).map_err(backend)?,
            last_modified: modified_at(row, 2).map_err(backend)?,
        };
        let value = if shape.values {
            let data = bytes_at(row, 3).map_err(backend)?;
            Some(crate::codec::decode(&key, meta, data)?.value)
        } else {
            None
        };
        entries.push(Listed { key, meta, value });
    }
    Ok(ListPage::from_entries(entries, request))
}

#[cfg(test)]
mod tests {
    use super::successor;

    #[test]
    fn successors_bound_the_prefix_range() {
        assert_eq!(successor(b""), None);
        assert_eq!(successor(b"a"), Some(b"b".to_vec()));
        assert_eq!(successor(b"a%"), Some(b"a&".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        for prefix in ["a", "é", "\u{10FFFF}", "x\u{7F}"] {
            let upper = successor(prefix.as_bytes()).unwrap();
            for tail in ["", "\u{10FFFF}\u{10FFFF}", "\0", "zzz"] {
                let key = format!("{prefix}{tail}");
                assert!(key.as_bytes() < upper.as_slice(), "{key:?}");
            }
        }
    }
}
