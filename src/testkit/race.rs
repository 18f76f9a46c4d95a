//! N workers x M increments through the retry helper end at exactly N x M, with a gap-free
//! chain of versions per key.

use std::sync::Arc;

use super::KitValue;
use super::failure::Check;
use super::rules;
use super::threads::Driver;
use super::watchdog::{PATIENCE, Progress, Watchdog, Watched};
use crate::{RetryPolicy, Version, VersionedStore, update_with};

/// What [`increment_race`] observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaceReport {
    /// Successful increments (always `workers * increments`).
    pub increments: u64,
    /// CAS attempts in all (increments + lost races).
    pub attempts: u64,
}

/// Runs `workers` workers, each on its own OS thread, each doing `increments`
/// read-modify-CAS increments spread over `keys` counters, then checks that every counter
/// holds exactly its number of acknowledged increments, and that sorting each key's
/// successful writes by version gives the values 1, 2, ..., n: every write built on the one
/// before it (a gap-free chain; a repeated value is a lost update).
///
/// Call it from outside any runtime or from a multi-threaded tokio runtime (see
/// [`Kit`](super::Kit)).
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::<u64>::new();
/// let report = optimist::testkit::increment_race::<u64, _>(&store, "race/", 4, 10, 2).await;
/// assert_eq!(report.increments, 40);
/// # });
/// ```
pub async fn increment_race<V, S>(
    store: &S,
    prefix: &str,
    workers: usize,
    increments: u64,
    keys: usize,
) -> RaceReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("increment_race");
    let progress = Progress::new("increment_race");
    let _watchdog = Watchdog::start(Arc::clone(&progress), PATIENCE);
    let store = Watched::new(store, progress);
    race::<V, _>(&driver, &store, prefix, workers, increments, keys).await
}

/// [`increment_race`] with the driver chosen by the caller.
pub(super) async fn race<V, S>(
    driver: &Driver,
    store: &S,
    prefix: &str,
    workers: usize,
    increments: u64,
    keys: usize,
) -> RaceReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let c = Check("increment_race");
    assert!(
        workers > 0 && keys > 0,
        "increment_race: at least one worker and one key"
    );
    // Every lost race means another worker won, so the race always makes progress; the
    // bound is high so that one unlucky worker does not fail the check.
    let policy = RetryPolicy::new(10_000).backoff(
        std::time::Duration::from_micros(20),
        std::time::Duration::from_millis(2),
    );
    let key_names: Vec<String> = (0..keys).map(|k| format!("{prefix}counter-{k}")).collect();
    let results = driver.run("increment_race", workers, |w| {
        let (policy, key_names) = (&policy, &key_names);
        async move {
            let mut writes: Vec<(usize, Version, u64)> = Vec::new();
            let mut attempts = 0u64;
            if !w.sync() {
                return Ok((writes, attempts));
            }
            for i in 0..increments {
                let k = (w.index + i as usize) % key_names.len();
                let mut written = 0;
                let updated = update_with(store, &key_names[k], policy, |current| {
                    written = current.map_or(0, |c| c.value.counter()) + 1;
                    Ok::<_, std::convert::Infallible>(V::from_counter(written))
                })
                .await
                .map_err(|e| format!("worker {}: increment {i} failed: {e}", w.index))?;
                attempts += u64::from(updated.attempts);
                writes.push((k, updated.meta.version, written));
            }
            Ok::<_, String>((writes, attempts))
        }
    });

    let mut per_key: Vec<Vec<(Version, u64)>> = vec![Vec::new(); keys];
    let mut attempts = 0;
    for result in results {
        let (writes, a) = c.ok(rules::PASSES, "an increment", result);
        attempts += a;
        for (k, version, value) in writes {
            per_key[k].push((version, value));
        }
    }
    for (k, chain) in per_key.iter_mut().enumerate() {
        chain.sort();
        for pair in chain.windows(2) {
            c.ensure(pair[0].0 < pair[1].0, rules::NO_REUSE, || {
                format!(
                    "key {k}: two increments were both acknowledged as version {}",
                    pair[0].0
                )
            });
        }
        let values: Vec<u64> = chain.iter().map(|&(_, v)| v).collect();
        let expected: Vec<u64> = (1..=chain.len() as u64).collect();
        if values != expected {
            let at = values
                .iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            c.fail(
                rules::ATOMIC,
                format!(
                    "key {k}: the acknowledged increments sorted by version should write \
                     1..={}, but write {} at position {at} (around: {:?}): two workers \
                     read the same value and both of their writes were accepted (a lost \
                     update)",
                    chain.len(),
                    values[at],
                    &values[at.saturating_sub(2)..(at + 3).min(values.len())]
                ),
            );
        }
        let stored = c.ok(rules::LATEST, "read back", store.get(&key_names[k]).await);
        let stored = stored.unwrap_or_else(|| c.fail(rules::LATEST, "a counter reads absent"));
        c.eq(
            rules::ATOMIC,
            &format!(
                "key {k}: the stored counter after {} acknowledged increments",
                chain.len()
            ),
            stored.value.counter(),
            chain.len() as u64,
        );
        c.eq(
            rules::LATEST,
            &format!("key {k}: the stored version against the last increment's"),
            Some(stored.version),
            chain.last().map(|c| c.0),
        );
    }
    RaceReport {
        increments: workers as u64 * increments,
        attempts,
    }
}
