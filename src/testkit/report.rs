//! What a run of the kit checked, and how long each check took.

use std::fmt;
use std::time::Duration;

/// One check of a [`Kit`](super::Kit) run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckRun {
    /// The check's name (its function's name in [`testkit`](super)).
    pub name: &'static str,
    /// How long it took (zero when skipped).
    pub took: Duration,
    /// What it covered (rounds, operations, ...), or why it was skipped.
    pub detail: String,
    /// Whether it was skipped (the store lacks the operation, or threads were disabled).
    pub skipped: bool,
}

/// What a [`Kit`](super::Kit) run (or [`run_all`](super::run_all)) checked. Every check
/// that ran passed: a failing check panics.
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let report = optimist::testkit::run_all::<u64, _>(&MemoryStore::new(), "report/").await;
/// assert!(report.checks.iter().all(|c| !c.skipped));
/// println!("{report}");
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KitReport {
    /// The checks, in the order they ran.
    pub checks: Vec<CheckRun>,
}

impl KitReport {
    /// The time all checks took together.
    ///
    /// ```
    /// assert_eq!(optimist::testkit::KitReport::default().total(), std::time::Duration::ZERO);
    /// ```
    pub fn total(&self) -> Duration {
        self.checks.iter().map(|c| c.took).sum()
    }

    pub(super) fn ran(&mut self, name: &'static str, took: Duration, detail: String) {
        self.checks.push(CheckRun {
            name,
            took,
            detail,
            skipped: false,
        });
    }

    pub(super) fn skipped(&mut self, name: &'static str, why: &str) {
        self.checks.push(CheckRun {
            name,
            took: Duration::ZERO,
            detail: why.to_owned(),
            skipped: true,
        });
    }
}

impl fmt::Display for KitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ran = self.checks.iter().filter(|c| !c.skipped).count();
        writeln!(f, "{ran} checks passed in {:.2?}:", self.total())?;
        for check in &self.checks {
            if check.skipped {
                writeln!(f, "  {:<30} skipped: {}", check.name, check.detail)?;
            } else {
                writeln!(
                    f,
                    "  {:<30} {:>9.2?}  {}",
                    check.name, check.took, check.detail
                )?;
            }
        }
        Ok(())
    }
}
