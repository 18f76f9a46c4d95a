//! A commit's operations with their values already encoded, as the SQL backends send them
//! (PostgreSQL and MariaDB): checked once, encoded once, then read by every attempt of the
//! transaction.

use crate::{Commit, Expect, Op, StoreError};

/// One operation of a commit, with its value encoded.
pub(crate) struct EncodedOp {
    pub(crate) key: String,
    pub(crate) expect: Expect,
    /// `Some(bytes)` for a put, `None` for a delete or a check.
    pub(crate) data: Option<Vec<u8>>,
    /// Whether the operation writes (a put or a delete), not only checks.
    pub(crate) writes: bool,
}

impl EncodedOp {
    /// A put of `data` under `key`.
    #[cfg(feature = "mysql")]
    pub(crate) fn put(key: &str, data: Vec<u8>, expect: Expect) -> Self {
        Self {
            key: key.to_owned(),
            expect,
            data: Some(data),
            writes: true,
        }
    }

    /// A delete of `key`.
    #[cfg(feature = "mysql")]
    pub(crate) fn delete(key: &str, expect: Expect) -> Self {
        Self {
            key: key.to_owned(),
            expect,
            data: None,
            writes: true,
        }
    }
}

/// Checks `commit` (at least one operation, at most `max_keys`, no key twice, every key
/// accepted by `check_key`) and encodes its values.
pub(crate) fn encode_ops<V: serde::Serialize>(
    commit: Commit<V>,
    max_keys: usize,
    check_key: impl Fn(&str) -> Result<(), StoreError>,
) -> Result<Vec<EncodedOp>, StoreError> {
    commit.validate(max_keys)?;
    for key in commit.keys() {
        check_key(key)?;
    }
    commit
        .into_ops()
        .into_iter()
        .map(|op| {
            let writes = op.writes();
            Ok(match op {
                Op::Put { key, value, expect } => EncodedOp {
                    data: Some(crate::codec::encode(&key, &value)?),
                    key,
                    expect,
                    writes,
                },
                Op::Delete { key, expect } | Op::Check { key, expect } => EncodedOp {
                    key,
                    expect,
                    data: None,
                    writes,
                },
            })
        })
        .collect()
}
