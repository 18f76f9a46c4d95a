//! Multi-key commits: inside one `BEGIN IMMEDIATE` transaction, read every key's version
//! under the write lock, check every expectation, then write each key with its own version
//! from the counter; any failure rolls the whole transaction back.

use rusqlite::Connection;

use super::conn::Connections;
use super::ops;
use crate::{Applied, Commit, CommitConflict, Conflict, Expect, Op, StoreError, Version};

/// One operation, with its value already encoded.
pub(super) struct Prepared {
    key: String,
    expect: Expect,
    kind: Kind,
}

enum Kind {
    Put(Vec<u8>),
    Delete,
    Check,
}

/// Checks `commit` (at least one operation, at most `max_keys`, no key twice) and encodes
/// its values; nothing is sent before this succeeds.
pub(super) fn prepare<V: serde::Serialize>(
    commit: Commit<V>,
    max_keys: usize,
) -> Result<Vec<Prepared>, StoreError> {
    commit.validate(max_keys)?;
    commit
        .into_ops()
        .into_iter()
        .map(|op| {
            Ok(match op {
                Op::Put { key, value, expect } => Prepared {
                    kind: Kind::Put(crate::codec::encode(&key, &value)?),
                    key,
                    expect,
                },
                Op::Delete { key, expect } => Prepared {
                    key,
                    expect,
                    kind: Kind::Delete,
                },
                Op::Check { key, expect } => Prepared {
                    key,
                    expect,
                    kind: Kind::Check,
                },
            })
        })
        .collect()
}

/// The key an `Indeterminate` outcome of the commit names: its first.
pub(super) fn first_key(ops: &[Prepared]) -> &str {
    ops.first().map_or("", |op| op.key.as_str())
}

/// Inside the write transaction: applies `ops` all or nothing. A failed expectation is
/// [`StoreError::CommitConflict`] naming every failed key with its current version, in the
/// commit's order; the caller rolls back on any error, so nothing is then written.
pub(super) fn apply(
    conn: &Connection,
    c: &Connections,
    ops: &[Prepared],
) -> Result<Vec<Applied>, StoreError> {
    let current = ops
        .iter()
        .map(|op| ops::current(conn, c, &op.key))
        .collect::<Result<Vec<Option<Version>>, StoreError>>()?;
    let conflicts: Vec<Conflict> = ops
        .iter()
        .zip(&current)
        .filter(|(op, now)| !op.expect.admits(**now))
        .map(|(op, now)| Conflict::new(&op.key, op.expect.clone(), *now))
        .collect();
    if !conflicts.is_empty() {
        return Err(CommitConflict::new(conflicts).into());
    }
    ops.iter()
        .zip(current)
        .map(|(op, now)| {
            Ok(match &op.kind {
                Kind::Put(data) => Applied::Put(ops::write_row(conn, c, &op.key, data)?),
                Kind::Delete => {
                    if now.is_some() {
                        ops::remove_row(conn, c, &op.key)?;
                    }
                    Applied::Deleted(now)
                }
                Kind::Check => Applied::Checked(now),
            })
        })
        .collect()
}
