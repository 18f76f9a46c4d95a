//! Faults for the MariaDB backend: a connection cut at each stage of a write's transaction
//! (a TCP proxy in front of the server, `tests/common/proxy.rs`, cutting the reply to one
//! chosen request), sessions killed on the server (`KILL CONNECTION`, `KILL QUERY`) while a
//! commit waits for a lock, and the history checker with replies cut mid-history. Each
//! asserts the outcome is reported truthfully (not applied: `Unavailable` or a refused
//! statement; unknown: `Indeterminate`), that a commit is all or nothing on the server, and
//! that the store recovers.
//!
//! Long mode: `OPTIMIST_FAULT_ROUNDS=N` repeats the proxy tests N times.
//!
//! Needs `OPTIMIST_MYSQL_URL`; skips loudly without it. Every test uses tables of its own.
#![cfg(all(feature = "mysql", feature = "testkit"))]

mod common;

use std::time::Duration;

use common::mysql::{Cleanup, admin, fresh, get_u64, lock_waiter, source_of, table_name};
use common::proxy::{Mode, Proxy, fault_rounds, proxied};

use mysql_async::prelude::Queryable;
use optimist::mysql::{MysqlError, MysqlOptions, MysqlStore};
use optimist::testkit::{History, HistoryReport};
use optimist::{Commit, Expect, StoreError, Version, VersionedStore};

const VAR: &str = "OPTIMIST_MYSQL_URL";

/// `url` through a new proxy, over TCP only: `mysql_async` otherwise switches a loopback
/// connection to the server's Unix socket, bypassing the proxy.
fn proxied_tcp(url: &str) -> Option<(Proxy, String)> {
    let (proxy, through) = proxied(url)?;
    let sep = if through.contains('?') { '&' } else { '?' };
    Some((proxy, format!("{through}{sep}prefer_socket=false")))
}

/// The keys of the commit below, as (value, version) each.
async fn state(store: &MysqlStore, p: &str) -> [Option<(u64, Version)>; 3] {
    [
        get_u64(store, &format!("{p}a")).await,
        get_u64(store, &format!("{p}b")).await,
        get_u64(store, &format!("{p}c")).await,
    ]
}

/// Under `p`: update a, create c, delete b, writing `n` (a number no other request
/// carries, so the proxy can find the request that carries it).
fn commit(p: &str, old: &[Option<(u64, Version)>; 3], n: u64) -> Commit<u64> {
    Commit::new()
        .put(format!("{p}a"), n, Expect::Version(old[0].unwrap().1))
        .put(format!("{p}c"), n, Expect::Absent)
        .delete(format!("{p}b"), Expect::Version(old[1].unwrap().1))
}

/// The transaction of a three-key commit is cut at each of its stages: after `BEGIN`, after
/// the statement locking the rows, after the `REPLACE`, and after `COMMIT` (the proxy cuts
/// the connection as the server answers that request, which it carried out). Before
/// `COMMIT` the server rolls back (the store also kills the session): `Unavailable`,
/// nothing written, no placeholder row left. At `COMMIT`: `Indeterminate`, and the whole
/// commit is there. Always all or nothing; the store recovers each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn transaction_cut_at_each_stage_is_reported_truthfully_and_all_or_nothing() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let Some((proxy, through)) = proxied_tcp(&url) else {
        return;
    };
    // One connection: the warm-up commit prepares the statements the cut commit then only
    // executes (an execute carries the bound keys and values, not the SQL text).
    let options = MysqlOptions::default().max_size(1);
    let (store, _cleanup) = fresh(&url, &through, "cut", options).await;
    let direct = MysqlStore::connect(&url, store.options().clone())
        .await
        .unwrap();
    let mut n = 1_000_000_007u64;
    for round in 0..fault_rounds() {
        for stage in ["BEGIN", "lock", "REPLACE", "COMMIT"] {
            let p = format!("{round}/{stage}/");
            for (i, warm) in [format!("{p}warm/"), p.clone()].iter().enumerate() {
                store
                    .put(&format!("{warm}a"), 0u64, Expect::Absent)
                    .await
                    .unwrap();
                store
                    .put(&format!("{warm}b"), 0u64, Expect::Absent)
                    .await
                    .unwrap();
                if i == 0 {
                    let old = state(&direct, warm).await;
                    store
                        .commit(commit(warm, &old, 1))
                        .await
                        .expect("warm-up commit");
                }
            }
            let before = state(&direct, &p).await;
            n += 1;
            let pattern = match stage {
                // COM_QUERY (0x03) "BEGIN": not the "READ COMMITTED" of a new connection's
                // setup.
                "BEGIN" => b"\x03BEGIN".to_vec(),
                // The first request naming key a is the lock statement's execute.
                "lock" => format!("{p}a").into_bytes(),
                // Only the REPLACE carries the value.
                "REPLACE" => n.to_string().into_bytes(),
                _ => b"\x03COMMIT".to_vec(),
            };
            let cuts = proxy.cuts();
            proxy.cut_reply_to(&pattern);
            let result = store.commit(commit(&p, &before, n)).await;
            assert_eq!(proxy.cuts(), cuts + 1, "{stage}: the proxy cut the reply");
            let after = state(&direct, &p).await;
            let applied = after[0].is_some_and(|a| a.0 == n)
                && after[1].is_none()
                && after[2].is_some_and(|c| c.0 == n);
            eprintln!("cut after {stage}: {result:?}");
            assert!(
                after == before || applied,
                "{stage}: half a commit: {after:?}"
            );
            if stage == "COMMIT" {
                let first = format!("{p}a");
                assert!(
                    matches!(&result, Err(StoreError::Indeterminate { key, .. }) if *key == first),
                    "{stage}: {result:?}"
                );
                assert!(applied, "the COMMIT the server answered applied");
            } else {
                assert!(
                    matches!(result, Err(StoreError::Unavailable { .. })),
                    "{stage}: {result:?}"
                );
                assert!(
                    matches!(
                        source_of(result.as_ref().unwrap_err()),
                        Some(MysqlError::ConnectionLost(_))
                    ),
                    "{stage}: {result:?}"
                );
                assert_eq!(
                    after, before,
                    "{stage}: nothing of an uncommitted commit is kept"
                );
            }
            // The store recovers: the next write (on a new connection) works.
            let now = state(&direct, &p).await;
            let next = Commit::new().put(format!("{p}a"), 7u64, Expect::Version(now[0].unwrap().1));
            store.commit(next).await.expect("the store recovers");
        }
    }
    assert!(proxy.accepted() >= 4, "each cut connection was replaced");
}

/// A commit waiting for a row lock has its session killed by an administrator
/// (`KILL CONNECTION`): Unavailable (it never reached `COMMIT`), nothing written, and the
/// store works again. `KILL QUERY` ends only the statement: the store rolls back and
/// reports the refusal (`Backend`), nothing written, the connection reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn session_killed_on_the_server_mid_commit_writes_nothing() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let options = MysqlOptions::default().statement_timeout(Duration::from_secs(30));
    let (store, _cleanup) = fresh(&url, &url, "kill", options).await;
    let mut locker = admin(&url).await;
    let mut observer = admin(&url).await;
    for kill in ["KILL CONNECTION", "KILL QUERY"] {
        let p = format!("{kill}/");
        store
            .put(&format!("{p}a"), 0u64, Expect::Absent)
            .await
            .unwrap();
        store
            .put(&format!("{p}b"), 0u64, Expect::Absent)
            .await
            .unwrap();
        let before = state(&store, &p).await;
        locker.query_drop("BEGIN").await.unwrap();
        locker
            .exec_drop(
                format!(
                    "SELECT 1 FROM `{}` WHERE `key` = ? FOR UPDATE",
                    store.table()
                ),
                (format!("{p}b"),),
            )
            .await
            .unwrap();
        let op = tokio::spawn({
            let (store, c) = (store.clone(), commit(&p, &before, 5));
            async move { store.commit(c).await }
        });
        let id = lock_waiter(&mut observer, store.table()).await;
        observer.query_drop(format!("{kill} {id}")).await.unwrap();
        let result = op.await.unwrap();
        locker.query_drop("ROLLBACK").await.unwrap();
        let after = state(&store, &p).await;
        eprintln!("{kill} mid-commit: {result:?}");
        match kill {
            "KILL CONNECTION" => {
                assert!(
                    matches!(result, Err(StoreError::Unavailable { .. })),
                    "{result:?}"
                )
            }
            _ => assert!(
                matches!(&result, Err(StoreError::Backend { source })
                    if matches!(source.downcast_ref::<MysqlError>(), Some(MysqlError::Sql(_)))),
                "{result:?}"
            ),
        }
        assert_eq!(after, before, "{kill}: nothing was written");
        let applied = store
            .commit(commit(&p, &before, 6))
            .await
            .expect("the store recovers");
        assert_eq!(applied.len(), 3);
    }
}

/// Histories of 4 workers on 2 keys, with replies cut through the proxy for a moment in the
/// middle of each: cut writes come back `Indeterminate` (maybe applied) or `Unavailable`
/// (not applied), and every per-key history is still linearizable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
async fn histories_stay_linearizable_when_replies_are_lost() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let Some((proxy, through)) = proxied_tcp(&url) else {
        return;
    };
    let table = table_name("hist");
    let options = MysqlOptions::default()
        .table(&table)
        .statement_timeout(Duration::from_secs(2))
        .wait_timeout(Duration::from_secs(2));
    let direct = MysqlStore::connect(&url, options.clone()).await.unwrap();
    direct.migrate().await.unwrap();
    let _cleanup = Cleanup::dropping(&url, &table, direct.sequence());
    let store = MysqlStore::connect(&through, options).await.unwrap();
    let report = histories_with_cut_replies(&store, &proxy).await;
    println!("mariadb: {report:?}");
    assert!(report.histories > 0 && report.ops > 0, "nothing checked");
    assert!(
        report.maybe_applied + report.left_out > 0,
        "no operation was cut off: the fault never hit ({report:?})"
    );
}

async fn histories_with_cut_replies(store: &MysqlStore, proxy: &Proxy) -> HistoryReport {
    let mut total = HistoryReport::default();
    for round in 0..24 * fault_rounds() {
        let history = History::new(&format!("h/{round}/"), 2);
        let workers = futures_util::future::join_all(
            (0..4).map(|w| history.run_worker::<u64, MysqlStore>(store, w, 12)),
        );
        let fault = async {
            tokio::time::sleep(Duration::from_micros(500 + 300 * (round as u64 % 10))).await;
            proxy.set_mode(Mode::CutOnReply);
            tokio::time::sleep(Duration::from_millis(2)).await;
            proxy.set_mode(Mode::Forward);
        };
        tokio::join!(workers, fault);
        proxy.set_mode(Mode::Forward);
        match history.check() {
            Ok(report) => total.merge(&report),
            Err(violation) => {
                panic!("history {round} is not linearizable under faults: {violation}")
            }
        }
    }
    total
}
