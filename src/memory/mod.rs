//! The in-memory store: sharded mutexes (`parking_lot`'s protocol, a plain-store unlock), one
//! hash per operation, per-shard version counters interleaved so versions are unique
//! store-wide.

mod commit;
mod key;
mod list;
mod table_alloc;

use std::future::{Future, ready};
use std::hash::{BuildHasher, Hasher};
use std::time::SystemTime;

use hashbrown::HashTable;

use self::key::Key;
use self::table_alloc::TableAlloc;
use crate::clock::{LastTime, Reading};
use crate::sync::{Mutex, MutexGuard};
use crate::{
    Applied, Capabilities, Commit, Conflict, Expect, ListPage, ListRequest, Meta, StoreError,
    Version, Versioned, VersionedStore,
};

/// An in-process [`VersionedStore`]: the default backend.
///
/// Keys are spread over a power-of-two number of shards, each a mutex (`parking_lot`'s
/// protocol, with an unlock that is a plain store when nobody waits) over a hash table padded
/// to its own cache lines; an operation hashes the key once and locks one
/// shard, so there is no global lock. The compare and the write happen under the shard's
/// lock. Versions come from a counter per shard, interleaved with the shard index
/// (`counter << shard_bits | shard`), so they are unique across the whole store, increase
/// for every key, are never reused after delete and re-create, and no cache line is shared
/// by all writers. Updating an existing key allocates nothing; the old value is dropped after
/// the lock is released.
///
/// Shard tables of 2 MiB and more are put on transparent huge pages where Linux allows it
/// (`madvise`), which takes most TLB misses out of lookups in a large store.
///
/// Reads clone the value while holding the shard's lock, and readers of one shard take turns
/// (a mutex, not a reader-writer lock: for critical sections this short it is faster, above
/// all on a hot key). For large values store `Arc<T>`, so a read is a reference-count bump.
/// `V::clone` runs under the shard's lock, so it must not call back into the same store.
///
/// Besides the async trait it offers synchronous methods (`get_sync`, `put_sync`, ...) for
/// code that is not async; the trait's futures are ready at once.
///
/// ```
/// use optimist::{Expect, MemoryStore};
///
/// let store = MemoryStore::new();
/// let v1 = store.put_sync("a", "one", Expect::Absent).unwrap().version;
/// let v2 = store.put_sync("a", "two", Expect::Version(v1)).unwrap().version;
/// assert!(v2 > v1);
/// assert!(store.put_sync("a", "three", Expect::Version(v1)).is_err()); // stale
/// assert_eq!(store.delete_sync("a", Expect::Version(v2)).unwrap(), Some(v2));
/// let v3 = store.put_sync("a", "again", Expect::Absent).unwrap().version;
/// assert!(v3 > v2); // never reused: an old ETag can't match the new incarnation
/// ```
pub struct MemoryStore<V> {
    shards: Box<[Padded<Mutex<Shard<V>>>]>,
    hasher: foldhash::fast::RandomState,
    shard_bits: u32,
}

/// Aligns a shard to its own pair of cache lines so neighbouring locks don't false-share.
#[repr(align(128))]
struct Padded<T>(T);

struct Shard<V> {
    table: HashTable<Entry<V>, TableAlloc>,
    /// The next version this shard hands out, `counter << shard_bits | index` (0 once the
    /// counter is exhausted).
    next: u64,
    /// The last clock reading of a write to this shard, converted.
    clock: LastTime,
}

struct Entry<V> {
    key: Key,
    value: V,
    version: Version,
    last_modified: SystemTime,
}

/// Bits of the hash used to pick a shard: below hashbrown's 7-bit control tag (the top
/// bits), above the bits that pick a bucket in any realistic table.
const SHARD_HASH_SHIFT: u32 = 40;

impl<V> Default for MemoryStore<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> std::fmt::Debug for MemoryStore<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("shards", &self.shards.len())
            .field("len", &self.len())
            .finish()
    }
}

impl<V> MemoryStore<V> {
    /// A store with `4 x available cores` shards (at least 64), rounded up to a power of two.
    ///
    /// ```
    /// let store: optimist::MemoryStore<String> = optimist::MemoryStore::new();
    /// assert!(store.is_empty());
    /// ```
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(4, |n| n.get());
        Self::with_shards((cores * 4).max(64))
    }

    /// A store with `shards` shards, rounded up to a power of two (1 ..= 65,536).
    ///
    /// ```
    /// let store: optimist::MemoryStore<u8> = optimist::MemoryStore::with_shards(3);
    /// assert_eq!(store.shard_count(), 4);
    /// ```
    pub fn with_shards(shards: usize) -> Self {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let shard_bits = n.trailing_zeros();
        let shards = (0..n)
            .map(|index| {
                Padded(Mutex::new(Shard {
                    table: HashTable::new_in(TableAlloc),
                    next: (1 << shard_bits) | index as u64,
                    clock: LastTime::new(),
                }))
            })
            .collect();
        Self {
            shards,
            hasher: foldhash::fast::RandomState::default(),
            shard_bits,
        }
    }

    /// The number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// The number of keys stored (a sum over shards, not a snapshot).
    ///
    /// ```
    /// let store = optimist::MemoryStore::new();
    /// store.put_sync("k", (), optimist::Expect::Any).unwrap();
    /// assert_eq!(store.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.lock().table.len()).sum()
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The hash of `key`: foldhash over its bytes, written once. (`str`'s `Hash` adds a
    /// terminating byte, which costs a second multiply and buys nothing for a table whose keys
    /// are each one whole string.)
    #[inline(always)]
    fn hash(&self, key: &str) -> u64 {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key.as_bytes());
        hasher.finish()
    }

    #[inline]
    fn locate(&self, key: &str) -> (u64, usize) {
        let hash = self.hash(key);
        let mask = (1u64 << self.shard_bits) - 1;
        (hash, ((hash >> SHARD_HASH_SHIFT) & mask) as usize)
    }

    /// The metadata of `key`, without cloning its value.
    ///
    /// ```
    /// let store = optimist::MemoryStore::new();
    /// let v = store.put_sync("k", 5, optimist::Expect::Absent).unwrap().version;
    /// assert_eq!(store.head_sync("k").unwrap().version, v);
    /// ```
    #[inline]
    pub fn head_sync(&self, key: &str) -> Option<Meta> {
        let (hash, idx) = self.locate(key);
        let shard = self.shards[idx].0.lock();
        shard.table.find(hash, |e| e.key.is(key)).map(|e| Meta {
            version: e.version,
            last_modified: e.last_modified,
        })
    }

    /// Writes `value` if `expect` admits the current state; see [`VersionedStore::put`].
    ///
    /// ```
    /// use optimist::{ConflictKind, Expect, MemoryStore};
    /// let store = MemoryStore::new();
    /// store.put_sync("k", 1, Expect::Absent).unwrap();
    /// let err = store.put_sync("k", 2, Expect::Absent).unwrap_err();
    /// assert_eq!(err.as_conflict().unwrap().kind(), ConflictKind::AlreadyExists);
    /// ```
    #[inline(always)]
    pub fn put_sync(&self, key: &str, value: V, expect: Expect) -> Result<Meta, StoreError> {
        let (hash, idx) = self.locate(key);
        let mut guard = self.shards[idx].0.lock();
        // The clock is read under the lock, so a key's Last-Modified never goes back while its
        // version goes forward (read before the lock, a writer preempted between the two would
        // stamp an older time than the write it follows, and `If-Unmodified-Since` with the
        // newer time would pass over a change the client never saw).
        let reading = Reading::now();
        let shard = &mut *guard;
        let Some(entry) = shard.table.find_mut(hash, |e| e.key.is(key)) else {
            return self.put_new(guard, hash, key, value, expect, reading);
        };
        if !expect.admits(Some(entry.version)) {
            let current = entry.version;
            drop(guard);
            return Err(conflict(key, expect, Some(current)));
        }
        let version = next_version(&mut shard.next, self.shard_bits);
        let now = shard.clock.time_of(reading);
        entry.version = version;
        entry.last_modified = now;
        let old = std::mem::replace(&mut entry.value, value);
        drop(guard);
        drop(old);
        Ok(Meta {
            version,
            last_modified: now,
        })
    }

    /// `put_sync` of a key that is not stored (kept out of the update path).
    #[inline(never)]
    fn put_new(
        &self,
        mut guard: MutexGuard<'_, Shard<V>>,
        hash: u64,
        key: &str,
        value: V,
        expect: Expect,
        reading: Reading,
    ) -> Result<Meta, StoreError> {
        if !expect.admits(None) {
            drop(guard);
            return Err(conflict(key, expect, None));
        }
        let shard = &mut *guard;
        let version = next_version(&mut shard.next, self.shard_bits);
        let now = shard.clock.time_of(reading);
        shard.table.insert_unique(
            hash,
            Entry {
                key: Key::new(key),
                value,
                version,
                last_modified: now,
            },
            |e| self.hash(e.key.as_str()),
        );
        drop(guard);
        Ok(Meta {
            version,
            last_modified: now,
        })
    }

    /// Removes `key` if `expect` admits the current state; see [`VersionedStore::delete`].
    ///
    /// ```
    /// use optimist::{Expect, MemoryStore};
    /// let store = MemoryStore::new();
    /// let v = store.put_sync("k", 1, Expect::Absent).unwrap().version;
    /// assert_eq!(store.delete_sync("k", Expect::Exists).unwrap(), Some(v));
    /// assert_eq!(store.delete_sync("k", Expect::Any).unwrap(), None);
    /// ```
    pub fn delete_sync(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        let (hash, idx) = self.locate(key);
        let mut guard = self.shards[idx].0.lock();
        match guard.table.find_entry(hash, |e| e.key.is(key)) {
            Ok(occupied) => {
                let current = occupied.get().version;
                if !expect.admits(Some(current)) {
                    drop(guard);
                    return Err(conflict(key, expect, Some(current)));
                }
                let (removed, _) = occupied.remove();
                drop(guard);
                drop(removed);
                Ok(Some(current))
            }
            Err(_) => {
                drop(guard);
                if expect.admits(None) {
                    Ok(None)
                } else {
                    Err(conflict(key, expect, None))
                }
            }
        }
    }
}

impl<V> MemoryStore<V> {
    /// The most keys one commit may name in this store.
    pub const MAX_COMMIT_KEYS: usize = 256;

    /// Applies `commit` all or nothing; see [`VersionedStore::commit`].
    ///
    /// The shards of the commit's keys are locked in ascending index order (so two commits
    /// over overlapping keys can never deadlock, whatever order they name the keys in), every
    /// expectation is checked, and only if all hold are the writes applied, before any lock
    /// is released: no reader sees part of a commit. At most
    /// [`MAX_COMMIT_KEYS`](Self::MAX_COMMIT_KEYS) keys.
    ///
    /// ```
    /// use optimist::{Applied, Commit, Expect, MemoryStore};
    /// let store = MemoryStore::new();
    /// let a = store.put_sync("a", 10, Expect::Absent).unwrap().version;
    /// let b = store.put_sync("b", 0, Expect::Absent).unwrap().version;
    /// // Move 5 from a to b, only if neither changed since it was read.
    /// let done = store
    ///     .commit_sync(Commit::new().put("a", 5, Expect::Version(a)).put("b", 5, Expect::Version(b)))
    ///     .unwrap();
    /// assert!(matches!(done[0], Applied::Put(m) if m.version > a));
    /// // The same commit again is stale on both keys, and names both.
    /// let err = store
    ///     .commit_sync(Commit::new().put("a", 0, Expect::Version(a)).put("b", 10, Expect::Version(b)))
    ///     .unwrap_err();
    /// assert_eq!(err.as_commit_conflict().unwrap().conflicts().len(), 2);
    /// assert_eq!(store.get_sync("a").unwrap().value, 5);
    /// ```
    pub fn commit_sync(&self, commit: Commit<V>) -> Result<Vec<Applied>, StoreError> {
        commit::apply(self, commit)
    }
}

impl<V: Clone> MemoryStore<V> {
    /// One page of the keys under a prefix; see [`VersionedStore::list`].
    ///
    /// The memory store keeps no ordered index (it would slow every write), so a page scans
    /// every shard, one at a time, keeping only the `limit` smallest keys past the cursor:
    /// time linear in the number of keys stored, memory linear in the page size.
    ///
    /// ```
    /// use optimist::{Expect, ListRequest, MemoryStore};
    /// let store = MemoryStore::new();
    /// for k in ["b", "a", "x"] {
    ///     store.put_sync(k, k.to_uppercase(), Expect::Absent).unwrap();
    /// }
    /// let page = store.list_sync(&ListRequest::prefix("").limit(2).with_values());
    /// assert_eq!(page.entries[0].value.as_deref(), Some("A"));
    /// assert_eq!(page.next.as_deref(), Some("b"));
    /// ```
    pub fn list_sync(&self, request: &ListRequest) -> ListPage<V> {
        list::page(self, request)
    }

    /// The value, version and time of `key`; see [`VersionedStore::get`].
    ///
    /// ```
    /// let store = optimist::MemoryStore::new();
    /// store.put_sync("k", "v".to_string(), optimist::Expect::Any).unwrap();
    /// assert_eq!(store.get_sync("k").unwrap().value, "v");
    /// assert!(store.get_sync("missing").is_none());
    /// ```
    #[inline]
    pub fn get_sync(&self, key: &str) -> Option<Versioned<V>> {
        let (hash, idx) = self.locate(key);
        let shard = self.shards[idx].0.lock();
        shard
            .table
            .find(hash, |e| e.key.is(key))
            .map(|e| Versioned {
                value: e.value.clone(),
                version: e.version,
                last_modified: e.last_modified,
            })
    }
}

/// Hands out the shard's next version (`counter << shard_bits | index`) and steps the counter.
#[inline]
fn next_version(next: &mut u64, shard_bits: u32) -> Version {
    let raw = *next;
    // Past the last counter value the next one is 0, which `Version::new` refuses.
    *next = raw.checked_add(1 << shard_bits).unwrap_or(0);
    Version::new(raw).expect("version counter exhausted for this shard")
}

/// A refused write's error (kept out of the hot path: it copies the key).
#[cold]
#[inline(never)]
fn conflict(key: &str, expect: Expect, current: Option<Version>) -> StoreError {
    Conflict::new(key, expect, current).into()
}

impl<V: Clone + Send + Sync> VersionedStore<V> for MemoryStore<V> {
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Versioned<V>>, StoreError>> + Send {
        ready(Ok(self.get_sync(key)))
    }

    fn head(&self, key: &str) -> impl Future<Output = Result<Option<Meta>, StoreError>> + Send {
        ready(Ok(self.head_sync(key)))
    }

    fn put(
        &self,
        key: &str,
        value: V,
        expect: Expect,
    ) -> impl Future<Output = Result<Meta, StoreError>> + Send {
        ready(self.put_sync(key, value, expect))
    }

    fn delete(
        &self,
        key: &str,
        expect: Expect,
    ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send {
        ready(self.delete_sync(key, expect))
    }

    fn commit(
        &self,
        commit: Commit<V>,
    ) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send {
        ready(self.commit_sync(commit))
    }

    fn list(
        &self,
        request: ListRequest,
    ) -> impl Future<Output = Result<ListPage<V>, StoreError>> + Send {
        ready(Ok(self.list_sync(&request)))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with_commit(Self::MAX_COMMIT_KEYS)
            .with_list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_unique_across_shards_and_increase_per_key() {
        let store = MemoryStore::with_shards(8);
        let mut seen = std::collections::HashSet::new();
        for round in 0..50 {
            for k in 0..40 {
                let key = format!("k{k}");
                let before = store.head_sync(&key).map(|m| m.version);
                let v = store.put_sync(&key, round, Expect::Any).unwrap().version;
                assert!(before.is_none_or(|b| v > b));
                assert!(seen.insert(v), "version {v} reused");
            }
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn entries_stay_small() {
        // Key (24: up to 23 bytes inline) + value + version + write time (a `SystemTime`,
        // 16, so a read copies it instead of converting): a large store's lookups touch one
        // entry of this size after the control bytes; a regression here costs cache misses.
        assert_eq!(std::mem::size_of::<Entry<u64>>(), 56);
    }

    #[test]
    fn last_modified_never_goes_back_as_versions_go_forward() {
        // Many writers on one key, more threads than cores, so writers are preempted between
        // any two steps of a write; the writes' (version, time) pairs in version order must
        // have non-decreasing times.
        let store = MemoryStore::<u64>::new();
        let writes: Vec<Meta> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        (0..20_000)
                            .map(|i| store.put_sync("k", i, Expect::Any).unwrap())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let mut writes = writes;
        writes.sort_by_key(|m| m.version);
        for pair in writes.windows(2) {
            assert!(
                pair[0].last_modified <= pair[1].last_modified,
                "version {} stamped {:?}, after version {} stamped {:?}",
                pair[1].version,
                pair[1].last_modified,
                pair[0].version,
                pair[0].last_modified
            );
        }
    }

    #[test]
    fn one_shard_store_works() {
        let store = MemoryStore::with_shards(1);
        let a = store.put_sync("a", 1, Expect::Absent).unwrap().version;
        let b = store.put_sync("b", 1, Expect::Absent).unwrap().version;
        assert_ne!(a, b);
        assert_eq!(store.len(), 2);
    }
}
