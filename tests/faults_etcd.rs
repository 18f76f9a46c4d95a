//! The etcd backend under node failure, on 3-member clusters of the tests' own (client ports
//! 23794-23799, peer ports 23804-23809; data on /dev/shm), so members can be killed without
//! disturbing the shared cluster:
//!
//! - the **leader is killed -9 during a stream of compare-and-swap writes**: no acknowledged
//!   write is lost (each one is found in etcd's history at its revision), writes in flight come
//!   back `Indeterminate` (never a false success or conflict), the store goes on through the
//!   other members, concurrent histories stay linearizable, and the member, restarted,
//!   rejoins and catches up;
//! - **quorum is lost**: writes and reads are `Unavailable` (certainly not applied), and the
//!   store works again once a majority is back.
//!
//! Runs where the backend tests run: skips loudly unless `OPTIMIST_ETCD_URL` is set (as
//! `.ci/run` does), and needs the `etcd` binary (`apt-get install etcd-server`, or
//! `OPTIMIST_ETCD_BIN`).
#![cfg(all(feature = "etcd", feature = "testkit"))]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::etcd::Cluster;
use etcd_client::{Client, ConnectOptions, GetOptions};
use optimist::etcd::{EtcdOptions, EtcdStore};
use optimist::testkit::{History, HistoryReport};
use optimist::{Expect, StoreError, Version, Versioned, VersionedStore};

fn enabled() -> bool {
    common::env_url("OPTIMIST_ETCD_URL").is_some()
}

fn options() -> EtcdOptions {
    EtcdOptions::default()
        .prefix("faults/")
        .request_timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_millis(500))
        .failover_timeout(Duration::from_secs(8))
}

/// A store on `cluster` that sends its requests to member `first` first.
async fn store_preferring(cluster: &Cluster, first: usize, options: EtcdOptions) -> EtcdStore {
    let mut order = cluster.endpoints();
    order.rotate_left(first);
    let store = EtcdStore::connect(&format!("etcd://{}", order.join(",")), options)
        .await
        .expect("connect to the test cluster");
    assert_eq!(store.preferred_endpoint(), cluster.endpoint(first));
    store
}

/// Reads `key`, retrying while the cluster is unavailable (at most 30 s).
async fn read_settled(store: &EtcdStore, key: &str) -> Option<Versioned<u64>> {
    let started = Instant::now();
    loop {
        match store.get(key).await {
            Ok(read) => return read,
            Err(StoreError::Unavailable { .. }) if started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("read {key}: {e}"),
        }
    }
}

/// What one single-writer worker saw.
#[derive(Default, Debug)]
struct Tally {
    /// Acknowledged writes: (value, version, when).
    acked: Vec<(u64, Version, Instant)>,
    /// Why the indeterminate writes were indeterminate.
    causes: Vec<String>,
    /// Indeterminate writes found applied / not applied by the re-read after them.
    indeterminate_applied: usize,
    indeterminate_not_applied: usize,
    /// Writes refused as certainly not applied.
    unavailable: usize,
    /// Conflicts explained by an earlier indeterminate write of ours applied late.
    late_applied: usize,
}

/// One writer owning `key`: increments it by compare-and-swap until `stop`, resolving every
/// indeterminate write by a linearizable re-read. Panics on a false success or conflict.
async fn single_writer(store: EtcdStore, key: String, stop: Arc<AtomicBool>) -> Tally {
    let mut tally = Tally::default();
    let mut current: Option<Versioned<u64>> = None;
    let mut attempted: Vec<u64> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let next = current.as_ref().map_or(1, |c| c.value + 1);
        let expect = Expect::from(current.as_ref().map(|c| c.version));
        attempted.push(next);
        match store.put(&key, next, expect).await {
            Ok(meta) => {
                if let Some(c) = &current {
                    assert!(meta.version > c.version, "{key}: versions go forward");
                }
                tally.acked.push((next, meta.version, Instant::now()));
                current = Some(Versioned {
                    value: next,
                    version: meta.version,
                    last_modified: meta.last_modified,
                });
            }
            Err(StoreError::Indeterminate { key: k, source }) => {
                assert_eq!(k, key);
                tally.causes.push(source.to_string());
                let now = read_settled(&store, &key).await;
                match &now {
                    Some(n) if n.value == next => tally.indeterminate_applied += 1,
                    _ => {
                        assert_eq!(
                            now.as_ref().map(|n| (n.value, n.version)),
                            current.as_ref().map(|c| (c.value, c.version)),
                            "{key}: after an indeterminate write the key holds neither it nor \
                             the previous state"
                        );
                        tally.indeterminate_not_applied += 1;
                    }
                }
                current = now;
            }
            Err(StoreError::Unavailable { .. }) => {
                tally.unavailable += 1;
                let now = read_settled(&store, &key).await;
                assert_eq!(
                    now.as_ref().map(|n| (n.value, n.version)),
                    current.as_ref().map(|c| (c.value, c.version)),
                    "{key}: a write reported as not applied was applied"
                );
            }
            Err(StoreError::Conflict(c)) => {
                // Only a write of ours that was cut off and applied after our re-read can
                // have moved the key: anything else is a false conflict.
                let now = read_settled(&store, &key).await.expect("the key exists");
                assert_eq!(
                    c.current(),
                    Some(now.version),
                    "{key}: conflict not current"
                );
                assert!(
                    attempted[..attempted.len() - 1].contains(&now.value),
                    "{key}: false conflict: {c} (the key holds {}, which we never wrote)",
                    now.value
                );
                tally.late_applied += 1;
                current = Some(now);
            }
            Err(e) => panic!("{key}: unexpected {e}"),
        }
    }
    tally
}

/// Runs histories of 3 workers on 2 keys, one after another, until `stop`; checks each.
async fn histories_until(store: EtcdStore, stop: Arc<AtomicBool>) -> HistoryReport {
    let mut report = HistoryReport::default();
    let mut round = 0;
    while !stop.load(Ordering::Relaxed) {
        let history = History::new(&format!("hist/{round}/"), 2);
        let workers = (0..3).map(|w| history.run_worker::<u64, _>(&store, w, 8));
        futures_util::future::join_all(workers).await;
        match history.check() {
            Ok(r) => report.merge(&r),
            Err(v) => panic!("history {round} is not linearizable across a leader kill: {v}"),
        }
        round += 1;
    }
    report
}

/// The value etcd's history holds for `etcd_key` at `revision` (through `endpoint` only,
/// serializable when `local`).
async fn value_at(
    client: &mut Client,
    etcd_key: &str,
    revision: Option<i64>,
    local: bool,
) -> Option<(u64, i64)> {
    let mut options = GetOptions::new();
    if let Some(r) = revision {
        options = options.with_revision(r);
    }
    if local {
        options = options.with_serializable();
    }
    let reply = client.get(etcd_key, Some(options)).await.expect("raw read");
    reply.kvs().first().map(|kv| {
        let json = &kv.value()[9..];
        (
            serde_json::from_slice(json).expect("a counter"),
            kv.mod_revision(),
        )
    })
}

async fn raw(endpoint: &str) -> Client {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_millis(500))
        .with_timeout(Duration::from_secs(2));
    Client::connect([endpoint], Some(options))
        .await
        .expect("raw client")
}

/// What one leader kill showed.
#[derive(Default)]
struct KillReport {
    acked: usize,
    indeterminate_applied: usize,
    indeterminate_not_applied: usize,
    unavailable: usize,
    late_applied: usize,
    lost: usize,
    causes: Vec<String>,
    history: HistoryReport,
}

/// One round: writers and histories stream through the leader and a follower, the leader is
/// killed -9, the stream goes on through the survivors, everything is checked, and the
/// killed member is restarted and caught up.
async fn kill_the_leader_once(cluster: &mut Cluster, round: usize) -> KillReport {
    let leader = cluster.wait_for_leader(Duration::from_secs(15)).await;
    let follower = (leader + 1) % cluster.len();
    let prefix = format!("faults/{round}/");
    let options = options().prefix(prefix.clone());
    // Half the writers talk to the leader (their requests die with it), half to a follower
    // (their requests are forwarded to the dead leader and time out).
    let via_leader = store_preferring(cluster, leader, options.clone()).await;
    let via_follower = store_preferring(cluster, follower, options.clone()).await;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..6 {
        let store = if w % 2 == 0 {
            &via_leader
        } else {
            &via_follower
        };
        writers.push(tokio::spawn(single_writer(
            store.clone(),
            format!("w{w}"),
            Arc::clone(&stop),
        )));
    }
    let histories = tokio::spawn(histories_until(via_leader.clone(), Arc::clone(&stop)));

    tokio::time::sleep(Duration::from_millis(400)).await;
    let killed_at = Instant::now();
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader(Duration::from_secs(15)).await;
    let elected_after = killed_at.elapsed();
    // Let the stream go on through the survivors for a while.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut tallies = Vec::new();
    for w in writers {
        tallies.push(w.await.expect("writer"));
    }
    let mut report = KillReport {
        history: histories.await.expect("histories"),
        ..KillReport::default()
    };

    // Every acknowledged write is in etcd's history at its revision, and the final state is
    // the last acknowledged write or a later one of ours.
    let mut survivor = raw(&cluster.endpoint(new_leader)).await;
    let mut final_state = HashMap::new();
    for (w, t) in tallies.iter().enumerate() {
        let etcd_key = format!("{prefix}w{w}");
        for &(value, version, _) in &t.acked {
            let at = value_at(&mut survivor, &etcd_key, Some(version.get() as i64), false).await;
            if at != Some((value, version.get() as i64)) {
                report.lost += 1;
                eprintln!("LOST: {etcd_key} = {value} at {version}: history has {at:?}");
            }
        }
        let now = value_at(&mut survivor, &etcd_key, None, false)
            .await
            .expect("written");
        if let Some(&(value, version, _)) = t.acked.last() {
            assert!(
                now.0 > value || now == (value, version.get() as i64),
                "{etcd_key}: the last acknowledged write ({value} at {version}) was overwritten \
                 by {now:?}"
            );
        }
        // Every writer went on after the kill, also those whose preferred member died.
        let after = t.acked.iter().filter(|a| a.2 > killed_at).count();
        assert!(
            after > 0,
            "{etcd_key}: nothing acknowledged after the kill: {t:?}"
        );
        final_state.insert(etcd_key, now);
        report.acked += t.acked.len();
        report.indeterminate_applied += t.indeterminate_applied;
        report.indeterminate_not_applied += t.indeterminate_not_applied;
        report.unavailable += t.unavailable;
        report.late_applied += t.late_applied;
        report.causes.extend(t.causes.iter().cloned());
    }
    eprintln!(
        "round {round}: leader killed mid-stream, new leader after {elected_after:?}; {} \
         acknowledged, {} indeterminate ({} applied, {} not), {} unavailable, {} applied late, \
         lost = {}; histories: {:?}",
        report.acked,
        report.indeterminate_applied + report.indeterminate_not_applied,
        report.indeterminate_applied,
        report.indeterminate_not_applied,
        report.unavailable,
        report.late_applied,
        report.lost,
        report.history
    );

    // The killed member rejoins and catches up: its own (serializable) reads show the final
    // state once its revision reaches the cluster's.
    cluster.restart(leader);
    let target = survivor
        .get(prefix.as_str(), Some(GetOptions::new().with_count_only()))
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    let started = Instant::now();
    let mut rejoined = raw(&cluster.endpoint(leader)).await;
    loop {
        let revision = match rejoined.status().await {
            Ok(s) => s.header().map_or(0, |h| h.revision()),
            Err(_) => 0,
        };
        if revision >= target {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the restarted member did not catch up (revision {revision} < {target}); logs:\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (etcd_key, expected) in &final_state {
        let local = value_at(&mut rejoined, etcd_key, None, true).await;
        assert_eq!(
            local.as_ref(),
            Some(expected),
            "{etcd_key} on the rejoined member"
        );
    }
    eprintln!(
        "round {round}: the killed member rejoined and caught up in {:?}",
        started.elapsed()
    );

    // And the store uses it again: a store sending there first writes through it.
    let only = store_preferring(cluster, leader, options).await;
    let v = only
        .put("after", 1u64, Expect::Absent)
        .await
        .expect("write via the rejoined member");
    let read: Option<Versioned<u64>> = only.get("after").await.unwrap();
    assert_eq!(read.map(|r| r.version), Some(v.version));
    report
}

/// `OPTIMIST_FAULT_ROUNDS` leader kills (default 1), each on the leader of the moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn leader_killed_during_a_cas_stream_loses_no_acknowledged_write() {
    if !enabled() {
        return;
    }
    let mut cluster = Cluster::start(3, 23794, 23804).await;
    let mut total = KillReport::default();
    for round in 0..common::proxy::fault_rounds() {
        let r = kill_the_leader_once(&mut cluster, round).await;
        total.acked += r.acked;
        total.indeterminate_applied += r.indeterminate_applied;
        total.indeterminate_not_applied += r.indeterminate_not_applied;
        total.unavailable += r.unavailable;
        total.late_applied += r.late_applied;
        total.lost += r.lost;
        total.causes.extend(r.causes);
        total.history.merge(&r.history);
    }
    total.causes.sort();
    total.causes.dedup();
    eprintln!("indeterminate because: {:#?}", total.causes);
    assert_eq!(total.lost, 0, "acknowledged writes were lost");
    assert!(total.acked > 0);
    assert!(total.history.histories > 0 && total.history.ops > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn without_quorum_requests_are_unavailable_and_nothing_is_applied() {
    if !enabled() {
        return;
    }
    let mut cluster = Cluster::start(3, 23797, 23807).await;
    let leader = cluster.wait_for_leader(Duration::from_secs(10)).await;
    let survivor = (leader + 1) % cluster.len();
    let quick = options()
        .request_timeout(Duration::from_secs(1))
        .failover_timeout(Duration::from_millis(800));
    let store = store_preferring(&cluster, survivor, quick).await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;

    for i in 0..cluster.len() {
        if i != survivor {
            cluster.kill(i);
        }
    }
    // Wait until the survivor knows it has no leader (one election timeout or so).
    let started = Instant::now();
    loop {
        match cluster.status(survivor).await {
            Some(s) if s.leader() == 0 => break,
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the survivor kept a leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for round in 0..2 {
        let write = store.put("k", 2 + round, Expect::Version(v1)).await;
        assert!(
            matches!(write, Err(StoreError::Unavailable { .. })),
            "a write without quorum must be refused as not applied: {write:?}"
        );
        let read = VersionedStore::<u64>::get(&store, "k").await;
        assert!(
            matches!(read, Err(StoreError::Unavailable { .. })),
            "{read:?}"
        );
    }

    // A majority again: the refused writes were not applied, and the store works.
    let back = (survivor + 1) % cluster.len();
    cluster.restart(back);
    cluster.wait_for_leader(Duration::from_secs(15)).await;
    let read = read_settled(&store, "k").await.expect("k");
    assert_eq!((read.value, read.version), (1, v1));
    let v2 = store
        .put("k", 5u64, Expect::Version(v1))
        .await
        .expect("writes work again")
        .version;
    assert!(v2 > v1);
    eprintln!("quorum lost and regained in {:?}", started.elapsed());
}
