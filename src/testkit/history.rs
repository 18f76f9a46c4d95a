//! Concurrent histories and their linearizability check; see [`History`].

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};

use parking_lot::Mutex;
use stateright::semantics::{ConsistencyTester, LinearizabilityTester, SequentialSpec};

use super::KitValue;
use crate::{ConflictKind, Expect, StoreError, Version, VersionedStore};

/// The most operations one key gets in one [`History`] by default: the linearizability
/// search is exponential in the number of concurrent operations, so histories stay small
/// and many.
pub const MAX_OPS_PER_KEY: usize = 12;

/// What a history check covered; [`HistoryReport::merge`] adds reports up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryReport {
    /// Per-key histories checked (each one by the linearizability tester).
    pub histories: u64,
    /// Operations checked (maybe-applied writes included; failed reads and writes that were
    /// not sent are not).
    pub ops: u64,
    /// Reads among them.
    pub reads: u64,
    /// Writes (puts and deletes) that succeeded.
    pub writes: u64,
    /// Writes refused with a conflict.
    pub conflicts: u64,
    /// Writes whose outcome was unknown, checked as maybe applied.
    pub maybe_applied: u64,
    /// Operations left out: failed reads, and writes refused before being sent.
    pub left_out: u64,
    /// Operations that overlapped in time with another one on the same key (the ones that
    /// make a history concurrent rather than sequential).
    pub concurrent: u64,
    /// The most operations in one per-key history.
    pub max_ops_per_history: u64,
}

impl HistoryReport {
    /// Adds `other` to this report.
    pub fn merge(&mut self, other: &HistoryReport) {
        self.histories += other.histories;
        self.ops += other.ops;
        self.reads += other.reads;
        self.writes += other.writes;
        self.conflicts += other.conflicts;
        self.maybe_applied += other.maybe_applied;
        self.left_out += other.left_out;
        self.concurrent += other.concurrent;
        self.max_ops_per_history = self.max_ops_per_history.max(other.max_ops_per_history);
    }
}

/// A broken rule found by [`History::check`]: the key, the rule, and the key's history.
#[derive(Clone, Debug)]
pub struct HistoryViolation {
    /// The key whose history broke the rule.
    pub key: String,
    /// What is wrong.
    pub rule: String,
    /// The key's operations, one per line, in invocation order.
    pub history: String,
}

impl fmt::Display for HistoryViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "history of key {:?} is not linearizable: {}\n\
             operations ([invoked..returned] on one logical clock; `?`: outcome unknown):\n{}",
            self.key, self.rule, self.history
        )
    }
}

impl std::error::Error for HistoryViolation {}

/// An operation, as the sequential spec sees it. Values are the kit's counters.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    Get,
    /// `revealed`: for a maybe-applied put, the version a read saw its value with.
    Put {
        value: u64,
        expect: Expect,
        revealed: Option<Version>,
    },
    Delete {
        expect: Expect,
    },
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ret {
    Read(Option<(Version, u64)>),
    Put(Version),
    Deleted(Option<Version>),
    Refused(ConflictKind, Option<Version>),
    /// Maybe applied: no return.
    Unknown,
}

/// How an operation ended.
#[derive(Clone, Debug)]
enum End {
    Returned(u64, Ret),
    /// A write whose outcome is unknown (ticket taken when the error came back).
    MaybeApplied(u64, String),
    /// A failed read, or a write refused before it was sent: left out of the check.
    LeftOut(String),
}

#[derive(Clone, Debug)]
struct Record {
    worker: usize,
    /// The tester's thread: the worker, and a new one after each maybe-applied write (an
    /// operation that never returns must be its thread's last).
    thread: u64,
    key: usize,
    op: Op,
    invoke: u64,
    end: End,
}

/// The values handed out for writes, unique across all histories of the process, so a read
/// can always be tied to the one write that wrote what it returns.
static NEXT_VALUE: AtomicU64 = AtomicU64::new(1);
/// Distinguishes histories of one process (and concurrent calls with the same prefix).
static NEXT_HISTORY: AtomicU64 = AtomicU64::new(1);

/// One concurrent history on fresh keys, and its check: linearizability per key
/// (stateright's `LinearizabilityTester` against a versioned-register spec), plus direct
/// checks of the version chain, of what reads return, and of real-time order.
///
/// A `History` hands out fresh keys and a logical clock. Workers ([`History::run_worker`])
/// issue a random mix of `get`, `put` (with every kind of [`Expect`]) and `delete` on those
/// keys, each write with a value of its own, and record every operation's invocation and
/// return as clock tickets taken right before the call and right after it returns, with the
/// expectation and the outcome. [`History::check`] then checks each key on its own
/// (linearizability is local: a history is linearizable exactly when each object's is):
///
/// - successful writes, sorted by version, form one chain: versions are unique, and a write
///   whose expectation named versions names the write right before it (no lost update);
/// - every read returns a version and value some write produced, and the value that write
///   wrote; every version a conflict or delete reports is one some write produced;
/// - nothing observed is older than what an operation that had already returned saw or
///   wrote (no stale read, versions increase, also across delete and re-create);
/// - the whole history has a linearization: a total order respecting real time in which a
///   versioned register (get / put with expectation / delete, conflicts carrying the current
///   version, each new version greater than all before) gives exactly the recorded results.
///
/// Outcomes that leave the write open ([`StoreError::Indeterminate`], and any error that
/// does not say nothing was sent) are recorded as *maybe applied*: an operation that never
/// returned, which the tester may place anywhere after its invocation or leave out. Writes
/// failing with [`StoreError::Unavailable`], [`StoreError::InvalidKey`] or
/// [`StoreError::Codec`] are taken at their word (nothing was written) and left out, as
/// are failed reads.
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
/// let history = History::new("doc/", 2);
/// futures_util::future::join_all((0..3).map(|w| history.run_worker(&store, w, 8))).await;
/// let report = history.check().expect("the memory store is linearizable");
/// assert_eq!(report.histories, 2);
/// # });
/// ```
pub struct History {
    keys: Vec<String>,
    max_ops_per_key: usize,
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
            .field("records", &self.records.lock().len())
            .finish_non_exhaustive()
    }
}

impl History {
    /// A history on `keys` fresh keys under `prefix` (a number of this history is added, so
    /// concurrent histories with one prefix do not share keys), with at most
    /// [`MAX_OPS_PER_KEY`] operations per key.
    pub fn new(prefix: &str, keys: usize) -> Self {
        Self::with_max_ops_per_key(prefix, keys, MAX_OPS_PER_KEY)
    }

    /// Like [`History::new`], with at most `max_ops_per_key` operations per key. The check's
    /// cost grows exponentially with the number of operations that overlap in time; keep it
    /// small (about 20 at most).
    pub fn with_max_ops_per_key(prefix: &str, keys: usize, max_ops_per_key: usize) -> Self {
        assert!(keys > 0, "at least one key");
        let n = NEXT_HISTORY.fetch_add(1, SeqCst);
        let seed = splitmix(
            n ^ (u64::from(std::process::id()) << 32)
                ^ std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
        );
        Self {
            keys: (0..keys).map(|k| format!("{prefix}h{n}/k{k}")).collect(),
            max_ops_per_key,
            claimed: (0..keys).map(|_| AtomicUsize::new(0)).collect(),
            clock: AtomicU64::new(0),
            seed,
            records: Mutex::new(Vec::new()),
        }
    }

    /// The keys this history uses.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// Runs worker number `worker`: up to `ops` random operations on this history's keys,
    /// one after another, recorded; returns how many it ran (fewer once every key has had
    /// its maximum). Run several workers concurrently (joined futures, tasks or threads),
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
        let mut rng = Rng(self.seed ^ splitmix(worker as u64 + 1));
        let mut thread = (worker as u64) << 32;
        // Per key: the last version this worker saw, and the one before it.
        let mut seen: Vec<(Option<Version>, Option<Version>)> = vec![(None, None); self.keys.len()];
        let mut records = Vec::with_capacity(ops);
        for i in 0..ops {
            let Some(k) = self.claim_key(&mut rng) else {
                break;
            };
            if i > 0 {
                YieldNow(false).await;
            }
            let key = &self.keys[k];
            let (last, before) = seen[k];
            let op = random_op(&mut rng, last, before);
            let invoke = self.clock.fetch_add(1, SeqCst);
            let end = match &op {
                Op::Get => {
                    let r = store.get(key).await;
                    let at = self.clock.fetch_add(1, SeqCst);
                    match r {
                        Ok(read) => {
                            let read = read.map(|r| (r.version, r.value.counter()));
                            End::Returned(at, Ret::Read(read))
                        }
                        Err(e) => End::LeftOut(e.to_string()),
                    }
                }
                Op::Put { value, expect, .. } => {
                    let r = store
                        .put(key, V::from_counter(*value), expect.clone())
                        .await;
                    let at = self.clock.fetch_add(1, SeqCst);
                    write_end(at, r.map(|m| Ret::Put(m.version)))
                }
                Op::Delete { expect } => {
                    let r = store.delete(key, expect.clone()).await;
                    let at = self.clock.fetch_add(1, SeqCst);
                    write_end(at, r.map(Ret::Deleted))
                }
            };
            let now_seen = match &end {
                End::Returned(_, Ret::Read(r)) => Some(r.map(|r| r.0)),
                End::Returned(_, Ret::Put(v)) => Some(Some(*v)),
                End::Returned(_, Ret::Deleted(_)) => Some(None),
                End::Returned(_, Ret::Refused(_, c)) => Some(*c),
                _ => None,
            };
            if let Some(now) = now_seen {
                if now != last {
                    seen[k] = (now, last.or(before));
                }
            }
            let maybe = matches!(end, End::MaybeApplied(..));
            records.push(Record {
                worker,
                thread,
                key: k,
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

    /// A key with operations left, or `None` when all have had their maximum.
    fn claim_key(&self, rng: &mut Rng) -> Option<usize> {
        let n = self.keys.len();
        let start = rng.below(n as u64) as usize;
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&k| self.claimed[k].fetch_add(1, SeqCst) < self.max_ops_per_key)
    }

    /// Checks the recorded history, key by key, by the rules above.
    pub fn check(&self) -> Result<HistoryReport, HistoryViolation> {
        let records = self.records.lock().clone();
        let mut report = HistoryReport::default();
        for (k, key) in self.keys.iter().enumerate() {
            let mut ops: Vec<Record> = Vec::new();
            for r in records.iter().filter(|r| r.key == k) {
                if let End::LeftOut(_) = r.end {
                    report.left_out += 1;
                } else {
                    ops.push(r.clone());
                }
            }
            if ops.is_empty() {
                continue;
            }
            ops.sort_by_key(|r| r.invoke);
            check_key(&mut ops).map_err(|rule| HistoryViolation {
                key: key.clone(),
                rule,
                history: dump(&ops),
            })?;
            report.histories += 1;
            report.ops += ops.len() as u64;
            report.max_ops_per_history = report.max_ops_per_history.max(ops.len() as u64);
            report.concurrent += concurrent(&ops);
            for r in &ops {
                match &r.end {
                    End::Returned(_, Ret::Read(_)) => report.reads += 1,
                    End::Returned(_, Ret::Refused(..)) => report.conflicts += 1,
                    End::Returned(..) => report.writes += 1,
                    End::MaybeApplied(..) => report.maybe_applied += 1,
                    End::LeftOut(_) => {}
                }
            }
        }
        Ok(report)
    }
}

/// How a write ended: returned (success or conflict), maybe applied, or not sent.
fn write_end(at: u64, r: Result<Ret, StoreError>) -> End {
    match r {
        Ok(ret) => End::Returned(at, ret),
        Err(StoreError::Conflict(c)) => End::Returned(at, Ret::Refused(c.kind(), c.current())),
        Err(
            e @ (StoreError::Unavailable { .. }
            | StoreError::InvalidKey { .. }
            | StoreError::Codec { .. }),
        ) => End::LeftOut(e.to_string()),
        Err(e) => End::MaybeApplied(at, e.to_string()),
    }
}

/// A random operation for a worker whose last seen version of the key is `last` (and the
/// one before, `before`): reads, blind and conditional puts, deletes.
fn random_op(rng: &mut Rng, last: Option<Version>, before: Option<Version>) -> Op {
    let pinned = || match last {
        Some(v) => Expect::Version(v),
        None => Expect::Absent,
    };
    let one_of = |rng: &mut Rng| {
        let mut vs: Vec<Version> = last.into_iter().chain(before).collect();
        if rng.below(4) == 0 {
            vs.reverse();
        }
        if rng.below(10) == 0 {
            vs.clear();
        }
        Expect::OneOf(vs)
    };
    let roll = rng.below(100);
    if roll < 30 {
        return Op::Get;
    }
    if roll < 82 {
        let expect = match roll {
            30..42 => Expect::Any,
            42..52 => Expect::Absent,
            52..57 => Expect::Exists,
            57..64 => before.map_or(Expect::Exists, Expect::Version),
            64..76 => pinned(),
            _ => one_of(rng),
        };
        return Op::Put {
            value: NEXT_VALUE.fetch_add(1, SeqCst),
            expect,
            revealed: None,
        };
    }
    let expect = match rng.below(10) {
        0..3 => Expect::Any,
        3..7 => pinned(),
        7 => Expect::Exists,
        8 => Expect::Absent,
        _ => one_of(rng),
    };
    Op::Delete { expect }
}

// --- the check ------------------------------------------------------------------------------

/// Checks one key's operations (sorted by invocation); `Err` names the broken rule.
fn check_key(ops: &mut [Record]) -> Result<(), String> {
    let idx = |i: usize, ops: &[Record]| format!("#{i} (worker {})", ops[i].worker);

    // Reads tie to the write of their value; maybe-applied puts get the version they were
    // read with.
    let mut by_value: HashMap<u64, usize> = HashMap::new();
    for (i, r) in ops.iter().enumerate() {
        if let Op::Put { value, .. } = r.op {
            by_value.insert(value, i);
        }
    }
    let mut revealed: HashMap<usize, Version> = HashMap::new();
    for (i, r) in ops.iter().enumerate() {
        let End::Returned(_, Ret::Read(Some((v, value)))) = r.end else {
            continue;
        };
        let Some(&w) = by_value.get(&value) else {
            return Err(format!(
                "{} read value {value} with version {v}, which no write of this key wrote",
                idx(i, ops)
            ));
        };
        match &ops[w].end {
            End::Returned(_, Ret::Put(written)) if *written == v => {}
            End::Returned(_, Ret::Put(written)) => {
                return Err(format!(
                    "{} read value {value} with version {v}, but {} wrote it as version {written}",
                    idx(i, ops),
                    idx(w, ops)
                ));
            }
            End::MaybeApplied(..) => {
                if let Some(earlier) = revealed.insert(w, v) {
                    if earlier != v {
                        return Err(format!(
                            "value {value} of maybe-applied {} was read with versions {earlier} and {v}",
                            idx(w, ops)
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "{} read value {value}, which {} failed to write",
                    idx(i, ops),
                    idx(w, ops)
                ));
            }
        }
    }
    for (&w, &v) in &revealed {
        if let Op::Put { revealed, .. } = &mut ops[w].op {
            *revealed = Some(v);
        }
    }
    let unrevealed = ops.iter().enumerate().any(|(i, r)| {
        matches!((&r.op, &r.end), (Op::Put { .. }, End::MaybeApplied(..)) if !revealed.contains_key(&i))
    });

    // The chain: unique versions; a write naming versions names the one before it.
    let mut chain: Vec<(Version, usize)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r.end {
            End::Returned(_, Ret::Put(v)) => Some((v, i)),
            _ => revealed.get(&i).map(|&v| (v, i)),
        })
        .collect();
    chain.sort();
    for pair in chain.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!(
                "{} and {} were both written as version {}",
                idx(pair[0].1, ops),
                idx(pair[1].1, ops),
                pair[0].0
            ));
        }
    }
    let known = |v: Version| chain.binary_search_by_key(&v, |c| c.0).is_ok();
    if !unrevealed {
        for (n, &(v, i)) in chain.iter().enumerate() {
            let Op::Put { expect, .. } = &ops[i].op else {
                continue;
            };
            if expect.versions().is_empty() || !matches!(ops[i].end, End::Returned(..)) {
                continue;
            }
            let before = n.checked_sub(1).map(|p| chain[p].0);
            if !before.is_some_and(|b| expect.versions().contains(&b)) {
                let before = before.map_or("no write".to_owned(), |b| format!("version {b}"));
                return Err(format!(
                    "{} expecting {expect} was written as version {v}, but the write before it \
                     in version order is {before}: a lost update, or versions that do not \
                     follow the order of the writes",
                    idx(i, ops)
                ));
            }
        }
    }

    // Versions reported by conflicts and deletes are versions some write produced.
    if !unrevealed {
        for (i, r) in ops.iter().enumerate() {
            let reported = match r.end {
                End::Returned(_, Ret::Refused(_, Some(c))) => c,
                End::Returned(_, Ret::Deleted(Some(d))) => d,
                _ => continue,
            };
            if !known(reported) {
                return Err(format!(
                    "{} reported version {reported}, which no write of this key produced",
                    idx(i, ops)
                ));
            }
        }
    }

    // Real time: nothing observed is older than what a finished operation saw or wrote.
    for (i, earlier) in ops.iter().enumerate() {
        let End::Returned(done, ref ret) = earlier.end else {
            continue;
        };
        let (floor, deleted) = match *ret {
            Ret::Read(Some((v, _))) | Ret::Put(v) | Ret::Refused(_, Some(v)) => (v, false),
            Ret::Deleted(Some(v)) => (v, true),
            _ => continue,
        };
        for (j, later) in ops.iter().enumerate() {
            if later.invoke < done {
                continue;
            }
            let End::Returned(_, ref ret) = later.end else {
                continue;
            };
            let (seen, new) = match *ret {
                Ret::Read(Some((v, _))) | Ret::Refused(_, Some(v)) | Ret::Deleted(Some(v)) => {
                    (v, false)
                }
                Ret::Put(v) => (v, true),
                _ => continue,
            };
            if seen < floor || (seen == floor && (deleted || new)) {
                let what = if new { "wrote" } else { "saw" };
                return Err(format!(
                    "{} {what} version {seen} after {} had returned with version {floor}{}: \
                     stale, or a version went backwards",
                    idx(j, ops),
                    idx(i, ops),
                    if deleted { " deleted" } else { "" }
                ));
            }
        }
    }

    // Linearizability: replay the invocations and returns in clock order into the tester.
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(ops.len() * 2);
    for (i, r) in ops.iter().enumerate() {
        events.push((r.invoke, i, false));
        if let End::Returned(at, _) = r.end {
            events.push((at, i, true));
        }
    }
    events.sort_unstable();
    let mut tester = LinearizabilityTester::new(Register::default());
    for (_, i, is_return) in events {
        let r = &ops[i];
        let fed = if is_return {
            let End::Returned(_, ret) = &r.end else {
                unreachable!("only returned operations have a return event")
            };
            tester.on_return(r.thread, ret.clone()).map(|_| ())
        } else {
            tester.on_invoke(r.thread, r.op.clone()).map(|_| ())
        };
        fed.map_err(|e| format!("the recorder produced an invalid history: {e}"))?;
    }
    if tester.serialized_history().is_none() {
        return Err(
            "no order of these operations consistent with real time gives these \
                    results from a versioned register"
                .to_owned(),
        );
    }
    Ok(())
}

/// How many of `ops` overlap in time with another (an unknown outcome never ends).
fn concurrent(ops: &[Record]) -> u64 {
    let end = |r: &Record| match r.end {
        End::Returned(at, _) => at,
        _ => u64::MAX,
    };
    ops.iter()
        .enumerate()
        .filter(|&(i, a)| {
            ops.iter()
                .enumerate()
                .any(|(j, b)| i != j && a.invoke < end(b) && b.invoke < end(a))
        })
        .count() as u64
}

/// One key's operations, one per line.
fn dump(ops: &[Record]) -> String {
    let mut out = String::new();
    for (i, r) in ops.iter().enumerate() {
        let op = match &r.op {
            Op::Get => "get".to_owned(),
            Op::Put {
                value,
                expect,
                revealed,
            } => {
                let seen = revealed.map_or(String::new(), |v| format!(", read as {v}"));
                format!("put {value} expecting {expect}{seen}")
            }
            Op::Delete { expect } => format!("delete expecting {expect}"),
        };
        let (end, ret) = match &r.end {
            End::Returned(at, ret) => (at.to_string(), format!("{ret:?}")),
            End::MaybeApplied(at, e) => {
                (format!("? (error at {at})"), format!("maybe applied: {e}"))
            }
            End::LeftOut(e) => ("-".to_owned(), format!("left out ({e})")),
        };
        out.push_str(&format!(
            "  #{i} [{}..{end}] worker {}: {op} -> {ret}\n",
            r.invoke, r.worker
        ));
    }
    out
}

// --- the sequential spec --------------------------------------------------------------------

/// A key as a versioned register: its value and version (if present), and the newest
/// version it ever had. A new version must exceed every earlier one, also after a delete.
#[derive(Clone, Debug, Default)]
struct Register {
    current: Option<Cell>,
    newest: Option<Version>,
}

#[derive(Clone, Debug)]
struct Cell {
    /// `None`: written by a maybe-applied put whose version nobody has seen yet.
    version: Option<Version>,
    value: u64,
}

impl Register {
    /// Whether `v` can be the current version, binding an unseen version to it.
    fn is_current(&mut self, v: Option<Version>) -> bool {
        match (&mut self.current, v) {
            (None, None) => true,
            (Some(cell), Some(v)) => match cell.version {
                Some(known) => known == v,
                None if self.newest.is_none_or(|n| v > n) => {
                    cell.version = Some(v);
                    self.newest = Some(v);
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// Whether `expect` admits the current state (binding an unseen version it pins).
    fn admits(&mut self, expect: &Expect) -> bool {
        let newest = self.newest;
        match &mut self.current {
            None => expect.admits(None),
            Some(Cell {
                version: Some(v), ..
            }) => expect.admits(Some(*v)),
            Some(cell) => match expect {
                Expect::Any | Expect::Exists => true,
                Expect::Absent => false,
                Expect::Version(v) if newest.is_none_or(|n| *v > n) => {
                    cell.version = Some(*v);
                    self.newest = Some(*v);
                    true
                }
                Expect::Version(_) => false,
                // Which one is left open: the version is overwritten or deleted right away.
                Expect::OneOf(vs) => vs.iter().any(|v| newest.is_none_or(|n| *v > n)),
            },
        }
    }

    fn fresh(&self, v: Version) -> bool {
        self.newest.is_none_or(|n| v > n)
    }
}

impl SequentialSpec for Register {
    type Op = Op;
    type Ret = Ret;

    /// Applies a maybe-applied write where it can take effect (never called for completed
    /// operations: `is_valid_step` checks those).
    fn invoke(&mut self, op: &Op) -> Ret {
        match op {
            Op::Get => {}
            Op::Put {
                value,
                expect,
                revealed,
            } => {
                if revealed.is_none_or(|v| self.fresh(v)) && self.admits(expect) {
                    self.current = Some(Cell {
                        version: *revealed,
                        value: *value,
                    });
                    if revealed.is_some() {
                        self.newest = *revealed;
                    }
                }
            }
            Op::Delete { expect } => {
                if self.admits(expect) {
                    self.current = None;
                }
            }
        }
        Ret::Unknown
    }

    fn is_valid_step(&mut self, op: &Op, ret: &Ret) -> bool {
        match (op, ret) {
            (Op::Get, Ret::Read(read)) => {
                let value_matches = match (&self.current, read) {
                    (Some(cell), Some((_, value))) => cell.value == *value,
                    (None, None) => true,
                    _ => false,
                };
                value_matches && self.is_current(read.map(|r| r.0))
            }
            (Op::Put { value, expect, .. }, Ret::Put(v)) => {
                if !self.admits(expect) || !self.fresh(*v) {
                    return false;
                }
                self.current = Some(Cell {
                    version: Some(*v),
                    value: *value,
                });
                self.newest = Some(*v);
                true
            }
            (Op::Delete { expect }, Ret::Deleted(removed)) => {
                if !self.admits(expect) || !self.is_current(*removed) {
                    return false;
                }
                self.current = None;
                true
            }
            (Op::Put { expect, .. } | Op::Delete { expect }, Ret::Refused(kind, current)) => {
                self.is_current(*current)
                    && !expect.admits(*current)
                    && *kind == ConflictKind::classify(expect, *current)
            }
            _ => false,
        }
    }
}

// --- small helpers --------------------------------------------------------------------------

/// splitmix64: a seed scrambler and a small, good, dependency-free generator.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix(self.0)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
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

// --- the kit check --------------------------------------------------------------------------

/// Runs `workers` concurrent workers doing `ops_per_worker` random reads and writes in all
/// on `keys` keys under `prefix`, as a series of small histories (fresh keys each, at most
/// [`MAX_OPS_PER_KEY`] operations per key), and checks each (see [`History::check`]);
/// panics with the offending key's history if one is not linearizable.
///
/// The workers are joined on the calling task (like [`increment_race`](super::increment_race)),
/// so backends that wait on I/O overlap for real; call it from several tasks or threads at
/// once for more (each call uses keys of its own).
pub async fn linearizable_history<V, S>(
    store: &Arc<S>,
    prefix: &str,
    workers: usize,
    ops_per_worker: usize,
    keys: usize,
) -> HistoryReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized + 'static,
{
    assert!(workers > 0 && keys > 0, "at least one worker and one key");
    let per_round = keys * MAX_OPS_PER_KEY;
    let rounds = (workers * ops_per_worker).div_ceil(per_round).max(1);
    let per_worker = ops_per_worker.div_ceil(rounds);
    let mut report = HistoryReport::default();
    for round in 0..rounds {
        let history = History::new(&format!("{prefix}r{round}/"), keys);
        let store: &S = store;
        futures_util::future::join_all(
            (0..workers).map(|w| history.run_worker::<V, S>(store, w, per_worker)),
        )
        .await;
        match history.check() {
            Ok(r) => report.merge(&r),
            Err(violation) => panic!("{violation}"),
        }
    }
    report
}
