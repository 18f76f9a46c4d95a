//! Many workers, released at the same instant, all write one key expecting the same state:
//! exactly one may win each round.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use super::KitValue;
use super::failure::Check;
use super::rules;
use super::threads::Driver;
use super::watchdog::{PATIENCE, Progress, Watchdog, Watched};
use crate::Expect;
use crate::{StoreError, Version, VersionedStore};

/// What a round asks every worker to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    /// Create the (absent) key: `Expect::Absent`.
    Create,
    /// Update it from the version the last round left: `Expect::Version`.
    Update,
    /// Delete it from that version.
    Delete,
}

const CYCLE: [Round; 4] = [Round::Create, Round::Update, Round::Update, Round::Delete];
/// The most cycles a run makes, times its minimum.
const MAX_FACTOR: usize = 50;

/// One worker's outcome of one round.
#[derive(Debug)]
enum Outcome {
    /// Written (the new version) or deleted (`None`).
    Won(Option<Version>),
    /// Refused: the conflict's current version.
    Lost(Option<Version>),
    /// Anything else.
    Failed(String),
}

/// `workers` workers on OS threads contend for one key in cycles of rounds (create expecting
/// absent, two updates expecting the version the last round left, delete expecting it): at
/// least `cycles` cycles, and more until `min_time` has passed (at most 50 times `cycles`).
/// A gate releases all workers at once for every round, so their writes collide. In every
/// round exactly one worker must win, every other must get a [`Conflict`](crate::Conflict)
/// carrying the winner's result as the current version, and each new version must exceed
/// all earlier ones (the key is re-created every cycle).
///
/// A compare and a write that are not one step (a store that checks under one lock
/// acquisition and writes under another) show here as two winners of one round, when two
/// workers pass the compare before either writes; [`cas_storm`](super::cas_storm) tries the
/// same far more often.
///
/// ```
/// use std::time::Duration;
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::<u64>::new();
/// let (workers, cycles, min_time) = (4, 5, Duration::ZERO);
/// let rounds =
///     optimist::testkit::one_writer_wins::<u64, _>(&store, "one/", workers, cycles, min_time)
///         .await;
/// assert_eq!(rounds, 20);
/// # });
/// ```
pub async fn one_writer_wins<V, S>(
    store: &S,
    prefix: &str,
    workers: usize,
    cycles: usize,
    min_time: Duration,
) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("one_writer_wins");
    let progress = Progress::new("one_writer_wins");
    let _watchdog = Watchdog::start(Arc::clone(&progress), PATIENCE);
    let store = Watched::new(store, progress);
    contend::<V, _>(&driver, &store, prefix, workers, cycles, min_time).await
}

/// [`one_writer_wins`] with the driver chosen by the caller; returns the rounds run.
pub(super) async fn contend<V, S>(
    driver: &Driver,
    store: &S,
    prefix: &str,
    workers: usize,
    cycles: usize,
    min_time: Duration,
) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let c = Check("one_writer_wins");
    assert!(workers >= 2, "one_writer_wins: at least two workers");
    let key = format!("{prefix}contended");
    // The round at which everyone stops, decided by worker 0 at the end of a cycle once the
    // minimum is done (all workers are in the same round between two releases).
    let stop_at = AtomicUsize::new(usize::MAX);
    let started = Instant::now();
    let outcomes = driver.run("one_writer_wins", workers, |w| {
        let (key, stop_at) = (&key, &stop_at);
        async move {
            let mut current: Option<Version> = None;
            let mut mine = Vec::new();
            for r in 0.. {
                if !w.sync() || r >= stop_at.load(SeqCst) {
                    break;
                }
                let value = V::from_counter((r * workers + w.index) as u64);
                let result = match (CYCLE[r % CYCLE.len()], current) {
                    (Round::Create, _) => Some(
                        store
                            .put(key, value, Expect::Absent)
                            .await
                            .map(|m| Some(m.version)),
                    ),
                    (Round::Update, Some(v)) => Some(
                        store
                            .put(key, value, Expect::Version(v))
                            .await
                            .map(|m| Some(m.version)),
                    ),
                    (Round::Delete, Some(v)) => {
                        Some(store.delete(key, Expect::Version(v)).await.map(|_| None))
                    }
                    // The previous round left no version to expect (it went wrong, and the
                    // check reports that round).
                    (_, None) => None,
                };
                let outcome = match result {
                    Some(Ok(now)) => Outcome::Won(now),
                    Some(Err(StoreError::Conflict(conflict))) => Outcome::Lost(conflict.current()),
                    Some(Err(e)) => Outcome::Failed(e.to_string()),
                    None => Outcome::Failed("no version known from the previous round".into()),
                };
                current = match outcome {
                    Outcome::Won(now) | Outcome::Lost(now) => now,
                    Outcome::Failed(_) => current,
                };
                mine.push(outcome);
                let cycle_done = (r + 1) % CYCLE.len() == 0;
                let cycles_done = (r + 1) / CYCLE.len();
                let enough = cycles_done >= cycles
                    && (started.elapsed() >= min_time || cycles_done >= cycles * MAX_FACTOR);
                if w.index == 0 && cycle_done && enough {
                    stop_at.fetch_min(r + 1, SeqCst);
                }
            }
            mine
        }
    });
    let ran = outcomes.iter().map(Vec::len).min().unwrap_or(0);
    let rounds: Vec<Round> = (0..ran).map(|r| CYCLE[r % CYCLE.len()]).collect();

    let mut newest: Option<Version> = None;
    for (r, round) in rounds.iter().enumerate() {
        let what = |detail: String| format!("round {r} ({round:?}, {workers} workers): {detail}");
        let mut winners = Vec::new();
        for (w, mine) in outcomes.iter().enumerate() {
            match mine.get(r) {
                Some(Outcome::Won(now)) => winners.push((w, *now)),
                Some(Outcome::Failed(e)) => {
                    c.fail(rules::PASSES, what(format!("worker {w} failed: {e}")));
                }
                _ => {}
            }
        }
        if winners.len() > 1 {
            c.fail(
                rules::ATOMIC,
                what(format!(
                    "{} workers expecting the same state all succeeded: {}",
                    winners.len(),
                    winners
                        .iter()
                        .map(|(w, v)| format!("worker {w} -> {v:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            );
        }
        let Some(&(winner, result)) = winners.first() else {
            c.fail(
                rules::PASSES,
                what("every worker was refused, though the expectation held for the first".into()),
            )
        };
        if let Some(v) = result {
            c.ensure(newest.is_none_or(|n| v > n), rules::NO_REUSE, || {
                what(format!(
                    "worker {winner} wrote version {v}, not above the key's earlier {newest:?}"
                ))
            });
            newest = Some(v);
        }
        for (w, mine) in outcomes.iter().enumerate() {
            if let Some(Outcome::Lost(current)) = mine.get(r) {
                c.ensure(*current == result, rules::CONFLICT_CURRENT, || {
                    what(format!(
                        "worker {w} was refused with current version {current:?}, but the only \
                         write of the round (worker {winner}'s) left {result:?}"
                    ))
                });
            }
        }
    }
    let left = c.ok(
        rules::LATEST,
        "read after the rounds",
        store.get(&key).await,
    );
    c.eq(
        rules::LATEST,
        "the key after its last delete round",
        left.map(|l| l.version),
        None,
    );
    rounds.len() as u64
}
