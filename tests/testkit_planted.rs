//! The conformance kit against stores with planted bugs: each must fail the kit, every time,
//! with a message naming the rule it breaks; the same store without a bug must pass.
//!
//! Each planted bug runs the whole kit `runs()` times (20 by default; `OPTIMIST_PLANTED_RUNS`
//! for more) and prints its catch rate and what the kit said (`-- --nocapture`).
#![cfg(feature = "testkit")]

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant, SystemTime};

use optimist::testkit::{Kit, KitReport};
use optimist::{
    Applied, Capabilities, Commit, CommitConflict, Conflict, Expect, ListPage, ListRequest, Listed,
    Meta, Op, StoreError, Version, Versioned, VersionedStore,
};
use parking_lot::Mutex;

/// What a [`Planted`] store gets wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bug {
    /// Nothing: the control.
    None,
    /// Put and delete check the expectation under one lock acquisition and write under
    /// another (the store from issue 12 that passed the old kit 10 times out of 10).
    SplitCheckThenWrite,
    /// Each key counts its versions from 1 again after a delete.
    VersionReuseAfterDelete,
    /// Reads come from a replica one write behind: after an update, the previous version.
    StaleRead,
    /// Conflicts carry the version before the current one.
    WrongConflictVersion,
    /// Commits apply their operations one by one, stopping at the first that fails (the
    /// earlier ones stay written, and only that key is reported).
    TornCommitOnFailure,
    /// Commits check every expectation under one lock acquisition, then write each key
    /// under a lock acquisition of its own.
    TornCommitWrites,
    /// Commits are single-key compare-and-swaps in sequence, undone by compensating writes
    /// when one of them fails: atomicity faked.
    FakeAtomicCommit,
    /// A refused commit reports only its first failed key.
    CommitReportsOneConflict,
    /// Capabilities say "none", but commits and listing quietly work.
    LyingCapabilities,
    /// Listing skips the first key after every cursor.
    ListSkipsKeys,
    /// Listing includes the cursor key itself on every page.
    ListRepeatsKeys,
    /// Listing orders pages case-insensitively.
    ListWrongOrder,
    /// Listing returns one more key than the limit.
    ListIgnoresLimit,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    version: Version,
    value: u64,
    modified: SystemTime,
}

#[derive(Default)]
struct State {
    map: BTreeMap<String, Entry>,
    next: u64,
    per_key: HashMap<String, u64>,
    /// For `StaleRead`: each key's entry before its last write.
    before: HashMap<String, Option<Entry>>,
}

/// A one-mutex store over a `BTreeMap`, every operation implemented, with a [`Bug`].
struct Planted {
    bug: Bug,
    state: Mutex<State>,
}

const MAX_COMMIT_KEYS: usize = 64;

impl Planted {
    fn new(bug: Bug) -> Self {
        Self {
            bug,
            state: Mutex::new(State::default()),
        }
    }

    fn next_version(&self, state: &mut State, key: &str) -> Version {
        if self.bug == Bug::VersionReuseAfterDelete {
            let n = state.per_key.entry(key.to_owned()).or_insert(0);
            *n += 1;
            return Version::new(*n).unwrap();
        }
        state.next += 1;
        Version::new(state.next).unwrap()
    }

    fn current(state: &State, key: &str) -> Option<Version> {
        state.map.get(key).map(|e| e.version)
    }

    fn conflict(&self, key: &str, expect: Expect, current: Option<Version>) -> Conflict {
        let reported = if self.bug == Bug::WrongConflictVersion {
            current.and_then(|v| Version::new(v.get() - 1))
        } else {
            current
        };
        Conflict::new(key, expect, reported)
    }

    /// Writes `value` (or removes the key) in `state`, returning what changed.
    fn write(&self, state: &mut State, key: &str, value: Option<u64>) -> Option<Entry> {
        let old = state.map.get(key).copied();
        state.before.insert(key.to_owned(), old);
        match value {
            Some(value) => {
                let version = self.next_version(state, key);
                let entry = Entry {
                    version,
                    value,
                    modified: SystemTime::now(),
                };
                state.map.insert(key.to_owned(), entry);
                Some(entry)
            }
            None => {
                state.map.remove(key);
                if self.bug == Bug::VersionReuseAfterDelete {
                    state.per_key.remove(key);
                }
                None
            }
        }
    }

    /// A single-key put or delete (`value: None`), checked and written by the bug's rules.
    fn single(
        &self,
        key: &str,
        value: Option<u64>,
        expect: Expect,
    ) -> Result<Option<Entry>, StoreError> {
        if self.bug == Bug::SplitCheckThenWrite {
            let current = Self::current(&self.state.lock(), key);
            if !expect.admits(current) {
                return Err(self.conflict(key, expect, current).into());
            }
            let mut state = self.state.lock();
            return Ok(match value {
                Some(_) => self.write(&mut state, key, value),
                None => {
                    let old = state.map.get(key).copied();
                    self.write(&mut state, key, None);
                    old
                }
            });
        }
        let mut state = self.state.lock();
        let current = Self::current(&state, key);
        if !expect.admits(current) {
            return Err(self.conflict(key, expect, current).into());
        }
        let old = state.map.get(key).copied();
        let written = self.write(&mut state, key, value);
        Ok(if value.is_some() { written } else { old })
    }

    /// Applies `op` in `state` (its expectation already checked).
    fn apply(&self, state: &mut State, op: &Op<u64>) -> Applied {
        match op {
            Op::Put { key, value, .. } => {
                let e = self.write(state, key, Some(*value)).unwrap();
                Applied::Put(Meta {
                    version: e.version,
                    last_modified: e.modified,
                })
            }
            Op::Delete { key, .. } => {
                let old = Self::current(state, key);
                self.write(state, key, None);
                Applied::Deleted(old)
            }
            Op::Check { key, .. } => Applied::Checked(Self::current(state, key)),
        }
    }

    fn failures(&self, state: &State, ops: &[Op<u64>]) -> Vec<Conflict> {
        ops.iter()
            .filter_map(|op| {
                let current = Self::current(state, op.key());
                (!op.expect().admits(current))
                    .then(|| self.conflict(op.key(), op.expect().clone(), current))
            })
            .collect()
    }

    fn commit_now(&self, commit: Commit<u64>) -> Result<Vec<Applied>, StoreError> {
        commit.validate(MAX_COMMIT_KEYS)?;
        let ops = commit.into_ops();
        match self.bug {
            Bug::TornCommitOnFailure => {
                let mut applied = Vec::new();
                for op in &ops {
                    let mut state = self.state.lock();
                    let failed = self.failures(&state, std::slice::from_ref(op));
                    if !failed.is_empty() {
                        return Err(CommitConflict::new(failed).into());
                    }
                    applied.push(self.apply(&mut state, op));
                }
                Ok(applied)
            }
            Bug::TornCommitWrites => {
                let failed = self.failures(&self.state.lock(), &ops);
                if !failed.is_empty() {
                    return Err(CommitConflict::new(failed).into());
                }
                Ok(ops
                    .iter()
                    .map(|op| self.apply(&mut self.state.lock(), op))
                    .collect())
            }
            Bug::FakeAtomicCommit => self.fake_commit(ops),
            _ => {
                let mut state = self.state.lock();
                let mut failed = self.failures(&state, &ops);
                if !failed.is_empty() {
                    if self.bug == Bug::CommitReportsOneConflict {
                        failed.truncate(1);
                    }
                    return Err(CommitConflict::new(failed).into());
                }
                Ok(ops.iter().map(|op| self.apply(&mut state, op)).collect())
            }
        }
    }

    /// Reads every key, then compare-and-swaps them one by one from what it read; on a
    /// failure, writes the earlier keys back.
    fn fake_commit(&self, ops: Vec<Op<u64>>) -> Result<Vec<Applied>, StoreError> {
        let read: Vec<Option<Entry>> = ops
            .iter()
            .map(|op| self.state.lock().map.get(op.key()).copied())
            .collect();
        let failed: Vec<Conflict> = ops
            .iter()
            .zip(&read)
            .filter(|(op, r)| !op.expect().admits(r.map(|e| e.version)))
            .map(|(op, r)| self.conflict(op.key(), op.expect().clone(), r.map(|e| e.version)))
            .collect();
        if !failed.is_empty() {
            return Err(CommitConflict::new(failed).into());
        }
        let mut applied = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let pinned = Expect::from(read[i].map(|e| e.version));
            let done = match op {
                Op::Put { key, value, .. } => self.single(key, Some(*value), pinned).map(|e| {
                    let e = e.unwrap();
                    Applied::Put(Meta {
                        version: e.version,
                        last_modified: e.modified,
                    })
                }),
                Op::Delete { key, .. } => self
                    .single(key, None, pinned)
                    .map(|old| Applied::Deleted(old.map(|e| e.version))),
                Op::Check { key, .. } => {
                    Ok(Applied::Checked(Self::current(&self.state.lock(), key)))
                }
            };
            match done {
                Ok(a) => applied.push(a),
                Err(StoreError::Conflict(c)) => {
                    for (undo, old) in ops[..i].iter().zip(&read) {
                        if undo.writes() {
                            let _ = self.single(undo.key(), old.map(|e| e.value), Expect::Any);
                        }
                    }
                    return Err(CommitConflict::new(vec![c]).into());
                }
                Err(e) => return Err(e),
            }
        }
        Ok(applied)
    }

    fn list_now(&self, request: &ListRequest) -> ListPage<u64> {
        let state = self.state.lock();
        let limit = request.limit_value();
        let take = if self.bug == Bug::ListIgnoresLimit {
            limit + 1
        } else {
            limit
        };
        let skip = usize::from(self.bug == Bug::ListSkipsKeys && request.after_key().is_some());
        let mut entries: Vec<Listed<u64>> = state
            .map
            .iter()
            .filter(|(k, _)| {
                k.starts_with(request.prefix_str())
                    && match (self.bug, request.after_key()) {
                        (_, None) => true,
                        (Bug::ListRepeatsKeys, Some(a)) => k.as_str() >= a,
                        (_, Some(a)) => k.as_str() > a,
                    }
            })
            .skip(skip)
            .take(take)
            .map(|(k, e)| Listed {
                key: k.clone(),
                meta: Meta {
                    version: e.version,
                    last_modified: e.modified,
                },
                value: request.wants_values().then_some(e.value),
            })
            .collect();
        if self.bug == Bug::ListWrongOrder {
            entries.sort_by_key(|e| e.key.to_lowercase());
        }
        let next = (entries.len() >= limit)
            .then(|| entries.last().map(|e| e.key.clone()))
            .flatten();
        ListPage { entries, next }
    }
}

fn meta(e: Entry) -> Meta {
    Meta {
        version: e.version,
        last_modified: e.modified,
    }
}

impl VersionedStore<u64> for Planted {
    async fn get(&self, key: &str) -> Result<Option<Versioned<u64>>, StoreError> {
        let state = self.state.lock();
        let mut found = state.map.get(key).copied();
        if self.bug == Bug::StaleRead {
            if let (Some(_), Some(Some(before))) = (found, state.before.get(key)) {
                found = Some(*before);
            }
        }
        Ok(found.map(|e| Versioned {
            value: e.value,
            version: e.version,
            last_modified: e.modified,
        }))
    }

    async fn put(&self, key: &str, value: u64, expect: Expect) -> Result<Meta, StoreError> {
        Ok(meta(self.single(key, Some(value), expect)?.unwrap()))
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        Ok(self.single(key, None, expect)?.map(|e| e.version))
    }

    async fn commit(&self, commit: Commit<u64>) -> Result<Vec<Applied>, StoreError> {
        self.commit_now(commit)
    }

    async fn list(&self, request: ListRequest) -> Result<ListPage<u64>, StoreError> {
        Ok(self.list_now(&request))
    }

    fn capabilities(&self) -> Capabilities {
        if self.bug == Bug::LyingCapabilities {
            return Capabilities::none();
        }
        Capabilities::none()
            .with_commit(MAX_COMMIT_KEYS)
            .with_list()
    }
}

// --- commits that lock keys in the order given -------------------------------------------

/// Per-key locks, taken by commits in the order the commit names its keys and held until it
/// is applied: two commits naming keys in opposite orders deadlock. Each lock costs a short
/// pause, as a row lock costs a round trip to a database.
struct LocksInGivenOrder {
    data: Planted,
    /// Blocking locks (a thread waits inside `poll`) or async ones (the future waits).
    blocking: bool,
    sync_locks: Mutex<HashMap<String, Arc<std::sync::Mutex<()>>>>,
    async_locks: Mutex<HashMap<String, Arc<futures_util::lock::Mutex<()>>>>,
}

const LOCK_PAUSE: Duration = Duration::from_micros(300);

impl LocksInGivenOrder {
    fn new(blocking: bool) -> Self {
        Self {
            data: Planted::new(Bug::None),
            blocking,
            sync_locks: Mutex::default(),
            async_locks: Mutex::default(),
        }
    }
}

impl VersionedStore<u64> for LocksInGivenOrder {
    async fn get(&self, key: &str) -> Result<Option<Versioned<u64>>, StoreError> {
        self.data.get(key).await
    }

    async fn put(&self, key: &str, value: u64, expect: Expect) -> Result<Meta, StoreError> {
        self.data.put(key, value, expect).await
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        self.data.delete(key, expect).await
    }

    async fn commit(&self, commit: Commit<u64>) -> Result<Vec<Applied>, StoreError> {
        commit.validate(MAX_COMMIT_KEYS)?;
        let keys: Vec<String> = commit.keys().map(str::to_owned).collect();
        if self.blocking {
            let locks: Vec<_> = keys
                .iter()
                .map(|k| Arc::clone(self.sync_locks.lock().entry(k.clone()).or_default()))
                .collect();
            let mut held = Vec::new();
            for lock in &locks {
                held.push(lock.lock().unwrap());
                std::thread::sleep(LOCK_PAUSE);
            }
            return self.data.commit_now(commit);
        }
        let locks: Vec<_> = keys
            .iter()
            .map(|k| Arc::clone(self.async_locks.lock().entry(k.clone()).or_default()))
            .collect();
        let mut held = Vec::new();
        for lock in locks {
            held.push(lock.lock_owned().await);
            futures_timer::Delay::new(LOCK_PAUSE).await;
        }
        self.data.commit_now(commit)
    }

    async fn list(&self, request: ListRequest) -> Result<ListPage<u64>, StoreError> {
        self.data.list(request).await
    }

    fn capabilities(&self) -> Capabilities {
        self.data.capabilities()
    }
}

// --- running the kit on planted bugs ------------------------------------------------------

/// Runs per planted bug: `OPTIMIST_PLANTED_RUNS`, 20 by default.
fn runs() -> usize {
    std::env::var("OPTIMIST_PLANTED_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20)
}

/// Kit panics expected by a planted-bug test, while one runs: not printed (each is returned
/// to the test and checked).
static EXPECTING_PANICS: AtomicUsize = AtomicUsize::new(0);

fn quiet_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            let expected =
                EXPECTING_PANICS.load(Ordering::SeqCst) > 0 && text.starts_with("optimist testkit");
            if !expected {
                default(info);
            }
        }));
    });
}

/// Runs the kit once on `store`: its report, or the message it panicked with.
fn kit<S: VersionedStore<u64>>(store: &S) -> Result<KitReport, String> {
    kit_with(Kit::new(store).prefix("planted/"))
}

/// Runs `kit` once: its report, or the message it panicked with.
fn kit_with<S: VersionedStore<u64>>(kit: Kit<'_, S>) -> Result<KitReport, String> {
    quiet_expected_panics();
    EXPECTING_PANICS.fetch_add(1, Ordering::SeqCst);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        futures_executor::block_on(kit.run::<u64>())
    }));
    EXPECTING_PANICS.fetch_sub(1, Ordering::SeqCst);
    result.map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned())
    })
}

/// Runs the kit `runs()` times on fresh stores with `bug`; every run must fail one of the
/// `expected` checks, naming its rule (`(check, rule)` pairs, `""` for any rule of the
/// check; a racy bug may be caught by different checks in different runs). Prints the catch rate, where each run was caught,
/// the time per run and the first message.
fn caught(bug: Bug, expected: &[(&str, &str)]) {
    let runs = runs();
    let started = Instant::now();
    let mut by_check: BTreeMap<&str, usize> = BTreeMap::new();
    let mut first = None;
    let mut wrong = Vec::new();
    for _ in 0..runs {
        match kit(&Planted::new(bug)) {
            Ok(report) => wrong.push(format!("passed the kit:\n{report}")),
            Err(message) => {
                let named = expected.iter().find(|(check, rule)| {
                    message.starts_with(&format!("optimist testkit, {check}:"))
                        && message.contains(&format!("(rule: {rule}"))
                });
                match named {
                    Some((check, _)) => {
                        *by_check.entry(check).or_default() += 1;
                        first.get_or_insert(message);
                    }
                    None => wrong.push(message),
                }
            }
        }
    }
    let caught: usize = by_check.values().sum();
    eprintln!(
        "{bug:?}: caught {caught}/{runs} ({by_check:?}), {:.1?} per run\n  first message: {}",
        started.elapsed() / runs as u32,
        first.as_deref().unwrap_or("-").lines().next().unwrap_or("")
    );
    assert!(
        wrong.is_empty(),
        "{bug:?}: {} of {runs} runs did not fail as expected ({expected:?}); first: {}",
        wrong.len(),
        wrong[0]
    );
    assert_eq!(caught, runs);
}

#[test]
fn the_store_without_a_bug_passes_every_check() {
    for _ in 0..runs().div_ceil(4) {
        let store = Planted::new(Bug::None);
        let report = kit(&store).unwrap_or_else(|message| panic!("the control failed: {message}"));
        assert!(report.checks.iter().all(|c| !c.skipped), "{report}");
    }
    eprintln!("{}", kit(&Planted::new(Bug::None)).unwrap());
}

#[test]
fn split_check_then_write_is_caught() {
    // One operation at a time it is a correct store: only workers running at the same
    // instant can see the gap between its compare and its write.
    let store = Planted::new(Bug::SplitCheckThenWrite);
    let sequential = kit_with(Kit::new(&store).prefix("planted/").without_threads());
    assert!(sequential.is_ok(), "{sequential:?}");
    caught(
        Bug::SplitCheckThenWrite,
        &[
            (
                "one_writer_wins",
                "the compare and the write are one atomic step",
            ),
            ("cas_storm", "the compare and the write are one atomic step"),
            (
                "increment_race",
                "the compare and the write are one atomic step",
            ),
        ],
    );
}

#[test]
fn version_reuse_after_delete_is_caught() {
    caught(
        Bug::VersionReuseAfterDelete,
        &[("delete_expectations", "versions are never reused")],
    );
}

#[test]
fn stale_read_is_caught() {
    caught(
        Bug::StaleRead,
        &[(
            "get_put_delete",
            "a read returns the latest acknowledged write",
        )],
    );
}

#[test]
fn wrong_conflict_version_is_caught() {
    caught(
        Bug::WrongConflictVersion,
        &[(
            "put_expectations",
            "a conflict carries the key's current version",
        )],
    );
}

#[test]
fn torn_commit_on_failure_is_caught() {
    caught(
        Bug::TornCommitOnFailure,
        &[(
            "commit_semantics",
            "a refused commit is a CommitConflict naming every failed key",
        )],
    );
}

#[test]
fn torn_commit_writes_are_caught() {
    caught(
        Bug::TornCommitWrites,
        &[
            ("linearizable_history", ""),
            (
                "commits_never_deadlock",
                "a commit applies all of its operations or none",
            ),
            (
                "commit_storm",
                "the compare and the write are one atomic step",
            ),
        ],
    );
}

#[test]
fn faked_atomic_commit_is_caught() {
    caught(
        Bug::FakeAtomicCommit,
        &[
            ("linearizable_history", ""),
            (
                "commits_never_deadlock",
                "a commit applies all of its operations or none",
            ),
            (
                "commit_storm",
                "the compare and the write are one atomic step",
            ),
            (
                "commit_storm",
                "a commit applies all of its operations or none",
            ),
            (
                "commits_never_deadlock",
                "a write whose expectation holds is applied",
            ),
        ],
    );
}

#[test]
fn a_commit_reporting_one_conflict_is_caught() {
    caught(
        Bug::CommitReportsOneConflict,
        &[(
            "commit_semantics",
            "a refused commit is a CommitConflict naming every failed key",
        )],
    );
}

#[test]
fn lying_capabilities_are_caught() {
    caught(
        Bug::LyingCapabilities,
        &[(
            "unsupported_is_refused",
            "an operation the capabilities do not list answers Unsupported",
        )],
    );
}

#[test]
fn listing_that_skips_keys_is_caught() {
    caught(
        Bug::ListSkipsKeys,
        &[("list_pages", "a listing walk returns every key")],
    );
}

#[test]
fn listing_that_repeats_keys_is_caught() {
    caught(
        Bug::ListRepeatsKeys,
        &[(
            "list_pages",
            "a listing returns only keys under the prefix that sort strictly after",
        )],
    );
}

#[test]
fn listing_in_the_wrong_order_is_caught() {
    caught(
        Bug::ListWrongOrder,
        &[("list_pages", "a listing is in ascending byte order")],
    );
}

#[test]
fn listing_beyond_the_limit_is_caught() {
    caught(
        Bug::ListIgnoresLimit,
        &[("list_pages", "a page holds at most `limit` keys")],
    );
}

/// The deadlock bound for the deadlocking stores: short, so a run takes about a second.
const SHORT_BOUND: Duration = Duration::from_millis(300);

#[test]
fn commits_deadlocking_in_async_locks_fail_the_deadlock_check() {
    let runs = runs().div_ceil(4);
    let started = Instant::now();
    for run in 0..runs {
        let store = LocksInGivenOrder::new(false);
        let message = kit_with(
            Kit::new(&store)
                .prefix("planted/")
                .deadlock_bound(SHORT_BOUND),
        )
        .err()
        .unwrap_or_else(|| panic!("run {run}: a store whose commits deadlock passed the kit"));
        assert!(
            message.starts_with("optimist testkit, commits_never_deadlock:")
                && message.contains("did not finish within 300ms")
                && message.contains("(rule: overlapping commits, naming their keys in any order"),
            "run {run}: {message}"
        );
        if run == 0 {
            eprintln!("async deadlock, first message: {message}");
        }
    }
    eprintln!(
        "async deadlock: caught {runs}/{runs}, {:.1?} per run",
        started.elapsed() / runs as u32
    );
}

/// The environment variable that makes [`blocking_deadlock_child`] run.
const CHILD: &str = "OPTIMIST_PLANTED_DEADLOCK_CHILD";

#[test]
#[ignore = "run by commits_deadlocking_in_blocking_locks_abort_with_a_message, as a child process"]
fn blocking_deadlock_child() {
    assert!(
        std::env::var_os(CHILD).is_some(),
        "run only as a child process (set {CHILD})"
    );
    let store = LocksInGivenOrder::new(true);
    let report = futures_executor::block_on(
        Kit::new(&store)
            .prefix("planted/")
            .deadlock_bound(SHORT_BOUND)
            .run::<u64>(),
    );
    panic!("a store whose commits deadlock passed the kit:\n{report}");
}

/// A store blocking its threads inside `poll` cannot be timed out: the kit's watchdog must
/// end the process with a message naming the check and the rule, instead of hanging.
#[test]
fn commits_deadlocking_in_blocking_locks_abort_with_a_message() {
    let runs = runs().div_ceil(4);
    let started = Instant::now();
    for run in 0..runs {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "blocking_deadlock_child",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD, "1")
            .output()
            .expect("run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "run {run}: the child passed:\n{stderr}"
        );
        let line = stderr
            .lines()
            .find(|l| l.starts_with("optimist testkit, "))
            .unwrap_or_else(|| panic!("run {run}: no kit message in:\n{stderr}"));
        assert!(
            line.contains("no store operation finished for 600ms")
                && line.contains("(rule: every store operation finishes (no deadlock, no hang))"),
            "run {run}: {line}"
        );
        if run == 0 {
            eprintln!("blocking deadlock ({}), first message: {line}", out.status);
        }
    }
    eprintln!(
        "blocking deadlock: caught {runs}/{runs}, {:.1?} per run",
        started.elapsed() / runs as u32
    );
}
