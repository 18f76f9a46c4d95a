//! Multi-key commits on the memory store: the shards involved locked in index order, every
//! expectation checked, then every write applied, before any lock is released.

use super::key::Key;
use super::{Entry, MemoryStore, next_version};
use crate::{Applied, Commit, CommitConflict, Conflict, Meta, Op, StoreError};

/// Where one operation's key lives.
struct Located {
    hash: u64,
    shard: usize,
}

pub(super) fn apply<V>(
    store: &MemoryStore<V>,
    commit: Commit<V>,
) -> Result<Vec<Applied>, StoreError> {
    commit.validate(MemoryStore::<V>::MAX_COMMIT_KEYS)?;
    let ops = commit.into_ops();
    let located: Vec<Located> = ops
        .iter()
        .map(|op| {
            let (hash, shard) = store.locate(op.key());
            Located { hash, shard }
        })
        .collect();
    // Lock each shard involved once, in ascending index order: every multi-shard locker
    // takes them in the same order, and single-key operations hold one lock at a time, so
    // no cycle of waiters can form.
    let mut order: Vec<usize> = located.iter().map(|l| l.shard).collect();
    order.sort_unstable();
    order.dedup();
    let mut guards: Vec<_> = order.iter().map(|&i| store.shards[i].0.lock()).collect();
    // Under the locks, as in `put_sync`: a key's Last-Modified never goes back.
    let now = crate::clock::Reading::now().to_system_time();
    let slot = |shard: usize| order.binary_search(&shard).expect("locked above");

    // Check every expectation first; report every one that fails.
    let mut conflicts = Vec::new();
    for (op, at) in ops.iter().zip(&located) {
        let shard = &guards[slot(at.shard)];
        let current = shard
            .table
            .find(at.hash, |e| e.key.is(op.key()))
            .map(|e| e.version);
        if !op.expect().admits(current) {
            conflicts.push(Conflict::new(op.key(), op.expect().clone(), current));
        }
    }
    if !conflicts.is_empty() {
        drop(guards);
        return Err(CommitConflict::new(conflicts).into());
    }

    // Every expectation holds and nothing can change under the locks: apply.
    let mut applied = Vec::with_capacity(ops.len());
    let mut replaced = Vec::new();
    for (op, at) in ops.into_iter().zip(&located) {
        let shard = &mut *guards[slot(at.shard)];
        match op {
            Op::Put { key, value, .. } => {
                let version = next_version(&mut shard.next, store.shard_bits);
                match shard.table.find_mut(at.hash, |e| e.key.is(&key)) {
                    Some(entry) => {
                        entry.version = version;
                        entry.last_modified = now;
                        replaced.push(std::mem::replace(&mut entry.value, value));
                    }
                    None => {
                        shard.table.insert_unique(
                            at.hash,
                            Entry {
                                key: Key::new(&key),
                                value,
                                version,
                                last_modified: now,
                            },
                            |e| store.hash(e.key.as_str()),
                        );
                    }
                }
                applied.push(Applied::Put(Meta {
                    version,
                    last_modified: now,
                }));
            }
            Op::Delete { key, .. } => {
                let removed = match shard.table.find_entry(at.hash, |e| e.key.is(&key)) {
                    Ok(occupied) => {
                        let (entry, _) = occupied.remove();
                        let version = entry.version;
                        replaced.push(entry.value);
                        Some(version)
                    }
                    Err(_) => None,
                };
                applied.push(Applied::Deleted(removed));
            }
            Op::Check { key, .. } => {
                let current = shard
                    .table
                    .find(at.hash, |e| e.key.is(&key))
                    .map(|e| e.version);
                applied.push(Applied::Checked(current));
            }
        }
    }
    drop(guards);
    drop(replaced);
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use crate::{Applied, Commit, Expect, MemoryStore, StoreError};

    #[test]
    fn refused_commit_writes_nothing_and_names_every_failed_key() {
        let store = MemoryStore::with_shards(4);
        let a = store.put_sync("a", 1, Expect::Absent).unwrap().version;
        let commit = Commit::new()
            .put("a", 2, Expect::Absent)
            .put("new", 3, Expect::Absent)
            .delete("gone", Expect::Exists)
            .check("a", Expect::Version(a));
        // "a" twice: invalid before anything is looked at.
        assert!(matches!(
            store.commit_sync(commit),
            Err(StoreError::InvalidCommit { .. })
        ));
        let commit = Commit::new()
            .put("a", 2, Expect::Absent)
            .put("new", 3, Expect::Absent)
            .delete("gone", Expect::Exists);
        let err = store.commit_sync(commit).unwrap_err();
        let keys: Vec<_> = err
            .as_commit_conflict()
            .unwrap()
            .conflicts()
            .iter()
            .map(|c| (c.key().to_owned(), c.current()))
            .collect();
        assert_eq!(keys, [("a".to_owned(), Some(a)), ("gone".to_owned(), None)]);
        assert!(store.get_sync("new").is_none());
        assert_eq!(store.get_sync("a").unwrap().version, a);
    }

    #[test]
    fn applied_commit_gives_each_written_key_a_new_version() {
        let store = MemoryStore::with_shards(2);
        let a = store.put_sync("a", 1, Expect::Absent).unwrap().version;
        let done = store
            .commit_sync(
                Commit::new()
                    .put("a", 2, Expect::Version(a))
                    .put("b", 3, Expect::Absent)
                    .delete("c", Expect::Any)
                    .check("d", Expect::Absent),
            )
            .unwrap();
        let (Applied::Put(ma), Applied::Put(mb)) = (done[0], done[1]) else {
            panic!("{done:?}")
        };
        assert!(ma.version > a && mb.version != ma.version);
        assert_eq!(done[2], Applied::Deleted(None));
        assert_eq!(done[3], Applied::Checked(None));
        assert_eq!(store.get_sync("a").unwrap().version, ma.version);
        assert_eq!(store.get_sync("b").unwrap().value, 3);
    }

    #[test]
    fn too_many_keys_is_invalid() {
        let store = MemoryStore::new();
        let mut commit = Commit::new();
        for i in 0..=MemoryStore::<u8>::MAX_COMMIT_KEYS {
            commit = commit.put(format!("k{i}"), 0u8, Expect::Any);
        }
        assert!(matches!(
            store.commit_sync(commit),
            Err(StoreError::InvalidCommit { .. })
        ));
        assert!(store.is_empty());
    }
}
