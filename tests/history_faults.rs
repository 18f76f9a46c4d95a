//! The history checker under faults: workers run against PostgreSQL and Redis through a TCP
//! proxy that, for a moment in every history, cuts each connection as soon as the server
//! replies — the request is carried out, the client never learns it. Those writes come back
//! `Indeterminate` (checked as maybe applied) or `Unavailable` (checked as not applied), and
//! every per-key history must still be linearizable.
//!
//! Needs `OPTIMIST_PG_URL` / `OPTIMIST_REDIS_URL`; skips loudly without them.
#![cfg(all(feature = "testkit", feature = "postgres", feature = "redis"))]

mod common;

use std::time::Duration;

use common::proxy::{Mode, Proxy, fault_rounds, proxied};
use common::{env_url, unique_name};
use optimist::VersionedStore;
use optimist::postgres::{PostgresOptions, PostgresStore};
use optimist::redis::{RedisOptions, RedisStore};
use optimist::testkit::{History, HistoryReport};

const HISTORIES: usize = 24;
const WORKERS: usize = 4;
const OPS: usize = 12;

/// Runs `HISTORIES` (x the fault rounds) histories of `WORKERS` workers on `store`, cutting
/// replies through `proxy` for a few milliseconds in the middle of each, and checks them.
async fn histories_with_cut_replies<S>(store: &S, proxy: &Proxy, prefix: &str) -> HistoryReport
where
    S: VersionedStore<u64>,
{
    let mut total = HistoryReport::default();
    for round in 0..HISTORIES * fault_rounds() {
        let history = History::new(&format!("{prefix}{round}/"), 2);
        let workers = futures_util::future::join_all(
            (0..WORKERS).map(|w| history.run_worker::<u64, S>(store, w, OPS)),
        );
        let fault = async {
            tokio::time::sleep(Duration::from_micros(300 + 100 * (round as u64 % 10))).await;
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

fn assert_faults_happened(name: &str, report: &HistoryReport) {
    println!("{name}: {report:?}");
    assert!(
        report.histories > 0 && report.ops > 0,
        "{name}: nothing checked"
    );
    assert!(
        report.maybe_applied + report.left_out > 0,
        "{name}: no operation was cut off: the fault never hit ({report:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
async fn postgres_histories_stay_linearizable_when_replies_are_lost() {
    let Some(url) = env_url("OPTIMIST_PG_URL") else {
        return;
    };
    let Some((proxy, through)) = proxied(&url) else {
        return;
    };
    let table = unique_name("hist_faults");
    let options = PostgresOptions::default()
        .table(&table)
        .statement_timeout(Duration::from_secs(2))
        .wait_timeout(Duration::from_secs(2));
    let direct = PostgresStore::connect(&url, options.clone())
        .await
        .expect("connect");
    direct.migrate().await.expect("schema");
    let store = PostgresStore::connect(&through, options)
        .await
        .expect("connect through the proxy");
    let report = histories_with_cut_replies(&store, &proxy, "pg/").await;
    direct.drop_schema().await.expect("drop the test table");
    assert_faults_happened("postgres", &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn redis_histories_stay_linearizable_when_replies_are_lost() {
    let Some(url) = env_url("OPTIMIST_REDIS_URL") else {
        return;
    };
    let Some((proxy, through)) = proxied(&url) else {
        return;
    };
    let prefix = unique_name("hist_faults");
    let options = RedisOptions::default()
        .prefix(&prefix)
        .response_timeout(Duration::from_secs(2))
        .connection_timeout(Duration::from_secs(2));
    let store = RedisStore::connect(&through, options)
        .await
        .expect("connect through the proxy");
    let report = histories_with_cut_replies(&store, &proxy, "r/").await;
    // Clean up this run's keys.
    let client = redis::Client::open(url.as_str()).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("admin connection");
    let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    if !keys.is_empty() {
        let _: i64 = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut conn)
            .await
            .expect("DEL");
    }
    assert_faults_happened("redis", &report);
}
