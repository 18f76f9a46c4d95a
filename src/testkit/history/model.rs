//! The sequential spec the linearizability tester checks against: the history's keys as
//! versioned registers, changed by single-key writes and by commits that apply all their
//! parts or none.

use stateright::semantics::SequentialSpec;

use super::record::{Action, Op, Outcome, Part, Ret};
use crate::{ConflictKind, Expect, Version};

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

    /// Writes `value` at `version` (`None`: not yet seen).
    fn write(&mut self, value: u64, version: Option<Version>) {
        self.current = Some(Cell { version, value });
        if version.is_some() {
            self.newest = version;
        }
    }

    /// Whether a read returning `read` is valid now.
    fn read(&mut self, read: Option<(Version, u64)>) -> bool {
        let value_matches = match (&self.current, read) {
            (Some(cell), Some((_, value))) => cell.value == value,
            (None, None) => true,
            _ => false,
        };
        value_matches && self.is_current(read.map(|r| r.0))
    }
}

/// The history's keys as registers, indexed like the history's keys.
#[derive(Clone, Debug)]
pub(super) struct Registers(Vec<Register>);

impl Registers {
    /// `keys` absent keys.
    pub(super) fn new(keys: usize) -> Self {
        Self(vec![Register::default(); keys])
    }

    /// Whether every part's expectation holds (binding unseen versions they pin).
    fn all_admit(&mut self, parts: &[Part]) -> bool {
        parts.iter().all(|p| self.0[p.key].admits(&p.expect))
    }

    /// Applies a write whose outcome is known to be `outcomes`; false if it cannot be.
    fn applied(&mut self, parts: &[Part], outcomes: &[Outcome]) -> bool {
        if parts.len() != outcomes.len() || !self.all_admit(parts) {
            return false;
        }
        for (part, outcome) in parts.iter().zip(outcomes) {
            let register = &mut self.0[part.key];
            let ok = match (&part.action, outcome) {
                (Action::Put { value, .. }, Outcome::Put(v)) if register.fresh(*v) => {
                    register.write(*value, Some(*v));
                    true
                }
                (Action::Delete, Outcome::Deleted(removed)) if register.is_current(*removed) => {
                    register.current = None;
                    true
                }
                (Action::Check, Outcome::Checked(current)) => register.is_current(*current),
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Whether a refusal reporting `failed` (per part) is valid now: each failed part's
    /// expectation fails on the current version it reports, with the right kind, and each
    /// part not reported holds.
    fn refused(
        &mut self,
        parts: &[Part],
        failed: &[Option<(ConflictKind, Option<Version>)>],
    ) -> bool {
        if parts.len() != failed.len() || failed.iter().all(Option::is_none) {
            return false;
        }
        parts.iter().zip(failed).all(|(part, failed)| {
            let register = &mut self.0[part.key];
            match failed {
                Some((kind, current)) => {
                    register.is_current(*current)
                        && !part.expect.admits(*current)
                        && *kind == ConflictKind::classify(&part.expect, *current)
                }
                None => register.admits(&part.expect),
            }
        })
    }
}

impl SequentialSpec for Registers {
    type Op = Op;
    type Ret = Ret;

    /// Applies a maybe-applied write where it can take effect, all parts or none (never
    /// called for completed operations: `is_valid_step` checks those).
    fn invoke(&mut self, op: &Op) -> Ret {
        if let Op::Write { parts, .. } = op {
            let mut next = self.clone();
            let fits = next.all_admit(parts)
                && parts.iter().all(|p| match &p.action {
                    Action::Put {
                        revealed: Some(v), ..
                    } => next.0[p.key].fresh(*v),
                    _ => true,
                });
            if fits {
                for part in parts {
                    let register = &mut next.0[part.key];
                    match &part.action {
                        Action::Put { value, revealed } => register.write(*value, *revealed),
                        Action::Delete => register.current = None,
                        Action::Check => {}
                    }
                }
                *self = next;
            }
        }
        Ret::Unknown
    }

    fn is_valid_step(&mut self, op: &Op, ret: &Ret) -> bool {
        match (op, ret) {
            (Op::Get { key }, Ret::Read(read)) => self.0[*key].read(*read),
            (Op::Write { parts, .. }, Ret::Applied(outcomes)) => self.applied(parts, outcomes),
            (Op::Write { parts, .. }, Ret::Refused(failed)) => self.refused(parts, failed),
            _ => false,
        }
    }
}
