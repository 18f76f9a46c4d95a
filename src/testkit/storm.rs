//! Compare-and-swap storms: every worker writes the same hot keys as fast as it can, each
//! attempt pinned to the versions its last attempt returned, so that attempts collide all
//! the time; the successful writes must form one chain of versions per key.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::SeqCst;
use std::time::{Duration, Instant};

use super::KitValue;
use super::failure::Check;
use super::rules;
use super::threads::Driver;
use super::watchdog::{PATIENCE, Progress, Watchdog, Watched};
use crate::{Applied, Commit, Expect, StoreError, Version, VersionedStore};

/// A broken rule and what was seen.
type Broken = (&'static str, String);

/// Attempts slower than this (on average) are a store across a network, whose races are
/// wide: its minimum of attempts is enough.
const SLOW: Duration = Duration::from_micros(200);
/// The conflicts a fast store's storm goes on to see: evidence that the workers ran at the
/// same time often enough (a machine busy with other work runs them one after another most
/// of the time, and a compare and write that are two steps in one process lose an update
/// only when two workers run at once, rarely even then).
const CONFLICTS: u64 = 20_000;
/// How long a fast store's storm may go on to see them, times `min_time`.
const MAX_TIME_FACTOR: u32 = 12;
/// The most attempts one worker makes.
const MAX_ATTEMPTS: usize = 40_000;

/// Whether a worker that has made `attempts` attempts since `started` may stop: after
/// `min_time`, a slow store at once, a fast one once the storm has seen [`CONFLICTS`]
/// conflicts, or the worker made [`MAX_ATTEMPTS`], or it ran for [`MAX_TIME_FACTOR`] times
/// `min_time`.
fn enough(started: Instant, attempts: usize, conflicts: &AtomicU64, min_time: Duration) -> bool {
    let elapsed = started.elapsed();
    if elapsed < min_time {
        return false;
    }
    let slow = elapsed > SLOW * attempts.max(1) as u32;
    slow || attempts >= MAX_ATTEMPTS
        || conflicts.load(SeqCst) >= CONFLICTS
        || elapsed >= min_time * MAX_TIME_FACTOR
}

/// One worker's successful writes of one key: (expected, written, value), and the versions
/// its refusals reported as current.
#[derive(Default)]
struct Seen {
    writes: Vec<Vec<(Version, Version, u64)>>,
    reported: Vec<Vec<Version>>,
    attempts: u64,
}

impl Seen {
    fn new(keys: usize) -> Self {
        Self {
            writes: vec![Vec::new(); keys],
            reported: vec![Vec::new(); keys],
            attempts: 0,
        }
    }
}

/// `workers` workers on OS threads make compare-and-swap attempts on one hot key, without
/// pause, each expecting the version its previous attempt returned (the new version, or the
/// conflict's current one): at least `ops` each and for at least `min_time`. A store that
/// answers in microseconds (an in-process store) goes on until the storm has seen 20000
/// conflicts (or each worker made 40000 attempts, or for 12 times `min_time`): a compare and
/// a write that are two steps in one process lose an update only when two workers run at
/// the same instant, which a machine busy with other work allows rarely, and conflicts are
/// the evidence that they did. No two successful writes may expect the same version (two
/// would mean the compare and the write are not one step: a lost update), the successes
/// sorted by version must form one chain from the key's first version, every conflict must
/// report a version some success wrote, and the key must end at the last.
///
/// ```
/// use std::time::Duration;
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let writes = optimist::testkit::cas_storm::<u64, _>(&store, "s/", 4, 100, Duration::ZERO).await;
/// assert!(writes > 0);
/// # });
/// ```
pub async fn cas_storm<V, S>(
    store: &S,
    prefix: &str,
    workers: usize,
    ops: usize,
    min_time: Duration,
) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("cas_storm");
    let progress = Progress::new("cas_storm");
    let _watchdog = Watchdog::start(Arc::clone(&progress), PATIENCE);
    let store = Watched::new(store, progress);
    storm::<V, _>(&driver, &store, prefix, workers, ops, min_time, 1)
        .await
        .0
}

/// Like [`cas_storm`], with multi-key commits: each attempt is a commit of puts on two or
/// three of three hot keys, each pinned to the version the worker last saw; a refusal's
/// conflicts give the current versions of the keys that failed (the others held). Per key,
/// the successful commits must form one chain, and every reported version must be one a
/// successful commit wrote (a version nobody was told about means a refused commit wrote
/// some of its keys). Needs multi-key commits. `ops` and `min_time` as for [`cas_storm`].
///
/// ```
/// use std::time::Duration;
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let (prefix, time) = ("cs/", Duration::ZERO);
/// let writes = optimist::testkit::commit_storm::<u64, _>(&store, prefix, 4, 100, time).await;
/// assert!(writes > 0);
/// # });
/// ```
pub async fn commit_storm<V, S>(
    store: &S,
    prefix: &str,
    workers: usize,
    ops: usize,
    min_time: Duration,
) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("commit_storm");
    let progress = Progress::new("commit_storm");
    let _watchdog = Watchdog::start(Arc::clone(&progress), PATIENCE);
    let store = Watched::new(store, progress);
    storm::<V, _>(&driver, &store, prefix, workers, ops, min_time, 3)
        .await
        .0
}

/// The storm on `keys` hot keys: single-key puts for one key, commits for more. Returns the
/// successful writes and the attempts.
#[allow(clippy::too_many_arguments)]
pub(super) async fn storm<V, S>(
    driver: &Driver,
    store: &S,
    prefix: &str,
    workers: usize,
    ops: usize,
    min_time: Duration,
    keys: usize,
) -> (u64, u64)
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let c = Check(if keys == 1 {
        "cas_storm"
    } else {
        "commit_storm"
    });
    assert!(workers >= 2, "{}: at least two workers", c.0);
    let names: Vec<String> = (0..keys).map(|k| format!("{prefix}hot-{k}")).collect();
    let mut first = Vec::with_capacity(keys);
    for key in &names {
        let put = store.put(key, V::from_counter(0), Expect::Absent).await;
        first.push(c.ok(rules::PASSES, &format!("create {key:?}"), put).version);
    }
    let conflicts = AtomicU64::new(0);
    let started = Instant::now();
    let seen = driver.run(c.0, workers, |w| {
        let (names, first, conflicts) = (&names, &first, &conflicts);
        async move {
            let mut seen = Seen::new(keys);
            if !w.sync() {
                return Ok(seen);
            }
            let mut current = first.clone();
            for i in 0.. {
                if w.aborted() || (i >= ops && enough(started, i, conflicts, min_time)) {
                    seen.attempts = i as u64;
                    break;
                }
                let value = ((w.index as u64) << 32) | i as u64;
                let refused = if keys == 1 {
                    attempt_put(store, &names[0], value, &mut current[0], &mut seen).await?
                } else {
                    // Two or three of the keys, rotating.
                    let skip = if i % 3 == 2 {
                        None
                    } else {
                        Some((w.index + i) % keys)
                    };
                    let chosen: Vec<usize> = (0..keys).filter(|&k| Some(k) != skip).collect();
                    attempt_commit(store, names, &chosen, value, &mut current, &mut seen).await?
                };
                if refused {
                    conflicts.fetch_add(1, SeqCst);
                }
            }
            Ok::<_, Broken>(seen)
        }
    });
    let seen: Vec<Seen> = seen
        .into_iter()
        .map(|s| s.unwrap_or_else(|(rule, what)| c.fail(rule, what)))
        .collect();

    let attempts: u64 = seen.iter().map(|s| s.attempts).sum();
    let mut total = 0;
    for (k, key) in names.iter().enumerate() {
        let mut writes: Vec<(Version, Version, u64)> = seen
            .iter()
            .flat_map(|s| s.writes[k].iter().copied())
            .collect();
        total += writes.len() as u64;
        writes.sort_unstable_by_key(|w| w.0);
        for pair in writes.windows(2) {
            let ((expected, one, _), (_, other, _)) = (pair[0], pair[1]);
            if pair[1].0 == expected {
                c.fail(
                    rules::ATOMIC,
                    format!(
                        "key {k}: two writes expecting version {expected} both succeeded (as \
                         {one} and {other}) among {attempts} attempts by {workers} workers"
                    ),
                );
            }
        }
        writes.sort_unstable_by_key(|w| w.1);
        let mut previous = first[k];
        for &(expected, written, _) in &writes {
            c.ensure(written > previous, rules::NO_REUSE, || {
                format!(
                    "key {k}: a write expecting {expected} wrote {written}, not above {previous}"
                )
            });
            c.ensure(expected == previous, rules::ATOMIC, || {
                format!(
                    "key {k}: a write expecting version {expected} succeeded as {written}, but \
                     the write before it in version order is {previous} (a write was lost, or \
                     versions do not follow the order of the writes)"
                )
            });
            previous = written;
        }
        let produced =
            |v: &Version| *v == first[k] || writes.binary_search_by_key(v, |w| w.1).is_ok();
        for reported in seen.iter().flat_map(|s| &s.reported[k]) {
            let rule = if keys == 1 {
                rules::CONFLICT_CURRENT
            } else {
                rules::ALL_OR_NOTHING
            };
            c.ensure(produced(reported), rule, || {
                format!(
                    "key {k}: a refusal reported current version {reported}, which no \
                     acknowledged write produced (a refused write changed the key, or the \
                     conflict carries a made-up version)"
                )
            });
        }
        let stored = c.ok(rules::LATEST, "read back", store.get(key).await);
        let stored = stored.map(|s| (s.version, s.value.counter()));
        let last = writes.last().map_or((first[k], 0), |w| (w.1, w.2));
        c.eq(
            rules::LATEST,
            &format!("key {k}: (version, value) after the storm"),
            stored,
            Some(last),
        );
    }
    (total, attempts)
}

/// One single-key attempt; updates `current` from its outcome. `true`: refused.
async fn attempt_put<V, S>(
    store: &S,
    key: &str,
    value: u64,
    current: &mut Version,
    seen: &mut Seen,
) -> Result<bool, Broken>
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let expect = Expect::Version(*current);
    match store.put(key, V::from_counter(value), expect).await {
        Ok(meta) => {
            seen.writes[0].push((*current, meta.version, value));
            *current = meta.version;
            Ok(false)
        }
        Err(StoreError::Conflict(conflict)) => match conflict.current() {
            Some(now) => {
                seen.reported[0].push(now);
                *current = now;
                Ok(true)
            }
            None => {
                let what = format!("a refusal says {key:?} is absent; nobody deletes it");
                Err((rules::CONFLICT_CURRENT, what))
            }
        },
        Err(e) => Err((rules::PASSES, format!("a put failed: {e}"))),
    }
}

/// One commit attempt on the `chosen` keys; updates `current` from its outcome. `true`:
/// refused.
async fn attempt_commit<V, S>(
    store: &S,
    names: &[String],
    chosen: &[usize],
    value: u64,
    current: &mut [Version],
    seen: &mut Seen,
) -> Result<bool, Broken>
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let mut commit = Commit::new();
    for &k in chosen {
        commit = commit.put(
            names[k].clone(),
            V::from_counter(value),
            Expect::Version(current[k]),
        );
    }
    match store.commit(commit).await {
        Ok(applied) => {
            if applied.len() != chosen.len() {
                return Err((
                    rules::COMMIT_RESULTS,
                    format!("{} puts answered {applied:?}", chosen.len()),
                ));
            }
            for (&k, applied) in chosen.iter().zip(applied) {
                let Applied::Put(meta) = applied else {
                    return Err((rules::COMMIT_RESULTS, format!("a put answered {applied:?}")));
                };
                seen.writes[k].push((current[k], meta.version, value));
                current[k] = meta.version;
            }
            Ok(false)
        }
        Err(StoreError::CommitConflict(refusal)) => {
            for conflict in refusal.conflicts() {
                let Some(k) = chosen.iter().copied().find(|&k| names[k] == conflict.key()) else {
                    let what = format!("a refusal names {:?}, not in the commit", conflict.key());
                    return Err((rules::EVERY_CONFLICT, what));
                };
                match conflict.current() {
                    Some(now) => {
                        seen.reported[k].push(now);
                        current[k] = now;
                    }
                    None => {
                        let what = format!("a refusal says key {k} is absent; nobody deletes it");
                        return Err((rules::CONFLICT_CURRENT, what));
                    }
                }
            }
            Ok(true)
        }
        Err(e) => Err((rules::PASSES, format!("a commit failed: {e}"))),
    }
}
