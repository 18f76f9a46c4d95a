//! The PostgreSQL backend against a real server (`OPTIMIST_PG_URL`, e.g.
//! `postgres://postgres@127.0.0.1:5432/test`): the conformance kit, races between store
//! objects, durability and no-ABA across store objects, keys, schema handling, timeouts, an
//! exhausted pool, an unreachable server, and a connection killed during a CAS.
//!
//! Without `OPTIMIST_PG_URL` the server tests skip loudly; the tests that need no server
//! (invalid table names and keys, unreachable and silent servers) always run. Every test
//! uses a table of its own (`common::unique_name`), dropped at the end, also on failure.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::commits;
use common::postgres::{Cleanup, admin, fresh, get_u64, source_of};
use optimist::postgres::{MAX_KEY_LEN, PostgresError, PostgresOptions, PostgresStore};
use optimist::testkit::{run_all, unique_prefix};
use optimist::{
    ConflictKind, Expect, ListRequest, RetryPolicy, StoreError, Versioned, VersionedStore,
    update_with,
};
use tokio::time::Instant;

const VAR: &str = "OPTIMIST_PG_URL";

/// Waits until a backend of `application_name` waits for a lock, and returns its pid.
///
/// `admin` must not be in a transaction: `pg_stat_activity` is a snapshot per transaction.
async fn lock_waiter(admin: &tokio_postgres::Client, application_name: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event_type = 'Lock' LIMIT 1",
                &[&application_name],
            )
            .await
            .expect("pg_stat_activity");
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(
            Instant::now() < deadline,
            "no backend of {application_name} started waiting for the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until no backend of `application_name` is waiting for a lock any more.
async fn no_lock_waiter(admin: &tokio_postgres::Client, application_name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&application_name],
            )
            .await
            .expect("pg_stat_activity");
        if row.get::<_, i64>(0) == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "a statement of {application_name} still waits for the lock: it was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn passes_the_kit_for_u64() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "kit_u64", PostgresOptions::default()).await;
    run_all::<u64, _>(&Arc::new(store), &unique_prefix("pg")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn passes_the_kit_for_json_and_strings() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "kit_json", PostgresOptions::default()).await;
    let store = Arc::new(store);
    run_all::<serde_json::Value, _>(&store, &unique_prefix("pg-json")).await;
    run_all::<String, _>(&store, &unique_prefix("pg-string")).await;
}

// --- multi-key commits and listing -----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn commit_is_all_or_nothing_and_names_every_failed_key() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "commit", PostgresOptions::default()).await;
    assert_eq!(
        VersionedStore::<u64>::capabilities(&store).max_commit_keys,
        optimist::postgres::MAX_COMMIT_KEYS
    );
    commits::commit_is_all_or_nothing(&store, "c/").await;
}

/// Two tasks commit overlapping key sets in opposite orders, 200 rounds each, next to
/// single-key writes: none deadlocks (a commit runs once: a deadlock PostgreSQL detected
/// would be an error), none is lost or half applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn overlapping_commits_in_opposite_orders_never_deadlock() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let options = PostgresOptions::default().commit_attempts(1);
    let (store, _cleanup) = fresh(&url, &url, "deadlock", options).await;
    commits::overlapping_commits_finish(&Arc::new(store), "d/", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn readers_never_see_half_a_commit() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "visible", PostgresOptions::default()).await;
    commits::readers_never_see_half_a_commit(&Arc::new(store), "v/", 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn listing_pages_and_prefix_edges_match_the_model() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "list", PostgresOptions::default()).await;
    commits::list_matches_the_model(&store, "").await;
    commits::list_matches_the_model(&store, "n/%_\\/").await;
}

/// A page of a prefix is an index range scan that reads the page's rows only: with 20,000
/// keys outside the prefix, listing 3 keys fetches at most those rows and never scans the
/// table (the table's statistics, once the store's connection reported them, say so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn listing_reads_only_the_page_through_the_index() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "listidx", PostgresOptions::default()).await;
    store.migrate().await.unwrap();
    let admin = admin(&url).await;
    let table = store.table().to_owned();
    admin
        .batch_execute(&format!(
            "INSERT INTO \"{table}\" SELECT 'z/' || i, i, '\\x30', now() \
             FROM generate_series(1, 20000) i; \
             INSERT INTO \"{table}\" SELECT 'a/' || i, i, '\\x30', now() \
             FROM generate_series(1, 20000) i; \
             INSERT INTO \"{table}\" SELECT 'm/' || i, i + 1, '\\x30', now() \
             FROM generate_series(0, 4) i; ANALYZE \"{table}\";"
        ))
        .await
        .unwrap();
    let stats = format!(
        "SELECT seq_scan, idx_scan, idx_tup_fetch, n_tup_ins FROM pg_stat_user_tables \
         WHERE relname = '{table}'"
    );
    let snapshot = || async {
        admin
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        let row = admin.query_one(&stats, &[]).await.unwrap();
        let n = |i| row.get::<_, i64>(i);
        (n(0), n(1), n(2), n(3))
    };
    // The writers' backends report their statistics (all at once) when idle: once the
    // inserts are counted, whatever else they did is too.
    let deadline = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let now = snapshot().await;
        if now.3 == 40_005 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the insert statistics never arrived: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // A store of its own, so its connection does nothing but list.
    let lister = PostgresStore::connect(&url, store.options().clone())
        .await
        .unwrap();
    let mut listed = 0;
    for request in [
        ListRequest::prefix("m/").limit(3),
        ListRequest::prefix("m/").limit(3).after("m/2"),
    ] {
        let page = VersionedStore::<u64>::list(&lister, request).await.unwrap();
        listed += page.entries.len() as i64;
    }
    assert_eq!(listed, 5);
    // Its connection closing makes its backend report at once.
    drop(lister);
    let deadline = Instant::now() + Duration::from_secs(60);
    let after = loop {
        let now = snapshot().await;
        if now.1 >= before.1 + 2 {
            break now;
        }
        assert!(
            Instant::now() < deadline,
            "the listing statistics never arrived"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(after.0, before.0, "a listing scanned the whole table");
    assert_eq!(after.1, before.1 + 2, "one index scan per page");
    assert!(
        after.2 - before.2 <= listed,
        "the pages fetched {} rows for {listed} keys",
        after.2 - before.2
    );
}

// --- races, durability, no ABA ----------------------------------------------------------------

/// 8 tokio tasks x 25 increments through `update_with`, split over two store objects (two
/// pools) on one table, end at exactly 200, and the successful writes sorted by version are
/// the chain 1, 2, ..., 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn two_store_objects_race_to_exactly_200() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (a, _cleanup) = fresh(&url, &url, "race", PostgresOptions::default().max_size(4)).await;
    let b = PostgresStore::connect(&url, a.options().clone())
        .await
        .expect("second store");
    let key = "race/counter";
    let policy = RetryPolicy::new(10_000)
        .backoff(Duration::from_micros(100), Duration::from_millis(10))
        .sleep_with(|d| Box::pin(tokio::time::sleep(d)));
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = if t % 2 == 0 { a.clone() } else { b.clone() };
            let policy = policy.clone();
            tokio::spawn(async move {
                let mut writes = Vec::new();
                for _ in 0..25 {
                    let mut written = 0;
                    let updated = update_with(&store, key, &policy, |current| {
                        written = current.map_or(0, |c: &Versioned<u64>| c.value) + 1;
                        Ok::<_, Infallible>(written)
                    })
                    .await
                    .expect("increment");
                    writes.push((updated.meta.version, written));
                }
                writes
            })
        })
        .collect();
    let mut chain = Vec::new();
    for task in tasks {
        chain.extend(task.await.expect("task"));
    }
    chain.sort();
    let values: Vec<u64> = chain.iter().map(|w| w.1).collect();
    assert_eq!(
        values,
        (1..=200).collect::<Vec<_>>(),
        "no lost or duplicated update"
    );
    assert!(chain.windows(2).all(|w| w[0].0 < w[1].0), "versions unique");
    assert_eq!(get_u64(&a, key).await, Some((200, chain[199].0)));
    assert_eq!(get_u64(&b, key).await, Some((200, chain[199].0)));
}

/// A second store object on the same table sees the same data, and versions continue from
/// the shared sequence: delete + re-create through another object never reuses a version,
/// and a new object after both are gone (a "restart") continues above them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn second_store_object_sees_the_data_and_never_reuses_versions() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (a, _cleanup) = fresh(&url, &url, "reopen", PostgresOptions::default()).await;
    let b = PostgresStore::connect(&url, a.options().clone())
        .await
        .expect("second store");
    let before = SystemTime::now() - Duration::from_secs(5);
    let va = a
        .put("k", 1u64, Expect::Absent)
        .await
        .expect("create via a")
        .version;
    assert_eq!(get_u64(&b, "k").await, Some((1, va)), "b sees a's write");
    assert_eq!(
        VersionedStore::<u64>::delete(&b, "k", Expect::Version(va))
            .await
            .expect("delete via b"),
        Some(va)
    );
    let vb = b
        .put("k", 2u64, Expect::Absent)
        .await
        .expect("re-create via b")
        .version;
    assert!(vb > va, "re-created key gets a new, larger version");
    let stale = Expect::Version(va);
    let err = a
        .put("k", 3u64, stale.clone())
        .await
        .expect_err("old incarnation");
    let conflict = err.as_conflict().expect("a conflict");
    assert_eq!(conflict.kind(), ConflictKind::Stale);
    assert_eq!(conflict.current(), Some(vb));
    let meta = VersionedStore::<u64>::head(&a, "k")
        .await
        .expect("head")
        .expect("exists");
    assert_eq!(meta.version, vb);
    assert!(
        meta.last_modified > before
            && meta.last_modified < SystemTime::now() + Duration::from_secs(5),
        "last_modified comes from the server's clock: {:?}",
        meta.last_modified
    );
    let options = a.options().clone();
    drop((a, b));
    let c = PostgresStore::connect(&url, options)
        .await
        .expect("third store");
    assert_eq!(
        get_u64(&c, "k").await,
        Some((2, vb)),
        "the data survived its writers"
    );
    let vc = c
        .put("k", 4u64, Expect::Any)
        .await
        .expect("write via c")
        .version;
    assert!(vc > vb);
    let later = VersionedStore::<u64>::head(&c, "k").await.unwrap().unwrap();
    assert!(later.last_modified >= meta.last_modified);
    c.drop_schema().await.expect("drop_schema");
    let admin = admin(&url).await;
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname IN ($1, $2)",
            &[&c.table(), &c.sequence()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "drop_schema drops the table and the sequence");
}

// --- keys, values, table names ----------------------------------------------------------------

#[tokio::test]
async fn keys_postgres_cannot_hold_are_invalid_without_a_server() {
    // Port 1: if anything were sent, this would be Unavailable, not InvalidKey.
    let store = PostgresStore::connect(
        "postgres://postgres@127.0.0.1:1/test",
        PostgresOptions::default(),
    )
    .await
    .expect("connect does no I/O");
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    for key in ["nul\0inside", "\0", too_long.as_str()] {
        let put = store.put(key, 1u64, Expect::Any).await.map(|m| m.version);
        assert!(
            matches!(put, Err(StoreError::InvalidKey { .. })),
            "put {key:?}: {put:?}"
        );
        let get = VersionedStore::<u64>::get(&store, key).await;
        assert!(
            matches!(get, Err(StoreError::InvalidKey { .. })),
            "get: {get:?}"
        );
        let head = VersionedStore::<u64>::head(&store, key).await;
        assert!(
            matches!(head, Err(StoreError::InvalidKey { .. })),
            "head: {head:?}"
        );
        let delete = VersionedStore::<u64>::delete(&store, key, Expect::Any).await;
        assert!(
            matches!(delete, Err(StoreError::InvalidKey { .. })),
            "delete: {delete:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn longest_key_sql_lookalikes_and_codec_errors() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "keys", PostgresOptions::default()).await;
    // Multi-byte characters up to exactly MAX_KEY_LEN bytes.
    let longest = format!("{}{}", "é".repeat(MAX_KEY_LEN / 2 - 1), "xy");
    assert_eq!(longest.len(), MAX_KEY_LEN);
    let injection = format!("x'); DROP TABLE \"{}\"; --", store.table());
    for key in [longest.as_str(), injection.as_str(), "", "$1", "%", "\\x00"] {
        let v = store
            .put(key, 7u64, Expect::Absent)
            .await
            .expect("put")
            .version;
        assert_eq!(get_u64(&store, key).await, Some((7, v)), "{key:?}");
        assert_eq!(
            VersionedStore::<u64>::delete(&store, key, Expect::Version(v))
                .await
                .unwrap(),
            Some(v)
        );
    }
    // A value that is not a u64: head does not decode values, get reports a codec error.
    let v = store
        .put("text", serde_json::json!("not a number"), Expect::Any)
        .await
        .unwrap()
        .version;
    let meta = VersionedStore::<u64>::head(&store, "text")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.version, v);
    let err = VersionedStore::<u64>::get(&store, "text")
        .await
        .expect_err("codec");
    assert!(
        matches!(&err, StoreError::Codec { key, .. } if key == "text"),
        "{err:?}"
    );
    // NUL inside the value is fine: values are bytes (BYTEA), not JSONB.
    let nul = "a\u{0}b".to_string();
    let v = store
        .put("nul-value", nul.clone(), Expect::Any)
        .await
        .unwrap()
        .version;
    let read: Versioned<String> = store.get("nul-value").await.unwrap().unwrap();
    assert_eq!((read.value, read.version), (nul, v));
}

#[tokio::test]
async fn invalid_table_names_and_urls_are_rejected() {
    let url = "postgres://postgres@127.0.0.1:5432/test";
    let long = "t".repeat(64);
    for name in [
        "",
        "1table",
        "has-dash",
        "has space",
        "semi;colon",
        "quo\"te",
        "dot.ted",
        "ünicode",
        "x; DROP TABLE y",
        long.as_str(),
    ] {
        let err = PostgresStore::connect(url, PostgresOptions::default().table(name))
            .await
            .expect_err(name);
        match source_of(&err) {
            Some(PostgresError::InvalidTableName { name: n }) if n == name => {}
            other => panic!("{name:?}: expected InvalidTableName, got {err:?} ({other:?})"),
        }
        assert!(matches!(err, StoreError::Backend { .. }));
        assert!(err.to_string().contains("invalid table name"), "{err}");
    }
    let err = PostgresStore::connect("postgres://[broken", PostgresOptions::default())
        .await
        .expect_err("bad URL");
    assert!(
        matches!(source_of(&err), Some(PostgresError::Url(_))),
        "{err:?}"
    );
}

/// The longest valid table name works; its sequence name is shortened with a hash.
#[tokio::test]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn longest_table_name_works() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let base = common::unique_name("t");
    let name = format!("{base}{}", "x".repeat(63 - base.len()));
    let store = PostgresStore::connect(&url, PostgresOptions::default().table(&name))
        .await
        .expect("63 characters are fine");
    let _cleanup = Cleanup::dropping(&url, &name, store.sequence());
    assert!(store.sequence().len() <= 63);
    let v = store
        .put("k", 1u64, Expect::Absent)
        .await
        .expect("put")
        .version;
    assert_eq!(get_u64(&store, "k").await, Some((1, v)));
}

// --- schema -----------------------------------------------------------------------------------

/// Without `create_schema`, a missing table is a Backend error; `migrate` from several
/// store objects at once (separate pools, like separate processes) is safe and idempotent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn migrate_is_explicit_concurrent_and_idempotent() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (first, _cleanup) = fresh(
        &url,
        &url,
        "migrate",
        PostgresOptions::default().create_schema(false),
    )
    .await;
    let err = VersionedStore::<u64>::get(&first, "k")
        .await
        .expect_err("no table yet");
    match source_of(&err) {
        Some(PostgresError::Sql(e)) => assert_eq!(e.code().map(|c| c.code()), Some("42P01")),
        other => panic!("expected an undefined_table SQL error, got {err:?} ({other:?})"),
    }
    assert!(matches!(err, StoreError::Backend { .. }));
    let mut stores = vec![first];
    for _ in 0..5 {
        let store = PostgresStore::connect(&url, stores[0].options().clone())
            .await
            .unwrap();
        stores.push(store);
    }
    let runs = stores.iter().map(|s| async move {
        s.migrate().await?;
        s.migrate().await
    });
    for result in futures_util::future::join_all(runs).await {
        result.expect("concurrent migrate");
    }
    assert_eq!(get_u64(&stores[3], "k").await, None);
    let v = stores[1]
        .put("k", 1u64, Expect::Absent)
        .await
        .unwrap()
        .version;
    assert_eq!(get_u64(&stores[5], "k").await, Some((1, v)));
}

// --- unavailable ------------------------------------------------------------------------------

/// Nothing listens on 127.0.0.1:1: every operation is Unavailable at once, never a hang.
#[tokio::test]
async fn unreachable_server_is_unavailable_quickly() {
    let store = PostgresStore::connect(
        "postgres://postgres@127.0.0.1:1/test",
        PostgresOptions::default().connect_timeout(Duration::from_secs(2)),
    )
    .await
    .expect("connect does no I/O");
    let started = Instant::now();
    let results = [
        store.migrate().await.map(|_| ()),
        VersionedStore::<u64>::get(&store, "k").await.map(|_| ()),
        store.put("k", 1u64, Expect::Any).await.map(|_| ()),
        VersionedStore::<u64>::delete(&store, "k", Expect::Any)
            .await
            .map(|_| ()),
    ];
    for result in results {
        let err = result.expect_err("unreachable");
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
        assert!(
            matches!(source_of(&err), Some(PostgresError::Connect(_))),
            "{err:?}"
        );
        eprintln!("unreachable: {err}");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// A server that accepts TCP connections but never answers: the connect timeout turns it
/// into Unavailable.
#[tokio::test]
async fn silent_server_is_unavailable_after_the_connect_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // accept, never answer
        }
    });
    let store = PostgresStore::connect(
        &format!("postgres://postgres@127.0.0.1:{port}/test"),
        PostgresOptions::default().connect_timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap();
    let started = Instant::now();
    let err = store
        .put("k", 1u64, Expect::Any)
        .await
        .expect_err("silent server");
    let elapsed = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        matches!(
            source_of(&err),
            Some(PostgresError::ConnectTimeout(_) | PostgresError::Connect(_))
        ),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    eprintln!("silent server after {elapsed:?}: {err}");
    holder.abort();
}

/// With a pool of one connection that is busy (a write blocked on a row lock), another
/// operation is Unavailable after the wait timeout; the blocked write completes afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn exhausted_pool_is_unavailable_after_the_wait_timeout() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let app = common::unique_name("optimist_pool");
    let options = PostgresOptions::default()
        .max_size(1)
        .wait_timeout(Duration::from_millis(200))
        .statement_timeout(Duration::from_secs(20))
        .application_name(&app);
    let (store, _cleanup) = fresh(&url, &url, "pool", options).await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let observer = admin(&url).await;
    let mut admin = admin(&url).await;
    let tx = admin.transaction().await.unwrap();
    let lock = format!(
        "SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE",
        store.table()
    );
    tx.query_one(&lock, &[&"k"]).await.unwrap();
    let blocked = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .put("k", 2u64, Expect::Version(v1))
                .await
                .map(|m| m.version)
        }
    });
    lock_waiter(&observer, &app).await;
    let started = Instant::now();
    let err = VersionedStore::<u64>::get(&store, "k")
        .await
        .expect_err("pool exhausted");
    let elapsed = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        matches!(source_of(&err), Some(PostgresError::PoolExhausted { .. })),
        "{err:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(150) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );
    eprintln!("exhausted pool after {elapsed:?}: {err}");
    tx.commit().await.unwrap();
    let v2 = blocked
        .await
        .unwrap()
        .expect("the blocked write goes through once the lock is gone");
    assert!(v2 > v1);
    assert_eq!(get_u64(&store, "k").await, Some((2, v2)));
}

// --- timeouts and faults ----------------------------------------------------------------------

/// A write blocked past the client-side statement timeout is Indeterminate (never success,
/// never a conflict); the store cancels it on the server, so after the lock is released the
/// old value is still there; a read blocked the same way is Unavailable; then the store works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn client_timeout_makes_a_write_indeterminate_and_a_read_unavailable() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let app = common::unique_name("optimist_timeout");
    let timeout = Duration::from_millis(300);
    let options = PostgresOptions::default()
        .statement_timeout(timeout)
        .application_name(&app);
    let (store, _cleanup) = fresh(&url, &url, "timeout", options).await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;

    let observer = admin(&url).await;
    let mut admin = admin(&url).await;
    let tx = admin.transaction().await.unwrap();
    let lock = format!(
        "SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE",
        store.table()
    );
    tx.query_one(&lock, &[&"k"]).await.unwrap();
    let started = Instant::now();
    let err = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .expect_err("blocked write");
    let elapsed = started.elapsed();
    assert!(
        matches!(&err, StoreError::Indeterminate { key, .. } if key == "k"),
        "{err:?}"
    );
    assert!(
        matches!(source_of(&err), Some(PostgresError::Timeout(_))),
        "{err:?}"
    );
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(2),
        "{elapsed:?}"
    );
    eprintln!("write timed out after {elapsed:?}: {err}");
    // The cancel request reaches the server: nothing of ours waits for the lock any more.
    no_lock_waiter(&observer, &app).await;
    tx.rollback().await.unwrap();
    assert_eq!(
        get_u64(&store, "k").await,
        Some((1, v1)),
        "the cancelled write did not happen"
    );

    // A read blocked by an exclusive table lock.
    let tx = admin.transaction().await.unwrap();
    tx.batch_execute(&format!(
        "LOCK TABLE \"{}\" IN ACCESS EXCLUSIVE MODE",
        store.table()
    ))
    .await
    .unwrap();
    let started = Instant::now();
    let err = VersionedStore::<u64>::get(&store, "k")
        .await
        .expect_err("blocked read");
    let elapsed = started.elapsed();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        matches!(source_of(&err), Some(PostgresError::Timeout(_))),
        "{err:?}"
    );
    assert!(elapsed < timeout + Duration::from_secs(2), "{elapsed:?}");
    no_lock_waiter(&observer, &app).await;
    tx.rollback().await.unwrap();

    let v2 = store
        .put("k", 3u64, Expect::Version(v1))
        .await
        .expect("the store recovers")
        .version;
    assert!(v2 > v1);
    assert_eq!(get_u64(&store, "k").await, Some((3, v2)));
}

/// The operation cut off by `pg_terminate_backend` in the fault test.
#[derive(Clone, Copy, Debug)]
enum Cut {
    /// `UPDATE ... AND version = ANY(...)` blocked on a row lock.
    PutVersion,
    /// The upsert blocked on a row lock.
    PutAny,
    /// `INSERT ... ON CONFLICT DO NOTHING` blocked on another transaction's insert.
    PutAbsent,
    /// `DELETE ... AND version = ANY(...)` blocked on a row lock.
    DeleteVersion,
}

/// FAULT: the connection is terminated from an admin connection while a CAS is in flight
/// (blocked on a lock another transaction holds). The result must be Indeterminate (or a
/// success / conflict that matches what the server stored — impossible here, as the lock is
/// never granted to the killed session); the stored state must be exactly the old one;
/// the store must recover.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn connection_terminated_during_cas_is_indeterminate() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let app = common::unique_name("optimist_fault");
    let options = PostgresOptions::default()
        .statement_timeout(Duration::from_secs(20))
        .application_name(&app);
    let (store, _cleanup) = fresh(&url, &url, "fault", options).await;
    let table = store.table().to_owned();
    let observer = admin(&url).await;
    let mut admin = admin(&url).await;

    for cut in [
        Cut::PutVersion,
        Cut::PutAny,
        Cut::PutAbsent,
        Cut::DeleteVersion,
    ] {
        let key = format!("{cut:?}");
        let before = match cut {
            Cut::PutAbsent => None,
            _ => Some(store.put(&key, 1u64, Expect::Absent).await.unwrap().version),
        };
        let tx = admin.transaction().await.unwrap();
        match cut {
            Cut::PutAbsent => {
                // An uncommitted insert of the same key makes ours wait for its outcome.
                let insert = format!(
                    "INSERT INTO \"{table}\" (key, version, data, modified) \
                     VALUES ($1, 1, '\\x30', now())"
                );
                tx.execute(&insert, &[&key]).await.unwrap();
            }
            _ => {
                let lock = format!("SELECT 1 FROM \"{table}\" WHERE key = $1 FOR UPDATE");
                tx.query_one(&lock, &[&key]).await.unwrap();
            }
        }
        let op = tokio::spawn({
            let store = store.clone();
            let key = key.clone();
            async move {
                match (cut, before) {
                    (Cut::PutVersion, Some(v)) => store
                        .put(&key, 2u64, Expect::Version(v))
                        .await
                        .map(|m| Some(m.version)),
                    (Cut::PutAny, _) => store
                        .put(&key, 2u64, Expect::Any)
                        .await
                        .map(|m| Some(m.version)),
                    (Cut::PutAbsent, _) => store
                        .put(&key, 2u64, Expect::Absent)
                        .await
                        .map(|m| Some(m.version)),
                    (Cut::DeleteVersion, Some(v)) => {
                        VersionedStore::<u64>::delete(&store, &key, Expect::Version(v)).await
                    }
                    _ => unreachable!(),
                }
            }
        });
        let pid = lock_waiter(&observer, &app).await;
        let killed: bool = observer
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap()
            .get(0);
        assert!(killed, "{cut:?}: pg_terminate_backend({pid})");
        let result = tokio::time::timeout(Duration::from_secs(10), op)
            .await
            .unwrap_or_else(|_| panic!("{cut:?}: the cut operation hung"))
            .unwrap();
        tx.rollback().await.unwrap();

        let stored = get_u64(&store, &key).await; // also: the store recovered
        let old = before.map(|v| (1, v));
        eprintln!("fault {cut:?}: result {result:?}; stored before {old:?}, after {stored:?}");
        match &result {
            Ok(Some(v)) if matches!(cut, Cut::DeleteVersion) => {
                assert_eq!(Some(*v), before);
                assert_eq!(stored, None, "{cut:?}: a reported delete happened");
            }
            Ok(Some(v)) => assert_eq!(stored, Some((2, *v)), "{cut:?}: a reported write is stored"),
            Ok(None) => assert_eq!(stored, None, "{cut:?}"),
            Err(StoreError::Conflict(c)) => {
                assert_eq!(
                    c.current(),
                    stored.map(|s| s.1),
                    "{cut:?}: the conflict tells the truth"
                )
            }
            Err(StoreError::Indeterminate { key: k, .. }) => {
                assert_eq!(k, &key);
                assert!(
                    matches!(
                        source_of(result.as_ref().unwrap_err()),
                        Some(PostgresError::ConnectionLost(_))
                    ),
                    "{cut:?}: {result:?}"
                );
            }
            Err(other) => panic!("{cut:?}: a cut write must not be {other:?}"),
        }
        assert!(
            matches!(result, Err(StoreError::Indeterminate { .. })),
            "{cut:?}: the session died while the write waited, so its outcome is unknown to the client"
        );
        assert_eq!(stored, old, "{cut:?}: the killed write never took effect");

        // Recovery: the next CAS on the same key works.
        let next = store
            .put(&key, 3u64, before.into())
            .await
            .expect("the store recovers")
            .version;
        assert!(before.is_none_or(|b| next > b));
        assert_eq!(get_u64(&store, &key).await, Some((3, next)));
    }
}

/// Unconditional writes racing on one key: versions follow the order of the writes, so the
/// stored version is the largest any writer was given, and the stored value is that write's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn racing_upserts_leave_the_largest_version() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) =
        fresh(&url, &url, "upsert", PostgresOptions::default().max_size(8)).await;
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..25u64 {
                    let value = t * 1000 + i;
                    written.push((
                        store
                            .put("k", value, Expect::Any)
                            .await
                            .expect("upsert")
                            .version,
                        value,
                    ));
                }
                written
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    assert!(
        all.windows(2).all(|w| w[0].0 < w[1].0),
        "every write got its own version"
    );
    let (last_version, last_value) = *all.last().unwrap();
    assert_eq!(get_u64(&store, "k").await, Some((last_value, last_version)));
}

/// A caller that gives up on an operation (drops its future) while the statement waits on
/// the server: the connection is not returned to the pool busy, the statement is cancelled
/// on the server, and the store keeps working with a pool of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn dropped_operation_is_cancelled_and_its_connection_discarded() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let app = common::unique_name("optimist_drop");
    let options = PostgresOptions::default()
        .max_size(1)
        .statement_timeout(Duration::from_secs(20))
        .application_name(&app);
    let (store, _cleanup) = fresh(&url, &url, "dropped", options).await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let observer = admin(&url).await;
    let mut admin = admin(&url).await;
    let tx = admin.transaction().await.unwrap();
    let lock = format!(
        "SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE",
        store.table()
    );
    tx.query_one(&lock, &[&"k"]).await.unwrap();
    let op = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .put("k", 2u64, Expect::Version(v1))
                .await
                .map(|m| m.version)
        }
    });
    lock_waiter(&observer, &app).await;
    op.abort();
    assert!(op.await.unwrap_err().is_cancelled());
    no_lock_waiter(&observer, &app).await;
    tx.rollback().await.unwrap();
    assert_eq!(
        get_u64(&store, "k").await,
        Some((1, v1)),
        "the abandoned write was cancelled"
    );
    let v2 = store
        .put("k", 3u64, Expect::Version(v1))
        .await
        .expect("the pool still works")
        .version;
    assert_eq!(get_u64(&store, "k").await, Some((3, v2)));
}

/// A write that waits for a row lock draws its version only once it holds the lock, so it
/// exceeds the version committed by the transaction it waited for (for the upsert of
/// `Expect::Any` as for the conditional `UPDATE` of `Expect::Exists`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn blocked_write_gets_a_version_above_the_one_it_waited_for() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let app = common::unique_name("optimist_order");
    let options = PostgresOptions::default().application_name(&app);
    let (store, _cleanup) = fresh(&url, &url, "order", options).await;
    let observer = admin(&url).await;
    let mut admin = admin(&url).await;
    for expect in [Expect::Any, Expect::Exists] {
        let key = format!("{expect:?}");
        store.put(&key, 1u64, Expect::Absent).await.unwrap();
        let tx = admin.transaction().await.unwrap();
        let lock = format!(
            "SELECT 1 FROM \"{}\" WHERE key = $1 FOR UPDATE",
            store.table()
        );
        tx.query_one(&lock, &[&key]).await.unwrap();
        let op = tokio::spawn({
            let (store, key, expect) = (store.clone(), key.clone(), expect.clone());
            async move { store.put(&key, 2u64, expect).await.map(|m| m.version) }
        });
        lock_waiter(&observer, &app).await;
        let update = format!(
            "UPDATE \"{}\" SET version = nextval('\"{}\"') WHERE key = $1 RETURNING version",
            store.table(),
            store.sequence()
        );
        let theirs: i64 = tx.query_one(&update, &[&key]).await.unwrap().get(0);
        tx.commit().await.unwrap();
        let ours = op.await.unwrap().expect("the blocked write succeeds");
        assert!(
            ours.get() > theirs as u64,
            "{expect:?}: {ours} after \"{theirs}\""
        );
        assert_eq!(get_u64(&store, &key).await, Some((2, ours)));
    }
}
