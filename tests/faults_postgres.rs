//! Faults for the PostgreSQL backend that `backend_postgres.rs` does not inject: the server
//! restarting between operations and going away (a TCP proxy in front of it,
//! `tests/common/proxy.rs`), replies lost after a write was carried out, a pool exhausted
//! by slow writes, and a slow server (`pg_sleep` in a trigger) against the client-side
//! statement timeout. Each asserts the store reports `Indeterminate` or a clean error (never
//! a hang, never a wrong success) and recovers once the server is back.
//!
//! Long mode: `OPTIMIST_FAULT_ROUNDS=N` repeats the proxy tests' fault cycle N times.
//!
//! Needs `OPTIMIST_PG_URL`; skips loudly without it. Every test uses tables (and a trigger
//! function) of its own, dropped at the end, also on failure.
#![cfg(all(feature = "postgres", feature = "testkit"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::postgres::{Cleanup, admin, get_u64, source_of};
use common::proxy::{Mode, Proxy, proxied};
use optimist::postgres::{PostgresError, PostgresOptions, PostgresStore};
use optimist::{
    Commit, Expect, RetryPolicy, StoreError, Version, Versioned, VersionedStore, update_with,
};
use tokio::time::Instant;

const VAR: &str = "OPTIMIST_PG_URL";

/// A store on a fresh table created now (the faults must not hit first-use schema creation).
async fn fresh_migrated(
    admin_url: &str,
    url: &str,
    base: &str,
    options: PostgresOptions,
) -> (PostgresStore, Cleanup) {
    let (store, cleanup) = common::postgres::fresh(admin_url, url, base, options).await;
    store.migrate().await.expect("create the table");
    (store, cleanup)
}

/// Makes every write to `store`'s table sleep on the server (a `BEFORE` trigger calling
/// `pg_sleep`) for the delay set with [`Slow::set`]; 0 at first.
struct Slow {
    control: String,
    _cleanup: Cleanup,
}

impl Slow {
    async fn install(url: &str, store: &PostgresStore) -> Self {
        let control = common::unique_name("optimist_delay");
        let function = format!("{control}_fn");
        let sql = format!(
            "CREATE TABLE \"{control}\" (delay double precision NOT NULL);
             INSERT INTO \"{control}\" VALUES (0);
             CREATE FUNCTION \"{function}\"() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               PERFORM pg_sleep((SELECT delay FROM \"{control}\"));
               IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
               RETURN NEW;
             END $$;
             CREATE TRIGGER slow BEFORE INSERT OR UPDATE OR DELETE ON \"{table}\"
               FOR EACH ROW EXECUTE FUNCTION \"{function}\"();",
            table = store.table()
        );
        admin(url)
            .await
            .batch_execute(&sql)
            .await
            .expect("install the slow trigger");
        Self {
            _cleanup: Cleanup::running(
                url,
                format!(
                    "DROP TRIGGER IF EXISTS slow ON \"{table}\"; \
                     DROP FUNCTION IF EXISTS \"{function}\"(); DROP TABLE IF EXISTS \"{control}\";",
                    table = store.table()
                ),
            ),
            control,
        }
    }

    async fn set(&self, admin: &tokio_postgres::Client, delay: Duration) {
        admin
            .execute(
                &format!("UPDATE \"{}\" SET delay = $1", self.control),
                &[&delay.as_secs_f64()],
            )
            .await
            .expect("set the delay");
    }
}

/// Backends of `application_name` sleeping in `pg_sleep` right now.
async fn sleepers(admin: &tokio_postgres::Client, application_name: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE application_name = $1 AND wait_event = 'PgSleep'",
            &[&application_name],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Waits until no backend of `application_name` sleeps: the cancel requests arrived.
async fn no_sleepers(admin: &tokio_postgres::Client, application_name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sleepers(admin, application_name).await > 0 {
        assert!(
            Instant::now() < deadline,
            "a statement of {application_name} still sleeps: it was not cancelled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Connections of `application_name` open right now.
async fn connections(admin: &tokio_postgres::Client, application_name: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            &[&application_name],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

async fn read_until_back(store: &PostgresStore, key: &str) -> Option<(u64, Version)> {
    for _ in 0..100 {
        match VersionedStore::<u64>::get(store, key).await {
            Ok(read) => return read.map(|r| (r.value, r.version)),
            Err(StoreError::Unavailable { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("expected Unavailable until the server is back, got {other:?}"),
        }
    }
    panic!("the store did not recover within ~10 s of the server coming back");
}

/// The server restarts between two operations (every connection breaks, the port stays
/// open), then goes away for a while (connections refused) and comes back on the same port.
/// Restart: the pool drops the broken connections and the next operations work, or fail
/// cleanly once. Gone: every operation is Unavailable at once, nothing is written. Back: the
/// store works again, the whole pool included (16 concurrent increments all land).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn server_restart_and_outage_between_operations_then_the_store_recovers() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    for _round in 0..common::proxy::fault_rounds() {
        let Some((proxy, through)) = proxied(&url) else {
            return;
        };
        let (target, port) = (proxy.target(), proxy.port());
        let options = PostgresOptions::default()
            .max_size(4)
            .connect_timeout(Duration::from_secs(1))
            .wait_timeout(Duration::from_secs(2));
        let (store, _cleanup) = fresh_migrated(&url, &through, "optimist_restart", options).await;
        let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;

        // A restart: the connections break while idle, the server is right back.
        proxy.drop_connections();
        let write = store
            .put("k", 2u64, Expect::Version(v1))
            .await
            .map(|m| m.version);
        let now = read_until_back(&store, "k").await.expect("exists");
        match &write {
            Ok(v) => assert_eq!(now, (2, *v)),
            // A broken connection is noticed before sending (Unavailable) or on sending
            // (Indeterminate: nothing reached the server here, so nothing changed).
            Err(StoreError::Unavailable { .. } | StoreError::Indeterminate { .. }) => {
                assert_eq!(now, (1, v1));
            }
            Err(other) => panic!("a write after a restart: {other:?}"),
        }
        eprintln!("first write after a restart: {write:?}");
        let v2 = store
            .put("k", 3u64, Expect::Version(now.1))
            .await
            .expect("works after a restart")
            .version;

        // An outage: nothing listens; every operation is Unavailable, at once.
        proxy.stop();
        // The first round may still meet connections that broke with the proxy (a read on one
        // is Unavailable, a write Unavailable or Indeterminate); then the pool holds none, and
        // every new connection is refused: Unavailable (Connect), at once.
        for round in 0..3 {
            let results = [
                (
                    "get",
                    VersionedStore::<u64>::get(&store, "k").await.map(|_| ()),
                ),
                (
                    "put",
                    store.put("k", 4u64, Expect::Version(v2)).await.map(|_| ()),
                ),
                (
                    "create",
                    store.put("new", 4u64, Expect::Absent).await.map(|_| ()),
                ),
                (
                    "delete",
                    VersionedStore::<u64>::delete(&store, "k", Expect::Version(v2))
                        .await
                        .map(|_| ()),
                ),
            ];
            for (what, result) in results {
                let err = result.expect_err("the server is gone");
                eprintln!("outage, round {round}, {what}: {err}");
                let clean = match (round, what) {
                    (0, "get") => matches!(err, StoreError::Unavailable { .. }),
                    (0, _) => matches!(
                        err,
                        StoreError::Unavailable { .. } | StoreError::Indeterminate { .. }
                    ),
                    _ => {
                        matches!(err, StoreError::Unavailable { .. })
                            && matches!(source_of(&err), Some(PostgresError::Connect(_)))
                    }
                };
                assert!(clean, "round {round}, {what}: {err:?}");
            }
        }

        // Back on the same port.
        let proxy = Proxy::start(target, port);
        let now = read_until_back(&store, "k").await;
        assert_eq!(now.map(|n| n.1), Some(v2), "nothing was written meanwhile");
        assert_eq!(get_u64(&store, "new").await, None);
        // The whole pool works: 16 tasks increment k concurrently, all land exactly once.
        store.put("k", 0u64, Expect::Version(v2)).await.unwrap();
        let store = Arc::new(store);
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let policy = RetryPolicy::default();
                    update_with(&*store, "k", &policy, |n: Option<&Versioned<u64>>| {
                        Ok::<_, std::convert::Infallible>(n.map_or(0, |n| n.value) + 1)
                    })
                    .await
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().expect("an increment after the outage");
        }
        assert_eq!(get_u64(&store, "k").await.map(|n| n.0), Some(16));
        assert!(proxy.accepted() > 0);
    }
}

/// Replies are lost: each connection is cut as soon as the server answers. A write on a
/// ready connection reached the server and was carried out: Indeterminate, and the stored
/// state is that write's (or, had the server not committed it, the old one, never anything
/// else). Reads and new connections fail as Unavailable. Then the store recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn lost_replies_make_writes_indeterminate_then_the_store_recovers() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    for _round in 0..common::proxy::fault_rounds() {
        let Some((proxy, through)) = proxied(&url) else {
            return;
        };
        // One connection, so the cut write runs on the connection that prepared its statement.
        let options = PostgresOptions::default()
            .max_size(1)
            .connect_timeout(Duration::from_secs(1));
        let (store, _cleanup) = fresh_migrated(&url, &through, "optimist_cut", options).await;
        let direct = PostgresStore::connect(&url, store.options().clone())
            .await
            .unwrap();
        let mut current = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
        current = store
            .put("k", 2u64, Expect::Version(current))
            .await
            .unwrap()
            .version;
        store.put("d", 1u64, Expect::Absent).await.unwrap();
        let d = store.put("d", 2u64, Expect::Any).await.unwrap().version;

        let mut outcomes = Vec::new();
        // A conditional update.
        proxy.set_mode(Mode::CutOnReply);
        let write = store
            .put("k", 3u64, Expect::Version(current))
            .await
            .map(|m| m.version);
        let read = VersionedStore::<u64>::get(&store, "k").await;
        proxy.set_mode(Mode::Forward);
        assert!(
            matches!(read, Err(StoreError::Unavailable { .. })),
            "{read:?}"
        );
        let stored = get_u64(&direct, "k").await.expect("exists");
        match &write {
            Err(StoreError::Indeterminate { key, .. }) => {
                assert_eq!(key, "k");
                assert!(
                    matches!(
                        source_of(write.as_ref().unwrap_err()),
                        Some(PostgresError::ConnectionLost(_))
                    ),
                    "{write:?}"
                );
                assert!(
                    stored == (2, current) || (stored.0 == 3 && stored.1 > current),
                    "{stored:?}"
                );
            }
            other => panic!("a write whose reply was lost: expected Indeterminate, got {other:?}"),
        }
        outcomes.push(format!(
            "conditional update: Indeterminate, stored {stored:?}"
        ));
        let recovered = read_until_back(&store, "k").await.expect("exists");
        assert_eq!(recovered, stored);

        // A conditional delete, on the new connection once it has prepared the statement.
        let x = store.put("x", 1u64, Expect::Absent).await.unwrap().version;
        VersionedStore::<u64>::delete(&store, "x", Expect::Version(x))
            .await
            .unwrap();
        proxy.set_mode(Mode::CutOnReply);
        let delete = VersionedStore::<u64>::delete(&store, "d", Expect::Version(d)).await;
        proxy.set_mode(Mode::Forward);
        let after = get_u64(&direct, "d").await;
        match &delete {
            Err(StoreError::Indeterminate { .. }) => {
                assert!(after.is_none() || after == Some((2, d)), "{after:?}")
            }
            other => panic!("a delete whose reply was lost: expected Indeterminate, got {other:?}"),
        }
        outcomes.push(format!(
            "conditional delete: {delete:?} -> stored {after:?}"
        ));

        // Recovery: a write on the state read works.
        let now = read_until_back(&store, "k").await.expect("exists");
        let v = store
            .put("k", 10u64, Expect::Version(now.1))
            .await
            .expect("writes work again")
            .version;
        assert_eq!(get_u64(&direct, "k").await, Some((10, v)));
        assert!(proxy.cuts() >= 2, "the proxy cut the replies");
        eprintln!("lost replies: {outcomes:#?}");
    }
}

/// Slow writes (500 ms each on the server) exhaust a pool of 2: the callers that find no
/// connection within the wait timeout get Unavailable (PoolExhausted), never a hang, and
/// nothing of theirs is written; the others succeed. Once the server is fast again, every
/// caller succeeds: no connection leaked, and the pool never opened more than 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn exhausted_pool_fails_cleanly_and_recovers() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let app = common::unique_name("optimist_pool_fault");
    let options = PostgresOptions::default()
        .max_size(2)
        .wait_timeout(Duration::from_millis(200))
        .statement_timeout(Duration::from_secs(10))
        .application_name(&app);
    let (store, _cleanup) = fresh_migrated(&url, &url, "optimist_exhaust", options).await;
    let slow = Slow::install(&url, &store).await;
    let admin = admin(&url).await;
    slow.set(&admin, Duration::from_millis(500)).await;

    let store = Arc::new(store);
    let burst = |round: u64| {
        let tasks: Vec<_> = (0..12u64)
            .map(|i| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let key = format!("k{i}");
                    (
                        key.clone(),
                        store.put(&key, round, Expect::Any).await.map(|m| m.version),
                    )
                })
            })
            .collect();
        async move {
            let mut results = Vec::new();
            for task in tasks {
                results.push(task.await.unwrap());
            }
            results
        }
    };
    let results = burst(1).await;
    let mut exhausted = 0;
    for (key, result) in &results {
        match result {
            Ok(v) => assert_eq!(get_u64(&store, key).await, Some((1, *v))),
            Err(err @ StoreError::Unavailable { .. }) => {
                assert!(
                    matches!(source_of(err), Some(PostgresError::PoolExhausted { .. })),
                    "{err:?}"
                );
                assert_eq!(get_u64(&store, key).await, None, "{key} was written anyway");
                exhausted += 1;
            }
            Err(other) => panic!("{key}: expected success or PoolExhausted, got {other:?}"),
        }
    }
    // 12 writes of 500 ms on 2 connections cannot all start within 200 ms.
    assert!(exhausted >= 1, "{results:?}");
    assert!(exhausted < 12, "at least the first writes got a connection");
    assert!(
        connections(&admin, &app).await <= 2,
        "the pool opened more than 2 connections"
    );

    slow.set(&admin, Duration::ZERO).await;
    for (key, result) in burst(2).await {
        let v = result.unwrap_or_else(|e| panic!("{key} after the slow phase: {e}"));
        assert_eq!(get_u64(&store, &key).await, Some((2, v)));
    }
    eprintln!("exhausted pool: {exhausted} of 12 callers got PoolExhausted, then all 12 succeeded");
}

/// A server slow to carry out writes (`pg_sleep` of 3 s in a trigger) against a client-side
/// statement timeout of 300 ms: each kind of write is Indeterminate (Timeout); the store
/// cancels the statement on the server, so none of them happened; reads keep working; a
/// write slower than usual but within the timeout succeeds; and with the server fast again
/// everything works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn slow_server_against_the_statement_timeout_then_the_store_recovers() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let app = common::unique_name("optimist_sleep");
    let timeout = Duration::from_millis(300);
    let options = PostgresOptions::default()
        .statement_timeout(timeout)
        .application_name(&app);
    let (store, _cleanup) = fresh_migrated(&url, &url, "optimist_sleep", options).await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let slow = Slow::install(&url, &store).await;
    let admin = admin(&url).await;
    slow.set(&admin, Duration::from_secs(3)).await;

    let writes: [(&str, Result<Option<Version>, StoreError>); 4] = [
        (
            "update",
            store
                .put("k", 2u64, Expect::Version(v1))
                .await
                .map(|m| Some(m.version)),
        ),
        (
            "upsert",
            store
                .put("k", 3u64, Expect::Any)
                .await
                .map(|m| Some(m.version)),
        ),
        (
            "create",
            store
                .put("new", 4u64, Expect::Absent)
                .await
                .map(|m| Some(m.version)),
        ),
        (
            "delete",
            VersionedStore::<u64>::delete(&store, "k", Expect::Version(v1)).await,
        ),
    ];
    for (what, result) in &writes {
        let err = result.as_ref().expect_err(what);
        assert!(
            matches!(err, StoreError::Indeterminate { .. }),
            "{what}: {err:?}"
        );
        assert!(
            matches!(source_of(err), Some(PostgresError::Timeout(t)) if *t == timeout),
            "{what}: {err:?}"
        );
    }
    // Reads run no trigger: they work while writes are slow.
    assert_eq!(get_u64(&store, "k").await, Some((1, v1)));
    no_sleepers(&admin, &app).await;
    // Cancelled on the server: none of them happened.
    assert_eq!(get_u64(&store, "k").await, Some((1, v1)));
    assert_eq!(get_u64(&store, "new").await, None);

    // Slower than usual but within the timeout: fine.
    slow.set(&admin, Duration::from_millis(20)).await;
    let v2 = store
        .put("k", 5u64, Expect::Version(v1))
        .await
        .expect("a write within the timeout")
        .version;
    slow.set(&admin, Duration::ZERO).await;
    let v3 = store
        .put("k", 6u64, Expect::Version(v2))
        .await
        .unwrap()
        .version;
    assert_eq!(get_u64(&store, "k").await, Some((6, v3)));
    store.put("new", 7u64, Expect::Absent).await.unwrap();
}

/// Makes every `COMMIT` that wrote to `store`'s table sleep on the server for `delay`
/// seconds: a deferred constraint trigger calling `pg_sleep`, which runs inside `COMMIT`.
async fn slow_commits(url: &str, store: &PostgresStore, delay: f64) -> Cleanup {
    let function = common::unique_name("optimist_slow_commit");
    let sql = format!(
        "CREATE FUNCTION \"{function}\"() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_sleep({delay}); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT OR UPDATE OR DELETE ON \"{table}\"
           DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION \"{function}\"();",
        table = store.table()
    );
    admin(url)
        .await
        .batch_execute(&sql)
        .await
        .expect("install the slow-commit trigger");
    Cleanup::running(
        url,
        format!(
            "DROP TRIGGER IF EXISTS slow_commit ON \"{table}\"; \
             DROP FUNCTION IF EXISTS \"{function}\"();",
            table = store.table()
        ),
    )
}

/// Waits until a backend of `application_name` runs `COMMIT` (sleeping in the trigger), and
/// returns its pid.
async fn committing(admin: &tokio_postgres::Client, application_name: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = admin
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1 \
                 AND query = 'COMMIT' AND wait_event = 'PgSleep' LIMIT 1",
                &[&application_name],
            )
            .await
            .expect("pg_stat_activity");
        if let Some(row) = row {
            return row.get(0);
        }
        assert!(
            Instant::now() < deadline,
            "no COMMIT of {application_name} started"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The three keys of the commit in the tests below, as (value, version) each.
async fn commit_state(store: &PostgresStore) -> [Option<(u64, Version)>; 3] {
    [
        get_u64(store, "a").await,
        get_u64(store, "b").await,
        get_u64(store, "c").await,
    ]
}

/// A commit of three keys (update a, update b, create c) whose connection is lost at each
/// stage: before `COMMIT` (the server rolls back: Unavailable, nothing written), while
/// `COMMIT` runs and the server is killed under it (Indeterminate; it did not apply), and
/// after `COMMIT` ran but its reply was cut (Indeterminate; it applied). In every case the
/// stored state is all of the commit or none of it, and the store works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn connection_lost_mid_commit_is_indeterminate_and_all_or_nothing() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    for _round in 0..common::proxy::fault_rounds() {
        let Some((proxy, through)) = proxied(&url) else {
            return;
        };
        let app = common::unique_name("optimist_commit_cut");
        let options = PostgresOptions::default()
            .max_size(2)
            .statement_timeout(Duration::from_secs(20))
            .application_name(&app);
        let (store, _cleanup) =
            fresh_migrated(&url, &through, "optimist_commit_cut", options).await;
        let direct = PostgresStore::connect(&url, store.options().clone())
            .await
            .unwrap();
        let observer = admin(&url).await;
        let commit = |old: &[Option<(u64, Version)>; 3], n: u64| {
            Commit::new()
                .put("a", n, Expect::Version(old[0].unwrap().1))
                .put("b", n, Expect::Version(old[1].unwrap().1))
                .put("c", n, Expect::Absent)
        };
        let applied = |state: &[Option<(u64, Version)>; 3], n: u64| {
            state.iter().all(|s| s.is_some_and(|s| s.0 == n))
        };
        store.put("a", 0u64, Expect::Absent).await.unwrap();
        store.put("b", 0u64, Expect::Absent).await.unwrap();

        // 1. Killed before COMMIT: blocked on a row lock the admin holds, then terminated.
        let before = commit_state(&direct).await;
        let mut locker = admin(&url).await;
        let tx = locker.transaction().await.unwrap();
        let lock = format!(
            "SELECT 1 FROM \"{}\" WHERE key = 'b' FOR UPDATE",
            store.table()
        );
        tx.query_one(&lock, &[]).await.unwrap();
        let op = tokio::spawn({
            let (store, c) = (store.clone(), commit(&before, 1));
            async move { store.commit(c).await }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            assert!(
                Instant::now() < deadline,
                "the commit never waited for the row lock"
            );
            let row = observer
                .query_opt(
                    "SELECT pid FROM pg_stat_activity \
                     WHERE application_name = $1 AND wait_event_type = 'Lock' LIMIT 1",
                    &[&app],
                )
                .await
                .unwrap();
            if let Some(row) = row {
                break row.get::<_, i32>(0);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        observer
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        let result = op.await.unwrap();
        tx.rollback().await.unwrap();
        let after = commit_state(&direct).await;
        eprintln!("killed before COMMIT: {result:?}");
        assert!(
            matches!(result, Err(StoreError::Unavailable { .. })),
            "a commit that never reached COMMIT is known not to have applied: {result:?}"
        );
        assert_eq!(after, before, "nothing of it was written");

        // 2. Killed while COMMIT runs (in the deferred trigger): the server aborts it.
        let trigger = slow_commits(&url, &store, 30.0).await;
        let op = tokio::spawn({
            let (store, c) = (store.clone(), commit(&before, 2));
            async move { store.commit(c).await }
        });
        let pid = committing(&observer, &app).await;
        observer
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        let result = op.await.unwrap();
        drop(trigger);
        let after = commit_state(&direct).await;
        eprintln!("killed during COMMIT: {result:?}");
        assert!(
            matches!(&result, Err(StoreError::Indeterminate { key, .. }) if key == "a"),
            "{result:?}"
        );
        assert!(
            after == before || applied(&after, 2),
            "half a commit: {after:?}"
        );
        assert_eq!(after, before, "the terminated COMMIT did not apply");

        // 3. COMMIT ran, its reply was cut by the proxy: it applied.
        let trigger = slow_commits(&url, &store, 0.5).await;
        let op = tokio::spawn({
            let (store, c) = (store.clone(), commit(&before, 3));
            async move { store.commit(c).await }
        });
        committing(&observer, &app).await;
        proxy.set_mode(Mode::CutOnReply);
        let result = op.await.unwrap();
        proxy.set_mode(Mode::Forward);
        drop(trigger);
        let after = commit_state(&direct).await;
        eprintln!("reply to COMMIT cut: {result:?}");
        assert!(
            matches!(&result, Err(StoreError::Indeterminate { key, .. }) if key == "a"),
            "{result:?}"
        );
        assert!(
            after == before || applied(&after, 3),
            "half a commit: {after:?}"
        );
        assert!(applied(&after, 3), "the COMMIT ran to its end: {after:?}");
        let versions: Vec<Version> = after.iter().map(|s| s.unwrap().1).collect();
        assert!(versions[0] > before[0].unwrap().1 && versions[1] > before[1].unwrap().1);

        // The store works again, through the same proxy.
        let next = Commit::new()
            .put("a", 4u64, Expect::Version(versions[0]))
            .delete("c", Expect::Version(versions[2]));
        let done = loop {
            match store.commit(next.clone()).await {
                Err(StoreError::Unavailable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other,
            }
        };
        done.expect("the store recovers");
        assert_eq!(get_u64(&direct, "a").await.map(|s| s.0), Some(4));
        assert_eq!(get_u64(&direct, "c").await, None);
    }
}
