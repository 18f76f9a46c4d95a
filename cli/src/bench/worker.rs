//! One benchmark worker: a loop of reads and read-modify-CAS increments.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use optimist::{RetryPolicy, StoreError, UpdateError, VersionedStore, update_with};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::distribution::{Distribution, KeySampler};
use super::key_names::{NameTable, Namer};
use super::pad::Pad;

/// The stored value: a counter and some padding.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct BenchValue {
    /// Successful increments of this key.
    pub n: u64,
    /// `--value-size` bytes of padding.
    pub pad: Pad,
}

/// When a worker stops.
#[derive(Clone, Copy, Debug)]
pub enum Limit {
    /// After this many operations in total (split between workers).
    Ops(u64),
    /// After this long.
    Time(Duration),
}

/// What one worker is to do.
pub struct WorkerPlan {
    pub id: usize,
    pub workers: usize,
    pub keys: usize,
    pub distribution: Distribution,
    pub read_ratio: f64,
    pub limit: Limit,
    pub started: Instant,
    pub prefix: Arc<String>,
    /// Every key's name, written before the run (`None` for very many keys).
    pub names: Option<Arc<NameTable>>,
    pub pad: Pad,
    /// One operation in this many has its latency recorded (1: every one).
    pub time_every: u32,
    pub policy: RetryPolicy,
    /// Operations finished by all workers, for the progress bar (added in batches).
    pub done: Arc<AtomicU64>,
    /// Failed CAS attempts of all workers, for the progress bar (added in batches).
    pub conflicts: Arc<AtomicU64>,
    /// Set by the first worker that hits a store error: everyone stops.
    pub stop: Arc<AtomicBool>,
}

/// What a worker counted.
pub struct Tally {
    pub ops: u64,
    pub reads: u64,
    pub updates: u64,
    /// CAS attempts (each update is one or more).
    pub attempts: u64,
    /// Updates that succeeded.
    pub successes: u64,
    /// Updates that gave up after `--max-attempts` conflicts.
    pub gave_up: u64,
    /// Operations that failed with a store error (the run stops at the first).
    pub errors: u64,
    pub first_error: Option<String>,
    /// Acknowledged increments per key index.
    pub per_key: Vec<u64>,
    /// Increments that ended `Indeterminate`, per key index: maybe applied.
    pub maybe_per_key: HashMap<usize, u64>,
    /// Latency of the timed operations (one in `time_every`), in nanoseconds.
    pub latency: Histogram<u64>,
}

impl Tally {
    pub fn new(keys: usize) -> Self {
        Self {
            ops: 0,
            reads: 0,
            updates: 0,
            attempts: 0,
            successes: 0,
            gave_up: 0,
            errors: 0,
            first_error: None,
            per_key: vec![0; keys],
            maybe_per_key: HashMap::new(),
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.reads += other.reads;
        self.updates += other.updates;
        self.attempts += other.attempts;
        self.successes += other.successes;
        self.gave_up += other.gave_up;
        self.errors += other.errors;
        for (mine, theirs) in self.per_key.iter_mut().zip(other.per_key) {
            *mine += theirs;
        }
        for (k, n) in other.maybe_per_key {
            *self.maybe_per_key.entry(k).or_default() += n;
        }
        self.latency
            .add(&other.latency)
            .expect("histograms with equal bounds merge");
    }

    /// Failed CAS attempts.
    pub fn conflicts(&self) -> u64 {
        self.attempts - self.successes
    }
}

/// This worker's share of `Limit::Ops`.
fn quota(plan: &WorkerPlan) -> Option<u64> {
    match plan.limit {
        Limit::Ops(total) => {
            let w = plan.workers as u64;
            Some(total / w + u64::from((plan.id as u64) < total % w))
        }
        Limit::Time(_) => None,
    }
}

const PROGRESS_BATCH: u64 = 256;

pub async fn run<S: VersionedStore<BenchValue> + ?Sized>(store: &S, plan: WorkerPlan) -> Tally {
    let sampler = KeySampler::new(plan.distribution, plan.keys)
        .expect("the distribution was validated with the key count");
    let mut rng = SmallRng::seed_from_u64(0x5eed ^ plan.id as u64);
    let mut tally = Tally::new(plan.keys);
    let quota = quota(&plan);
    let deadline = match plan.limit {
        Limit::Time(d) => Some(plan.started + d),
        Limit::Ops(_) => None,
    };
    let mut names = Namer::new(plan.names.as_ref(), &plan.prefix);
    let pad = plan.pad.clone();
    let mut unreported = 0;
    let mut reported_conflicts = 0;
    // Timed operations are every `time_every`th, the first included; a timed operation's
    // clock reads bracket it alone, so its latency is that of one operation, and the ones
    // between are a systematic sample of the others. The deadline is checked at each.
    let mut until_timed = 1;
    loop {
        if quota.is_some_and(|q| tally.ops >= q) || plan.stop.load(Ordering::Relaxed) {
            break;
        }
        until_timed -= 1;
        let started = (until_timed == 0).then(|| {
            until_timed = plan.time_every;
            Instant::now()
        });
        if started.zip(deadline).is_some_and(|(t, d)| t >= d) {
            break;
        }
        let index = sampler.sample(&mut rng);
        let key = names.name(index);
        // No draw when every operation is an update (or every one a read).
        let read = plan.read_ratio > 0.0
            && (plan.read_ratio >= 1.0 || rng.random::<f64>() < plan.read_ratio);
        let outcome = if read {
            tally.reads += 1;
            store.get(key).await.map(drop)
        } else {
            tally.updates += 1;
            let pad = &pad;
            let result = update_with(store, key, &plan.policy, |current| {
                Ok::<_, std::convert::Infallible>(BenchValue {
                    n: current.map_or(0, |c| c.value.n) + 1,
                    pad: pad.clone(),
                })
            })
            .await;
            match result {
                Ok(updated) => {
                    tally.attempts += u64::from(updated.attempts);
                    tally.successes += 1;
                    tally.per_key[index] += 1;
                    Ok(())
                }
                Err(UpdateError::GaveUp { attempts, .. }) => {
                    tally.attempts += u64::from(attempts);
                    tally.gave_up += 1;
                    Ok(())
                }
                Err(UpdateError::Store(e)) => {
                    tally.attempts += 1;
                    if matches!(e, StoreError::Indeterminate { .. }) {
                        *tally.maybe_per_key.entry(index).or_default() += 1;
                    }
                    Err(e)
                }
                Err(UpdateError::Aborted(never)) => match never {},
            }
        };
        if let Some(t) = started {
            let nanos = u64::try_from(t.elapsed().as_nanos()).unwrap_or(u64::MAX);
            tally.latency.saturating_record(nanos.max(1));
        }
        tally.ops += 1;
        if let Err(e) = outcome {
            tally.errors += 1;
            tally.first_error.get_or_insert_with(|| e.to_string());
            plan.stop.store(true, Ordering::Relaxed);
            break;
        }
        unreported += 1;
        if unreported == PROGRESS_BATCH {
            plan.done.fetch_add(unreported, Ordering::Relaxed);
            unreported = 0;
            let conflicts = tally.conflicts();
            plan.conflicts
                .fetch_add(conflicts - reported_conflicts, Ordering::Relaxed);
            reported_conflicts = conflicts;
            // Let other tasks on this executor thread run (the progress bar): the memory
            // store never yields.
            tokio::task::yield_now().await;
        }
    }
    plan.done.fetch_add(unreported, Ordering::Relaxed);
    plan.conflicts
        .fetch_add(tally.conflicts() - reported_conflicts, Ordering::Relaxed);
    tally
}
