//! Listing: the listing index (a sorted set of the data hashes' names, all at score 0, so
//! ordered by their bytes) read one page at a time with `ZRANGEBYLEX`, then each listed key
//! read with one `HMGET` (one pipeline for the page). A page's `next` is its last entry;
//! should every key of a full page have been deleted between the two reads, the next
//! members of the index are read instead of answering an empty page.

use ::redis::Value;

use super::error::{MalformedError, read_error};
use super::{RedisStore, meta, slot};
use crate::{ListPage, ListRequest, Listed, StoreError};

/// One page of `request`; see the [module documentation](super#listing).
pub(super) async fn page<V: serde::de::DeserializeOwned>(
    store: &RedisStore,
    request: &ListRequest,
) -> Result<ListPage<V>, StoreError> {
    let layout = &store.layout;
    let prefix = request.prefix_str();
    let slot = if let (true, Some(tag)) = (layout.is_cluster(), layout.tag()) {
        // Every key of the store shares the store's hash tag, so one index holds them all.
        Some(slot::slot(tag.as_bytes()))
    } else if layout.is_cluster() {
        let Some(tag) = slot::fixed_tag(prefix.as_bytes()) else {
            return Err(StoreError::Unsupported {
                operation: "listing, in Redis Cluster mode, a prefix that does not fix a hash \
                            tag (list a prefix such as \"{users}:\": only keys sharing a hash \
                            tag live in one slot, and each slot has its own index)",
            });
        };
        Some(slot::slot(tag))
    } else {
        None
    };
    let index = layout.slot_keys(slot).index;
    let key_prefix = layout.key_prefix();
    let full_prefix = [key_prefix, prefix.as_bytes()].concat();
    let lower = match request.after_key() {
        Some(after) if after.as_bytes() >= prefix.as_bytes() => {
            [b"(", key_prefix, after.as_bytes()].concat()
        }
        _ => [b"[", full_prefix.as_slice()].concat(),
    };
    // `{prefix}:k:` ends in ':', so the successor always exists.
    let upper = [b"(", successor(&full_prefix).as_slice()].concat();
    let limit = request.limit_value();
    let mut conn = store.conn.clone();
    let mut lower = lower;
    loop {
        let members: Vec<Vec<u8>> = ::redis::cmd("ZRANGEBYLEX")
            .arg(&index)
            .arg(&lower)
            .arg(&upper)
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut conn)
            .await
            .map_err(read_error)?;
        let entries = read_members(&mut conn, &index, key_prefix, &members, request).await?;
        let full = members.len() >= limit;
        match (full, entries.last()) {
            // Every listed key was deleted since the index was read: go on after them.
            (true, None) => lower = [b"(", members[members.len() - 1].as_slice()].concat(),
            (true, Some(last)) => {
                let next = Some(last.key.clone());
                return Ok(ListPage { entries, next });
            }
            (false, _) => {
                return Ok(ListPage {
                    entries,
                    next: None,
                });
            }
        }
    }
}

/// Reads the listed data hashes with one `HMGET` each, in one pipeline; a key deleted since
/// the index was read is left out.
async fn read_members<V: serde::de::DeserializeOwned>(
    conn: &mut super::conn::Conn,
    index: &[u8],
    key_prefix: &[u8],
    members: &[Vec<u8>],
    request: &ListRequest,
) -> Result<Vec<Listed<V>>, StoreError> {
    let mut keys = Vec::with_capacity(members.len());
    for member in members {
        let key = member
            .strip_prefix(key_prefix)
            .and_then(|k| std::str::from_utf8(k).ok())
            .ok_or_else(|| MalformedError::Index {
                index: String::from_utf8_lossy(index).into_owned(),
                member: String::from_utf8_lossy(member).into_owned(),
            })?;
        keys.push(key.to_owned());
    }
    let mut entries = Vec::with_capacity(keys.len());
    if members.is_empty() {
        return Ok(entries);
    }
    let mut pipe = ::redis::pipe();
    for member in members {
        let cmd = pipe.cmd("HMGET").arg(member).arg("v").arg("m");
        if request.wants_values() {
            cmd.arg("d");
        }
    }
    let rows: Vec<Vec<Value>> = pipe.query_async(conn).await.map_err(read_error)?;
    for (key, row) in keys.into_iter().zip(rows) {
        let mut fields = row.into_iter();
        let v: Option<u64> = field(&mut fields).map_err(StoreError::backend)?;
        let m: Option<u64> = field(&mut fields).map_err(StoreError::backend)?;
        let Some(meta) = meta(&key, v, m)? else {
            continue; // deleted since the index was read
        };
        let value = if request.wants_values() {
            let data: Option<Vec<u8>> = field(&mut fields).map_err(StoreError::backend)?;
            let data = data.ok_or_else(|| super::malformed_entry(&key, "d"))?;
            Some(crate::codec::decode(&key, meta, &data)?.value)
        } else {
            None
        };
        entries.push(Listed { key, meta, value });
    }
    Ok(entries)
}

fn field<T: ::redis::FromRedisValue>(
    fields: &mut impl Iterator<Item = Value>,
) -> ::redis::RedisResult<T> {
    T::from_redis_value(&fields.next().unwrap_or(Value::Nil))
}

/// The smallest byte string above every string starting with `prefix` (which does not end
/// in 0xFF bytes only): its last byte below 0xFF incremented, the rest dropped.
fn successor(prefix: &[u8]) -> Vec<u8> {
    crate::list::byte_successor(prefix).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::successor;

    #[test]
    fn successors() {
        assert_eq!(successor(b"p:k:"), b"p:k;");
        assert_eq!(successor(b"p:k:a"), b"p:k:b");
        assert_eq!(successor(b"p:k:a\xff"), b"p:k:b");
        assert_eq!(successor("p:k:é".as_bytes()), b"p:k:\xc3\xaa");
    }
}
