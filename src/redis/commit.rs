//! Multi-key commits: every operation in one run of `commit.lua`, which checks every
//! expectation and then writes everything, or writes nothing and names every failed key.

use std::time::{Duration, UNIX_EPOCH};

use super::write::{self, Kind, Outcome, Prepared};
use super::{MAX_COMMIT_KEYS, RedisStore};
use crate::{Applied, Commit, CommitConflict, Conflict, Meta, Op, StoreError};

/// Applies `commit` all or nothing; see the [module documentation](super#multi-key-commits).
pub(super) async fn apply<V: serde::Serialize>(
    store: &RedisStore,
    commit: Commit<V>,
) -> Result<Vec<Applied>, StoreError> {
    commit.validate(MAX_COMMIT_KEYS)?;
    let ops = commit
        .into_ops()
        .into_iter()
        .map(|op| {
            Ok(match op {
                Op::Put { key, value, expect } => Prepared {
                    data: Some(crate::codec::encode(&key, &value)?),
                    key,
                    kind: Kind::Put,
                    expect,
                },
                Op::Delete { key, expect } => Prepared {
                    key,
                    kind: Kind::Delete,
                    expect,
                    data: None,
                },
                Op::Check { key, expect } => Prepared {
                    key,
                    kind: Kind::Check,
                    expect,
                    data: None,
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    match write::run(store, &ops).await? {
        Outcome::Applied { ms, versions } => {
            let last_modified = UNIX_EPOCH + Duration::from_millis(ms);
            ops.iter()
                .zip(versions)
                .map(|(op, version)| match op.kind {
                    Kind::Put => version
                        .map(|version| {
                            Applied::Put(Meta {
                                version,
                                last_modified,
                            })
                        })
                        .ok_or_else(|| {
                            StoreError::backend(format!(
                                "the commit script gave no version for the put of {:?}",
                                op.key
                            ))
                        }),
                    Kind::Delete => Ok(Applied::Deleted(version)),
                    Kind::Check => Ok(Applied::Checked(version)),
                })
                .collect()
        }
        Outcome::Refused(failed) => Err(CommitConflict::new(
            failed
                .into_iter()
                .map(|(at, current)| Conflict::new(&ops[at].key, ops[at].expect.clone(), current))
                .collect(),
        )
        .into()),
    }
}
