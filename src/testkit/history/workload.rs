//! The random operations a history worker issues: reads, blind and conditional puts,
//! deletes and (when asked for) multi-key commits, with expectations built from the versions
//! the worker has seen, so many of them pass and many conflict.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};

use super::record::{Action, Op, Outcome, Part, Ret};
use crate::testkit::rng::Rng;
use crate::{Expect, Version};

/// The values handed out for writes, unique across all histories of the process, so a read
/// can always be tied to the one write that wrote what it returns.
static NEXT_VALUE: AtomicU64 = AtomicU64::new(1);

/// Per key, the last version a worker saw and the one before it.
pub(super) type Seen = Vec<(Option<Version>, Option<Version>)>;

/// Expectations for a key whose last seen version is `last` (and the one before, `before`).
struct Expectations {
    last: Option<Version>,
    before: Option<Version>,
}

impl Expectations {
    fn pinned(&self) -> Expect {
        Expect::from(self.last)
    }

    fn one_of(&self, rng: &mut Rng) -> Expect {
        let mut vs: Vec<Version> = self.last.into_iter().chain(self.before).collect();
        if rng.below(4) == 0 {
            vs.reverse();
        }
        if rng.below(10) == 0 {
            vs.clear();
        }
        Expect::OneOf(vs)
    }

    fn for_put(&self, rng: &mut Rng) -> Expect {
        match rng.below(52) {
            0..12 => Expect::Any,
            12..22 => Expect::Absent,
            22..27 => Expect::Exists,
            27..34 => self.before.map_or(Expect::Exists, Expect::Version),
            34..46 => self.pinned(),
            _ => self.one_of(rng),
        }
    }

    fn for_delete(&self, rng: &mut Rng) -> Expect {
        match rng.below(10) {
            0..3 => Expect::Any,
            3..7 => self.pinned(),
            7 => Expect::Exists,
            8 => Expect::Absent,
            _ => self.one_of(rng),
        }
    }

    fn for_check(&self, rng: &mut Rng) -> Expect {
        match rng.below(10) {
            0..5 => self.pinned(),
            5 => Expect::Absent,
            6 | 7 => Expect::Exists,
            8 => Expect::Any,
            _ => self.one_of(rng),
        }
    }
}

fn expectations(seen: &Seen, key: usize) -> Expectations {
    let (last, before) = seen[key];
    Expectations { last, before }
}

fn new_value() -> u64 {
    NEXT_VALUE.fetch_add(1, SeqCst)
}

/// A random single-key operation on `key`: 30% reads, 52% puts, 18% deletes.
pub(super) fn single(rng: &mut Rng, seen: &Seen, key: usize) -> Op {
    let e = expectations(seen, key);
    let roll = rng.below(100);
    if roll < 30 {
        return Op::Get { key };
    }
    let part = if roll < 82 {
        Part {
            key,
            action: Action::Put {
                value: new_value(),
                revealed: None,
            },
            expect: e.for_put(rng),
        }
    } else {
        Part {
            key,
            action: Action::Delete,
            expect: e.for_delete(rng),
        }
    };
    Op::Write {
        parts: vec![part],
        commit: false,
    }
}

/// A random commit on `keys` (distinct): each key put (45%), deleted (20%) or checked (35%).
pub(super) fn commit(rng: &mut Rng, seen: &Seen, keys: &[usize]) -> Op {
    let parts = keys
        .iter()
        .map(|&key| {
            let e = expectations(seen, key);
            match rng.below(100) {
                0..45 => Part {
                    key,
                    action: Action::Put {
                        value: new_value(),
                        revealed: None,
                    },
                    expect: e.for_put(rng),
                },
                45..65 => Part {
                    key,
                    action: Action::Delete,
                    expect: e.for_delete(rng),
                },
                _ => Part {
                    key,
                    action: Action::Check,
                    expect: e.for_check(rng),
                },
            }
        })
        .collect();
    Op::Write {
        parts,
        commit: true,
    }
}

/// Updates what the worker has seen of each key from an operation's return.
pub(super) fn observe(seen: &mut Seen, op: &Op, ret: &Ret) {
    let mut saw = |key: usize, now: Option<Version>| {
        let (last, before) = seen[key];
        if now != last {
            seen[key] = (now, last.or(before));
        }
    };
    match (op, ret) {
        (Op::Get { key }, Ret::Read(read)) => saw(*key, read.map(|r| r.0)),
        (Op::Write { parts, .. }, Ret::Applied(outcomes)) => {
            for (part, outcome) in parts.iter().zip(outcomes) {
                let now = match *outcome {
                    Outcome::Put(v) => Some(v),
                    Outcome::Deleted(_) => None,
                    Outcome::Checked(c) => c,
                };
                saw(part.key, now);
            }
        }
        (Op::Write { parts, .. }, Ret::Refused(failed)) => {
            for (part, failed) in parts.iter().zip(failed) {
                if let Some((_, current)) = failed {
                    saw(part.key, *current);
                }
            }
        }
        _ => {}
    }
}
