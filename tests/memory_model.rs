//! Model-based (state-machine) property test of `MemoryStore<u32>`.
//!
//! A random sequence of `get` / `head` / `put` / `delete` over a tiny key space is applied both
//! to the store and to a plain `BTreeMap` model. Expectations are chosen to be wrong often
//! (stale versions of deleted incarnations, random versions, empty `OneOf`, ...). Every result
//! is compared with the model's prediction, and after every operation the whole store is
//! compared with the model, so a failed write that changed something is caught at once.
//!
//! The model decides admission and conflict kinds with its own code (not `Expect::admits` /
//! `ConflictKind::classify`), so the library is not checked against itself.
//!
//! The same property runs through three front doors: the synchronous methods, the async
//! `VersionedStore` trait (driven by `futures_executor::block_on`), and a `SharedStore<u32>`
//! (`Arc<dyn DynVersionedStore<u32>>`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use futures_executor::block_on;
use optimist::{
    ConflictKind, DynVersionedStore, Expect, MemoryStore, Meta, SharedStore, StoreError, Version,
    Versioned, VersionedStore,
};
use proptest::prelude::*;
use proptest::sample::Index;

/// A small key space so operations collide often: short keys (one deliberately awkward), and
/// keys around the store's 24-byte inline limit (24 bytes stay inline, 25 and more are on
/// the heap), one of them ending in a multi-byte character.
const KEYS: [&str; 7] = [
    "a",
    "b",
    "user:1",
    "a\"b;\n\u{e9}",
    "abcdefghijklmnopqrstuvwx",
    "abcdefghijklmnopqrstuvwxy",
    "a-key-of-more-than-twenty-four-bytes-\u{1f600}",
];

/// A version named by an expectation, resolved against the model when the op runs.
#[derive(Clone, Debug)]
enum VSel {
    /// The key's current version (or, when absent, its last version / a random one).
    Current,
    /// Some version seen earlier anywhere in the store (usually stale).
    Seen(Index),
    /// A version number out of thin air.
    Random(u64),
}

/// An expectation, resolved against the model when the op runs.
#[derive(Clone, Debug)]
enum ExpectGen {
    Any,
    Absent,
    Exists,
    Version(VSel),
    OneOf(Vec<VSel>),
}

#[derive(Clone, Debug)]
enum Op {
    Get(usize),
    Head(usize),
    Put {
        key: usize,
        value: u32,
        expect: ExpectGen,
    },
    Delete {
        key: usize,
        expect: ExpectGen,
    },
}

fn vsel() -> impl Strategy<Value = VSel> {
    prop_oneof![
        3 => Just(VSel::Current),
        3 => any::<Index>().prop_map(VSel::Seen),
        // Small numbers collide with real versions now and then, huge ones never do.
        1 => (1u64..5_000).prop_map(VSel::Random),
        1 => (1u64..=u64::MAX).prop_map(VSel::Random),
    ]
}

fn expect_gen() -> impl Strategy<Value = ExpectGen> {
    prop_oneof![
        2 => Just(ExpectGen::Any),
        2 => Just(ExpectGen::Absent),
        2 => Just(ExpectGen::Exists),
        4 => vsel().prop_map(ExpectGen::Version),
        2 => prop::collection::vec(vsel(), 1..4).prop_map(ExpectGen::OneOf),
        1 => Just(ExpectGen::OneOf(Vec::new())),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    prop_oneof![
        2 => key.clone().prop_map(Op::Get),
        1 => key.clone().prop_map(Op::Head),
        5 => (key.clone(), any::<u32>(), expect_gen())
            .prop_map(|(key, value, expect)| Op::Put { key, value, expect }),
        2 => (key, expect_gen()).prop_map(|(key, expect)| Op::Delete { key, expect }),
    ]
}

fn shards() -> impl Strategy<Value = Option<usize>> {
    // `None`: `MemoryStore::new()`; otherwise `with_shards(n)` (1 shard: consecutive
    // versions; many shards: interleaved versions).
    prop_oneof![
        Just(None),
        Just(Some(1)),
        Just(Some(2)),
        Just(Some(8)),
        Just(Some(64))
    ]
}

fn new_store(shards: Option<usize>) -> MemoryStore<u32> {
    match shards {
        None => MemoryStore::new(),
        Some(n) => MemoryStore::with_shards(n),
    }
}

/// The reference model plus the history needed to check version properties.
#[derive(Default)]
struct Model {
    /// The current state: key -> (version, value).
    map: BTreeMap<String, (Version, u32)>,
    /// Every version each key ever had, in order (survives delete).
    history: HashMap<String, Vec<Version>>,
    /// Every version the store ever returned, for store-wide uniqueness.
    all: HashSet<Version>,
    /// The same versions in the order they were returned, for picking stale ones.
    seen: Vec<Version>,
    /// `last_modified` of each key's current version, once observed through a read.
    last_modified: HashMap<String, SystemTime>,
}

impl Model {
    fn current(&self, key: &str) -> Option<Version> {
        self.map.get(key).map(|(v, _)| *v)
    }

    fn resolve_version(&self, key: &str, sel: &VSel) -> Version {
        match sel {
            VSel::Current => match self.current(key) {
                Some(v) => v,
                // Absent: the last version of a deleted incarnation, else something random.
                None => self
                    .history
                    .get(key)
                    .and_then(|h| h.last().copied())
                    .unwrap_or(Version::new(1).unwrap()),
            },
            VSel::Seen(i) if !self.seen.is_empty() => self.seen[i.index(self.seen.len())],
            VSel::Seen(i) => Version::new(i.index(1000) as u64 + 1).unwrap(),
            VSel::Random(n) => Version::new(*n).unwrap(),
        }
    }

    fn resolve(&self, key: &str, e: &ExpectGen) -> Expect {
        match e {
            ExpectGen::Any => Expect::Any,
            ExpectGen::Absent => Expect::Absent,
            ExpectGen::Exists => Expect::Exists,
            ExpectGen::Version(s) => Expect::Version(self.resolve_version(key, s)),
            ExpectGen::OneOf(ss) => {
                Expect::OneOf(ss.iter().map(|s| self.resolve_version(key, s)).collect())
            }
        }
    }

    /// Records a freshly returned version of `key`, checking it is new and increasing.
    fn record_new_version(&mut self, key: &str, v: Version) -> Result<(), TestCaseError> {
        let hist = self.history.entry(key.to_owned()).or_default();
        if let Some(max) = hist.iter().max() {
            prop_assert!(
                v > *max,
                "new version {v} of {key:?} is not greater than its earlier version {max}"
            );
        }
        prop_assert!(
            self.all.insert(v),
            "version {v} was returned before (key {key:?})"
        );
        hist.push(v);
        self.seen.push(v);
        Ok(())
    }
}

/// The model's own admission rule (independent of `Expect::admits`).
fn model_admits(expect: &Expect, current: Option<Version>) -> bool {
    match expect {
        Expect::Any => true,
        Expect::Absent => current.is_none(),
        Expect::Exists => current.is_some(),
        Expect::Version(v) => current == Some(*v),
        Expect::OneOf(vs) => current.is_some_and(|c| vs.contains(&c)),
    }
}

/// The model's own conflict classification (independent of `ConflictKind::classify`).
fn model_kind(expect: &Expect, current: Option<Version>) -> ConflictKind {
    match current {
        None => ConflictKind::Missing,
        Some(_) if *expect == Expect::Absent => ConflictKind::AlreadyExists,
        Some(_) => ConflictKind::Stale,
    }
}

/// One front door to the store.
trait Driver {
    fn get(&self, key: &str) -> Option<Versioned<u32>>;
    fn head(&self, key: &str) -> Option<Meta>;
    fn put(&self, key: &str, value: u32, expect: Expect) -> Result<Version, StoreError>;
    fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError>;
}

/// The synchronous inherent methods.
struct SyncDoor<'a>(&'a MemoryStore<u32>);

impl Driver for SyncDoor<'_> {
    fn get(&self, key: &str) -> Option<Versioned<u32>> {
        self.0.get_sync(key)
    }
    fn head(&self, key: &str) -> Option<Meta> {
        self.0.head_sync(key)
    }
    fn put(&self, key: &str, value: u32, expect: Expect) -> Result<Version, StoreError> {
        self.0.put_sync(key, value, expect).map(|m| m.version)
    }
    fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        self.0.delete_sync(key, expect)
    }
}

/// The async `VersionedStore` trait with static dispatch.
struct AsyncDoor<'a>(&'a MemoryStore<u32>);

impl Driver for AsyncDoor<'_> {
    fn get(&self, key: &str) -> Option<Versioned<u32>> {
        block_on(VersionedStore::get(self.0, key)).expect("the memory store's get never fails")
    }
    fn head(&self, key: &str) -> Option<Meta> {
        block_on(VersionedStore::head(self.0, key)).expect("the memory store's head never fails")
    }
    fn put(&self, key: &str, value: u32, expect: Expect) -> Result<Version, StoreError> {
        block_on(VersionedStore::put(self.0, key, value, expect)).map(|m| m.version)
    }
    fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        block_on(VersionedStore::delete(self.0, key, expect))
    }
}

/// A `SharedStore<u32>`: `get`/`put` through the `VersionedStore` impl of the `Arc<dyn ..>`,
/// `head`/`delete` through the object-safe methods directly.
struct DynDoor(SharedStore<u32>);

impl Driver for DynDoor {
    fn get(&self, key: &str) -> Option<Versioned<u32>> {
        block_on(self.0.get(key)).expect("the memory store's get never fails")
    }
    fn head(&self, key: &str) -> Option<Meta> {
        block_on(self.0.head_dyn(key)).expect("the memory store's head never fails")
    }
    fn put(&self, key: &str, value: u32, expect: Expect) -> Result<Version, StoreError> {
        block_on(self.0.put(key, value, expect)).map(|m| m.version)
    }
    fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        // Through the `VersionedStore` impl of the unsized `dyn DynVersionedStore`.
        let store: &dyn DynVersionedStore<u32> = &*self.0;
        block_on(VersionedStore::delete(store, key, expect))
    }
}

/// Checks a failed write: a conflict of the predicted kind, carrying the key, the
/// expectation as passed and the model's current version.
fn check_conflict(
    err: StoreError,
    key: &str,
    expect: &Expect,
    current: Option<Version>,
) -> Result<(), TestCaseError> {
    let StoreError::Conflict(c) = err else {
        return Err(TestCaseError::fail(format!(
            "expected a conflict on {key:?}, got {err:?}"
        )));
    };
    prop_assert_eq!(c.kind(), model_kind(expect, current), "kind of {:?}", c);
    prop_assert_eq!(c.key(), key);
    prop_assert_eq!(c.expected(), expect);
    prop_assert_eq!(c.current(), current);
    prop_assert_eq!(c.current_etag(), current.map(Version::etag));
    Ok(())
}

/// Compares the whole store with the model, through the inherent methods (ground truth).
fn check_state(store: &MemoryStore<u32>, model: &mut Model) -> Result<(), TestCaseError> {
    prop_assert_eq!(store.len(), model.map.len());
    for key in KEYS {
        let got = store.get_sync(key);
        let head = store.head_sync(key);
        match model.map.get(key) {
            None => {
                prop_assert!(got.is_none(), "{key:?} should be absent, found {got:?}");
                prop_assert!(head.is_none(), "{key:?} should be absent, head {head:?}");
            }
            Some(&(version, value)) => {
                let got = got.ok_or_else(|| TestCaseError::fail(format!("{key:?} missing")))?;
                prop_assert_eq!((got.version, got.value), (version, value), "key {:?}", key);
                prop_assert_eq!(head, Some(got.meta()), "head of {:?}", key);
                // Last-Modified belongs to the version: nothing but a successful write of
                // this key may change it.
                let lm = *model
                    .last_modified
                    .entry(key.to_owned())
                    .or_insert(got.last_modified);
                prop_assert_eq!(got.last_modified, lm, "last_modified of {:?} changed", key);
            }
        }
    }
    Ok(())
}

fn run(store: &MemoryStore<u32>, driver: &dyn Driver, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Get(k) => {
                let key = KEYS[*k];
                let got = driver.get(key);
                prop_assert_eq!(
                    got.map(|g| (g.version, g.value)),
                    model.map.get(key).copied(),
                    "get {:?}",
                    key
                );
            }
            Op::Head(k) => {
                let key = KEYS[*k];
                let got = driver.head(key);
                prop_assert_eq!(got.map(|m| m.version), model.current(key), "head {:?}", key);
            }
            Op::Put { key, value, expect } => {
                let key = KEYS[*key];
                let expect = model.resolve(key, expect);
                let current = model.current(key);
                let result = driver.put(key, *value, expect.clone());
                if model_admits(&expect, current) {
                    let v = result.map_err(|e| {
                        TestCaseError::fail(format!(
                            "put {key:?} expecting {expect:?} (current {current:?}) failed: {e:?}"
                        ))
                    })?;
                    model.record_new_version(key, v)?;
                    model.map.insert(key.to_owned(), (v, *value));
                    model.last_modified.remove(key);
                } else {
                    match result {
                        Ok(v) => {
                            return Err(TestCaseError::fail(format!(
                                "put {key:?} expecting {expect:?} succeeded with {v} although \
                                 current is {current:?}"
                            )));
                        }
                        Err(e) => check_conflict(e, key, &expect, current)?,
                    }
                }
            }
            Op::Delete { key, expect } => {
                let key = KEYS[*key];
                let expect = model.resolve(key, expect);
                let current = model.current(key);
                let result = driver.delete(key, expect.clone());
                if model_admits(&expect, current) {
                    let removed = result.map_err(|e| {
                        TestCaseError::fail(format!(
                            "delete {key:?} expecting {expect:?} (current {current:?}) failed: {e:?}"
                        ))
                    })?;
                    // Some(removed version), or None only when absent was admitted.
                    prop_assert_eq!(removed, current, "delete {:?} returned", key);
                    model.map.remove(key);
                    model.last_modified.remove(key);
                } else {
                    match result {
                        Ok(r) => {
                            return Err(TestCaseError::fail(format!(
                                "delete {key:?} expecting {expect:?} succeeded ({r:?}) although \
                                 current is {current:?}"
                            )));
                        }
                        Err(e) => check_conflict(e, key, &expect, current)?,
                    }
                }
            }
        }
        check_state(store, &mut model)?;
    }
    Ok(())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sync_methods_match_the_model(
        shards in shards(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let store = new_store(shards);
        run(&store, &SyncDoor(&store), &ops)?;
    }

    #[test]
    fn async_trait_matches_the_model(
        shards in shards(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let store = new_store(shards);
        run(&store, &AsyncDoor(&store), &ops)?;
    }

    #[test]
    fn shared_dyn_store_matches_the_model(
        shards in shards(),
        ops in prop::collection::vec(op(), 1..200),
    ) {
        let store = Arc::new(new_store(shards));
        let shared: SharedStore<u32> = store.clone();
        run(&store, &DynDoor(shared), &ops)?;
    }
}

/// The generators really produce the interesting cases: over a fixed sample of runs every
/// outcome (success and each conflict kind, for put and delete) occurs.
#[test]
fn generated_ops_cover_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRng, TestRunner};

    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::deterministic_rng(proptest::test_runner::RngAlgorithm::ChaCha),
    );
    let mut outcomes: HashSet<(&str, Option<ConflictKind>)> = HashSet::new();
    let mut stale_old_version = 0;
    for _ in 0..64 {
        let ops = prop::collection::vec(op(), 150..200)
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let store = MemoryStore::with_shards(4);
        let mut model = Model::default();
        for op in &ops {
            let (which, key, expect, result) = match op {
                Op::Put { key, value, expect } => {
                    let key = KEYS[*key];
                    let e = model.resolve(key, expect);
                    let r = store
                        .put_sync(key, *value, e.clone())
                        .map(|m| Some((m.version, *value)));
                    ("put", key, e, r)
                }
                Op::Delete { key, expect } => {
                    let key = KEYS[*key];
                    let e = model.resolve(key, expect);
                    let r = store.delete_sync(key, e.clone()).map(|_| None);
                    ("delete", key, e, r)
                }
                _ => continue,
            };
            let kind = result
                .as_ref()
                .err()
                .map(|e| e.as_conflict().unwrap().kind());
            if kind == Some(ConflictKind::Stale) && names_an_old_version(&model, key, &expect) {
                stale_old_version += 1;
            }
            outcomes.insert((which, kind));
            // Keep the model in step (only what `resolve` needs).
            match (which, result) {
                ("put", Ok(Some((v, value)))) => {
                    model.history.entry(key.to_owned()).or_default().push(v);
                    model.seen.push(v);
                    model.map.insert(key.to_owned(), (v, value));
                }
                ("delete", Ok(_)) => {
                    model.map.remove(key);
                }
                _ => {}
            }
        }
    }
    for which in ["put", "delete"] {
        for kind in [
            None,
            Some(ConflictKind::Stale),
            Some(ConflictKind::AlreadyExists),
            Some(ConflictKind::Missing),
        ] {
            assert!(
                outcomes.contains(&(which, kind)),
                "{which} never produced {kind:?}: {outcomes:?}"
            );
        }
    }
    assert!(
        stale_old_version > 0,
        "no write was ever refused for naming an old version of its key"
    );
}

/// Whether `expect` names a version `key` had before its current one.
fn names_an_old_version(model: &Model, key: &str, expect: &Expect) -> bool {
    let Some(hist) = model.history.get(key) else {
        return false;
    };
    let current = model.current(key);
    expect
        .versions()
        .iter()
        .any(|v| Some(*v) != current && hist.contains(v))
}
