//! Model checking of the memory store's concurrent scenarios with shuttle.
//!
//! Built only with `--cfg optimist_shuttle`, which swaps the memory store's shard lock for
//! shuttle's (`src/sync.rs`), so shuttle controls every lock acquisition and explores the
//! interleavings deterministically:
//!
//! ```text
//! RUSTFLAGS="--cfg optimist_shuttle" CARGO_TARGET_DIR=target/shuttle cargo test --test shuttle
//! ```
//!
//! (A target directory of its own keeps the normal build's cache intact.) Each scenario runs
//! under the random scheduler and under PCT. Iterations: `OPTIMIST_SHUTTLE_ITERS` (default
//! 2000 per scheduler and scenario; the long mode is e.g. `OPTIMIST_SHUTTLE_ITERS=100000`).
//!
//! Replaying a failure: when a scenario panics, shuttle writes the failing schedule to a file
//! and prints `failing schedule persisted to file: <path>` (the files are under
//! `<target>/tmp/shuttle-schedules-<pid>/`). Re-run exactly that interleaving, under a
//! debugger if need be, with a test calling
//! `shuttle::replay_from_file(scenario, "<path>")` (or `shuttle::replay(scenario, "<the
//! file's contents>")`); `failures_are_found_and_replay_exactly` below does just that.
//!
//! There are no hand-written atomics in the memory store (versions come from a per-shard
//! counter under the shard's lock), so loom has nothing to check beyond what the lock
//! swap gives shuttle.
#![cfg(optimist_shuttle)]

use std::convert::Infallible;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use optimist::{
    ConflictKind, Expect, MemoryStore, Meta, RetryPolicy, StoreError, Version, update_with,
};
use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::sync::Arc;
use shuttle::{Config, FailurePersistence, Runner, thread};

/// Iterations per scheduler and scenario.
fn iterations() -> usize {
    std::env::var("OPTIMIST_SHUTTLE_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000)
}

/// Where failing schedules go: one directory per test process under cargo's scratch space.
///
/// Shuttle's panic hook is installed once per process with the configuration of the first
/// runner, so every runner here uses this same configuration.
fn schedule_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("shuttle-schedules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for failing schedules");
    dir
}

fn config() -> Config {
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::File(Some(schedule_dir()));
    config
}

/// Runs `scenario` under the random scheduler (as `shuttle::check_random` does), then under
/// PCT with bug depth 3 (as `shuttle::check_pct`), persisting any failing schedule.
fn explore(scenario: fn()) {
    let n = iterations();
    Runner::new(RandomScheduler::new(n), config()).run(scenario);
    Runner::new(PctScheduler::new(3, n), config()).run(scenario);
}

/// The version a write returned; panics naming the write otherwise.
fn written(what: &str, r: Result<Meta, StoreError>) -> Version {
    r.map(|m| m.version)
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The conflict kind of a refused write.
fn kind<T: std::fmt::Debug>(r: &Result<T, StoreError>) -> Option<ConflictKind> {
    match r {
        Err(StoreError::Conflict(c)) => Some(c.kind()),
        _ => None,
    }
}

// --- scenarios ------------------------------------------------------------------------------

/// Outcomes seen across all explored schedules (std atomics: shuttle does not model them,
/// they only count), so each test can assert that the interesting interleavings did occur.
static RETRIED: AtomicUsize = AtomicUsize::new(0);
static STALE_CAS_WON: AtomicUsize = AtomicUsize::new(0);
static RECREATE_WON: AtomicUsize = AtomicUsize::new(0);
static RECREATE_WON_STALE: AtomicUsize = AtomicUsize::new(0);
static READ_SAW_CHANGE: AtomicUsize = AtomicUsize::new(0);
static CREATE_WINNERS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

/// 3 threads x 2 increments through `update_with` on one key: the counter ends at exactly 6,
/// and the 6 versions written, sorted, carry the values 1..=6 (every write built on the one
/// before it).
fn cas_increments() {
    let store = Arc::new(MemoryStore::<u64>::with_shards(2));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let policy = RetryPolicy::new(1000).no_backoff();
                (0..2)
                    .map(|_| {
                        let mut wrote = 0;
                        let updated =
                            shuttle::future::block_on(update_with(&*store, "n", &policy, |cur| {
                                wrote = cur.map_or(0, |c| c.value) + 1;
                                Ok::<_, Infallible>(wrote)
                            }))
                            .expect("an increment never gives up: every lost race is a win");
                        if updated.attempts > 1 {
                            RETRIED.fetch_add(1, Relaxed);
                        }
                        (updated.meta.version, wrote)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut chain: Vec<(Version, u64)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    chain.sort();
    let values: Vec<u64> = chain.iter().map(|c| c.1).collect();
    assert_eq!(values, [1, 2, 3, 4, 5, 6], "a lost or repeated update");
    let last = store.get_sync("n").expect("the counter exists");
    assert_eq!((last.value, last.version), (6, chain[5].0));
}

/// A stale CAS holding `v1` races a delete of `v1` and a re-create: it may win only against
/// the first incarnation (before the delete), never land on the re-created key (no ABA).
fn stale_cas_vs_delete_and_recreate() {
    let store = Arc::new(MemoryStore::<u64>::with_shards(1));
    let v1 = written("create", store.put_sync("k", 1, Expect::Absent));

    let recreate = {
        let store = Arc::clone(&store);
        thread::spawn(move || {
            let deleted = store.delete_sync("k", Expect::Version(v1));
            let created = store.put_sync("k", 2, Expect::Absent);
            (deleted, created)
        })
    };
    let stale = {
        let store = Arc::clone(&store);
        thread::spawn(move || {
            store
                .put_sync("k", 99, Expect::Version(v1))
                .map(|m| m.version)
        })
    };
    let (deleted, created) = recreate.join().unwrap();
    let stale = stale.join().unwrap();
    let last = store.get_sync("k").expect("the key exists at the end");

    match stale {
        Ok(v) => {
            // The stale CAS came first: the delete of v1 and the create-only both lose.
            STALE_CAS_WON.fetch_add(1, Relaxed);
            assert!(v > v1);
            assert_eq!(kind(&deleted), Some(ConflictKind::Stale));
            assert_eq!(kind(&created), Some(ConflictKind::AlreadyExists));
            assert_eq!((last.value, last.version), (99, v));
        }
        Err(StoreError::Conflict(c)) => {
            // The delete came first; the stale CAS saw the key missing or re-created.
            assert_eq!(deleted.expect("the delete of v1 won"), Some(v1));
            let v2 = written("re-create", created);
            assert!(v2 > v1, "a re-created key reuses no version");
            assert!(
                matches!(
                    (c.kind(), c.current()),
                    (ConflictKind::Missing, None) | (ConflictKind::Stale, Some(_))
                ),
                "unexpected conflict {c:?}"
            );
            RECREATE_WON.fetch_add(1, Relaxed);
            if let Some(current) = c.current() {
                // The stale CAS ran after the re-create: the ABA case, refused.
                RECREATE_WON_STALE.fetch_add(1, Relaxed);
                assert_eq!(current, v2, "the conflict names the new incarnation");
            }
            assert_eq!((last.value, last.version), (2, v2));
        }
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// 3 concurrent create-only writes of one key: exactly one wins; each loser is told
/// `AlreadyExists` with the winner's version.
fn create_only_once() {
    let store = Arc::new(MemoryStore::<u64>::with_shards(1));
    let handles: Vec<_> = (0..3u64)
        .map(|i| {
            let store = Arc::clone(&store);
            thread::spawn(move || store.put_sync("k", i, Expect::Absent).map(|m| m.version))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<(u64, Version)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().ok().map(|v| (i as u64, *v)))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one create wins: {results:?}");
    let (value, version) = winners[0];
    CREATE_WINNERS[value as usize].fetch_add(1, Relaxed);
    for r in &results {
        if let Err(e) = r {
            let c = e.as_conflict().expect("a loser gets a conflict");
            assert_eq!(
                (c.kind(), c.current()),
                (ConflictKind::AlreadyExists, Some(version))
            );
        }
    }
    let last = store.get_sync("k").unwrap();
    assert_eq!((last.value, last.version), (value, version));
}

/// A reader polling a key while two writers update it (one unconditionally, one by CAS) and
/// a third deletes it never sees versions go backwards while the key exists.
fn reads_are_monotonic() {
    let store = Arc::new(MemoryStore::<u64>::with_shards(1));
    written("create", store.put_sync("k", 0, Expect::Absent));
    let writers: Vec<_> = (1..=2u64)
        .map(|i| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                if i == 1 {
                    written("blind write", store.put_sync("k", i, Expect::Any));
                } else if let Some(cur) = store.get_sync("k") {
                    let _ = store.put_sync("k", i, Expect::Version(cur.version));
                }
            })
        })
        .collect();
    let mut seen: Vec<Version> = Vec::new();
    for _ in 0..4 {
        if let Some(read) = store.get_sync("k") {
            if let Some(&last) = seen.last() {
                if read.version != last {
                    READ_SAW_CHANGE.fetch_add(1, Relaxed);
                }
                assert!(
                    read.version >= last,
                    "read {:?} after {last:?}",
                    read.version
                );
            }
            seen.push(read.version);
        }
    }
    for w in writers {
        w.join().unwrap();
    }
}

// --- tests ----------------------------------------------------------------------------------

#[test]
fn concurrent_cas_increments_end_exact() {
    explore(cas_increments);
    assert!(
        RETRIED.load(Relaxed) > 0,
        "no schedule made an increment retry"
    );
}

#[test]
fn stale_cas_never_lands_on_a_recreated_key() {
    explore(stale_cas_vs_delete_and_recreate);
    assert!(
        STALE_CAS_WON.load(Relaxed) > 0,
        "the stale CAS never came first"
    );
    assert!(
        RECREATE_WON.load(Relaxed) > 0,
        "the delete never came first"
    );
    assert!(
        RECREATE_WON_STALE.load(Relaxed) > 0,
        "the stale CAS never ran after the re-create (the ABA case)"
    );
}

#[test]
fn concurrent_create_only_has_one_winner() {
    explore(create_only_once);
    for (i, won) in CREATE_WINNERS.iter().enumerate() {
        assert!(won.load(Relaxed) > 0, "thread {i} never won the create");
    }
}

#[test]
fn reads_never_go_back_in_versions() {
    explore(reads_are_monotonic);
    assert!(
        READ_SAW_CHANGE.load(Relaxed) > 0,
        "no schedule let a write land between two reads"
    );
}

/// A deliberately broken increment (read, then write unconditionally): two threads can both
/// read 0 and both write 1. It only loses an update if a thread is preempted between the
/// read and the write (two separate lock acquisitions), which shuttle can only do when the
/// store's lock is its own.
fn broken_increments() {
    let store = Arc::new(MemoryStore::<u64>::with_shards(1));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let n = store.get_sync("n").map_or(0, |c| c.value);
                written("blind write", store.put_sync("n", n + 1, Expect::Any));
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.get_sync("n").unwrap().value, 2, "lost update");
}

/// Shuttle finds the lost update of the broken increment (so it really controls the store's
/// lock), persists the failing schedule, and replaying that schedule fails the same way.
#[test]
fn failures_are_found_and_replay_exactly() {
    let dir = schedule_dir();
    let before: Vec<PathBuf> = schedules(&dir);
    let found = catch_unwind(AssertUnwindSafe(|| {
        Runner::new(RandomScheduler::new(1000), config()).run(broken_increments);
    }));
    let message = panic_message(found.expect_err("shuttle finds the lost update"));
    assert!(
        message.contains("lost update"),
        "unexpected failure: {message}"
    );

    let schedule = schedules(&dir)
        .into_iter()
        .find(|p| !before.contains(p))
        .expect("the failing schedule was persisted");
    for _ in 0..3 {
        let replayed = catch_unwind(AssertUnwindSafe(|| {
            shuttle::replay_from_file(broken_increments, &schedule);
        }));
        let message = panic_message(replayed.expect_err("the replay fails again"));
        assert!(
            message.contains("lost update"),
            "replay failed differently: {message}"
        );
    }
    let _ = std::fs::remove_file(&schedule);
}

/// The schedule files in `dir`.
fn schedules(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}
