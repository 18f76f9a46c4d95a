//! The SQLite backend: the conformance kit, races within one store and between two stores
//! on the same file, durability and no ABA across reopening, keys, names, paths, lock
//! timeouts and codec errors. Needs no server: every test uses its own temporary file,
//! removed at the end (also when the test fails).
#![cfg(all(feature = "sqlite", feature = "testkit"))]

mod common;

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::commits;
use optimist::sqlite::{SqliteError, SqliteOptions, SqliteStore};
use optimist::testkit::{Kit, KitReport, run_all, unique_prefix};
use optimist::{
    Applied, Commit, ConflictKind, Expect, ListPage, ListRequest, RetryPolicy, SharedStore,
    StoreError, Version, Versioned, VersionedStore, update_with,
};

/// A database path under the temp directory, unique to the test; the file and its WAL
/// companions are removed on drop.
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new(tag: &str) -> Self {
        let name = common::unique_name(&format!("optimist_sqlite_{tag}"));
        Self {
            path: std::env::temp_dir().join(format!("{name}.db")),
        }
    }

    async fn open(&self) -> SqliteStore {
        self.open_with(SqliteOptions::default()).await
    }

    async fn open_with(&self, options: SqliteOptions) -> SqliteStore {
        SqliteStore::open(&self.path, options)
            .await
            .unwrap_or_else(|e| panic!("open {:?}: {e}", self.path))
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The `SqliteError` behind a store error.
fn sqlite_source(err: &StoreError) -> &SqliteError {
    let source = match err {
        StoreError::Backend { source }
        | StoreError::Unavailable { source }
        | StoreError::Indeterminate { source, .. } => source,
        other => panic!("expected an error with a SqliteError source, got {other:?}"),
    };
    source
        .downcast_ref::<SqliteError>()
        .unwrap_or_else(|| panic!("source is not a SqliteError: {source:?}"))
}

/// Spawns `f(store, i)` for every `i` in `0..n`, each on a task of its own with its own
/// handle of `store`.
fn spawn_each<T, Fut>(
    store: &Arc<SqliteStore>,
    n: u64,
    f: impl Fn(Arc<SqliteStore>, u64) -> Fut,
) -> Vec<tokio::task::JoinHandle<T>>
where
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    (0..n)
        .map(|i| tokio::spawn(f(Arc::clone(store), i)))
        .collect()
}

#[test]
fn store_is_shareable() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<SqliteStore>();
    fn assert_send<F: Send>(_: &F) {}
    let store: Option<SqliteStore> = None;
    if let Some(store) = &store {
        assert_send(&VersionedStore::<u64>::get(store, "k"));
        assert_send(&store.put("k", 1u64, Expect::Any));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_kit_for_u64() {
    let db = TempDb::new("kit_u64");
    let store = Arc::new(db.open().await);
    let report = run_all::<u64, _>(&store, &unique_prefix("sqlite")).await;
    every_check_ran("u64", &report);
}

/// The store has every capability, so the kit skips nothing (commits and listing included).
fn every_check_ran(what: &str, report: &KitReport) {
    eprintln!("{what}: {report}");
    let skipped: Vec<_> = report.checks.iter().filter(|c| c.skipped).collect();
    assert!(skipped.is_empty(), "{what}: skipped {skipped:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passes_the_kit_for_json_also_as_a_shared_dyn_store() {
    let db = TempDb::new("kit_json");
    let store = Arc::new(
        db.open_with(SqliteOptions::default().table("json_docs"))
            .await,
    );
    every_check_ran(
        "json",
        &run_all::<serde_json::Value, _>(&store, "static/").await,
    );
    let shared: SharedStore<serde_json::Value> = store;
    every_check_ran(
        "json, dyn",
        &run_all::<serde_json::Value, _>(&Arc::new(shared), "dyn/").await,
    );
}

/// The kit's concurrent checks block their caller's thread, which a current-thread runtime
/// cannot spare: there, it runs the checks that need no threads.
#[tokio::test(flavor = "current_thread")]
async fn passes_the_kit_without_threads_on_a_current_thread_runtime() {
    let db = TempDb::new("kit_current");
    let store = Arc::new(db.open_with(SqliteOptions::default().max_readers(1)).await);
    Kit::new(&store)
        .prefix("s/")
        .without_threads()
        .run::<String>()
        .await;
}

/// `tasks` tokio tasks, spread over `stores`, each do `per_task` read-modify-CAS increments
/// of one counter; the counter ends at `tasks * per_task` and the acknowledged writes, by
/// version, are exactly 1, 2, ..., n (no lost update, no version reused).
async fn race(stores: &[SqliteStore], key: &str, tasks: usize, per_task: u64) {
    let policy =
        RetryPolicy::new(10_000).backoff(Duration::from_micros(50), Duration::from_millis(5));
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = stores[t % stores.len()].clone();
            let (key, policy) = (key.to_owned(), policy.clone());
            tokio::spawn(async move {
                let mut writes = Vec::new();
                for i in 0..per_task {
                    let mut written = 0;
                    let updated =
                        update_with(&store, &key, &policy, |cur: Option<&Versioned<u64>>| {
                            written = cur.map_or(0, |c| c.value) + 1;
                            Ok::<_, Infallible>(written)
                        })
                        .await
                        .unwrap_or_else(|e| panic!("task {t}: increment {i}: {e}"));
                    writes.push((updated.meta.version, written));
                }
                writes
            })
        })
        .collect();
    let mut chain = Vec::new();
    for handle in handles {
        chain.extend(handle.await.expect("task panicked"));
    }
    chain.sort();
    let total = tasks as u64 * per_task;
    let values: Vec<u64> = chain.iter().map(|&(_, v)| v).collect();
    assert_eq!(
        values,
        (1..=total).collect::<Vec<_>>(),
        "writes by version form the chain 1..=n"
    );
    assert!(
        chain.windows(2).all(|w| w[0].0 < w[1].0),
        "versions are unique"
    );
    for store in stores {
        let stored: Versioned<u64> = store.get(key).await.unwrap().expect("counter exists");
        assert_eq!(stored.value, total);
        assert_eq!(Some(stored.version), chain.last().map(|c| c.0));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_stores_open_a_new_file_at_once() {
    let db = TempDb::new("open_at_once");
    let opens = (0..6).map(|_| {
        let path = db.path.clone();
        tokio::spawn(async move { SqliteStore::open(path, SqliteOptions::default()).await })
    });
    let mut stores = Vec::new();
    for open in opens.collect::<Vec<_>>() {
        stores.push(open.await.unwrap().expect("every concurrent open succeeds"));
    }
    let mut versions = Vec::new();
    for (i, store) in stores.iter().enumerate() {
        versions.push(
            store
                .put(&format!("k{i}"), i as u64, Expect::Absent)
                .await
                .unwrap()
                .version,
        );
    }
    versions.dedup();
    assert_eq!(
        versions.len(),
        stores.len(),
        "one counter for all: versions unique"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_tasks_race_to_exactly_200() {
    let db = TempDb::new("race");
    let store = db.open().await;
    race(&[store], "counter", 8, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_the_same_file_race_to_exactly_200() {
    let db = TempDb::new("race_two");
    // The two stores meet at the file's write lock: BEGIN IMMEDIATE waits for it up to
    // the busy timeout, so no write is refused for busy and none is lost.
    // Opened at the same time on a new file: switching it to WAL and creating the schema
    // happen once, under the lock, whichever store comes first.
    let (a, b) = tokio::join!(db.open(), db.open());
    race(&[a.clone(), b.clone()], "shared counter", 8, 25).await;
    // Each sees the other's writes at once, and versions stay unique across both.
    let va = a.put("x", 1u64, Expect::Absent).await.unwrap().version;
    let err = b.put("x", 2u64, Expect::Absent).await.unwrap_err();
    assert_eq!(err.as_conflict().unwrap().current(), Some(va));
    let vb = b.put("x", 2u64, Expect::Version(va)).await.unwrap().version;
    assert!(vb > va);
}

/// A read with no write in flight runs on the store's writer connection, whose page cache
/// holds the store's own last write: it must still see what another store (another
/// connection) wrote to the file since, for `get`, `head` and `list` alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_after_own_writes_see_another_stores_later_writes() {
    let db = TempDb::new("read_other");
    let (a, b) = (db.open().await, db.open().await);
    let mut version = a.put("k", 1u64, Expect::Absent).await.unwrap().version;
    for n in 2..=20u64 {
        let read: Versioned<u64> = a.get("k").await.unwrap().expect("written");
        assert_eq!((read.value, read.version), (n - 1, version));
        // `b` writes; `a` wrote last on its own connection, and has no write in flight.
        version = b
            .put("k", n, Expect::Version(version))
            .await
            .unwrap()
            .version;
        let read: Versioned<u64> = a.get("k").await.unwrap().expect("written");
        assert_eq!((read.value, read.version), (n, version));
        let meta = VersionedStore::<u64>::head(&a, "k").await.unwrap().unwrap();
        assert_eq!(meta.version, version);
        let page: ListPage<u64> = a.list(ListRequest::prefix("k")).await.unwrap();
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].meta.version, version);
        // And `a` writes on top of it, so its writer connection's cache changes again.
        version = a
            .put("k", n, Expect::Version(version))
            .await
            .unwrap()
            .version;
    }
    VersionedStore::<u64>::delete(&b, "k", Expect::Version(version))
        .await
        .unwrap();
    assert!(VersionedStore::<u64>::get(&a, "k").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_keeps_data_and_never_reuses_versions() {
    let db = TempDb::new("reopen");
    let (kept, highest) = {
        let store = db.open().await;
        let v1 = store
            .put("kept", 1u64, Expect::Absent)
            .await
            .unwrap()
            .version;
        let v2 = store
            .put("kept", 2u64, Expect::Version(v1))
            .await
            .unwrap()
            .version;
        let vd = store
            .put("deleted", 9u64, Expect::Absent)
            .await
            .unwrap()
            .version;
        assert_eq!(
            VersionedStore::<u64>::delete(&store, "deleted", Expect::Version(vd))
                .await
                .unwrap(),
            Some(vd)
        );
        // The highest version handed out belongs to a key that no longer exists, so only
        // the counter table remembers it.
        assert!(vd > v2);
        (v2, vd)
    }; // the store is dropped: its connections close and the WAL is checkpointed

    assert!(db.path.exists(), "the database file stays");
    let mode: String = rusqlite::Connection::open(&db.path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal", "the file stays in WAL mode");
    let store = db.open().await;
    let read: Versioned<u64> = store.get("kept").await.unwrap().expect("kept survives");
    assert_eq!((read.value, read.version), (2, kept));
    assert!(
        VersionedStore::<u64>::get(&store, "deleted")
            .await
            .unwrap()
            .is_none()
    );

    let recreated = store
        .put("deleted", 1u64, Expect::Absent)
        .await
        .unwrap()
        .version;
    assert!(
        recreated > highest,
        "{recreated} > {highest}: no version reused after reopening"
    );
    let stale = Expect::Version(highest);
    let err = store.put("deleted", 5u64, stale.clone()).await.unwrap_err();
    let c = err
        .as_conflict()
        .expect("an old incarnation's version conflicts");
    assert_eq!(
        (c.kind(), c.current()),
        (ConflictKind::Stale, Some(recreated))
    );
    let updated = store
        .put("kept", 3u64, Expect::Version(kept))
        .await
        .unwrap()
        .version;
    assert!(updated > recreated);

    // And once more, with two stores open at the same time (one syncing every commit).
    let other = db.open_with(SqliteOptions::default().full_sync(true)).await;
    let v = other
        .put("kept", 4u64, Expect::Version(updated))
        .await
        .unwrap()
        .version;
    assert!(v > updated);
    assert_eq!(
        VersionedStore::<u64>::head(&store, "kept")
            .await
            .unwrap()
            .unwrap()
            .version,
        v
    );
}

#[tokio::test(flavor = "current_thread")]
async fn invalid_table_names_are_rejected_before_touching_the_file() {
    let db = TempDb::new("names");
    let long = "t".repeat(64);
    for bad in [
        "",
        "1table",
        "a-b",
        "a b",
        "t; DROP TABLE x",
        "t\"",
        "é",
        "sqlite_master",
        &long,
    ] {
        let err = SqliteStore::open(&db.path, SqliteOptions::default().table(bad))
            .await
            .expect_err(bad);
        assert!(
            matches!(err, StoreError::Backend { .. }),
            "{bad:?}: {err:?}"
        );
        assert!(
            matches!(sqlite_source(&err), SqliteError::InvalidTableName { name } if name == bad),
            "{bad:?}: {err:?}"
        );
        assert!(err.to_string().contains("invalid table name"), "{err}");
    }
    assert!(!db.path.exists(), "no file created for an invalid name");
    let store = db
        .open_with(SqliteOptions::default().table(&*"T_9".repeat(21)))
        .await;
    assert_eq!(store.table().len(), 63);
    store.put("k", 1u64, Expect::Absent).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_missing_directory_is_a_clear_error() {
    let dir = std::env::temp_dir().join(common::unique_name("optimist_sqlite_nodir"));
    let path = dir.join("sub").join("store.db");
    let started = Instant::now();
    let err = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .expect_err("the directory does not exist");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(matches!(
        sqlite_source(&err),
        SqliteError::MissingDirectory { .. }
    ));
    let message = err.to_string();
    assert!(
        message.contains("does not exist") && message.contains("store.db"),
        "{message}"
    );
    assert!(!dir.exists());

    for bad in ["", ":memory:"] {
        let err = SqliteStore::open(bad, SqliteOptions::default())
            .await
            .expect_err(bad);
        assert!(
            matches!(sqlite_source(&err), SqliteError::InvalidPath { .. }),
            "{err:?}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_file_that_is_not_a_database_or_a_foreign_table_is_a_backend_error() {
    let db = TempDb::new("garbage");
    std::fs::write(&db.path, vec![b'x'; 8192]).unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(
        matches!(sqlite_source(&err), SqliteError::Open { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not a database"), "{err}");

    let db = TempDb::new("foreign");
    rusqlite::Connection::open(&db.path)
        .unwrap()
        .execute_batch("CREATE TABLE optimist (x INTEGER)")
        .unwrap();
    let err = SqliteStore::open(&db.path, SqliteOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weird_keys_including_nul_round_trip() {
    let db = TempDb::new("keys");
    let store = db.open().await;
    let keys = [
        "",
        "\0",
        "nul",
        "nul\0",
        "nul\0inside",
        "nul\0inside\0",
        "'; DROP TABLE optimist; --",
        "\u{10FFFF}\u{FEFF}",
        "%",
        "_",
    ];
    let mut versions = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        versions.push(
            store
                .put(key, i as u64, Expect::Absent)
                .await
                .unwrap_or_else(|e| panic!("{key:?}: {e}"))
                .version,
        );
    }
    for (i, key) in keys.iter().enumerate() {
        let read: Versioned<u64> = store
            .get(key)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key:?} missing"));
        assert_eq!(
            (read.value, read.version),
            (i as u64, versions[i]),
            "{key:?}"
        );
        let head = VersionedStore::<u64>::head(&store, key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(head.version, versions[i]);
        versions[i] = store
            .put(key, i as u64 + 100, Expect::Version(versions[i]))
            .await
            .unwrap()
            .version;
    }
    // Every key is its own row: nothing was cut at a NUL or matched as a pattern.
    let rows: i64 = rusqlite::Connection::open(&db.path)
        .unwrap()
        .query_row("SELECT count(*) FROM optimist", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, keys.len() as i64);
    for (i, key) in keys.iter().enumerate() {
        let removed = VersionedStore::<u64>::delete(&store, key, Expect::Version(versions[i]))
            .await
            .unwrap();
        assert_eq!(removed, Some(versions[i]), "{key:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_write_lock_gives_unavailable_in_bounded_time_and_reads_go_on() {
    let db = TempDb::new("busy");
    let timeout = Duration::from_millis(300);
    let store = db
        .open_with(SqliteOptions::default().busy_timeout(timeout))
        .await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;

    // Another connection (as another process would) takes the write lock and keeps it.
    let blocker = rusqlite::Connection::open(&db.path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    let started = Instant::now();
    let err = store.put("k", 2u64, Expect::Version(v1)).await.unwrap_err();
    let waited = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        matches!(sqlite_source(&err), SqliteError::Busy { .. }),
        "{err:?}"
    );
    assert!(
        waited >= timeout / 2 && waited < Duration::from_secs(3),
        "waited {waited:?}"
    );
    let err = VersionedStore::<u64>::delete(&store, "k", Expect::Any)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");

    // Reads do not wait for the lock (WAL): they see the last committed state. (Had they
    // waited, they would have failed with Busy after the same 300 ms.)
    for _ in 0..3 {
        let read: Versioned<u64> = store.get("k").await.unwrap().unwrap();
        assert_eq!((read.value, read.version), (1, v1));
    }

    blocker.execute_batch("ROLLBACK").unwrap();
    let v2 = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .expect("works once the lock is free")
        .version;
    assert!(v2 > v1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_of_another_type_is_a_codec_error() {
    let db = TempDb::new("codec");
    let store = db.open().await;
    let v = store
        .put("k", "not a number".to_string(), Expect::Absent)
        .await
        .unwrap()
        .version;
    match VersionedStore::<u64>::get(&store, "k").await {
        Err(StoreError::Codec { key, .. }) => assert_eq!(key, "k"),
        other => panic!("expected a codec error, got {other:?}"),
    }
    // Head does not decode the value.
    assert_eq!(
        VersionedStore::<u64>::head(&store, "k")
            .await
            .unwrap()
            .unwrap()
            .version,
        v
    );
    // A value serde_json refuses to encode is refused before anything is written.
    let mut bad = std::collections::HashMap::new();
    bad.insert(vec![1u8], 1u8); // non-string map keys are not JSON
    let err = store.put("bad", bad, Expect::Any).await.unwrap_err();
    assert!(matches!(err, StoreError::Codec { .. }), "{err:?}");
    assert!(
        VersionedStore::<u64>::head(&store, "bad")
            .await
            .unwrap()
            .is_none()
    );
}

#[test]
fn outside_a_tokio_runtime_the_error_says_so() {
    let db = TempDb::new("noruntime");
    let err = futures_executor::block_on(SqliteStore::open(&db.path, SqliteOptions::default()))
        .unwrap_err();
    assert!(
        matches!(sqlite_source(&err), SqliteError::NoRuntime),
        "{err:?}"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = rt.block_on(db.open());
    let v: Version = rt
        .block_on(store.put("k", 1u64, Expect::Absent))
        .unwrap()
        .version;
    let err = futures_executor::block_on(VersionedStore::<u64>::get(&store, "k")).unwrap_err();
    assert!(
        matches!(sqlite_source(&err), SqliteError::NoRuntime),
        "{err:?}"
    );
    let head = rt
        .block_on(VersionedStore::<u64>::head(&store, "k"))
        .unwrap()
        .unwrap();
    assert_eq!(head.version, v);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_is_all_or_nothing_and_names_every_failed_key() {
    let db = TempDb::new("commit");
    let store = db.open().await;
    let caps = VersionedStore::<u64>::capabilities(&store);
    assert_eq!(caps.max_commit_keys, optimist::sqlite::MAX_COMMIT_KEYS);
    assert!(caps.list);
    commits::commit_is_all_or_nothing(&store, "c/").await;
}

/// The smallest refused commit that can hide a key: two failing expectations (one stale,
/// one create-only on a taken key) next to one that holds. Both are named with their
/// current versions, and neither the holding put nor anything else is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_with_two_failing_keys_names_both() {
    let db = TempDb::new("two_fail");
    let store = db.open().await;
    let user = store.put("user:ann", 1u64, Expect::Absent).await.unwrap();
    let user2 = store
        .put("user:ann", 2u64, Expect::Version(user.version))
        .await
        .unwrap();
    let email = store.put("email:a@x", 7u64, Expect::Absent).await.unwrap();
    let refused = Commit::new()
        .put("user:ann", 3u64, Expect::Version(user.version))
        .put("email:a@x", 3u64, Expect::Absent)
        .put("user:bob", 3u64, Expect::Absent);
    let err = store.commit(refused).await.unwrap_err();
    let StoreError::CommitConflict(conflict) = &err else {
        panic!("expected a CommitConflict, got {err:?}");
    };
    let named: Vec<_> = conflict
        .conflicts()
        .iter()
        .map(|c| (c.key(), c.current(), c.kind()))
        .collect();
    assert_eq!(
        named,
        [
            ("user:ann", Some(user2.version), ConflictKind::Stale),
            (
                "email:a@x",
                Some(email.version),
                ConflictKind::AlreadyExists
            ),
        ]
    );
    assert!(err.to_string().contains("user:ann") && err.to_string().contains("email:a@x"));
    let read: Versioned<u64> = store.get("user:ann").await.unwrap().unwrap();
    assert_eq!((read.value, read.version), (2, user2.version));
    assert!(
        VersionedStore::<u64>::head(&store, "user:bob")
            .await
            .unwrap()
            .is_none()
    );
}

/// Commits and single-key writes share the one counter: a commit's versions are fresh,
/// distinct, above everything before, and below everything after, also across reopening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_versions_come_from_the_single_key_counter() {
    let db = TempDb::new("commit_versions");
    let before = {
        let store = db.open().await;
        let before = store.put("a", 0u64, Expect::Absent).await.unwrap().version;
        let applied = store
            .commit(
                Commit::new()
                    .put("a", 1u64, Expect::Version(before))
                    .put("b", 1, Expect::Absent)
                    .delete("c", Expect::Absent),
            )
            .await
            .unwrap();
        let versions: Vec<Version> = applied[..2]
            .iter()
            .map(|a| match a {
                Applied::Put(meta) => meta.version,
                other => panic!("{other:?}"),
            })
            .collect();
        assert!(versions[0] > before && versions[1] > before && versions[0] != versions[1]);
        assert_eq!(applied[2], Applied::Deleted(None));
        versions.into_iter().max().unwrap()
    };
    let store = db.open().await;
    let after = store.put("d", 0u64, Expect::Absent).await.unwrap().version;
    assert!(after > before, "{after:?} after {before:?}");
}

/// Two tasks commit overlapping key sets in opposite orders next to single-key writes: every
/// commit finishes (one write lock per file: they queue) and none is lost or half applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_commits_in_opposite_orders_never_deadlock() {
    let db = TempDb::new("deadlock");
    commits::overlapping_commits_finish(&Arc::new(db.open().await), "d/", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_never_see_half_a_commit() {
    let db = TempDb::new("visible");
    commits::readers_never_see_half_a_commit(&Arc::new(db.open().await), "v/", 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_and_prefix_edges_match_the_model() {
    let db = TempDb::new("list");
    let store = db.open().await;
    commits::list_matches_the_model(&store, "").await;
    commits::list_matches_the_model(&store, "n/%_\\/").await;
}

/// SQLite keys may hold NUL (PostgreSQL's cannot), so prefixes and cursors holding it must
/// list exactly the keys a byte-wise comparison admits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_with_nul_in_keys_prefixes_and_cursors() {
    let db = TempDb::new("list_nul");
    let store = db.open().await;
    let model = optimist::MemoryStore::new();
    let keys = [
        "a", "a\0", "a\0\0", "a\0b", "a\u{1}", "ab", "\0", "\0a", "b",
    ];
    for (i, key) in keys.iter().enumerate() {
        store.put(key, i as u64, Expect::Absent).await.unwrap();
        model.put(key, i as u64, Expect::Absent).await.unwrap();
    }
    for prefix in ["", "a", "a\0", "\0", "a\0b"] {
        for after in [
            None,
            Some(""),
            Some("a"),
            Some("a\0"),
            Some("a\0\0z"),
            Some("\0"),
        ] {
            let mut request = ListRequest::prefix(prefix).limit(2).with_values();
            if let Some(after) = after {
                request = request.after(after);
            }
            let ours: ListPage<u64> = store.list(request.clone()).await.unwrap();
            let want = model.list(request.clone()).await.unwrap();
            let strip = |p: &ListPage<u64>| -> Vec<(String, Option<u64>)> {
                p.entries.iter().map(|e| (e.key.clone(), e.value)).collect()
            };
            assert_eq!(strip(&ours), strip(&want), "{request:?}");
            assert_eq!(ours.next, want.next, "{request:?}");
        }
    }
}

/// A small prefix next to 20,000 other keys (written by commits of the largest size) lists
/// exactly its keys, without values unless asked; a value that does not decode is a codec
/// error naming its key. (That a page is an index range scan, not a table scan, is checked
/// on the query plan in the unit tests of `src/sqlite/list.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_next_to_many_keys_and_undecodable_values() {
    let db = TempDb::new("list_many");
    let store = db.open().await;
    let mut commit = Commit::new();
    for i in 0..20_000u64 {
        commit = commit.put(format!("other/{i:05}"), i, Expect::Any);
        if commit.len() == optimist::sqlite::MAX_COMMIT_KEYS {
            store.commit(std::mem::take(&mut commit)).await.unwrap();
        }
    }
    store.commit(commit).await.unwrap();
    for name in ["x", "y", "z"] {
        store
            .put(&format!("mine/{name}"), 1u64, Expect::Absent)
            .await
            .unwrap();
    }
    let page: ListPage<u64> = store
        .list(ListRequest::prefix("mine/").limit(2))
        .await
        .unwrap();
    let keys: Vec<_> = page.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["mine/x", "mine/y"]);
    assert!(page.entries.iter().all(|e| e.value.is_none()));
    assert_eq!(page.next.as_deref(), Some("mine/y"));
    store
        .put("mine/zz", "text".to_string(), Expect::Absent)
        .await
        .unwrap();
    let err = VersionedStore::<u64>::list(&store, ListRequest::prefix("mine/").with_values())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Codec { key, .. } if key == "mine/zz"),
        "{err:?}"
    );
}

/// The environment variable that makes [`commit_stream_child`] run, naming its database.
const CRASH_CHILD_DB: &str = "OPTIMIST_SQLITE_CRASH_CHILD_DB";
/// Keys per commit of the crash test: enough that a kill often lands inside a commit.
const CRASH_KEYS: usize = 64;

fn crash_key(i: usize) -> String {
    format!("crash/{i:02}")
}

/// The generation every crash key holds, after checking they all hold the same one (0: none
/// written yet).
async fn crash_generation(store: &SqliteStore) -> u64 {
    let page: ListPage<u64> = store
        .list(ListRequest::prefix("crash/").with_values())
        .await
        .unwrap();
    if page.entries.is_empty() {
        return 0;
    }
    let values: Vec<u64> = page.entries.iter().map(|e| e.value.unwrap()).collect();
    assert_eq!(values.len(), CRASH_KEYS, "a commit was torn: {values:?}");
    assert!(
        values.iter().all(|v| *v == values[0]),
        "a commit was torn: {values:?}"
    );
    values[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_killed_process_leaves_every_commit_whole, as a child process"]
async fn commit_stream_child() {
    let path = std::env::var_os(CRASH_CHILD_DB)
        .unwrap_or_else(|| panic!("run only as a child process (set {CRASH_CHILD_DB})"));
    let store = SqliteStore::open(&path, SqliteOptions::default())
        .await
        .unwrap();
    let mut generation = crash_generation(&store).await;
    let mut versions: Vec<Option<Version>> = Vec::with_capacity(CRASH_KEYS);
    for i in 0..CRASH_KEYS {
        let head = VersionedStore::<u64>::head(&store, &crash_key(i)).await;
        versions.push(head.unwrap().map(|m| m.version));
    }
    loop {
        generation += 1;
        let mut commit = Commit::new();
        for (i, version) in versions.iter().enumerate() {
            let expect = version.map_or(Expect::Absent, Expect::Version);
            commit = commit.put(crash_key(i), generation, expect);
        }
        let applied = store.commit(commit).await.expect("the only writer commits");
        for (slot, applied) in versions.iter_mut().zip(applied) {
            let Applied::Put(meta) = applied else {
                panic!("{applied:?}")
            };
            *slot = Some(meta.version);
        }
        // Only after the commit returned: the parent counts acknowledged generations.
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        writeln!(out, "committed {generation}").unwrap();
        out.flush().unwrap();
    }
}

/// A process streaming 64-key commits is killed (SIGKILL) five times, at different points;
/// after each kill the file is reopened: every key holds the same generation (no commit
/// torn), at least the last one the child acknowledged (none lost), and a new write gets a
/// version above all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_process_leaves_every_commit_whole() {
    use std::io::BufRead as _;
    let db = TempDb::new("crash");
    for run in 0..5u64 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "commit_stream_child", "--ignored", "--nocapture"])
            .env(CRASH_CHILD_DB, &db.path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start the child");
        let stdout = child.stdout.take().unwrap();
        let wanted = 20 + run * 17;
        // The pipe stays open until the child is dead: it must die by the kill, not by
        // writing to a closed pipe.
        let (acked, seen, pipe) = tokio::task::spawn_blocking(move || {
            let (mut acked, mut seen) = (0u64, 0u64);
            let mut pipe = std::io::BufReader::new(stdout);
            let mut line = String::new();
            while seen < wanted {
                line.clear();
                if pipe.read_line(&mut line).expect("child output") == 0 {
                    break;
                }
                if let Some(g) = line.trim_end().strip_prefix("committed ") {
                    acked = g.parse().expect("a generation");
                    seen += 1;
                }
            }
            (acked, seen, pipe)
        })
        .await
        .unwrap();
        assert_eq!(seen, wanted, "run {run}: the child stopped early");
        child.kill().expect("kill the child");
        let status = child.wait().unwrap();
        drop(pipe);
        #[cfg(unix)]
        {
            use std::os::unix::process::ExitStatusExt as _;
            assert_eq!(
                status.signal(),
                Some(9),
                "run {run}: died by the kill: {status}"
            );
        }
        assert!(!status.success(), "run {run}: {status}");

        let store = db.open().await;
        let generation = crash_generation(&store).await;
        assert!(
            generation >= acked,
            "run {run}: generation {acked} was acknowledged, {generation} is stored"
        );
        let mut highest = Version::new(1).unwrap();
        for i in 0..CRASH_KEYS {
            let meta = VersionedStore::<u64>::head(&store, &crash_key(i))
                .await
                .unwrap();
            highest = highest.max(meta.unwrap().version);
        }
        let fresh = store.put("crash-probe", run, Expect::Any).await.unwrap();
        assert!(fresh.version > highest, "run {run}: a version was reused");
        eprintln!("run {run}: acknowledged {acked}, stored {generation}");
    }
}

/// Many writes at once, so the writer thread groups them into shared transactions: the
/// refused ones (create-only on a taken key, a commit with one failing key) are refused
/// with the right current version and write nothing, and do not fail the others, which all
/// apply with versions of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refused_writes_never_fail_the_writes_grouped_with_them() {
    let db = TempDb::new("group");
    let store = Arc::new(db.open().await);
    let taken = store
        .put("taken", 0u64, Expect::Absent)
        .await
        .unwrap()
        .version;
    for round in 0..20u64 {
        let tasks = spawn_each(&store, 24, |store, i| async move {
            let fresh = format!("r{round}/k{i}");
            match i % 3 {
                0 => {
                    let err = store.put("taken", i, Expect::Absent).await.unwrap_err();
                    assert_eq!(err.as_conflict().unwrap().current(), Some(taken));
                    None
                }
                1 => {
                    let commit = Commit::new()
                        .put(fresh.clone(), i, Expect::Absent)
                        .check("taken", Expect::Absent);
                    let err = store.commit(commit).await.unwrap_err();
                    let conflict = err.as_commit_conflict().unwrap();
                    assert_eq!(conflict.conflicts().len(), 1);
                    assert_eq!(conflict.conflicts()[0].current(), Some(taken));
                    let head = VersionedStore::<u64>::head(&*store, &fresh).await;
                    assert!(head.unwrap().is_none(), "{fresh}: a refused commit wrote");
                    None
                }
                _ => Some(store.put(&fresh, i, Expect::Absent).await.unwrap().version),
            }
        });
        let mut versions = Vec::new();
        for task in tasks {
            versions.extend(task.await.unwrap());
        }
        let n = versions.len();
        versions.sort();
        versions.dedup();
        assert_eq!(
            versions.len(),
            n,
            "round {round}: a version was handed out twice"
        );
        assert_eq!(n, 8);
    }
}

/// A write transaction reads the counter once, steps it in memory for each put and writes it
/// back before `COMMIT`: after batches of concurrent puts and commits the counter row holds
/// exactly the highest version handed out, and a second store on the file goes on above it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_puts_leave_the_counter_at_the_highest_version() {
    let db = TempDb::new("counter");
    let store = Arc::new(db.open().await);
    let mut versions = Vec::new();
    for round in 0..10u64 {
        let tasks = spawn_each(&store, 16, |store, i| async move {
            let key = format!("r{round}/k{i}");
            if i % 4 == 0 {
                let commit = Commit::new()
                    .put(format!("{key}/a"), i, Expect::Absent)
                    .put(format!("{key}/b"), i, Expect::Absent);
                let applied = store.commit(commit).await.unwrap();
                applied
                    .iter()
                    .map(|a| match a {
                        Applied::Put(meta) => meta.version,
                        other => panic!("{other:?}"),
                    })
                    .collect::<Vec<Version>>()
            } else {
                vec![store.put(&key, i, Expect::Absent).await.unwrap().version]
            }
        });
        for task in tasks {
            versions.extend(task.await.unwrap());
        }
    }
    let n = versions.len();
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), n, "a version was handed out twice");
    let highest = versions.last().unwrap().get();
    let counter: i64 = rusqlite::Connection::open(&db.path)
        .unwrap()
        .query_row("SELECT next FROM optimist_counter WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(u64::try_from(counter).unwrap(), highest);
    let other = db.open().await;
    let after = other
        .put("after", 0u64, Expect::Absent)
        .await
        .unwrap()
        .version;
    assert!(after.get() > highest, "{after:?} after {highest}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_while_writes_wait_for_the_file_lock_do_not_wait() {
    let db = TempDb::new("divert");
    // A busy timeout far longer than the test: a read that waited for the lock would hang
    // until the blocker lets go, which happens only after the reads below returned.
    let store = Arc::new(
        db.open_with(SqliteOptions::default().busy_timeout(Duration::from_secs(60)))
            .await,
    );
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let blocker = rusqlite::Connection::open(&db.path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();

    // Writes in flight, all waiting for the lock: reads would join them if they could.
    let writers = spawn_each(&store, 3, |store, i| async move {
        store.put(&format!("w{i}"), i, Expect::Absent).await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let readers = spawn_each(&store, 6, |store, i| async move {
        if i % 2 == 0 {
            let read: Versioned<u64> = store.get("k").await.unwrap().unwrap();
            (read.value, read.version)
        } else {
            let meta = VersionedStore::<u64>::head(&*store, "k").await.unwrap();
            (1, meta.unwrap().version)
        }
    });
    for reader in readers {
        let read = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .expect("a read waited for the write lock")
            .unwrap();
        assert_eq!(read, (1, v1));
    }
    assert!(
        writers.iter().all(|w| !w.is_finished()),
        "the writes cannot have got the lock"
    );

    blocker.execute_batch("ROLLBACK").unwrap();
    let mut versions = Vec::new();
    for writer in writers {
        versions.push(
            writer
                .await
                .unwrap()
                .expect("stored once the lock is free")
                .version,
        );
    }
    assert!(versions.iter().all(|v| *v > v1), "{versions:?}");
    // Reads join again once the lock is free: a read right behind a write sees it.
    let (put, read) = tokio::join!(store.put("k", 2u64, Expect::Version(v1)), async {
        tokio::task::yield_now().await;
        VersionedStore::<u64>::head(&*store, "k").await
    });
    let v2 = put.unwrap().version;
    let seen = read.unwrap().unwrap().version;
    assert!(seen == v1 || seen == v2, "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_joining_concurrent_writes_see_every_acknowledged_write() {
    let db = TempDb::new("joined");
    let store = Arc::new(db.open().await);
    let tasks = spawn_each(&store, 8, |store, t| async move {
        let mut last = std::collections::HashMap::new();
        for i in 0..150u64 {
            let key = format!("k{}", (t + i) % 4);
            let meta = store.put(&key, t * 1_000 + i, Expect::Any).await.unwrap();
            // The read runs while the other tasks' writes are in flight, so it mostly
            // joins their batch: it must see this task's write or a later one.
            let read: Versioned<u64> = store.get(&key).await.unwrap().unwrap();
            assert!(read.version >= meta.version, "{key}: {read:?} < {meta:?}");
            if read.version == meta.version {
                assert_eq!(read.value, t * 1_000 + i);
            }
            let seen = last.entry(key.clone()).or_insert(read.version);
            assert!(read.version >= *seen, "{key}: went back");
            *seen = read.version;
            let head = VersionedStore::<u64>::head(&*store, &key).await.unwrap();
            assert!(
                head.unwrap().version >= read.version,
                "{key}: head went back"
            );
        }
    });
    for task in tasks {
        task.await.unwrap();
    }
}
