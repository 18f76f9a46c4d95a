//! How a check reports a broken rule: a panic naming the check, the rule and the values.

use std::fmt::{Debug, Display};

/// The check being run, for its failure messages:
/// `optimist testkit, <check>: <what happened> (rule: <rule>)`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Check(pub(super) &'static str);

impl Check {
    /// Fails: `detail` broke `rule`.
    #[track_caller]
    pub(super) fn fail(self, rule: &str, detail: impl Display) -> ! {
        panic!("optimist testkit, {}: {detail} (rule: {rule})", self.0)
    }

    /// Fails unless `holds`; `detail` says what was seen.
    #[track_caller]
    pub(super) fn ensure(self, holds: bool, rule: &str, detail: impl FnOnce() -> String) {
        if !holds {
            self.fail(rule, detail());
        }
    }

    /// Fails unless `got == expected`.
    #[track_caller]
    pub(super) fn eq<T: PartialEq + Debug>(self, rule: &str, what: &str, got: T, expected: T) {
        if got != expected {
            self.fail(rule, format!("{what}: expected {expected:?}, got {got:?}"));
        }
    }

    /// The value of an operation that must succeed; fails naming `rule` otherwise.
    #[track_caller]
    pub(super) fn ok<T, E: Display>(self, rule: &str, what: &str, result: Result<T, E>) -> T {
        match result {
            Ok(value) => value,
            Err(e) => self.fail(rule, format!("{what} failed: {e}")),
        }
    }
}
