//! The subjects: `optimist::MemoryStore` and the concurrent maps it is compared with.
//!
//! Every peer holds `(version, value)` per key and bumps the version on every write; the
//! store holds the value and assigns versions itself. The peers are generic over their
//! hasher, so the same map runs once with the store's hasher (foldhash, the fair table) and
//! once with its crate's default (SipHash-1-3, the second table).

use std::collections::HashMap;
use std::hash::BuildHasher;

use optimist::{Expect, MemoryStore, Version};
use parking_lot::{Mutex, RwLock};

/// The store's own hasher (`src/memory/mod.rs`): what every peer gets in the fair table.
pub type Fold = foldhash::fast::RandomState;
/// The standard library's default hasher (SipHash-1-3), the peers' crate default.
pub type Sip = std::collections::hash_map::RandomState;

/// One map under test.
pub trait Subject: Sync + Send + Sized {
    type Ver: Copy;
    /// The map holding every key of `keys` with value 0 (peers: version 0 too).
    fn prefilled(keys: &[String]) -> Self;
    fn read(&self, key: &str) -> Option<(Self::Ver, u64)>;
    /// Writes `value` iff the key's version is `expected` (`None`: the key is absent).
    fn cas(&self, key: &str, expected: Option<Self::Ver>, value: u64) -> bool;
    /// A cheap per-entry invariant checked during validation.
    fn consistent(_version: Self::Ver, _value: u64) -> bool {
        true
    }
}

type Map<S> = HashMap<String, (u64, u64), S>;

fn prefilled_map<S: BuildHasher + Default>(keys: &[String]) -> Map<S> {
    let mut m = HashMap::with_capacity_and_hasher(keys.len(), S::default());
    for k in keys {
        m.insert(k.clone(), (0, 0));
    }
    m
}

/// Shared by the `HashMap`-based peers: compare the version under the (write) lock.
#[inline(always)]
fn cas_in_map<S: BuildHasher>(map: &mut Map<S>, key: &str, exp: Option<u64>, val: u64) -> bool {
    match (map.get_mut(key), exp) {
        (Some(slot), Some(v)) if slot.0 == v => {
            *slot = (v + 1, val);
            true
        }
        (None, None) => {
            map.insert(key.to_owned(), (1, val));
            true
        }
        _ => false,
    }
}

/// `parking_lot::Mutex<HashMap>`: one lock over the whole map.
pub struct MutexMap<S>(Mutex<Map<S>>);

impl<S: BuildHasher + Default + Send + Sync> Subject for MutexMap<S> {
    type Ver = u64;
    fn prefilled(keys: &[String]) -> Self {
        Self(Mutex::new(prefilled_map(keys)))
    }
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.lock().get(key).copied()
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        cas_in_map(&mut self.0.lock(), key, exp, val)
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

/// `parking_lot::RwLock<HashMap>`: shared reads, exclusive writes.
pub struct RwLockMap<S>(RwLock<Map<S>>);

impl<S: BuildHasher + Default + Send + Sync> Subject for RwLockMap<S> {
    type Ver = u64;
    fn prefilled(keys: &[String]) -> Self {
        Self(RwLock::new(prefilled_map(keys)))
    }
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.read().get(key).copied()
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        cas_in_map(&mut self.0.write(), key, exp, val)
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

/// The number of shards of [`ShardedMap`].
pub const SHARDS: usize = 64;

/// Aligns a shard to its own pair of cache lines (as the store does).
#[repr(align(128))]
struct Padded<T>(T);

/// 64 cache-padded `parking_lot::Mutex<HashMap>` shards, the shard picked by the top bits
/// of the key's hash (the map inside hashes the key again, as a user's would).
pub struct ShardedMap<S> {
    shards: Box<[Padded<Mutex<Map<S>>>]>,
    hasher: S,
}

impl<S: BuildHasher> ShardedMap<S> {
    #[inline(always)]
    fn shard(&self, key: &str) -> &Mutex<Map<S>> {
        let h = self.hasher.hash_one(key);
        &self.shards[(h >> (64 - SHARDS.trailing_zeros())) as usize].0
    }
}

impl<S: BuildHasher + Default + Send + Sync> Subject for ShardedMap<S> {
    type Ver = u64;
    fn prefilled(keys: &[String]) -> Self {
        let s = Self {
            shards: (0..SHARDS)
                .map(|_| Padded(Mutex::new(HashMap::with_hasher(S::default()))))
                .collect(),
            hasher: S::default(),
        };
        for k in keys {
            s.shard(k).lock().insert(k.clone(), (0, 0));
        }
        s
    }
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.shard(key).lock().get(key).copied()
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        cas_in_map(&mut self.shard(key).lock(), key, exp, val)
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

/// `dashmap::DashMap`: `get` / `get_mut` under its shard locks.
pub struct Dash<S>(dashmap::DashMap<String, (u64, u64), S>);

impl<S: BuildHasher + Default + Clone + Send + Sync> Subject for Dash<S> {
    type Ver = u64;
    fn prefilled(keys: &[String]) -> Self {
        let m = dashmap::DashMap::with_capacity_and_hasher(keys.len(), S::default());
        for k in keys {
            m.insert(k.clone(), (0, 0));
        }
        Self(m)
    }
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.get(key).map(|r| *r)
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        match (self.0.get_mut(key), exp) {
            (Some(mut slot), Some(v)) if slot.0 == v => {
                *slot = (v + 1, val);
                true
            }
            (None, None) => match self.0.entry(key.to_owned()) {
                dashmap::Entry::Vacant(e) => {
                    e.insert((1, val));
                    true
                }
                dashmap::Entry::Occupied(_) => false,
            },
            _ => false,
        }
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

/// `scc::HashMap`: `read` / `update`.
pub struct Scc<S: BuildHasher>(scc::HashMap<String, (u64, u64), S>);

impl<S: BuildHasher + Default + Send + Sync> Subject for Scc<S> {
    type Ver = u64;
    fn prefilled(keys: &[String]) -> Self {
        let m = scc::HashMap::with_capacity_and_hasher(keys.len(), S::default());
        for k in keys {
            assert!(m.insert(k.clone(), (0, 0)).is_ok());
        }
        Self(m)
    }
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.read(key, |_, v| *v)
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        match exp {
            Some(v) => self
                .0
                .update(key, |_, slot| {
                    if slot.0 == v {
                        *slot = (v + 1, val);
                        true
                    } else {
                        false
                    }
                })
                .unwrap_or(false),
            None => self.0.insert(key.to_owned(), (1, val)).is_ok(),
        }
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

/// `papaya::HashMap` (lock-free): `get`, and `compute` for the conditional write. Its
/// `compute` takes the key by value, so a CAS allocates the key (and, as in any write to
/// papaya, a new entry).
pub struct Papaya<S>(papaya::HashMap<String, (u64, u64), S>);

impl<S: BuildHasher + Default + Send + Sync> Subject for Papaya<S> {
    type Ver = u64;
    fn prefilled(keys: &[String]) -> Self {
        let m = papaya::HashMap::with_capacity_and_hasher(keys.len(), S::default());
        {
            let pinned = m.pin();
            for k in keys {
                pinned.insert(k.clone(), (0, 0));
            }
        }
        Self(m)
    }
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.pin().get(key).copied()
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        let pinned = self.0.pin();
        let done = pinned.compute(key.to_owned(), |entry| match (entry, exp) {
            (Some((_, slot)), Some(v)) if slot.0 == v => papaya::Operation::Insert((v + 1, val)),
            (None, None) => papaya::Operation::Insert((1, val)),
            _ => papaya::Operation::Abort(()),
        });
        !matches!(done, papaya::Compute::Aborted(()))
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

/// `optimist::MemoryStore<u64>` through its public API: `get_sync`, then
/// `put_sync(.., Expect::Version(v))`.
pub struct Ours(MemoryStore<u64>);

impl Subject for Ours {
    type Ver = Version;
    fn prefilled(keys: &[String]) -> Self {
        let m = MemoryStore::new();
        for k in keys {
            m.put_sync(k, 0, Expect::Absent).expect("prefill");
        }
        Self(m)
    }
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(Version, u64)> {
        self.0.get_sync(key).map(|r| (r.version, r.value))
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<Version>, val: u64) -> bool {
        let expect = match exp {
            Some(v) => Expect::Version(v),
            None => Expect::Absent,
        };
        match self.0.put_sync(key, val, expect) {
            Ok(_) => true,
            Err(e) if e.as_conflict().is_some() => false,
            Err(e) => panic!("MemoryStore::put_sync failed: {e}"),
        }
    }
}
