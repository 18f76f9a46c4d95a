//! Every write is one etcd `Txn`: a compare per key, then the writes, else a read of every
//! key, so a refusal carries each key's current revision from the same atomic step.
//!
//! | expectation | compare |
//! |---|---|
//! | `Any` | none |
//! | `Absent` | `create_revision == 0` |
//! | `Exists` | `create_revision > 0` |
//! | `Version(v)` | `mod_revision == v` |
//! | `OneOf(vs)` | `mod_revision == pin`, `pin` one of `vs` (see below) |
//! | a version etcd cannot hold (> `i64::MAX`), `OneOf([])` | `mod_revision < 0`: never true |
//!
//! On success the reply's header revision is the new `mod_revision` of every key written.
//!
//! **`OneOf`.** etcd ANDs the compares of a transaction, so "the revision is one of these" is
//! not one compare. The transaction instead pins each `OneOf` key to one candidate (first the
//! largest). When it is refused, the failure branch tells every key's current revision as of
//! that same step: a key whose expectation really fails is a conflict, and the commit is
//! refused with all of them; if only pins missed (the current revision is another
//! candidate), each missed pin moves to the current revision and the transaction is sent
//! again. Every attempt is a whole compare-and-swap, so the commit still applies in one atomic
//! step or is refused as of one. It ends: a key's revision only grows, so a pin moves to each
//! candidate at most once.

use etcd_client::{Compare, CompareOp, DeleteOptions, GetOptions, Txn, TxnOp, TxnOpResponse};

use super::EtcdError;
use super::entry;
use crate::{Applied, Conflict, Expect, Meta, Version};

/// What a step does to its key when the transaction applies.
#[derive(Clone, Debug)]
pub(super) enum Write {
    /// Writes this etcd value (see [`entry`]).
    Put(Vec<u8>),
    /// Removes the key.
    Delete,
    /// Only reads the key's revision.
    Check,
}

/// One key of a transaction.
#[derive(Clone, Debug)]
pub(super) struct Step {
    /// The store's key.
    pub(super) key: String,
    /// `{prefix}{key}`.
    pub(super) etcd_key: Vec<u8>,
    pub(super) write: Write,
    pub(super) expect: Expect,
    /// The candidate a `OneOf` is pinned to (`None`: no candidate etcd can hold).
    pin: Option<i64>,
}

/// The answer to a transaction.
#[derive(Debug)]
pub(super) enum Reply {
    /// Every compare held: what each step did, in order.
    Applied(Vec<Applied>),
    /// Some expectation failed: every failed one, in order; nothing was written.
    Refused(Vec<Conflict>),
    /// Only pins of `OneOf` expectations missed: send the transaction again.
    Repinned,
}

/// The revision `v` as etcd holds it, if it can.
fn revision(v: Version) -> Option<i64> {
    i64::try_from(v.get()).ok()
}

/// The version of a revision etcd sent (0 is none: absent).
fn version_of(revision: i64) -> Option<Version> {
    u64::try_from(revision).ok().and_then(Version::new)
}

impl Step {
    /// A step writing `write` on `key` (stored at `etcd_key`) if `expect` holds.
    pub(super) fn new(key: String, etcd_key: Vec<u8>, write: Write, expect: Expect) -> Self {
        let pin = match &expect {
            Expect::OneOf(vs) => vs.iter().copied().filter_map(revision).max(),
            _ => None,
        };
        Self {
            key,
            etcd_key,
            write,
            expect,
            pin,
        }
    }

    /// The compare this step's expectation needs, `None` for `Any`.
    fn compare(&self) -> Option<Compare> {
        let key = self.etcd_key.clone();
        let never = |key| Compare::mod_revision(key, CompareOp::Less, 0);
        let equals = |key, r: Option<i64>| match r {
            Some(r) => Compare::mod_revision(key, CompareOp::Equal, r),
            None => never(key),
        };
        Some(match &self.expect {
            Expect::Any => return None,
            Expect::Absent => Compare::create_revision(key, CompareOp::Equal, 0),
            Expect::Exists => Compare::create_revision(key, CompareOp::Greater, 0),
            Expect::Version(v) => equals(key, revision(*v)),
            Expect::OneOf(_) => equals(key, self.pin),
        })
    }

    fn on_success(&self) -> TxnOp {
        match &self.write {
            Write::Put(value) => TxnOp::put(self.etcd_key.clone(), value.clone(), None),
            Write::Delete => TxnOp::delete(
                self.etcd_key.clone(),
                Some(DeleteOptions::new().with_prev_key()),
            ),
            Write::Check => TxnOp::get(
                self.etcd_key.clone(),
                Some(GetOptions::new().with_keys_only()),
            ),
        }
    }

    fn on_failure(&self) -> TxnOp {
        TxnOp::get(
            self.etcd_key.clone(),
            Some(GetOptions::new().with_keys_only()),
        )
    }
}

/// The transaction applying `steps`: every compare, then every write, else a read of every
/// key.
pub(super) fn build(steps: &[Step]) -> Txn {
    let compares: Vec<Compare> = steps.iter().filter_map(Step::compare).collect();
    let success: Vec<TxnOp> = steps.iter().map(Step::on_success).collect();
    let failure: Vec<TxnOp> = steps.iter().map(Step::on_failure).collect();
    Txn::new().when(compares).and_then(success).or_else(failure)
}

/// What the transaction of `steps`, whose writes carry the time `ms`, answered. On a refusal
/// where only pins missed, the pins of `steps` move to the current revisions.
pub(super) fn interpret(
    steps: &mut [Step],
    ms: u64,
    reply: &etcd_client::TxnResponse,
) -> Result<Reply, EtcdError> {
    let first = steps.first().map_or("", |s| s.key.as_str()).to_owned();
    let unexpected = |reason| EtcdError::UnexpectedReply {
        key: first.clone(),
        reason,
    };
    let responses = reply.op_responses();
    if responses.len() != steps.len() {
        return Err(unexpected("not one response per operation"));
    }
    if reply.succeeded() {
        let revision = reply.header().map(|h| h.revision()).unwrap_or(0);
        let mut applied = Vec::with_capacity(steps.len());
        for (step, response) in steps.iter().zip(&responses) {
            applied.push(match (&step.write, response) {
                (Write::Put(_), TxnOpResponse::Put(_)) => {
                    let version = version_of(revision)
                        .ok_or_else(|| unexpected("no revision after a write"))?;
                    Applied::Put(Meta {
                        version,
                        last_modified: entry::time_of(ms),
                    })
                }
                (Write::Delete, TxnOpResponse::Delete(d)) => Applied::Deleted(
                    d.prev_kvs()
                        .first()
                        .and_then(|kv| version_of(kv.mod_revision())),
                ),
                (Write::Check, TxnOpResponse::Get(g)) => {
                    Applied::Checked(g.kvs().first().and_then(|kv| version_of(kv.mod_revision())))
                }
                _ => return Err(unexpected("a response of the wrong kind")),
            });
        }
        return Ok(Reply::Applied(applied));
    }
    let mut conflicts = Vec::new();
    let mut repins = Vec::new();
    for (i, (step, response)) in steps.iter().zip(&responses).enumerate() {
        let TxnOpResponse::Get(g) = response else {
            return Err(unexpected("a failure response that is not a read"));
        };
        let current = g.kvs().first().and_then(|kv| version_of(kv.mod_revision()));
        if !step.expect.admits(current) {
            conflicts.push(Conflict::new(&step.key, step.expect.clone(), current));
        } else if let (Expect::OneOf(_), Some(current)) = (&step.expect, current) {
            if step.pin != revision(current) {
                repins.push((i, revision(current)));
            }
        }
    }
    if !conflicts.is_empty() {
        return Ok(Reply::Refused(conflicts));
    }
    if repins.is_empty() {
        // Every expectation holds by the reads, yet a compare failed: etcd broke the
        // atomicity of its own transaction.
        return Err(unexpected(
            "a refused transaction whose reads satisfy every expectation",
        ));
    }
    for (i, pin) in repins {
        steps[i].pin = pin;
    }
    Ok(Reply::Repinned)
}

/// How many times a transaction of `steps` may be sent before every pin has visited every
/// candidate: one more than all `OneOf` candidates together.
pub(super) fn max_attempts(steps: &[Step]) -> usize {
    1 + steps
        .iter()
        .map(|s| match &s.expect {
            Expect::OneOf(vs) => vs.len(),
            _ => 0,
        })
        .sum::<usize>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(expect: Expect) -> Step {
        Step::new("k".into(), b"p/k".to_vec(), Write::Check, expect)
    }

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    #[test]
    fn compares_per_expectation() {
        assert!(step(Expect::Any).compare().is_none());
        for expect in [
            Expect::Absent,
            Expect::Exists,
            Expect::Version(v(3)),
            Expect::OneOf(vec![v(2), v(9)]),
            Expect::OneOf(vec![]),
            Expect::Version(v(u64::MAX)),
        ] {
            assert!(step(expect).compare().is_some());
        }
    }

    #[test]
    fn one_of_pins_the_largest_candidate_etcd_can_hold() {
        assert_eq!(step(Expect::OneOf(vec![v(2), v(9), v(5)])).pin, Some(9));
        assert_eq!(step(Expect::OneOf(vec![v(4), v(u64::MAX)])).pin, Some(4));
        assert_eq!(step(Expect::OneOf(vec![v(u64::MAX)])).pin, None);
        assert_eq!(step(Expect::OneOf(vec![])).pin, None);
    }

    #[test]
    fn attempts_cover_every_candidate() {
        let steps = [
            step(Expect::OneOf(vec![v(1), v(2), v(3)])),
            step(Expect::Version(v(1))),
            step(Expect::OneOf(vec![v(7)])),
        ];
        assert_eq!(max_attempts(&steps), 5);
    }
}
