//! Real OS-thread races through `update_with`, and the retry helper's contract.
//!
//! The race tests record the version and value of every successful write and check that
//! the key's history is a gap-free chain: sorted by version, the values are exactly
//! 1, 2, ..., n. That holds only if every compare-and-swap was atomic (no lost update, no
//! duplicated value) and every write got a fresh, larger version.

use std::collections::{BTreeMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use futures_executor::block_on;
use optimist::{
    ConflictKind, DynVersionedStore, Expect, MemoryStore, Meta, RetryPolicy, SharedStore,
    StoreError, UpdateError, Version, Versioned, VersionedStore, update_with,
};

/// The attempt bound for the races.
///
/// Every conflict means some other thread's write succeeded, so the system as a whole always
/// makes progress, but one unlucky thread can lose many times in a row: 16 threads on 2 cores
/// hammer one key with no backoff, and a thread preempted between its read and its CAS loses
/// to everyone who ran meanwhile. The test is about atomicity and version order, not about
/// fairness, so the bound is set far above any realistic losing streak; a `GaveUp` would
/// otherwise make the test flaky without indicating a bug.
const RACE_ATTEMPTS: u32 = 10_000;

/// One successful increment: (key, version returned by `update_with`, value written).
type Write = (String, Version, u64);

/// Runs `threads` OS threads, each doing `per_thread` increments; thread `t`'s `i`-th
/// increment goes to `keys[(t + i) % keys.len()]`. Returns every successful write.
fn race<S>(
    store: Arc<S>,
    keys: &[&str],
    threads: usize,
    per_thread: usize,
    policy: RetryPolicy,
) -> Vec<Write>
where
    S: VersionedStore<u64> + ?Sized + 'static,
{
    let keys: Arc<Vec<String>> = Arc::new(keys.iter().map(|k| k.to_string()).collect());
    // All threads start together, so they really overlap.
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = Arc::clone(&store);
            let keys = Arc::clone(&keys);
            let policy = policy.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                block_on(async {
                    let mut attempts = 0u64;
                    let mut writes = Vec::with_capacity(per_thread);
                    for i in 0..per_thread {
                        let key = &keys[(t + i) % keys.len()];
                        // The closure may run several times; the value of its last run is
                        // the one the successful CAS wrote.
                        let mut written = 0;
                        let updated = update_with(&*store, key, &policy, |cur| {
                            written = cur.map_or(0, |c| c.value) + 1;
                            Ok::<_, Infallible>(written)
                        })
                        .await
                        .unwrap_or_else(|e| panic!("thread {t}, increment {i} of {key:?}: {e}"));
                        assert!(updated.attempts >= 1 && updated.attempts <= RACE_ATTEMPTS);
                        attempts += u64::from(updated.attempts);
                        writes.push((key.clone(), updated.meta.version, written));
                    }
                    (writes, attempts)
                })
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut attempts = 0;
    for h in handles {
        let (writes, n) = h.join().expect("a racing thread panicked");
        all.extend(writes);
        attempts += n;
    }
    // Informational only (how much the threads actually collided); not asserted.
    eprintln!(
        "{} writes took {attempts} attempts ({} lost a race)",
        all.len(),
        attempts - all.len() as u64
    );
    all
}

/// Checks the writes of each key form a gap-free chain ending at the stored value, that
/// no version was returned twice (store-wide), and returns the number of writes per key.
fn check_chains<S>(store: &S, writes: &[Write]) -> BTreeMap<String, usize>
where
    S: VersionedStore<u64> + ?Sized,
{
    let mut unique = HashSet::new();
    for (key, v, _) in writes {
        assert!(
            unique.insert(*v),
            "version {v} returned twice (second time for {key:?})"
        );
    }
    let mut per_key: BTreeMap<String, Vec<(Version, u64)>> = BTreeMap::new();
    for (key, v, value) in writes {
        per_key.entry(key.clone()).or_default().push((*v, *value));
    }
    let mut counts = BTreeMap::new();
    for (key, mut chain) in per_key {
        chain.sort_unstable_by_key(|&(v, _)| v);
        for (i, &(v, value)) in chain.iter().enumerate() {
            assert_eq!(
                value,
                i as u64 + 1,
                "{key:?}: the write with the {}-th smallest version ({v}) wrote {value}",
                i + 1
            );
        }
        let (last_version, last_value) = *chain.last().unwrap();
        let stored: Versioned<u64> = block_on(store.get(&key)).unwrap().expect("key written");
        assert_eq!(
            (stored.version, stored.value),
            (last_version, last_value),
            "{key:?}: the stored state is not the newest write"
        );
        counts.insert(key, chain.len());
    }
    counts
}

#[test]
fn sixteen_threads_increment_one_counter() {
    let store = Arc::new(MemoryStore::<u64>::new());
    let writes = race(
        Arc::clone(&store),
        &["counter"],
        16,
        1_000,
        RetryPolicy::new(RACE_ATTEMPTS).no_backoff(),
    );
    assert_eq!(writes.len(), 16_000);
    assert_eq!(store.get_sync("counter").unwrap().value, 16_000);
    let counts = check_chains(&*store, &writes);
    assert_eq!(counts["counter"], 16_000);
    assert_eq!(store.len(), 1);
}

#[test]
fn eight_threads_increment_four_counters_with_backoff() {
    let store = Arc::new(MemoryStore::<u64>::new());
    let keys = ["c0", "c1", "c2", "c\"3;\n\u{e9}"];
    // A small jittered backoff, through the default timer.
    let policy = RetryPolicy::new(RACE_ATTEMPTS)
        .backoff(Duration::from_micros(1), Duration::from_micros(50));
    let writes = race(Arc::clone(&store), &keys, 8, 500, policy);
    assert_eq!(writes.len(), 4_000);
    let counts = check_chains(&*store, &writes);
    // Thread t's i-th increment goes to key (t + i) % 4: 125 per thread per key.
    for key in keys {
        assert_eq!(counts[key], 1_000, "{key:?}");
        assert_eq!(store.get_sync(key).unwrap().value, 1_000, "{key:?}");
    }
    assert_eq!(store.len(), 4);
}

#[test]
fn eight_threads_increment_through_a_shared_dyn_store() {
    let store: SharedStore<u64> = Arc::new(MemoryStore::<u64>::with_shards(4));
    // `race` calls `update_with(&*store, ..)`, i.e. on the unsized `dyn DynVersionedStore`.
    let dyn_store: Arc<dyn DynVersionedStore<u64>> = Arc::clone(&store);
    let writes = race(
        dyn_store,
        &["shared", "other"],
        8,
        500,
        RetryPolicy::new(RACE_ATTEMPTS).no_backoff(),
    );
    assert_eq!(writes.len(), 4_000);
    let counts = check_chains(&*store, &writes);
    assert_eq!(counts["shared"], 2_000);
    assert_eq!(counts["other"], 2_000);
    let read = block_on(store.get("shared")).unwrap().unwrap();
    assert_eq!(read.value, 2_000);
}

// ----- the contract of update_with -----

/// Reads the current state of `key` (sync).
fn state(store: &MemoryStore<u64>, key: &str) -> Option<(Version, u64)> {
    store.get_sync(key).map(|v| (v.version, v.value))
}

#[test]
fn gives_up_after_max_attempts_with_the_last_conflict() {
    let store = MemoryStore::<u64>::new();
    store.put_sync("k", 0, Expect::Absent).unwrap();
    let policy = RetryPolicy::new(3).no_backoff();
    let mut calls = 0u32;
    let mut read_versions = Vec::new();
    let mut sneaked = Vec::new();
    let result = block_on(update_with(&store, "k", &policy, |cur| {
        calls += 1;
        let cur = cur.expect("k exists");
        read_versions.push(cur.version);
        // A concurrent writer gets in between this attempt's read and its CAS.
        let v = store
            .put_sync("k", 1_000 + u64::from(calls), Expect::Any)
            .unwrap()
            .version;
        sneaked.push(v);
        Ok::<_, Infallible>(cur.value + 1)
    }));
    let Err(UpdateError::GaveUp { attempts, last }) = result else {
        panic!("expected GaveUp, got {result:?}");
    };
    assert_eq!(attempts, 3);
    assert_eq!(calls, 3, "one closure run per attempt");
    assert_eq!(last.kind(), ConflictKind::Stale);
    assert_eq!(last.key(), "k");
    // The last attempt expected the version it read, and found the sneaked-in one.
    assert_eq!(last.expected(), &Expect::Version(read_versions[2]));
    assert_eq!(last.current(), Some(sneaked[2]));
    // Each attempt re-read: it saw the previous attempt's interfering write.
    assert_eq!(read_versions[1], sneaked[0]);
    assert_eq!(read_versions[2], sneaked[1]);
    // Nothing of update_with's own was written.
    assert_eq!(state(&store, "k"), Some((sneaked[2], 1_003)));
}

#[test]
fn gives_up_on_an_absent_key_that_keeps_being_created() {
    let store = MemoryStore::<u64>::new();
    // max_attempts is at least 1.
    let policy = RetryPolicy::new(0).no_backoff();
    assert_eq!(policy.max_attempts(), 1);
    let mut created = None;
    let result = block_on(update_with(&store, "new", &policy, |cur| {
        assert!(cur.is_none());
        created = Some(store.put_sync("new", 7, Expect::Absent).unwrap().version);
        Ok::<_, Infallible>(1)
    }));
    let Err(UpdateError::GaveUp { attempts, last }) = result else {
        panic!("expected GaveUp, got {result:?}");
    };
    assert_eq!(attempts, 1);
    assert_eq!(last.kind(), ConflictKind::AlreadyExists);
    assert_eq!(last.expected(), &Expect::Absent);
    assert_eq!(last.current(), created);
    assert_eq!(state(&store, "new"), Some((created.unwrap(), 7)));
}

#[test]
fn gives_up_on_a_key_deleted_under_it() {
    let store = MemoryStore::<u64>::new();
    let v = store.put_sync("gone", 1, Expect::Absent).unwrap().version;
    let policy = RetryPolicy::new(1);
    let result = block_on(update_with(&store, "gone", &policy, |cur| {
        assert_eq!(cur.map(|c| c.version), Some(v));
        store.delete_sync("gone", Expect::Version(v)).unwrap();
        Ok::<_, Infallible>(2)
    }));
    let Err(UpdateError::GaveUp { attempts: 1, last }) = result else {
        panic!("expected GaveUp after 1 attempt, got {result:?}");
    };
    assert_eq!(last.kind(), ConflictKind::Missing);
    assert_eq!(last.expected(), &Expect::Version(v));
    assert_eq!(last.current(), None);
    assert!(store.get_sync("gone").is_none());
}

#[test]
fn succeeds_after_conflicts_and_counts_attempts() {
    let store = MemoryStore::<u64>::new();
    store.put_sync("k", 10, Expect::Absent).unwrap();
    let policy = RetryPolicy::new(5).no_backoff();
    let mut calls = 0;
    let updated = block_on(update_with(&store, "k", &policy, |cur| {
        calls += 1;
        let value = cur.unwrap().value;
        if calls <= 2 {
            // Interfere with the first two attempts only.
            store.put_sync("k", value + 100, Expect::Exists).unwrap();
        }
        Ok::<_, Infallible>(value + 1)
    }))
    .unwrap();
    assert_eq!(updated.attempts, 3);
    assert_eq!(calls, 3);
    // 10 -> 110 (interference) -> 210 (interference) -> 211 (ours).
    assert_eq!(state(&store, "k"), Some((updated.meta.version, 211)));
}

#[test]
fn creates_an_absent_key_in_one_attempt() {
    let store = MemoryStore::<u64>::new();
    let updated = block_on(update_with(
        &store,
        "fresh",
        &RetryPolicy::default(),
        |cur| {
            assert!(cur.is_none());
            Ok::<_, Infallible>(42)
        },
    ))
    .unwrap();
    assert_eq!(updated.attempts, 1);
    assert_eq!(state(&store, "fresh"), Some((updated.meta.version, 42)));
}

#[test]
fn aborted_closure_writes_nothing() {
    let store = MemoryStore::<u64>::new();
    let v = store.put_sync("k", 5, Expect::Absent).unwrap().version;
    let mut calls = 0;
    let result = block_on(update_with(&store, "k", &RetryPolicy::new(10), |cur| {
        calls += 1;
        assert_eq!(cur.map(|c| (c.version, c.value)), Some((v, 5)));
        Err::<u64, _>("refused")
    }));
    assert!(
        matches!(result, Err(UpdateError::Aborted("refused"))),
        "{result:?}"
    );
    assert_eq!(calls, 1, "an abort is not retried");
    assert_eq!(state(&store, "k"), Some((v, 5)));

    // On an absent key too: it stays absent.
    let result = block_on(update_with(&store, "none", &RetryPolicy::new(10), |cur| {
        assert!(cur.is_none());
        Err::<u64, _>("no")
    }));
    assert!(
        matches!(result, Err(UpdateError::Aborted("no"))),
        "{result:?}"
    );
    assert!(store.get_sync("none").is_none());
    assert_eq!(store.len(), 1);
}

/// Backoff sleeps go through the policy's sleep function, never after the last attempt,
/// and stay within the configured ceiling; `no_backoff` never sleeps.
#[test]
fn backoff_sleeps_between_attempts_only() {
    let store = MemoryStore::<u64>::new();
    store.put_sync("k", 0, Expect::Absent).unwrap();
    let sleeps: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let recorded = Arc::clone(&sleeps);
    let policy = RetryPolicy::new(4)
        .backoff(Duration::from_millis(1), Duration::from_millis(3))
        .sleep_with(move |d| {
            recorded.lock().unwrap().push(d);
            Box::pin(async {})
        });
    let result = block_on(update_with(&store, "k", &policy, |cur| {
        store.put_sync("k", 0, Expect::Any).unwrap();
        Ok::<_, Infallible>(cur.unwrap().value + 1)
    }));
    assert!(
        matches!(result, Err(UpdateError::GaveUp { attempts: 4, .. })),
        "{result:?}"
    );
    let sleeps = sleeps.lock().unwrap();
    // At most one sleep between consecutive attempts (a zero jittered delay is skipped).
    assert!(
        sleeps.len() <= 3,
        "slept {} times for 4 attempts",
        sleeps.len()
    );
    for d in sleeps.iter() {
        assert!(
            !d.is_zero() && *d <= Duration::from_millis(3),
            "delay {d:?}"
        );
    }

    let slept = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&slept);
    let eager = RetryPolicy::new(4)
        .sleep_with(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
            Box::pin(async {})
        })
        .no_backoff();
    let result = block_on(update_with(&store, "k", &eager, |cur| {
        store.put_sync("k", 0, Expect::Any).unwrap();
        Ok::<_, Infallible>(cur.unwrap().value + 1)
    }));
    assert!(
        matches!(result, Err(UpdateError::GaveUp { attempts: 4, .. })),
        "{result:?}"
    );
    assert_eq!(
        slept.load(Ordering::Relaxed),
        0,
        "no_backoff must not sleep"
    );
}

/// A store whose writes (or reads) fail with a given non-conflict error, counting calls.
struct Failing {
    inner: MemoryStore<u64>,
    fail_get: bool,
    error: fn(&str) -> StoreError,
    gets: AtomicU32,
    puts: AtomicU32,
}

impl Failing {
    fn new(fail_get: bool, error: fn(&str) -> StoreError) -> Self {
        Self {
            inner: MemoryStore::new(),
            fail_get,
            error,
            gets: AtomicU32::new(0),
            puts: AtomicU32::new(0),
        }
    }
}

impl VersionedStore<u64> for Failing {
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Versioned<u64>>, StoreError>> + Send {
        self.gets.fetch_add(1, Ordering::SeqCst);
        let result = if self.fail_get {
            Err((self.error)(key))
        } else {
            Ok(self.inner.get_sync(key))
        };
        std::future::ready(result)
    }

    fn put(
        &self,
        key: &str,
        _value: u64,
        _expect: Expect,
    ) -> impl Future<Output = Result<Meta, StoreError>> + Send {
        self.puts.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Err((self.error)(key)))
    }

    fn delete(
        &self,
        key: &str,
        expect: Expect,
    ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send {
        std::future::ready(self.inner.delete_sync(key, expect))
    }
}

fn indeterminate(key: &str) -> StoreError {
    StoreError::Indeterminate {
        key: key.to_owned(),
        source: "connection reset after the write was sent".into(),
    }
}

fn unavailable(_: &str) -> StoreError {
    StoreError::Unavailable {
        source: "pool exhausted".into(),
    }
}

fn backend(_: &str) -> StoreError {
    StoreError::backend("disk on fire")
}

#[test]
fn non_conflict_errors_from_put_are_not_retried() {
    for (name, error) in [
        ("indeterminate", indeterminate as fn(&str) -> StoreError),
        ("unavailable", unavailable),
        ("backend", backend),
    ] {
        let store = Failing::new(false, error);
        store.inner.put_sync("k", 1, Expect::Absent).unwrap();
        let mut calls = 0;
        let result = block_on(update_with(
            &store,
            "k",
            &RetryPolicy::new(10).no_backoff(),
            |cur| {
                calls += 1;
                Ok::<_, Infallible>(cur.unwrap().value + 1)
            },
        ));
        match (name, &result) {
            ("indeterminate", Err(UpdateError::Store(StoreError::Indeterminate { key, .. }))) => {
                assert_eq!(key, "k")
            }
            ("unavailable", Err(UpdateError::Store(StoreError::Unavailable { .. }))) => {}
            ("backend", Err(UpdateError::Store(StoreError::Backend { .. }))) => {}
            _ => panic!("{name}: expected UpdateError::Store, got {result:?}"),
        }
        assert_eq!(store.puts.load(Ordering::SeqCst), 1, "{name}: put retried");
        assert_eq!(store.gets.load(Ordering::SeqCst), 1, "{name}: re-read");
        assert_eq!(calls, 1, "{name}");
        assert_eq!(store.inner.get_sync("k").unwrap().value, 1, "{name}");
    }
}

#[test]
fn a_failing_read_ends_the_loop_before_the_closure() {
    let store = Failing::new(true, unavailable);
    let result = block_on(update_with(
        &store,
        "k",
        &RetryPolicy::new(10).no_backoff(),
        |_| {
            panic!("the closure must not run when the read failed");
            #[allow(unreachable_code)]
            Ok::<u64, Infallible>(0)
        },
    ));
    assert!(
        matches!(
            result,
            Err(UpdateError::Store(StoreError::Unavailable { .. }))
        ),
        "{result:?}"
    );
    assert_eq!(store.gets.load(Ordering::SeqCst), 1);
    assert_eq!(store.puts.load(Ordering::SeqCst), 0);
}
