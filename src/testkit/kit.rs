//! The kit as one call with options: [`Kit`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::commit::KEYS_NEEDED;
use super::deadlock::deadlock_race;
use super::exclusive::contend;
use super::history::run::histories;
use super::list_race::listing_race;
use super::race::race;
use super::storm::storm;
use super::threads::Driver;
use super::transfer::transfer_race;
use super::watchdog::{Progress, Watchdog, Watched};
use super::{KitReport, KitValue};
use crate::VersionedStore;

/// Workers per concurrent check by default: several per core on small machines, so that
/// the operating system preempts them in the middle of operations.
const DEFAULT_THREADS: usize = 8;
/// How long one commit may take in the deadlock check by default.
const DEFAULT_DEADLOCK_BOUND: Duration = Duration::from_secs(20);
/// How long the storms keep going at least, by default.
const DEFAULT_STORM_TIME: Duration = Duration::from_millis(200);
/// The environment variable multiplying the sizes of the concurrent checks.
pub const SCALE_VAR: &str = "OPTIMIST_KIT_SCALE";

/// The conformance kit for one store, with its options; [`Kit::run`] runs every check that
/// applies to the store. [`run_all`](super::run_all) is `Kit::new(store).prefix(prefix)
/// .run()`.
///
/// The checks that apply: every single-key check; the multi-key commit checks when
/// [`capabilities`](VersionedStore::capabilities) list commits (of at least 6 keys for
/// [`commit_semantics`](super::commit_semantics)), the listing checks when they list
/// listing, and for every optional operation the store lacks, a check that it answers
/// [`StoreError::Unsupported`](crate::StoreError::Unsupported). Concurrent checks run
/// their workers on OS threads ([`threads`](Self::threads) of them, 8 by default):
///
/// - called outside any async runtime, each thread drives the store's futures with
///   `futures_executor::block_on`;
/// - called inside a **multi-threaded** tokio runtime (`#[tokio::test(flavor =
///   "multi_thread")]`), the calling task steps out with `tokio::task::block_in_place` and
///   each thread drives the store's futures through the caller's runtime handle, so stores
///   built on tokio (tokio-postgres, redis, `spawn_blocking`) find their reactor, timers
///   and blocking pool;
/// - called inside a **current-thread** tokio runtime, the kit panics saying so: blocking
///   that runtime's only thread would starve a tokio-based store. Use a multi-thread
///   runtime, or [`without_threads`](Self::without_threads).
///
/// Sizes are small by default: a few seconds for a store across a network, about a second
/// for an in-process store (whose storms go on until they have seen real contention; up to
/// a few seconds on a machine busy with other work). [`scale`](Self::scale) or the
/// environment variable `OPTIMIST_KIT_SCALE` multiplies the concurrent checks' rounds,
/// operations and storm times for longer runs.
///
/// Every operation is counted: when operations are pending and none finishes for twice the
/// [`deadlock bound`](Self::deadlock_bound) (40 seconds by default), a watchdog prints which
/// check was running and aborts the process, since a thread blocked inside a store's
/// `poll` cannot be stopped; the test fails instead of hanging.
///
/// ```
/// use optimist::MemoryStore;
/// use optimist::testkit::{Kit, unique_prefix};
///
/// # futures_executor::block_on(async {
/// let store = MemoryStore::<String>::new();
/// let report = Kit::new(&store)
///     .prefix(unique_prefix("memory"))
///     .threads(4)
///     .run::<String>()
///     .await;
/// assert!(report.checks.iter().any(|c| c.name == "one_writer_wins"));
/// # });
/// ```
pub struct Kit<'s, S: ?Sized> {
    store: &'s S,
    prefix: String,
    threads: usize,
    scale: usize,
    deadlock_bound: Duration,
    storm_time: Duration,
    threaded: bool,
}

impl<S: ?Sized> fmt::Debug for Kit<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kit")
            .field("prefix", &self.prefix)
            .field("threads", &self.threads)
            .field("scale", &self.scale)
            .field("deadlock_bound", &self.deadlock_bound)
            .field("storm_time", &self.storm_time)
            .field("threaded", &self.threaded)
            .finish_non_exhaustive()
    }
}

impl<'s, S: ?Sized> Kit<'s, S> {
    /// The kit for `store`, under a fresh [`unique_prefix`](super::unique_prefix), with 8
    /// threads, the scale from `OPTIMIST_KIT_SCALE` (1 when unset) and a deadlock bound of
    /// 20 seconds per commit.
    ///
    /// # Panics
    ///
    /// When `OPTIMIST_KIT_SCALE` is set to anything but a positive integer.
    pub fn new(store: &'s S) -> Self {
        Self {
            store,
            prefix: super::unique_prefix("kit"),
            threads: DEFAULT_THREADS,
            scale: scale_from_env(),
            deadlock_bound: DEFAULT_DEADLOCK_BOUND,
            storm_time: DEFAULT_STORM_TIME,
            threaded: true,
        }
    }

    /// Uses only keys under `prefix` (each check under a part of its own). Give each run a
    /// prefix no other run shares, e.g. [`unique_prefix`](super::unique_prefix).
    ///
    /// ```
    /// # let store = optimist::MemoryStore::<u64>::new();
    /// let kit = optimist::testkit::Kit::new(&store).prefix("mine/");
    /// # let _ = kit;
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Runs each concurrent check with `threads` workers (at least 4 are used: two of them
    /// audit or walk in some checks).
    ///
    /// ```
    /// # let store = optimist::MemoryStore::<u64>::new();
    /// let kit = optimist::testkit::Kit::new(&store).threads(16);
    /// # let _ = kit;
    /// ```
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(4);
        self
    }

    /// Multiplies the concurrent checks' rounds and operations by `scale` (at least 1),
    /// overriding `OPTIMIST_KIT_SCALE`.
    ///
    /// ```
    /// # let store = optimist::MemoryStore::<u64>::new();
    /// let kit = optimist::testkit::Kit::new(&store).scale(10);
    /// # let _ = kit;
    /// ```
    pub fn scale(mut self, scale: usize) -> Self {
        self.scale = scale.max(1);
        self
    }

    /// How long one commit may take in [`commits_never_deadlock`](super::commits_never_deadlock)
    /// before it counts as deadlocked (20 seconds by default).
    ///
    /// ```
    /// # let store = optimist::MemoryStore::<u64>::new();
    /// let bound = std::time::Duration::from_secs(5);
    /// let kit = optimist::testkit::Kit::new(&store).deadlock_bound(bound);
    /// # let _ = kit;
    /// ```
    pub fn deadlock_bound(mut self, bound: Duration) -> Self {
        self.deadlock_bound = bound;
        self
    }

    /// How long [`cas_storm`](super::cas_storm) and [`commit_storm`](super::commit_storm)
    /// keep making attempts, and [`one_writer_wins`](super::one_writer_wins) rounds, at least
    /// (200 ms by default, times the scale), beyond their minimum number. A store that answers in microseconds gets tens of
    /// thousands of attempts, enough to catch a compare and a write that are two steps; a
    /// store across a network is not slowed down by it (its minimum takes longer).
    ///
    /// ```
    /// # let store = optimist::MemoryStore::<u64>::new();
    /// let kit = optimist::testkit::Kit::new(&store).storm_time(std::time::Duration::from_secs(1));
    /// # let _ = kit;
    /// ```
    pub fn storm_time(mut self, at_least: Duration) -> Self {
        self.storm_time = at_least;
        self
    }

    /// Runs only the checks that need no threads, for callers that cannot block (a
    /// current-thread runtime). **They cannot catch a compare and a write that are not one
    /// atomic step**, nor torn commits or deadlocks: a store is proven only by the full kit.
    ///
    /// ```
    /// # futures_executor::block_on(async {
    /// let store = optimist::MemoryStore::<u64>::new();
    /// let report = optimist::testkit::Kit::new(&store).without_threads().run::<u64>().await;
    /// assert!(report.checks.iter().any(|c| c.skipped && c.name == "one_writer_wins"));
    /// # });
    /// ```
    pub fn without_threads(mut self) -> Self {
        self.threaded = false;
        self
    }

    /// Runs every check that applies to the store (see [`Kit`]); panics with a message
    /// naming the check, the broken rule and the values when one fails. The report says
    /// what ran, what was skipped and why, and how long each check took.
    pub async fn run<V: KitValue>(&self) -> KitReport
    where
        S: VersionedStore<V>,
    {
        // Refuse a current-thread runtime before anything runs.
        let driver = self.threaded.then(|| Driver::detect("Kit::run"));
        let prefix = self.prefix.as_str();
        let at = |part: &str| format!("{prefix}{part}/");
        let caps = self.store.capabilities();
        let mut report = KitReport::default();
        // Every operation goes through a wrapper counting it, and a watchdog aborts the
        // process (with a message naming the check) when operations are pending and none
        // finishes for twice the deadlock bound: a store that hangs fails the run instead of
        // hanging it.
        let progress = Progress::new("get_put_delete");
        let _watchdog = Watchdog::start(Arc::clone(&progress), self.deadlock_bound * 2);
        let store = &Watched::new(self.store, Arc::clone(&progress));
        // Runs one check under its part of the prefix: `$body` (which sees the part as
        // `$part`) says what it covered.
        macro_rules! check {
            ($name:expr, |$part:ident| $body:expr) => {{
                progress.now_in($name);
                let $part = at($name);
                let started = Instant::now();
                let detail: String = $body;
                report.ran($name, started.elapsed(), detail);
            }};
        }
        macro_rules! single {
            ($name:ident) => {
                check!(stringify!($name), |part| {
                    super::$name::<V, _>(store, &part).await;
                    String::new()
                })
            };
        }
        single!(get_put_delete);
        single!(put_expectations);
        single!(delete_expectations);
        single!(create_only_twice);
        single!(stale_put);
        single!(conflict_kinds_told_apart);
        single!(conflict_carries_current_etag);
        single!(no_aba);
        single!(weird_keys);
        single!(unsupported_is_refused);
        if caps.max_commit_keys >= KEYS_NEEDED {
            single!(commit_semantics);
        } else if caps.supports_commit() {
            report.skipped("commit_semantics", "needs commits of at least 6 keys");
        } else {
            report.skipped(
                "commit_semantics",
                "no multi-key commits (Unsupported checked)",
            );
        }
        if caps.list {
            single!(list_pages);
        } else {
            report.skipped("list_pages", "no listing (Unsupported checked)");
        }

        let concurrent = [
            "one_writer_wins",
            "cas_storm",
            "increment_race",
            "commits_never_deadlock",
            "linearizable_history",
            "commit_storm",
            "commit_transfers",
            "list_during_writes",
        ];
        let Some(driver) = driver else {
            for name in concurrent {
                report.skipped(name, "without_threads()");
            }
            return report;
        };
        let (threads, scale) = (self.threads, self.scale);
        let storm_time = self.storm_time * scale as u32;
        check!("one_writer_wins", |part| {
            let cycles = 6 * scale;
            let rounds = contend::<V, _>(&driver, store, &part, threads, cycles, storm_time).await;
            format!("{rounds} rounds x {threads} writers")
        });
        check!("cas_storm", |part| {
            let (writes, attempts) =
                storm::<V, _>(&driver, store, &part, threads, 60 * scale, storm_time, 1).await;
            format!("{writes} writes of {attempts} attempts")
        });
        check!("increment_race", |part| {
            let race = race::<V, _>(&driver, store, &part, threads, 12 * scale as u64, 2).await;
            format!("{} increments, {} attempts", race.increments, race.attempts)
        });
        // Before any other check with commits: a store that deadlocks is told so here, with
        // a timeout, rather than hanging a later check until the watchdog aborts.
        if caps.max_commit_keys >= 4 {
            let committers = threads.min(6);
            let bound = self.deadlock_bound;
            check!("commits_never_deadlock", |part| {
                let rounds =
                    deadlock_race::<V, _>(&driver, store, &part, committers, 10 * scale, bound)
                        .await;
                format!("{rounds} rounds x {committers} committers")
            });
        } else {
            report.skipped("commits_never_deadlock", "no multi-key commits of 4 keys");
        }
        check!("linearizable_history", |part| {
            histories::<V, _>(&driver, store, &part, 4, 36 * scale, 2).to_string()
        });
        if caps.max_commit_keys >= 3 {
            check!("commit_storm", |part| {
                let (writes, attempts) =
                    storm::<V, _>(&driver, store, &part, threads, 40 * scale, storm_time, 3).await;
                format!("{writes} key writes by {attempts} commit attempts")
            });
        } else {
            report.skipped("commit_storm", "no multi-key commits of 3 keys");
        }
        if caps.max_commit_keys >= 2 {
            check!("commit_transfers", |part| {
                let t = transfer_race::<V, _>(&driver, store, &part, threads, 10 * scale).await;
                format!(
                    "{} transfers ({} refused and retried), {} audits confirmed, {} unconfirmed",
                    t.transfers, t.refused, t.confirmed_audits, t.unconfirmed_audits
                )
            });
        } else {
            report.skipped("commit_transfers", "no multi-key commits");
        }
        if caps.list {
            check!("list_during_writes", |part| {
                let walks = listing_race::<V, _>(&driver, store, &part, threads, 20 * scale).await;
                format!("{walks} walks")
            });
        } else {
            report.skipped("list_during_writes", "no listing");
        }
        report
    }
}

/// The scale from `OPTIMIST_KIT_SCALE`, 1 when unset.
fn scale_from_env() -> usize {
    match std::env::var(SCALE_VAR) {
        Err(_) => 1,
        Ok(v) => match v.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("optimist testkit: {SCALE_VAR}={v:?} is not a positive integer"),
        },
    }
}
