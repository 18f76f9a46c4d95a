//! The MariaDB backend against a real server (`OPTIMIST_MYSQL_URL`, e.g.
//! `mysql://root@127.0.0.1:3306/test`): the conformance kit (with its history checker),
//! multi-key commits and listing, races between store objects, durability and no-ABA
//! across store objects, keys, schema handling, timeouts and an unreachable server.
//!
//! Without `OPTIMIST_MYSQL_URL` the server tests skip loudly; the tests that need no server
//! always run. Every test uses a table of its own (`optimist_mysql_...`), dropped at the end,
//! also on failure.
#![cfg(all(feature = "mysql", feature = "testkit"))]

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::commits;
use common::mysql::{admin, fresh, get_u64, lock_waiter, running_on, source_of};
use mysql_async::prelude::Queryable;
use optimist::mysql::{MAX_COMMIT_KEYS, MAX_KEY_LEN, MysqlError, MysqlOptions, MysqlStore};
use optimist::testkit::{run_all, unique_prefix};
use optimist::{
    ConflictKind, Expect, RetryPolicy, StoreError, Versioned, VersionedStore, update_with,
};
use tokio::time::Instant;

const VAR: &str = "OPTIMIST_MYSQL_URL";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn passes_the_kit_for_u64() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "kit", MysqlOptions::default()).await;
    run_all::<u64, _>(&Arc::new(store), &unique_prefix("my")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn passes_the_kit_for_json_and_strings() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "kitjson", MysqlOptions::default()).await;
    let store = Arc::new(store);
    run_all::<serde_json::Value, _>(&store, &unique_prefix("my-json")).await;
    run_all::<String, _>(&store, &unique_prefix("my-string")).await;
}

// Multi-key commits and listing.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn commit_is_all_or_nothing_and_names_every_failed_key() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "commit", MysqlOptions::default()).await;
    assert_eq!(
        VersionedStore::<u64>::capabilities(&store).max_commit_keys,
        MAX_COMMIT_KEYS
    );
    commits::commit_is_all_or_nothing(&store, "c/").await;
}

/// Two tasks commit overlapping key sets in opposite orders, 200 rounds each, next to
/// single-key writes: none deadlocks (each runs once: a deadlock InnoDB detected would be
/// an error), none is lost or half applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn overlapping_commits_in_opposite_orders_never_deadlock() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let options = MysqlOptions::default().commit_attempts(1);
    let (store, _cleanup) = fresh(&url, &url, "deadlock", options).await;
    commits::overlapping_commits_finish(&Arc::new(store), "d/", 200).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn readers_never_see_half_a_commit() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "visible", MysqlOptions::default()).await;
    commits::readers_never_see_half_a_commit(&Arc::new(store), "v/", 150).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn listing_pages_and_prefix_edges_match_the_model() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "list", MysqlOptions::default()).await;
    commits::list_matches_the_model(&store, "").await;
    commits::list_matches_the_model(&store, "n/%_\\/").await;
}

/// The listing's statement shape (see the module docs) is a range scan of the primary key
/// on the store's table, with either bound and with the cursor, whatever the table holds:
/// MariaDB's `EXPLAIN` says `range` on `PRIMARY`, reading about the page, never `ALL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn listing_is_a_primary_key_range_scan() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "listidx", MysqlOptions::default()).await;
    store.migrate().await.unwrap();
    let mut admin = admin(&url).await;
    let table = store.table().to_owned();
    admin
        .query_drop(format!(
            "INSERT INTO `{table}` SELECT CONCAT(p, seq), seq, UTC_TIMESTAMP(6), '0' \
             FROM seq_1_to_20000, (SELECT 'a/' AS p UNION ALL SELECT 'z/') AS ps; \
             INSERT INTO `{table}` SELECT CONCAT('m/', seq), seq, UTC_TIMESTAMP(6), '0' \
             FROM seq_1_to_5; ANALYZE TABLE `{table}`"
        ))
        .await
        .unwrap();
    for (lower, upper) in [
        (">=", " AND `key` < 'm0'"),
        (">", " AND `key` < 'm0'"),
        (">=", ""),
    ] {
        let explain = format!(
            "EXPLAIN SELECT `key`, version, modified, data FROM `{table}` \
             WHERE `key` {lower} 'm/'{upper} ORDER BY `key` LIMIT 3"
        );
        let row: mysql_async::Row = admin.query_first(explain).await.unwrap().unwrap();
        let kind: String = row.get("type").unwrap();
        let key: Option<String> = row.get("key").unwrap();
        assert_eq!(kind, "range", "{lower} {upper}: {row:?}");
        assert_eq!(key.as_deref(), Some("PRIMARY"), "{lower} {upper}: {row:?}");
    }
    let mut listed = Vec::new();
    let mut request = optimist::ListRequest::prefix("m/").limit(3);
    loop {
        let page = VersionedStore::<u64>::list(&store, request.clone())
            .await
            .unwrap();
        listed.extend(page.entries.into_iter().map(|e| e.key));
        match page.next {
            Some(next) => request = request.after(next),
            None => break,
        }
    }
    assert_eq!(listed, ["m/1", "m/2", "m/3", "m/4", "m/5"]);
}

// Races, durability, no ABA.

/// 8 tokio tasks x 25 increments through `update_with`, split over two store objects (two
/// pools) on one table, end at exactly 200, and the successful writes sorted by version
/// are the chain 1, 2, ..., 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn two_store_objects_race_to_exactly_200() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (a, _cleanup) = fresh(&url, &url, "race", MysqlOptions::default().max_size(4)).await;
    let b = MysqlStore::connect(&url, a.options().clone())
        .await
        .unwrap();
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
        chain.extend(task.await.unwrap());
    }
    chain.sort();
    let values: Vec<u64> = chain.iter().map(|w| w.1).collect();
    assert_eq!(
        values,
        (1..=200).collect::<Vec<_>>(),
        "no lost or duplicated update"
    );
    assert!(chain.windows(2).all(|w| w[0].0 < w[1].0), "versions unique");
    assert_eq!(get_u64(&b, key).await, Some((200, chain[199].0)));
}

/// A second store object sees the data; versions continue from the shared sequence: delete
/// and re-create through another object never reuses a version, a conflict carries the
/// exact current version, and a new object after both are gone continues above them.
/// `last_modified` is the server's clock, at microsecond precision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn second_store_object_sees_the_data_and_never_reuses_versions() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (a, _cleanup) = fresh(&url, &url, "reopen", MysqlOptions::default()).await;
    let b = MysqlStore::connect(&url, a.options().clone())
        .await
        .unwrap();
    let before = SystemTime::now() - Duration::from_secs(5);
    let va = a.put("k", 1u64, Expect::Absent).await.unwrap();
    assert_eq!(get_u64(&b, "k").await, Some((1, va.version)));
    let head = VersionedStore::<u64>::head(&b, "k").await.unwrap().unwrap();
    assert_eq!(head, va, "put returns what is stored, to the microsecond");
    assert!(
        va.last_modified > before && va.last_modified < SystemTime::now() + Duration::from_secs(5)
    );
    assert_eq!(
        VersionedStore::<u64>::delete(&b, "k", Expect::Version(va.version))
            .await
            .unwrap(),
        Some(va.version)
    );
    let vb = b.put("k", 2u64, Expect::Absent).await.unwrap().version;
    assert!(vb > va.version);
    let err = a
        .put("k", 3u64, Expect::Version(va.version))
        .await
        .unwrap_err();
    let conflict = err.as_conflict().expect("a conflict");
    assert_eq!(conflict.kind(), ConflictKind::Stale);
    assert_eq!(conflict.current(), Some(vb));
    let options = a.options().clone();
    drop((a, b));
    let c = MysqlStore::connect(&url, options).await.unwrap();
    assert_eq!(get_u64(&c, "k").await, Some((2, vb)));
    let vc = c.put("k", 4u64, Expect::Any).await.unwrap().version;
    assert!(vc > vb);
    // An identical value written again still gets a new version (no "0 rows changed").
    let vd = c.put("k", 4u64, Expect::Version(vc)).await.unwrap().version;
    assert!(vd > vc);
    c.drop_schema().await.unwrap();
    let mut admin = admin(&url).await;
    let left: Option<u64> = admin
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN (?, ?)",
            (c.table(), c.sequence()),
        )
        .await
        .unwrap();
    assert_eq!(
        left,
        Some(0),
        "drop_schema drops the table and the sequence"
    );
}

// Keys, values, table names.

#[tokio::test]
async fn keys_too_long_are_invalid_without_a_server() {
    // Port 1: if anything were sent, this would be Unavailable, not InvalidKey.
    let store = MysqlStore::connect("mysql://root@127.0.0.1:1/test", MysqlOptions::default())
        .await
        .expect("connect does no I/O");
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    let put = store
        .put(&too_long, 1u64, Expect::Any)
        .await
        .map(|m| m.version);
    assert!(matches!(put, Err(StoreError::InvalidKey { .. })), "{put:?}");
    let get = VersionedStore::<u64>::get(&store, &too_long).await;
    assert!(matches!(get, Err(StoreError::InvalidKey { .. })), "{get:?}");
    let delete = VersionedStore::<u64>::delete(&store, &too_long, Expect::Any).await;
    assert!(
        matches!(delete, Err(StoreError::InvalidKey { .. })),
        "{delete:?}"
    );
    let commit =
        optimist::Commit::new()
            .put("ok", 1u64, Expect::Any)
            .put(too_long.clone(), 2, Expect::Any);
    let commit = store.commit(commit).await;
    assert!(
        matches!(commit, Err(StoreError::InvalidKey { .. })),
        "{commit:?}"
    );
}

/// Keys that differ only in trailing spaces or NUL bytes, case, or accents are different
/// keys, each round-trips byte for byte; the longest key works; a value that is not the
/// type asked for is a codec error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn keys_round_trip_byte_for_byte() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let (store, _cleanup) = fresh(&url, &url, "keys", MysqlOptions::default()).await;
    let longest = format!("{}{}", "é".repeat(MAX_KEY_LEN / 2 - 1), "xy");
    assert_eq!(longest.len(), MAX_KEY_LEN);
    let injection = format!("x'); DROP TABLE `{}`; --", store.table());
    let keys = [
        "a",
        "a ",
        "a  ",
        "a\0",
        "a\0\0",
        "A",
        "á",
        "a\u{301}",
        "",
        " ",
        "\0",
        "ß",
        "ss",
        longest.as_str(),
        injection.as_str(),
        "?",
        "%",
        "\\",
    ];
    let mut versions = Vec::new();
    for key in keys {
        versions.push(
            store
                .put(key, 7u64, Expect::Absent)
                .await
                .expect(key)
                .version,
        );
    }
    for (key, v) in keys.iter().zip(&versions) {
        assert_eq!(get_u64(&store, key).await, Some((7, *v)), "{key:?}");
    }
    let page = VersionedStore::<u64>::list(&store, optimist::ListRequest::prefix("").limit(1000))
        .await
        .unwrap();
    let mut want: Vec<&str> = keys.to_vec();
    want.sort();
    assert_eq!(
        page.entries
            .iter()
            .map(|e| e.key.as_str())
            .collect::<Vec<_>>(),
        want
    );
    store
        .put("text", serde_json::json!("not a number"), Expect::Any)
        .await
        .unwrap();
    let err = VersionedStore::<u64>::get(&store, "text")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Codec { .. }), "{err:?}");
}

#[tokio::test]
async fn invalid_table_names_and_urls_are_rejected() {
    for bad in ["", "1a", "a-b", "a`b", "ä", &"x".repeat(53)] {
        let err = MysqlStore::connect(
            "mysql://root@127.0.0.1/test",
            MysqlOptions::default().table(bad),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(source_of(&err), Some(MysqlError::InvalidTableName { .. })),
            "{bad:?}: {err:?}"
        );
    }
    let err = MysqlStore::connect("postgres://nope", MysqlOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(source_of(&err), Some(MysqlError::Url(_))),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn migrate_is_explicit_concurrent_and_idempotent() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let options = MysqlOptions::default().create_schema(false);
    let (first, _cleanup) = fresh(&url, &url, "migrate", options).await;
    let err = VersionedStore::<u64>::get(&first, "k").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Backend { .. }),
        "no table yet: {err:?}"
    );
    let mut stores = vec![first];
    for _ in 0..5 {
        stores.push(
            MysqlStore::connect(&url, stores[0].options().clone())
                .await
                .unwrap(),
        );
    }
    let runs = stores.iter().map(|s| async move {
        s.migrate().await?;
        s.migrate().await
    });
    for result in futures_util::future::join_all(runs).await {
        result.expect("concurrent migrate");
    }
    let v = stores[1]
        .put("k", 1u64, Expect::Absent)
        .await
        .unwrap()
        .version;
    assert_eq!(get_u64(&stores[5], "k").await, Some((1, v)));
}

// Unavailable, timeouts.

/// Nothing listens on 127.0.0.1:1: every operation is Unavailable, never a hang.
#[tokio::test]
async fn unreachable_server_is_unavailable() {
    let store = MysqlStore::connect(
        "mysql://root@127.0.0.1:1/test",
        MysqlOptions::default().connect_timeout(Duration::from_secs(2)),
    )
    .await
    .unwrap();
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
    }
}

/// A write blocked past the client-side statement timeout (on a row lock held by another
/// session) never committed, so it is Unavailable with nothing written; its session is
/// killed on the server, so it does not wait on (a blocked transaction holding locks is
/// gone) and the old value is still there once the lock is released; then the store works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn client_timeout_rolls_the_write_back_and_kills_its_session() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let timeout = Duration::from_millis(300);
    let options = MysqlOptions::default().statement_timeout(timeout);
    let (store, _cleanup) = fresh(&url, &url, "timeout", options).await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let mut locker = admin(&url).await;
    locker.query_drop("BEGIN").await.unwrap();
    locker
        .exec_drop(
            format!(
                "SELECT 1 FROM `{}` WHERE `key` = ? FOR UPDATE",
                store.table()
            ),
            ("k",),
        )
        .await
        .unwrap();
    let started = Instant::now();
    let err = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .expect_err("blocked");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        matches!(source_of(&err), Some(MysqlError::Timeout(_))),
        "{err:?}"
    );
    assert!(started.elapsed() >= timeout);
    // The blocked session is killed: no transaction of the store waits any more.
    let mut observer = admin(&url).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if running_on(&mut observer, store.table(), 0).await.is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the timed-out session still waits for the lock"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    locker.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(
        get_u64(&store, "k").await,
        Some((1, v1)),
        "nothing was written"
    );
    let v2 = store
        .put("k", 3u64, Expect::Version(v1))
        .await
        .expect("recovers")
        .version;
    assert!(v2 > v1);
}

/// A write whose future is dropped while it waits for a lock: its session is killed, so it
/// never applies and releases what it locked (a create's placeholder row), and the pool
/// goes on working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn dropped_write_is_killed_and_its_locks_released() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let options = MysqlOptions::default()
        .max_size(2)
        .statement_timeout(Duration::from_secs(30));
    let (store, _cleanup) = fresh(&url, &url, "dropped", options).await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let mut locker = admin(&url).await;
    locker.query_drop("BEGIN").await.unwrap();
    locker
        .exec_drop(
            format!(
                "SELECT 1 FROM `{}` WHERE `key` = ? FOR UPDATE",
                store.table()
            ),
            ("k",),
        )
        .await
        .unwrap();
    // Locks "a" (absent: a placeholder), then waits for "k".
    let commit =
        optimist::Commit::new()
            .put("a", 1u64, Expect::Absent)
            .put("k", 2u64, Expect::Version(v1));
    let op = tokio::spawn({
        let store = store.clone();
        async move { store.commit(commit).await }
    });
    let mut observer = admin(&url).await;
    lock_waiter(&mut observer, store.table()).await;
    op.abort();
    let _ = op.await;
    // "a" is free again at once: a create of it does not wait for the dropped commit.
    let quick = MysqlStore::connect(
        &url,
        store
            .options()
            .clone()
            .statement_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    let va = quick
        .put("a", 5u64, Expect::Absent)
        .await
        .expect("a is not locked")
        .version;
    locker.query_drop("ROLLBACK").await.unwrap();
    assert_eq!(
        get_u64(&store, "k").await,
        Some((1, v1)),
        "the dropped commit never applied"
    );
    assert_eq!(get_u64(&store, "a").await, Some((5, va)));
    for i in 0..4u64 {
        store
            .put(&format!("after{i}"), i, Expect::Absent)
            .await
            .expect("the pool works");
    }
}

/// The pool keeps its connections: 100 operations one after another (through a counting
/// proxy) open one or two connections (the driver returns a connection to its pool on a
/// task of its own, so the very next checkout may not find it yet), not one per operation
/// (the driver's default idle time of 0 s would close each connection as it is returned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn pooled_connections_are_reused() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let Some((proxy, through)) = common::proxy::proxied(&url) else {
        return;
    };
    // TCP only: mysql_async would otherwise move a loopback connection to the Unix socket.
    let through = format!("{through}?prefer_socket=false");
    let (store, _cleanup) = fresh(&url, &through, "reuse", MysqlOptions::default()).await;
    store.migrate().await.unwrap();
    for i in 0..50u64 {
        let v = store
            .put(&format!("k{i}"), i, Expect::Absent)
            .await
            .unwrap()
            .version;
        assert_eq!(get_u64(&store, &format!("k{i}")).await, Some((i, v)));
    }
    // Reuse means a handful (the pool may open a second or third connection while an
    // earlier one is still being returned); the bug this guards against opened one per
    // operation (101).
    let opened = proxy.accepted();
    assert!(
        opened <= 5,
        "{opened} connections for 100 sequential operations"
    );
}
