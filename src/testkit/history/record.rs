//! What a history worker records: each operation, when it was invoked and returned on the
//! history's logical clock, and how it ended.

use std::fmt::Write as _;

use crate::{Applied, ConflictKind, Expect, Meta, StoreError, Version};

/// What an operation does to one of its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Action {
    /// Writes `value` (unique in the process). `revealed`: for a maybe-applied put, the
    /// version a read saw its value with.
    Put {
        value: u64,
        revealed: Option<Version>,
    },
    Delete,
    /// A commit's pure check of a key it does not write.
    Check,
}

/// One key's share of a write: the key (an index into the history's keys), what is done to
/// it and what its state must be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Part {
    pub(super) key: usize,
    pub(super) action: Action,
    pub(super) expect: Expect,
}

/// An operation, as the sequential spec sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Get {
        key: usize,
    },
    /// A single-key put or delete (one part, `commit: false`) or a multi-key commit (one
    /// part per key).
    Write {
        parts: Vec<Part>,
        commit: bool,
    },
}

impl Op {
    /// Whether this operation is about `key`.
    pub(super) fn touches(&self, key: usize) -> bool {
        match self {
            Op::Get { key: k } => *k == key,
            Op::Write { parts, .. } => parts.iter().any(|p| p.key == key),
        }
    }

    /// The keys this operation is about.
    pub(super) fn keys(&self) -> Vec<usize> {
        match self {
            Op::Get { key } => vec![*key],
            Op::Write { parts, .. } => parts.iter().map(|p| p.key).collect(),
        }
    }
}

/// What one part of an applied write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Put(Version),
    Deleted(Option<Version>),
    Checked(Option<Version>),
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Ret {
    Read(Option<(Version, u64)>),
    /// Every part applied, in order.
    Applied(Vec<Outcome>),
    /// Nothing applied. Per part: `Some((kind, current))` when its expectation failed,
    /// `None` when it held.
    Refused(Vec<Option<(ConflictKind, Option<Version>)>>),
    /// Maybe applied: no return.
    Unknown,
}

/// How an operation ended.
#[derive(Clone, Debug)]
pub(super) enum End {
    Returned(u64, Ret),
    /// A write whose outcome is unknown (ticket taken when the error came back).
    MaybeApplied(u64, String),
    /// A failed read, or a write refused before it was sent: left out of the check.
    LeftOut(String),
    /// An answer that breaks the trait's contract on its face (a commit's results that do
    /// not match its operations, a conflict naming a key the write did not name).
    Malformed(u64, String),
}

/// One recorded operation.
#[derive(Clone, Debug)]
pub(super) struct Record {
    pub(super) worker: usize,
    /// The tester's thread: the worker, and a new one after each maybe-applied write (an
    /// operation that never returns must be its thread's last).
    pub(super) thread: u64,
    pub(super) op: Op,
    pub(super) invoke: u64,
    pub(super) end: End,
}

impl Record {
    /// When it returned; `u64::MAX` when it never did.
    pub(super) fn returned_at(&self) -> u64 {
        match self.end {
            End::Returned(at, _) => at,
            _ => u64::MAX,
        }
    }

    /// One line: clock span, worker, operation and result.
    pub(super) fn describe(&self, index: usize) -> String {
        let end = match &self.end {
            End::Returned(at, _) => at.to_string(),
            End::MaybeApplied(at, _) => format!("? (error at {at})"),
            End::LeftOut(_) => "-".to_owned(),
            End::Malformed(at, _) => at.to_string(),
        };
        let result = match &self.end {
            End::Returned(_, ret) => describe_ret(ret),
            End::MaybeApplied(_, e) => format!("maybe applied: {e}"),
            End::LeftOut(e) => format!("left out ({e})"),
            End::Malformed(_, e) => format!("malformed answer: {e}"),
        };
        format!(
            "  #{index} [{}..{end}] worker {}: {} -> {result}",
            self.invoke,
            self.worker,
            describe_op(&self.op)
        )
    }
}

fn describe_op(op: &Op) -> String {
    match op {
        Op::Get { key } => format!("get k{key}"),
        Op::Write { parts, commit } => {
            let parts: Vec<String> = parts.iter().map(describe_part).collect();
            if *commit {
                format!("commit [{}]", parts.join("; "))
            } else {
                parts.join("; ")
            }
        }
    }
}

fn describe_part(part: &Part) -> String {
    let mut out = match &part.action {
        Action::Put { value, .. } => format!("put k{} {value}", part.key),
        Action::Delete => format!("delete k{}", part.key),
        Action::Check => format!("check k{}", part.key),
    };
    let _ = write!(out, " expecting {}", part.expect);
    if let Action::Put {
        revealed: Some(v), ..
    } = &part.action
    {
        let _ = write!(out, " (read as {v})");
    }
    out
}

fn describe_ret(ret: &Ret) -> String {
    let version = |v: &Option<Version>| v.map_or("absent".to_owned(), |v| v.to_string());
    match ret {
        Ret::Read(None) => "absent".to_owned(),
        Ret::Read(Some((v, value))) => format!("{value} at {v}"),
        Ret::Applied(outcomes) => {
            let each: Vec<String> = outcomes
                .iter()
                .map(|o| match o {
                    Outcome::Put(v) => format!("written as {v}"),
                    Outcome::Deleted(v) => format!("deleted {}", version(v)),
                    Outcome::Checked(v) => format!("checked at {}", version(v)),
                })
                .collect();
            each.join("; ")
        }
        Ret::Refused(parts) => {
            let each: Vec<String> = parts
                .iter()
                .map(|p| match p {
                    None => "held".to_owned(),
                    Some((kind, current)) => {
                        format!("refused: {kind}, current {}", version(current))
                    }
                })
                .collect();
            format!("refused [{}]", each.join("; "))
        }
        Ret::Unknown => "?".to_owned(),
    }
}

/// How a single-key put ended.
pub(super) fn put_end(at: u64, result: Result<Meta, StoreError>) -> End {
    match result {
        Ok(meta) => End::Returned(at, Ret::Applied(vec![Outcome::Put(meta.version)])),
        Err(e) => single_error(at, e),
    }
}

/// How a single-key delete ended.
pub(super) fn delete_end(at: u64, result: Result<Option<Version>, StoreError>) -> End {
    match result {
        Ok(removed) => End::Returned(at, Ret::Applied(vec![Outcome::Deleted(removed)])),
        Err(e) => single_error(at, e),
    }
}

fn single_error(at: u64, e: StoreError) -> End {
    match e {
        StoreError::Conflict(c) => {
            End::Returned(at, Ret::Refused(vec![Some((c.kind(), c.current()))]))
        }
        StoreError::CommitConflict(c) => End::Malformed(
            at,
            format!("a single-key write was refused with a CommitConflict ({c})"),
        ),
        e => unsent_or_unknown(at, e),
    }
}

/// How a commit of `parts` on `keys` ended.
pub(super) fn commit_end(
    at: u64,
    parts: &[Part],
    keys: &[String],
    result: Result<Vec<Applied>, StoreError>,
) -> End {
    match result {
        Ok(applied) => applied_commit(at, parts, applied),
        Err(StoreError::CommitConflict(refusal)) => {
            let mut failed: Vec<Option<(ConflictKind, Option<Version>)>> = vec![None; parts.len()];
            if refusal.conflicts().is_empty() {
                return End::Malformed(at, "a CommitConflict that names no key".to_owned());
            }
            for c in refusal.conflicts() {
                let Some(i) = parts.iter().position(|p| keys[p.key] == c.key()) else {
                    return End::Malformed(
                        at,
                        format!(
                            "the CommitConflict names key {:?}, not in the commit",
                            c.key()
                        ),
                    );
                };
                if failed[i].is_some() {
                    return End::Malformed(
                        at,
                        format!("the CommitConflict names key {:?} twice", c.key()),
                    );
                }
                if c.expected() != &parts[i].expect {
                    return End::Malformed(
                        at,
                        format!(
                            "the conflict on k{} says it expected {}, the commit said {}",
                            parts[i].key,
                            c.expected(),
                            parts[i].expect
                        ),
                    );
                }
                failed[i] = Some((c.kind(), c.current()));
            }
            End::Returned(at, Ret::Refused(failed))
        }
        Err(StoreError::Conflict(c)) => End::Malformed(
            at,
            format!(
                "a refused commit answered a single-key Conflict ({c}); it must be a \
                 CommitConflict naming every failed key"
            ),
        ),
        Err(e) => unsent_or_unknown(at, e),
    }
}

fn applied_commit(at: u64, parts: &[Part], applied: Vec<Applied>) -> End {
    if applied.len() != parts.len() {
        return End::Malformed(
            at,
            format!(
                "the commit of {} operations returned {} results",
                parts.len(),
                applied.len()
            ),
        );
    }
    let mut outcomes = Vec::with_capacity(parts.len());
    for (i, (part, applied)) in parts.iter().zip(applied).enumerate() {
        let outcome = match (&part.action, applied) {
            (Action::Put { .. }, Applied::Put(meta)) => Outcome::Put(meta.version),
            (Action::Delete, Applied::Deleted(removed)) => Outcome::Deleted(removed),
            (Action::Check, Applied::Checked(current)) => Outcome::Checked(current),
            (_, other) => {
                return End::Malformed(
                    at,
                    format!("result {i} of the commit is {other:?}, for operation {part:?}"),
                );
            }
        };
        outcomes.push(outcome);
    }
    End::Returned(at, Ret::Applied(outcomes))
}

/// Errors that say nothing was sent are left out; any other leaves the write open.
fn unsent_or_unknown(at: u64, e: StoreError) -> End {
    match e {
        StoreError::Unavailable { .. }
        | StoreError::InvalidKey { .. }
        | StoreError::Codec { .. }
        | StoreError::InvalidCommit { .. }
        | StoreError::Unsupported { .. } => End::LeftOut(e.to_string()),
        e => End::MaybeApplied(at, e.to_string()),
    }
}
