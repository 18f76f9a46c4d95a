//! N workers x M increments through the retry helper end at exactly N x M, with a
//! gap-free chain of versions per key.

use std::sync::Arc;

use super::KitValue;
use crate::{RetryPolicy, Version, VersionedStore, update_with};

/// What [`increment_race`] observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceReport {
    /// Successful increments (always `workers * increments`).
    pub increments: u64,
    /// CAS attempts in all (increments + lost races).
    pub attempts: u64,
}

/// Runs `workers` concurrent futures, each doing `increments` read-modify-CAS increments
/// spread over `keys` counters, then checks that every counter holds exactly its number of
/// acknowledged increments, and that sorting each key's successful writes by version gives
/// the values 1, 2, ..., n: every write built on the one before it (a gap-free chain).
///
/// The workers are joined on the calling task, so backends that wait on I/O interleave for
/// real; run it on a multi-threaded executor to add parallelism.
pub async fn increment_race<V, S>(
    store: &Arc<S>,
    prefix: &str,
    workers: usize,
    increments: u64,
    keys: usize,
) -> RaceReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized + 'static,
{
    assert!(workers > 0 && keys > 0, "at least one worker and one key");
    // Every lost race means another worker won, so the race always makes progress; the
    // bound is high so that one unlucky worker does not fail the check.
    let policy = RetryPolicy::new(10_000).backoff(
        std::time::Duration::from_micros(50),
        std::time::Duration::from_millis(5),
    );
    let key_names: Vec<String> = (0..keys).map(|k| format!("{prefix}counter-{k}")).collect();
    let runs = (0..workers).map(|w| {
        let store = Arc::clone(store);
        let policy = policy.clone();
        let key_names = key_names.clone();
        async move {
            let mut writes: Vec<(usize, Version, u64)> = Vec::new();
            let mut attempts = 0u64;
            for i in 0..increments {
                let k = (w + i as usize) % key_names.len();
                let mut written = 0;
                let updated = update_with(&*store, &key_names[k], &policy, |current| {
                    written = current.map_or(0, |c| c.value.counter()) + 1;
                    Ok::<_, std::convert::Infallible>(V::from_counter(written))
                })
                .await
                .unwrap_or_else(|e| panic!("worker {w}: increment {i} failed: {e}"));
                attempts += u64::from(updated.attempts);
                writes.push((k, updated.meta.version, written));
            }
            (writes, attempts)
        }
    });
    let results = futures_util::future::join_all(runs).await;

    let mut per_key: Vec<Vec<(Version, u64)>> = vec![Vec::new(); keys];
    let mut attempts = 0;
    for (writes, a) in results {
        attempts += a;
        for (k, version, value) in writes {
            per_key[k].push((version, value));
        }
    }
    for (k, chain) in per_key.iter_mut().enumerate() {
        chain.sort();
        let values: Vec<u64> = chain.iter().map(|&(_, v)| v).collect();
        let expected: Vec<u64> = (1..=chain.len() as u64).collect();
        assert_eq!(
            values, expected,
            "key {k}: writes sorted by version form the chain 1..=n (a value repeats: a lost update)"
        );
        assert!(
            chain.windows(2).all(|w| w[0].0 < w[1].0),
            "key {k}: versions are unique"
        );
        let stored = store
            .get(&key_names[k])
            .await
            .expect("read back")
            .expect("the counter exists");
        assert_eq!(
            stored.value.counter(),
            chain.len() as u64,
            "key {k}: stored counter equals acknowledged increments"
        );
        assert_eq!(
            Some(stored.version),
            chain.last().map(|c| c.0),
            "key {k}: the stored version is the last write's"
        );
    }
    let increments_total = workers as u64 * increments;
    assert_eq!(
        per_key.iter().map(Vec::len).sum::<usize>() as u64,
        increments_total
    );
    RaceReport {
        increments: increments_total,
        attempts,
    }
}
