//! Overlapping commits naming the same keys in opposite orders all finish, and leave every
//! key written by the same commit.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{Either, select};

use super::KitValue;
use super::failure::Check;
use super::rules;
use super::threads::Driver;
use super::watchdog::{Progress, Watchdog, Watched};
use crate::{Applied, Commit, Expect, StoreError, VersionedStore};

/// The keys every commit of the check names.
const KEYS: usize = 4;

/// How one worker's commit of a round ended.
#[derive(Debug)]
enum Outcome {
    Applied,
    /// Refused with a conflict, though every expectation was `Any`.
    Refused(String),
    Failed(String),
    /// Not finished within the bound (then dropped).
    TimedOut,
    /// Not tried: this worker had timed out before.
    Skipped,
}

/// `workers` workers on OS threads, released together for each of `rounds` rounds, each
/// commit unconditional puts of the same four keys, named in a different order by each
/// worker (rotated, and reversed for every other one), so that a backend locking keys in
/// the order given deadlocks. Every commit must apply within `bound`; after each round
/// (all commits done) the four keys must hold the value of one and the same commit of that
/// round, since every commit wrote all four.
///
/// A commit still pending after `bound` is dropped and reported as a failure naming the
/// rule. A backend that blocks the thread inside a future's `poll` (a synchronous lock
/// taken in the wrong order) cannot be interrupted; if operations are pending and none
/// finishes for twice `bound`, a watchdog prints the failure and **aborts the process**, so
/// the test fails instead of hanging.
///
/// ```
/// use std::time::Duration;
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::<u64>::new();
/// let rounds = optimist::testkit::commits_never_deadlock::<u64, _>(
///     &store, "dl/", 4, 10, Duration::from_secs(30),
/// ).await;
/// assert_eq!(rounds, 10);
/// # });
/// ```
pub async fn commits_never_deadlock<V, S>(
    store: &S,
    prefix: &str,
    workers: usize,
    rounds: usize,
    bound: Duration,
) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("commits_never_deadlock");
    let progress = Progress::new("commits_never_deadlock");
    let _watchdog = Watchdog::start(Arc::clone(&progress), bound * 2);
    let store = Watched::new(store, progress);
    deadlock_race::<V, _>(&driver, &store, prefix, workers, rounds, bound).await
}

/// [`commits_never_deadlock`] with the driver chosen by the caller; returns the rounds run.
pub(super) async fn deadlock_race<V, S>(
    driver: &Driver,
    store: &S,
    prefix: &str,
    workers: usize,
    rounds: usize,
    bound: Duration,
) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let c = Check("commits_never_deadlock");
    assert!(workers >= 2, "commits_never_deadlock: at least two workers");
    let keys: Vec<String> = (0..KEYS).map(|k| format!("{prefix}lock-{k}")).collect();
    let results = driver.run("commits_never_deadlock", workers, |w| {
        let keys = &keys;
        async move {
            let mut outcomes = Vec::with_capacity(rounds);
            let mut after_round: Vec<Vec<Option<u64>>> = Vec::new();
            let mut stuck = false;
            for r in 0..rounds {
                if !w.sync() {
                    break;
                }
                let mut order: Vec<usize> = (0..KEYS).collect();
                order.rotate_left((w.index + r) % KEYS);
                if w.index % 2 == 1 {
                    order.reverse();
                }
                let value = (r * workers + w.index) as u64;
                let outcome = if stuck {
                    Outcome::Skipped
                } else {
                    let mut commit = Commit::new();
                    for &k in &order {
                        commit = commit.put(keys[k].clone(), V::from_counter(value), Expect::Any);
                    }
                    let applying = std::pin::pin!(store.commit(commit));
                    match select(applying, futures_timer::Delay::new(bound)).await {
                        Either::Left((Ok(applied), _)) => {
                            if applied.len() == KEYS
                                && applied.iter().all(|a| matches!(a, Applied::Put(_)))
                            {
                                Outcome::Applied
                            } else {
                                Outcome::Failed(format!("four puts answered {applied:?}"))
                            }
                        }
                        Either::Left((Err(StoreError::CommitConflict(c)), _)) => {
                            Outcome::Refused(c.to_string())
                        }
                        Either::Left((Err(e), _)) => Outcome::Failed(e.to_string()),
                        Either::Right(_) => {
                            stuck = true;
                            Outcome::TimedOut
                        }
                    }
                };
                outcomes.push((order, outcome));
                if !w.sync() {
                    break;
                }
                if w.index == 0 {
                    let mut seen = Vec::with_capacity(KEYS);
                    for key in keys {
                        let read = store.get(key).await;
                        seen.push(read.ok().flatten().map(|r| r.value.counter()));
                    }
                    after_round.push(seen);
                }
            }
            (outcomes, after_round)
        }
    });

    for (w, (outcomes, _)) in results.iter().enumerate() {
        for (r, (order, outcome)) in outcomes.iter().enumerate() {
            match outcome {
                Outcome::Applied | Outcome::Skipped => {}
                Outcome::TimedOut => c.fail(
                    rules::NO_DEADLOCK,
                    format!(
                        "round {r}: worker {w}'s commit of keys in order {order:?} did not finish \
                         within {bound:?} while {} other workers committed the same keys in \
                         other orders",
                        workers - 1
                    ),
                ),
                Outcome::Refused(e) => c.fail(
                    rules::PASSES,
                    format!(
                        "round {r}: worker {w}'s commit of unconditional puts (order {order:?}) \
                         was refused: {e}"
                    ),
                ),
                Outcome::Failed(e) => c.fail(
                    rules::NO_DEADLOCK,
                    format!(
                        "round {r}: worker {w}'s commit of keys in order {order:?} failed: {e}"
                    ),
                ),
            }
        }
    }
    let after_round = &results[0].1;
    for (r, seen) in after_round.iter().enumerate() {
        let round_values = (r * workers) as u64..((r + 1) * workers) as u64;
        let same = seen.iter().all(|v| *v == seen[0]);
        let of_round = seen[0].is_some_and(|v| round_values.contains(&v));
        c.ensure(same && of_round, rules::ALL_OR_NOTHING, || {
            format!(
                "after round {r}, where every commit wrote all {KEYS} keys (values \
                 {round_values:?}), the keys hold {seen:?}: the commits' writes interleaved"
            )
        });
    }
    rounds as u64
}
