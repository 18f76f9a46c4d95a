//! The history checker (`optimist::testkit::History`): concurrent histories of random
//! reads, writes and multi-key commits, checked for linearizability (per key, or as a whole
//! when commits are in them), on the memory store from real OS threads, on SQLite,
//! PostgreSQL and Redis (when `OPTIMIST_PG_URL` / `OPTIMIST_REDIS_URL` are set), and on
//! deliberately broken stores, which it must reject.
//!
//! Long mode: `OPTIMIST_LONG=1 cargo test --all-features --test history -- --nocapture`
//! (100 times the histories). Every test prints what it checked.
#![cfg(feature = "testkit")]

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::future::join_all;
use optimist::testkit::{History, HistoryReport, HistoryViolation, linearizable_history};
use optimist::{
    Applied, BoxError, Capabilities, Commit, CommitConflict, Conflict, Expect, MemoryStore, Meta,
    Op, StoreError, Version, Versioned, VersionedStore,
};
use parking_lot::Mutex;
use rand::Rng;

/// `OPTIMIST_LONG=1`: run many more histories.
fn long() -> bool {
    std::env::var("OPTIMIST_LONG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `n` in CI, `100 * n` in long mode.
fn scaled(n: usize) -> usize {
    if long() { n * 100 } else { n }
}

fn print(what: &str, report: &HistoryReport, started: std::time::Instant) {
    eprintln!("{what}: {report} in {:.2?}", started.elapsed());
}

// --- the memory store -----------------------------------------------------------------------

/// Histories whose workers are OS threads, released together by a spinning barrier,
/// hammering one or two keys of one memory store: every history is linearizable, and many
/// overlap for real.
#[test]
fn memory_store_histories_from_os_threads() {
    let started = std::time::Instant::now();
    let store = Arc::new(MemoryStore::<u64>::new());
    let rounds = scaled(200);
    let mut report = HistoryReport::default();
    let mut ops = 0;
    for round in 0..rounds {
        let keys = 1 + round % 2;
        let threads = 2 + round % 3;
        let per_thread = keys * optimist::testkit::MAX_OPS_PER_KEY / threads;
        ops += threads * per_thread;
        let history = History::new("threads/", keys);
        let arrived = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for w in 0..threads {
                let (history, arrived, store) = (&history, &arrived, &store);
                s.spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < threads {
                        std::thread::yield_now();
                    }
                    futures_executor::block_on(history.run_worker(&**store, w, per_thread))
                });
            }
        });
        let checked = history.check().unwrap_or_else(|v| panic!("{v}"));
        assert_eq!(checked.histories, keys as u64);
        report.merge(&checked);
    }
    print("memory store, OS threads", &report, started);
    assert_eq!(report.ops, ops as u64);
    assert_eq!((report.left_out, report.maybe_applied), (0, 0));
    assert!(report.writes > 0 && report.conflicts > 0 && report.reads > 0);
    assert!(report.concurrent > 0, "no two operations ever overlapped");
}

/// The kit function, called from several tokio tasks at once on one memory store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_store_kit_function_from_concurrent_tasks() {
    let started = std::time::Instant::now();
    let store = Arc::new(MemoryStore::<String>::new());
    let tasks: Vec<_> = (0..4)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                linearizable_history::<String, _>(&*store, &format!("t{t}/"), 4, scaled(60), 2)
                    .await
            })
        })
        .collect();
    let mut report = HistoryReport::default();
    for task in tasks {
        report.merge(&task.await.expect("no history was rejected"));
    }
    print("memory store, 4 tasks", &report, started);
    // The memory store supports commits, so the histories hold some, each using up an
    // operation of two keys: fewer operations than asked for run, but at least half.
    let asked = 4 * 4 * scaled(60) as u64;
    assert!(
        report.ops <= asked && report.ops >= asked / 2,
        "{} of {asked}",
        report.ops
    );
    assert!(report.commits > 0);
    assert!(report.histories >= 4 * 5);
    assert!(report.max_ops_per_history <= optimist::testkit::MAX_OPS_PER_KEY as u64);
}

// --- deliberately broken stores ---------------------------------------------------------------

/// What a [`ToyStore`] gets wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Bug {
    /// Nothing: a correct store (the control).
    None,
    /// Correct, but a fifth of the writes report `Indeterminate`, half of them applied.
    Indeterminate,
    /// Reads sometimes return the key's first incarnation seen by the store (a stale cache).
    StaleRead,
    /// Blind writes are sometimes acknowledged with a fresh version and then dropped.
    DroppedWrite,
    /// Compares, yields, then writes: a read-compare-then-write that is not atomic.
    NonAtomicCas,
    /// Each key counts its versions from 1 and starts over after a delete (ABA).
    VersionReuse,
    /// Writes sometimes apply and then report `Unavailable` ("nothing was sent").
    LyingUnavailable,
    /// Commits check every expectation, then write their keys one at a time, yielding in
    /// between: a reader can see half of a commit.
    TornCommit,
    /// A refused commit names only its first failed key.
    HidesFailedKeys,
}

/// A one-mutex store that yields before and after each operation's critical section, so
/// joined workers' operations overlap in time, with a [`Bug`] switched on.
struct ToyStore {
    bug: Bug,
    state: Mutex<Toy>,
}

#[derive(Default)]
struct Toy {
    map: HashMap<String, (Version, u64)>,
    next: u64,
    per_key: HashMap<String, u64>,
    first_seen: HashMap<String, (Version, u64)>,
}

impl ToyStore {
    fn new(bug: Bug) -> Self {
        Self {
            bug,
            state: Mutex::new(Toy::default()),
        }
    }

    fn chance(p: f64) -> bool {
        rand::rng().random_bool(p)
    }

    fn next_version(&self, toy: &mut Toy, key: &str) -> Version {
        if self.bug == Bug::VersionReuse {
            let n = toy.per_key.entry(key.to_owned()).or_insert(0);
            *n += 1;
            return Version::new(*n).unwrap();
        }
        toy.next += 1;
        Version::new(toy.next).unwrap()
    }

    fn read(&self, key: &str) -> Option<Versioned<u64>> {
        let mut toy = self.state.lock();
        let current = toy.map.get(key).copied();
        let found = match (self.bug, current) {
            (Bug::StaleRead, Some(cur)) => {
                let first = *toy.first_seen.entry(key.to_owned()).or_insert(cur);
                if Self::chance(0.5) { first } else { cur }
            }
            (_, cur) => cur?,
        };
        Some(Versioned {
            value: found.1,
            version: found.0,
            last_modified: std::time::UNIX_EPOCH,
        })
    }

    fn write(&self, key: &str, value: u64, expect: &Expect) -> Result<Version, StoreError> {
        let mut toy = self.state.lock();
        let current = toy.map.get(key).map(|c| c.0);
        if !expect.admits(current) {
            return Err(Conflict::new(key, expect.clone(), current).into());
        }
        let version = self.next_version(&mut toy, key);
        if self.bug == Bug::DroppedWrite && *expect == Expect::Any && Self::chance(0.3) {
            return Ok(version);
        }
        toy.map.insert(key.to_owned(), (version, value));
        Ok(version)
    }

    fn remove(&self, key: &str, expect: &Expect) -> Result<Option<Version>, StoreError> {
        let mut toy = self.state.lock();
        let current = toy.map.get(key).map(|c| c.0);
        if !expect.admits(current) {
            return Err(Conflict::new(key, expect.clone(), current).into());
        }
        toy.map.remove(key);
        if self.bug == Bug::VersionReuse {
            toy.per_key.remove(key);
        }
        Ok(current)
    }

    /// Applies one operation of a commit whose expectations all held.
    fn apply(&self, toy: &mut Toy, op: &Op<u64>) -> Applied {
        let current = toy.map.get(op.key()).map(|c| c.0);
        match op {
            Op::Put { key, value, .. } => {
                let version = self.next_version(toy, key);
                toy.map.insert(key.clone(), (version, *value));
                Applied::Put(written(version))
            }
            Op::Delete { key, .. } => {
                toy.map.remove(key);
                if self.bug == Bug::VersionReuse {
                    toy.per_key.remove(key);
                }
                Applied::Deleted(current)
            }
            Op::Check { .. } => Applied::Checked(current),
        }
    }

    /// The outcome reported for a write, after the `Indeterminate` and `LyingUnavailable`
    /// bugs had their say.
    async fn report<T>(
        &self,
        key: &str,
        apply: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let unknown = || -> BoxError { "connection lost".into() };
        match self.bug {
            Bug::Indeterminate if Self::chance(0.2) => {
                if Self::chance(0.5) {
                    let _ = apply();
                }
                Yield::twice().await;
                Err(StoreError::Indeterminate {
                    key: key.to_owned(),
                    source: unknown(),
                })
            }
            Bug::LyingUnavailable if Self::chance(0.2) => {
                let _ = apply();
                Err(StoreError::Unavailable { source: unknown() })
            }
            _ => apply(),
        }
    }
}

impl VersionedStore<u64> for ToyStore {
    async fn get(&self, key: &str) -> Result<Option<Versioned<u64>>, StoreError> {
        Yield::maybe().await;
        let read = self.read(key);
        Yield::maybe().await;
        Ok(read)
    }

    async fn put(&self, key: &str, value: u64, expect: Expect) -> Result<Meta, StoreError> {
        Yield::maybe().await;
        if self.bug == Bug::NonAtomicCas && expect != Expect::Any {
            let current = self.read(key).map(|c| c.version);
            if !expect.admits(current) {
                return Err(Conflict::new(key, expect, current).into());
            }
            Yield::twice().await;
            return self.write(key, value, &Expect::Any).map(written);
        }
        let r = self.report(key, || self.write(key, value, &expect)).await;
        Yield::maybe().await;
        r.map(written)
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        Yield::maybe().await;
        let r = self.report(key, || self.remove(key, &expect)).await;
        Yield::maybe().await;
        r
    }

    async fn commit(&self, commit: Commit<u64>) -> Result<Vec<Applied>, StoreError> {
        commit.validate(8)?;
        Yield::maybe().await;
        let ops = commit.into_ops();
        let mut failed: Vec<Conflict> = {
            let toy = self.state.lock();
            ops.iter()
                .filter_map(|op| {
                    let current = toy.map.get(op.key()).map(|c| c.0);
                    (!op.expect().admits(current))
                        .then(|| Conflict::new(op.key(), op.expect().clone(), current))
                })
                .collect()
        };
        if !failed.is_empty() {
            if self.bug == Bug::HidesFailedKeys {
                failed.truncate(1);
            }
            return Err(CommitConflict::new(failed).into());
        }
        let mut applied = Vec::with_capacity(ops.len());
        if self.bug == Bug::TornCommit {
            for op in &ops {
                applied.push(self.apply(&mut self.state.lock(), op));
                Yield::twice().await;
            }
        } else {
            let mut toy = self.state.lock();
            applied.extend(ops.iter().map(|op| self.apply(&mut toy, op)));
        }
        Yield::maybe().await;
        Ok(applied)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none().with_commit(8)
    }
}

/// Returns `Pending` a given number of times (waking itself), so joined futures take turns.
struct Yield(u8);

impl Yield {
    fn maybe() -> Self {
        Self(rand::rng().random_range(0..3))
    }
    fn twice() -> Self {
        Self(2)
    }
}

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// Runs up to `rounds` histories (4 joined workers, one key, 12 operations) on fresh toy
/// stores with `bug`; the first violation found, or the reports of all.
fn toy_histories(bug: Bug, rounds: usize) -> Result<HistoryReport, HistoryViolation> {
    let mut report = HistoryReport::default();
    for _ in 0..rounds {
        let store = ToyStore::new(bug);
        let history = History::new("toy/", 1);
        futures_executor::block_on(join_all((0..4).map(|w| history.run_worker(&store, w, 3))));
        report.merge(&history.check()?);
    }
    Ok(report)
}

/// Like [`toy_histories`], with commits: 4 joined workers, two keys, commits of both.
fn toy_commit_histories(bug: Bug, rounds: usize) -> Result<HistoryReport, HistoryViolation> {
    let mut report = HistoryReport::default();
    for _ in 0..rounds {
        let store = ToyStore::new(bug);
        let history = History::with_max_ops_per_key("toy/", 2, 8).with_commits(2);
        futures_executor::block_on(join_all((0..4).map(|w| history.run_worker(&store, w, 4))));
        report.merge(&history.check()?);
    }
    Ok(report)
}

#[test]
fn correct_toy_store_passes_with_overlapping_operations() {
    let started = std::time::Instant::now();
    let report = toy_histories(Bug::None, scaled(200)).unwrap_or_else(|v| panic!("{v}"));
    print("toy store", &report, started);
    assert_eq!(report.histories, scaled(200) as u64);
    assert!(
        report.concurrent > report.ops / 2,
        "the toy store's operations overlap"
    );
}

#[test]
fn indeterminate_writes_are_checked_as_maybe_applied() {
    let started = std::time::Instant::now();
    let report = toy_histories(Bug::Indeterminate, scaled(200)).unwrap_or_else(|v| panic!("{v}"));
    print("toy store with indeterminate writes", &report, started);
    assert!(report.maybe_applied > 0);
}

/// The checker finds `bug` within 500 histories, and says why.
fn rejects(bug: Bug, rule: &[&str]) {
    let violation = toy_histories(bug, 500)
        .err()
        .unwrap_or_else(|| panic!("500 histories of a store with {bug:?} passed the checker"));
    eprintln!("{bug:?} rejected: {violation}");
    assert!(
        rule.iter().any(|r| violation.rule.contains(r)),
        "{bug:?} rejected for an unexpected reason: {violation}"
    );
    assert!(violation.key.starts_with("toy/"));
    assert!(violation.history.lines().count() > 1);
}

#[test]
fn rejects_stale_reads() {
    rejects(
        Bug::StaleRead,
        &[
            "stale",
            "no order",
            "which no write",
            "no acknowledged write",
        ],
    );
}

#[test]
fn rejects_acknowledged_but_dropped_writes() {
    rejects(
        Bug::DroppedWrite,
        &[
            "stale",
            "no order",
            "which no write",
            "no acknowledged write",
            "lost update",
        ],
    );
}

#[test]
fn rejects_a_non_atomic_compare_and_write() {
    rejects(Bug::NonAtomicCas, &["lost update", "no order", "stale"]);
}

#[test]
fn rejects_versions_reused_after_delete() {
    rejects(
        Bug::VersionReuse,
        &["went backwards", "both written", "no order"],
    );
}

#[test]
fn rejects_writes_applied_but_reported_unavailable() {
    rejects(
        Bug::LyingUnavailable,
        &[
            "which no write",
            "no acknowledged write",
            "no order",
            "lost update",
            "stale",
        ],
    );
}

#[test]
fn correct_toy_store_passes_histories_with_commits() {
    let started = std::time::Instant::now();
    let report = toy_commit_histories(Bug::None, scaled(200)).unwrap_or_else(|v| panic!("{v}"));
    print("toy store with commits", &report, started);
    // One history of both keys per round with a commit, one per key in a round without.
    let rounds = scaled(200) as u64;
    assert!(
        (rounds..=2 * rounds).contains(&report.histories),
        "{report}"
    );
    assert!(
        report.commits > report.ops / 5,
        "commits are a good share of the operations"
    );
    assert!(
        report.concurrent > report.ops / 2,
        "the toy store's operations overlap"
    );
}

/// The checker finds `bug` in histories with commits within 500 histories, and says why.
fn rejects_commits(bug: Bug, rule: &[&str]) {
    let violation = toy_commit_histories(bug, 500)
        .err()
        .unwrap_or_else(|| panic!("500 histories of a store with {bug:?} passed the checker"));
    eprintln!("{bug:?} rejected: {violation}");
    assert!(
        rule.iter().any(|r| violation.rule.contains(r)),
        "{bug:?} rejected for an unexpected reason: {violation}"
    );
    assert!(violation.history.contains("commit ["));
}

#[test]
fn rejects_commits_whose_halves_are_seen_apart() {
    rejects_commits(Bug::TornCommit, &["no order", "stale", "lost update"]);
}

#[test]
fn rejects_refused_commits_that_hide_failed_keys() {
    rejects_commits(Bug::HidesFailedKeys, &["no order"]);
}

/// Histories with commits on the memory store, workers on OS threads released together:
/// linearizable, checked as a whole.
#[test]
fn memory_store_histories_with_commits_from_os_threads() {
    let started = std::time::Instant::now();
    let store = MemoryStore::<u64>::new();
    let mut report = HistoryReport::default();
    for round in 0..scaled(100) {
        let keys = 2 + round % 2;
        let history = History::new("commits/", keys).with_commits(3);
        let arrived = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for w in 0..3 {
                let (history, arrived, store) = (&history, &arrived, &store);
                s.spawn(move || {
                    arrived.fetch_add(1, Ordering::SeqCst);
                    while arrived.load(Ordering::SeqCst) < 3 {
                        std::thread::yield_now();
                    }
                    futures_executor::block_on(history.run_worker(store, w, 8))
                });
            }
        });
        let checked = history.check().unwrap_or_else(|v| panic!("{v}"));
        // Checked as a whole when it holds a commit, else key by key.
        let expected = if checked.commits > 0 { 1 } else { keys as u64 };
        assert_eq!(checked.histories, expected);
        report.merge(&checked);
    }
    print("memory store with commits, OS threads", &report, started);
    assert!(report.commits > 0 && report.writes > 0 && report.conflicts > 0);
}

/// The checker on a hand-made history through the same API: a store that loses one blind
/// write outright (acknowledged, never stored) is caught by a single later read.
#[test]
fn a_single_lost_write_is_caught() {
    struct LosesSecondWrite(MemoryStore<u64>, Mutex<u32>);
    impl VersionedStore<u64> for LosesSecondWrite {
        async fn get(&self, key: &str) -> Result<Option<Versioned<u64>>, StoreError> {
            self.0.get(key).await
        }
        async fn put(&self, key: &str, value: u64, expect: Expect) -> Result<Meta, StoreError> {
            let n = {
                let mut n = self.1.lock();
                *n += 1;
                *n
            };
            if n == 2 {
                // Acknowledge with a version the key never gets.
                return self.0.put("elsewhere", value, Expect::Any).await;
            }
            self.0.put(key, value, expect).await
        }
        async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
            self.0.delete(key, expect).await
        }
    }
    let mut caught = 0;
    for _ in 0..50 {
        let store = LosesSecondWrite(MemoryStore::new(), Mutex::new(0));
        let history = History::new("lost/", 1);
        futures_executor::block_on(history.run_worker(&store, 0, 12));
        if history.check().is_err() {
            caught += 1;
        }
    }
    // A lost write goes unseen only if nothing after it looks at the key.
    assert!(caught > 25, "caught {caught} of 50");
}

// --- SQLite, PostgreSQL, Redis ------------------------------------------------------------------

/// Runs `linearizable_history` from 3 tokio tasks at once, 4 workers each, on `store`.
#[cfg(any(feature = "sqlite", feature = "postgres", feature = "redis"))]
async fn backend_histories<S>(what: &str, store: S, ops_per_worker: usize) -> HistoryReport
where
    S: VersionedStore<u64> + VersionedStore<String> + 'static,
{
    let started = std::time::Instant::now();
    let store = Arc::new(store);
    let tasks: Vec<_> = (0..3)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let prefix = format!("hist{t}/");
                let mut r =
                    linearizable_history::<u64, _>(&store, &prefix, 4, ops_per_worker, 2).await;
                let s = linearizable_history::<String, _>(&store, &prefix, 4, 12, 1).await;
                r.merge(&s);
                r
            })
        })
        .collect();
    let mut report = HistoryReport::default();
    for task in tasks {
        report.merge(&task.await.expect("no history was rejected"));
    }
    print(what, &report, started);
    let asked = 3 * 4 * (ops_per_worker as u64 + 12);
    if report.commits == 0 {
        assert_eq!(report.ops + report.left_out, asked);
    } else {
        // A commit uses up an operation of each of its keys.
        assert!(report.ops + report.left_out <= asked && report.ops >= asked / 3);
    }
    assert_eq!(report.left_out, 0, "no operation failed");
    assert!(report.concurrent > 0);
    report
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_histories() {
    use optimist::sqlite::{SqliteOptions, SqliteStore};
    let path = std::env::temp_dir().join(format!("{}.db", common::unique_name("optimist_history")));
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect("open");
    backend_histories("sqlite", store, scaled(36)).await;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn postgres_histories() {
    use optimist::postgres::{PostgresOptions, PostgresStore};
    let Some(url) = common::env_url("OPTIMIST_PG_URL") else {
        return;
    };
    let table = common::unique_name("optimist_history");
    let store = PostgresStore::connect(&url, PostgresOptions::default().table(&table))
        .await
        .expect("connect");
    let drop_sql = format!(
        "DROP TABLE IF EXISTS \"{table}\"; DROP SEQUENCE IF EXISTS \"{}\";",
        store.sequence()
    );
    let result = tokio::spawn(backend_histories("postgres", store, scaled(36))).await;
    let (admin, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("admin connection");
    tokio::spawn(connection);
    admin
        .batch_execute(&drop_sql)
        .await
        .expect("drop the test table");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn redis_histories() {
    use optimist::redis::{RedisOptions, RedisStore};
    let Some(url) = common::env_url("OPTIMIST_REDIS_URL") else {
        return;
    };
    let prefix = common::unique_name("optimist_history");
    let store = RedisStore::connect(&url, RedisOptions::default().prefix(prefix.clone()))
        .await
        .expect("connect");
    let result = tokio::spawn(backend_histories("redis", store, scaled(36))).await;
    // Delete this test's keys (never FLUSHALL: the server is shared).
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("cleanup connection");
    let pattern = format!("{prefix}:*");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .expect("SCAN");
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(&keys)
                .query_async(&mut conn)
                .await
                .expect("DEL");
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    if let Err(panic) = result {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// The toy store's metadata of a write of `version` (its clock is not under test).
fn written(version: Version) -> Meta {
    Meta {
        version,
        last_modified: std::time::SystemTime::now(),
    }
}
