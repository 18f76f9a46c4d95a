//! Concurrent histories and their linearizability check; see [`History`].

mod check;
mod model;
mod record;
mod report;
pub(super) mod run;
mod workload;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};

use parking_lot::Mutex;

use self::record::{End, Op, Record, commit_end, delete_end, put_end};
pub use self::report::{HistoryReport, HistoryViolation};
pub use self::run::linearizable_history;
use super::KitValue;
use super::rng::{Rng, fresh_seed, splitmix};
use crate::{Commit, VersionedStore};

/// The most operations one key gets in one [`History`] by default: the linearizability
/// search is exponential in the number of concurrent operations, so histories stay small
/// and many.
pub const MAX_OPS_PER_KEY: usize = 12;

/// Distinguishes histories of one process (and concurrent calls with the same prefix).
static NEXT_HISTORY: AtomicU64 = AtomicU64::new(1);

/// One concurrent history on fresh keys, and its check: linearizability (stateright's
/// `LinearizabilityTester` against versioned registers), plus direct checks of the version
/// chain, of what reads return, and of real-time order.
///
/// A `History` hands out fresh keys and a logical clock. Workers ([`History::run_worker`])
/// issue a random mix of `get`, `put` (with every kind of [`Expect`](crate::Expect)),
/// `delete` and, with [`History::with_commits`], multi-key [`Commit`]s of puts, deletes and
/// checks, on those keys, each write with a value of its own, and record every operation's
/// invocation and return as clock tickets taken right before the call and right after it
/// returns, with the expectations and the outcome. [`History::check`] then checks:
///
/// - per key, successful writes sorted by version form one chain: versions are unique, and
///   a write whose expectation named versions names the write right before it (no lost
///   update);
/// - per key, every read returns a version and value some write produced, and the value
///   that write wrote (never the value of a refused write or of a refused commit); every
///   version a conflict, delete or check reports is one some write produced;
/// - per key, nothing observed is older than what an operation that had already returned
///   saw or wrote (no stale read; versions increase, also across delete and re-create);
/// - the history has a linearization: a total order respecting real time in which versioned
///   registers (get / put with expectation / delete / a commit applying all of its parts at
///   one point or none, refusals naming exactly the parts whose expectations failed with the
///   keys' current versions, each new version greater than all before) give exactly the
///   recorded results. Without commits each key is checked on its own (linearizability is
///   local); with commits, the keys are checked together, so a reader that sees half of a
///   commit fails the check.
///
/// Outcomes that leave the write open ([`StoreError::Indeterminate`](crate::StoreError),
/// and any error that does not say nothing was sent) are recorded as *maybe applied*: an
/// operation that never returned, which the tester may place anywhere after its invocation
/// or leave out (a commit: all of it or none). Writes failing with `Unavailable`,
/// `InvalidKey`, `Codec`, `InvalidCommit` or `Unsupported` are taken at their word (nothing
/// was written) and left out, as are failed reads.
///
/// A conflict must carry the key's version at the moment of the refusal (the memory, SQLite
/// and Redis stores read it atomically with the compare; PostgreSQL re-reads it after the
/// refusal and retries while that version would have admitted the write, which is
/// equivalent unless the key changes between refusal and re-read on every attempt).
///
/// A `History` is shareable between threads (`&History` is `Send + Sync`).
///
/// ```
/// use optimist::MemoryStore;
/// use optimist::testkit::History;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::<u64>::new();
/// let history = History::new("doc/", 2).with_commits(3);
/// futures_util::future::join_all((0..3).map(|w| history.run_worker(&store, w, 8))).await;
/// let report = history.check().expect("the memory store is linearizable");
/// assert!(report.ops > 0);
/// # });
/// ```
pub struct History {
    keys: Vec<String>,
    max_ops_per_key: usize,
    /// The most keys per commit; 0: no commits.
    commit_keys: usize,
    claimed: Vec<AtomicUsize>,
    clock: AtomicU64,
    seed: u64,
    records: Mutex<Vec<Record>>,
}

impl fmt::Debug for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("History")
            .field("keys", &self.keys)
            .field("max_ops_per_key", &self.max_ops_per_key)
            .field("commit_keys", &self.commit_keys)
            .field("records", &self.records.lock().len())
            .finish_non_exhaustive()
    }
}

impl History {
    /// A history on `keys` fresh keys under `prefix` (a number of this history is added, so
    /// concurrent histories with one prefix do not share keys), with at most
    /// [`MAX_OPS_PER_KEY`] operations per key, and single-key operations only.
    ///
    /// ```
    /// let history = optimist::testkit::History::new("h/", 2);
    /// assert_eq!(history.keys().len(), 2);
    /// assert!(history.keys().iter().all(|k| k.starts_with("h/")));
    /// ```
    pub fn new(prefix: &str, keys: usize) -> Self {
        Self::with_max_ops_per_key(prefix, keys, MAX_OPS_PER_KEY)
    }

    /// Like [`History::new`], with at most `max_ops_per_key` operations per key. The check's
    /// cost grows exponentially with the number of operations that overlap in time; keep it
    /// small (about 20 at most).
    ///
    /// ```
    /// let history = optimist::testkit::History::with_max_ops_per_key("h/", 1, 6);
    /// assert_eq!(history.keys().len(), 1);
    /// ```
    pub fn with_max_ops_per_key(prefix: &str, keys: usize, max_ops_per_key: usize) -> Self {
        assert!(keys > 0, "at least one key");
        let n = NEXT_HISTORY.fetch_add(1, SeqCst);
        Self {
            keys: (0..keys).map(|k| format!("{prefix}h{n}/k{k}")).collect(),
            max_ops_per_key,
            commit_keys: 0,
            claimed: (0..keys).map(|_| AtomicUsize::new(0)).collect(),
            clock: AtomicU64::new(0),
            seed: splitmix(fresh_seed() ^ n),
            records: Mutex::new(Vec::new()),
        }
    }

    /// Lets workers also issue multi-key commits of up to `max_keys` of this history's keys
    /// (at least 2 are needed for a commit to name several), for stores whose
    /// [`capabilities`](VersionedStore::capabilities) support them. The history is then
    /// checked as a whole.
    ///
    /// ```
    /// let history = optimist::testkit::History::new("h/", 3).with_commits(2);
    /// # let _ = history;
    /// ```
    pub fn with_commits(mut self, max_keys: usize) -> Self {
        self.commit_keys = max_keys;
        self
    }

    /// The keys this history uses.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Runs worker number `worker`: up to `ops` random operations on this history's keys,
    /// one after another, recorded; returns how many it ran (fewer once every key has had
    /// its maximum). Run several workers concurrently (threads, tasks or joined futures),
    /// each with its own number, then [`History::check`].
    ///
    /// Between operations the worker yields once to its executor, so workers joined on one
    /// task interleave. Store errors are recorded, never panicked on; a worker dropped
    /// before it finishes loses its records.
    pub async fn run_worker<V, S>(&self, store: &S, worker: usize, ops: usize) -> usize
    where
        V: KitValue,
        S: VersionedStore<V> + ?Sized,
    {
        let mut rng = Rng::new(self.seed ^ splitmix(worker as u64 + 1));
        let mut thread = (worker as u64) << 32;
        let mut seen: workload::Seen = vec![(None, None); self.keys.len()];
        let mut records = Vec::with_capacity(ops);
        for i in 0..ops {
            let Some(op) = self.next_op(&mut rng, &seen) else {
                break;
            };
            if i > 0 {
                YieldNow(false).await;
            }
            let invoke = self.clock.fetch_add(1, SeqCst);
            let end = self.issue(store, &op).await;
            if let End::Returned(_, ret) = &end {
                workload::observe(&mut seen, &op, ret);
            }
            let maybe = matches!(end, End::MaybeApplied(..));
            records.push(Record {
                worker,
                thread,
                op,
                invoke,
                end,
            });
            if maybe {
                thread += 1;
            }
        }
        let ran = records.len();
        self.records.lock().extend(records);
        ran
    }

    /// The next operation, on keys with operations left; `None` when all have had their
    /// maximum.
    fn next_op(&self, rng: &mut Rng, seen: &workload::Seen) -> Option<Op> {
        let n = self.keys.len();
        let start = rng.below(n as u64) as usize;
        let first = (0..n).map(|i| (start + i) % n).find(|&k| self.claim(k))?;
        let parts = self.commit_keys.min(n).min(3);
        if parts >= 2 && rng.below(100) < 30 {
            let wanted = 2 + rng.below(parts as u64 - 1) as usize;
            let mut keys = vec![first];
            for i in 1..n {
                if keys.len() == wanted {
                    break;
                }
                let k = (first + i) % n;
                if self.claim(k) {
                    keys.push(k);
                }
            }
            if rng.below(2) == 0 {
                keys.reverse();
            }
            return Some(workload::commit(rng, seen, &keys));
        }
        Some(workload::single(rng, seen, first))
    }

    /// Takes one of `key`'s operations, if it has any left.
    fn claim(&self, key: usize) -> bool {
        self.claimed[key].fetch_add(1, SeqCst) < self.max_ops_per_key
    }

    /// Runs `op` on `store` and records how it ended (the return ticket taken right after).
    async fn issue<V, S>(&self, store: &S, op: &Op) -> End
    where
        V: KitValue,
        S: VersionedStore<V> + ?Sized,
    {
        use record::Action;
        match op {
            Op::Get { key } => {
                let r = store.get(&self.keys[*key]).await;
                let at = self.clock.fetch_add(1, SeqCst);
                match r {
                    Ok(read) => End::Returned(
                        at,
                        record::Ret::Read(read.map(|r| (r.version, r.value.counter()))),
                    ),
                    Err(e) => End::LeftOut(e.to_string()),
                }
            }
            Op::Write {
                parts,
                commit: false,
            } => {
                let part = &parts[0];
                let key = &self.keys[part.key];
                match &part.action {
                    Action::Put { value, .. } => {
                        let r = store
                            .put(key, V::from_counter(*value), part.expect.clone())
                            .await;
                        put_end(self.clock.fetch_add(1, SeqCst), r)
                    }
                    Action::Delete => {
                        let r = store.delete(key, part.expect.clone()).await;
                        delete_end(self.clock.fetch_add(1, SeqCst), r)
                    }
                    Action::Check => unreachable!("single-key writes are puts or deletes"),
                }
            }
            Op::Write {
                parts,
                commit: true,
            } => {
                let mut commit = Commit::new();
                for part in parts {
                    let key = self.keys[part.key].clone();
                    let expect = part.expect.clone();
                    commit = match &part.action {
                        Action::Put { value, .. } => {
                            commit.put(key, V::from_counter(*value), expect)
                        }
                        Action::Delete => commit.delete(key, expect),
                        Action::Check => commit.check(key, expect),
                    };
                }
                let r = store.commit(commit).await;
                commit_end(self.clock.fetch_add(1, SeqCst), parts, &self.keys, r)
            }
        }
    }

    /// Checks the recorded history by the rules above.
    ///
    /// ```
    /// let history = optimist::testkit::History::new("empty/", 1);
    /// assert_eq!(history.check().unwrap().ops, 0);
    /// ```
    pub fn check(&self) -> Result<HistoryReport, HistoryViolation> {
        let records = self.records.lock().clone();
        check::check(&self.keys, records)
    }
}

/// Returns `Pending` once (waking itself), so joined futures take turns.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
