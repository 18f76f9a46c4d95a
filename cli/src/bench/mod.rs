//! `optimist bench`: read-modify-CAS workers against any backend, then a lost-update check.

mod distribution;
mod key_names;
mod pad;
mod report;
mod worker;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use optimist::{Expect, MemoryStore, RetryPolicy, VersionedStore};

use crate::CliError;
use crate::store_spec::{self, StoreSpec};
pub use distribution::Distribution;
use report::Report;
use worker::{BenchValue, Limit, Tally, WorkerPlan};

/// On the memory store, one operation in this many has its latency recorded.
const MEMORY_TIME_EVERY: u32 = 64;

/// `optimist bench` options.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Backend: memory, sqlite:PATH, postgres://USER@HOST/DB, redis://HOST,
    /// etcd://HOST:PORT[,HOST:PORT...], or mysql://USER@HOST/DB (MariaDB)
    #[arg(long, default_value = "memory")]
    pub store: StoreSpec,
    /// Concurrent workers (default: the number of cores).
    #[arg(long)]
    pub workers: Option<usize>,
    /// Number of distinct keys.
    #[arg(long, default_value_t = 1024)]
    pub keys: usize,
    /// Key distribution: uniform, zipf:THETA (e.g. zipf:0.99) or hot (one key).
    #[arg(long, default_value = "uniform")]
    pub distribution: Distribution,
    /// Fraction of operations that only read (0.0 to 1.0).
    #[arg(long, default_value_t = 0.0)]
    pub read_ratio: f64,
    /// How long to run (e.g. 10s, 500ms); the default when --ops is not given is 10s.
    #[arg(long, conflicts_with = "ops")]
    pub duration: Option<humantime::Duration>,
    /// Run exactly this many operations in total instead of a duration.
    #[arg(long)]
    pub ops: Option<u64>,
    /// Bytes of padding stored with each counter.
    #[arg(long, default_value_t = 16)]
    pub value_size: usize,
    /// Attempts per update before giving up (each lost CAS is retried).
    #[arg(long, default_value_t = 1000)]
    pub max_attempts: u32,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Keep the benchmark's keys in the store after the run. Without it every key the run
    /// wrote (`bench:<run id>:<index>`) is deleted once the counters are checked, on
    /// every backend.
    #[arg(long)]
    pub keep_keys: bool,
}

impl BenchArgs {
    fn validate(&self) -> Result<(), CliError> {
        let bad = |m: &str| Err(CliError::BenchOptions(m.to_owned()));
        if self.workers == Some(0) {
            return bad("--workers must be at least 1");
        }
        if self.keys == 0 {
            return bad("--keys must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.read_ratio) {
            return bad("--read-ratio must be between 0.0 and 1.0");
        }
        if self.ops == Some(0) {
            return bad("--ops must be at least 1");
        }
        if self.duration.is_some_and(|d| d.is_zero()) {
            return bad("--duration must be longer than zero");
        }
        Ok(())
    }
}

/// Runs the benchmark and prints its report.
pub async fn run(args: BenchArgs) -> Result<(), CliError> {
    args.validate()?;
    if args.store == StoreSpec::Memory {
        // The memory store is driven as its own type, not through `SharedStore`: that would
        // box two futures per increment and dispatch every call dynamically, which costs
        // more than the store's whole compare-and-swap and is no part of the store.
        return run_on(Arc::new(MemoryStore::<BenchValue>::new()), args, true).await;
    }
    if let StoreSpec::Sqlite(path) = &args.store {
        // As its own type too: an increment on SQLite takes ~15 us, of which the two boxed
        // futures and dynamic calls of a `SharedStore` are a measurable part.
        let store = store_spec::open_sqlite(path, None).await?;
        return run_on(store, args, false).await;
    }
    let store = args.store.open::<BenchValue>().await?;
    run_on(store, args, false).await
}

/// Runs the benchmark against `store`, each worker on its own thread if `own_threads` (only
/// for stores that need no I/O driver: the workers' executors have none).
async fn run_on<S>(store: Arc<S>, args: BenchArgs, own_threads: bool) -> Result<(), CliError>
where
    S: VersionedStore<BenchValue> + Send + Sync + ?Sized + 'static,
{
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let limit = match (args.ops, args.duration) {
        (Some(ops), _) => Limit::Ops(ops),
        (None, Some(d)) => Limit::Time(*d),
        (None, None) => Limit::Time(Duration::from_secs(10)),
    };
    let policy = if args.store == StoreSpec::Memory {
        RetryPolicy::new(args.max_attempts).no_backoff()
    } else {
        RetryPolicy::new(args.max_attempts)
            .backoff(Duration::from_micros(200), Duration::from_millis(20))
            .sleep_with(|d| Box::pin(tokio::time::sleep(d)))
    };
    let prefix = Arc::new(key_names::run_prefix());
    let names = key_names::Namer::table(&prefix, args.keys);
    let pad = pad::Pad::new(&"x".repeat(args.value_size));
    // A memory-store increment takes ~100 ns, of which clock reads would be a visible part:
    // there one operation in `MEMORY_TIME_EVERY` is timed (as the throughput harness does).
    // Other backends' operations take microseconds: every one is timed.
    let time_every = if args.store == StoreSpec::Memory {
        MEMORY_TIME_EVERY
    } else {
        1
    };
    let done = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));

    let progress = progress_bar(&limit, args.json);
    let started = Instant::now();
    let mut handles = Vec::with_capacity(workers);
    for id in 0..workers {
        let plan = WorkerPlan {
            id,
            workers,
            keys: args.keys,
            distribution: args.distribution,
            read_ratio: args.read_ratio,
            limit,
            started,
            prefix: Arc::clone(&prefix),
            names: names.clone(),
            pad: pad.clone(),
            time_every,
            policy: policy.clone(),
            done: Arc::clone(&done),
            conflicts: Arc::clone(&conflicts),
            stop: Arc::clone(&stop),
        };
        let store = Arc::clone(&store);
        let (tx, rx) = tokio::sync::oneshot::channel();
        let work = async move {
            // The receiver is only gone if the run itself was dropped.
            let _ = tx.send(worker::run(&store, plan).await);
        };
        if own_threads {
            // Each worker on its own thread with its own single-threaded executor: on the
            // shared executor a task that yields may resume on another thread, and every such
            // move drags its counters, histogram and future across the caches (with two
            // workers on two cores that cost more than half the throughput).
            // (Like `std::thread::spawn`, a refusal by the OS to start a thread panics.)
            std::thread::Builder::new()
                .name(format!("bench-worker-{id}"))
                .spawn(move || {
                    tokio::runtime::Builder::new_current_thread()
                        .build()
                        .expect("a single-threaded executor without drivers starts")
                        .block_on(work)
                })
                .expect("the OS starts a benchmark worker thread");
        } else {
            tokio::spawn(work);
        }
        handles.push(rx);
    }
    let ticker = progress.clone().map(|bar| {
        let done = Arc::clone(&done);
        let conflicts = Arc::clone(&conflicts);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let ops = done.load(Ordering::Relaxed);
                match &limit {
                    Limit::Ops(_) => bar.set_position(ops),
                    Limit::Time(_) => bar.set_position(started.elapsed().as_millis() as u64),
                }
                bar.set_message(live_rates(
                    ops,
                    conflicts.load(Ordering::Relaxed),
                    started.elapsed(),
                ));
            }
        })
    });
    let mut total = Tally::new(args.keys);
    let mut first_error = None;
    for handle in handles {
        let tally = handle.await.expect("a benchmark worker panicked");
        if first_error.is_none() {
            first_error = tally.first_error.clone();
        }
        total.merge(tally);
    }
    let elapsed = started.elapsed();
    if let Some(t) = ticker {
        t.abort();
    }
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    let verification = verify(&store, &prefix, &total).await?;
    let cleanup = if args.keep_keys {
        Cleanup::Kept
    } else {
        Cleanup::Removed(remove_keys(&store, &prefix, &total).await?)
    };
    let report = Report::new(
        &args,
        workers,
        elapsed,
        &total,
        verification,
        first_error,
        &prefix,
        cleanup,
    );
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    match verification.lost + verification.phantom {
        0 => Ok(()),
        wrong => Err(CliError::LostUpdates(wrong)),
    }
}

fn progress_bar(limit: &Limit, json: bool) -> Option<indicatif::ProgressBar> {
    if json || !std::io::stderr().is_terminal() {
        return None;
    }
    let (len, template) = match limit {
        Limit::Ops(n) => (*n, "{bar:40} {pos}/{len} ops {elapsed}  {msg}"),
        Limit::Time(d) => (d.as_millis() as u64, "{bar:40} {elapsed} of the run  {msg}"),
    };
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    Some(bar)
}

/// The progress bar's live figures: operations per second and conflicts so far.
fn live_rates(ops: u64, conflicts: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!(
        "{} ops/s  {conflicts} conflicts ({}/s)",
        report::rate(ops as f64 / secs),
        report::rate(conflicts as f64 / secs)
    )
}

/// What happened to the benchmark's keys after the run.
#[derive(Clone, Copy, Debug)]
pub enum Cleanup {
    /// `--keep-keys`: left in the store.
    Kept,
    /// Deleted: this many.
    Removed(u64),
}

/// Deletes every key the run wrote (whatever its version) and returns how many existed.
async fn remove_keys<S: VersionedStore<BenchValue> + ?Sized>(
    store: &S,
    prefix: &str,
    total: &Tally,
) -> Result<u64, CliError> {
    let mut removed = 0;
    let mut names = key_names::KeyNames::new(prefix);
    for (index, &acked) in total.per_key.iter().enumerate() {
        let maybe = total.maybe_per_key.get(&index).copied().unwrap_or(0);
        if acked == 0 && maybe == 0 {
            continue;
        }
        let key = names.name(index);
        if store.delete(key, Expect::Any).await?.is_some() {
            removed += 1;
        }
    }
    Ok(removed)
}

/// What the end-of-run check found.
#[derive(Clone, Copy, Debug, Default)]
pub struct Verification {
    /// Keys checked.
    pub keys_checked: u64,
    /// Increments the workers were told succeeded.
    pub acknowledged: u64,
    /// Increments found in the store.
    pub stored: u64,
    /// Keys whose stored counter differs from what the workers were told.
    pub keys_wrong: u64,
    /// Acknowledged increments missing from the store (lost updates).
    pub lost: u64,
    /// Increments in the store that no worker was told succeeded or may have succeeded.
    pub phantom: u64,
}

/// Reads back every key touched and compares its counter with the acknowledged increments.
/// Writes that ended `Indeterminate` may or may not be there; they are allowed on top.
async fn verify<S: VersionedStore<BenchValue> + ?Sized>(
    store: &S,
    prefix: &str,
    total: &Tally,
) -> Result<Verification, CliError> {
    let mut v = Verification::default();
    let mut names = key_names::KeyNames::new(prefix);
    for (index, &acked) in total.per_key.iter().enumerate() {
        let maybe = total.maybe_per_key.get(&index).copied().unwrap_or(0);
        if acked == 0 && maybe == 0 {
            continue;
        }
        let key = names.name(index);
        let stored = store.get(key).await?.map_or(0, |d| d.value.n);
        v.keys_checked += 1;
        v.acknowledged += acked;
        v.stored += stored;
        if stored < acked {
            v.keys_wrong += 1;
            v.lost += acked - stored;
        } else if stored > acked + maybe {
            // A write reported as failed was applied after all.
            v.keys_wrong += 1;
            v.phantom += stored - acked - maybe;
        }
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_progress_bar_shows_rate_and_conflicts() {
        let shown = live_rates(3_000_000, 1_500, Duration::from_secs(2));
        assert_eq!(shown, "1.50M ops/s  1500 conflicts (750/s)");
    }
}
