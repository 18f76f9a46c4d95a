//! What a history check covered, and the broken rule when it found one.

use std::fmt;

/// What a history check covered; [`HistoryReport::merge`] adds reports up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryReport {
    /// Histories given to the linearizability tester: one per key, or one per history of
    /// several keys when it holds commits (checked as a whole).
    pub histories: u64,
    /// Operations checked, a commit counting once (maybe-applied writes included; failed
    /// reads and writes that were not sent are not).
    pub ops: u64,
    /// Reads among them.
    pub reads: u64,
    /// Writes (puts, deletes, commits) that succeeded.
    pub writes: u64,
    /// Writes refused with a conflict.
    pub conflicts: u64,
    /// Writes whose outcome was unknown, checked as maybe applied.
    pub maybe_applied: u64,
    /// Operations left out: failed reads, and writes refused before being sent.
    pub left_out: u64,
    /// Operations that overlapped in time with another one on a shared key (the ones that
    /// make a history concurrent rather than sequential).
    pub concurrent: u64,
    /// The most operations on one key in one history.
    pub max_ops_per_history: u64,
    /// Multi-key commits among the operations, whatever their outcome.
    pub commits: u64,
}

impl HistoryReport {
    /// Adds `other` to this report.
    ///
    /// ```
    /// use optimist::testkit::HistoryReport;
    /// let mut total = HistoryReport::default();
    /// total.merge(&HistoryReport { ops: 3, max_ops_per_history: 3, ..Default::default() });
    /// total.merge(&HistoryReport { ops: 2, max_ops_per_history: 2, ..Default::default() });
    /// assert_eq!((total.ops, total.max_ops_per_history), (5, 3));
    /// ```
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
        self.commits += other.commits;
    }
}

impl fmt::Display for HistoryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} histories, {} operations ({} reads, {} writes, {} conflicts, {} commits, \
             {} maybe applied, {} concurrent, {} left out; at most {} per key)",
            self.histories,
            self.ops,
            self.reads,
            self.writes,
            self.conflicts,
            self.commits,
            self.maybe_applied,
            self.concurrent,
            self.left_out,
            self.max_ops_per_history
        )
    }
}

/// A broken rule found by [`History::check`](super::History::check): the key, the rule, and
/// the history.
#[derive(Clone, Debug)]
pub struct HistoryViolation {
    /// The key whose history broke the rule (for a history with commits that failed as a
    /// whole, its first key).
    pub key: String,
    /// What is wrong.
    pub rule: String,
    /// The operations, one per line, in invocation order (only the key's when the rule is
    /// about one key; keys are named `k0`, `k1`, ... in the history's order).
    pub history: String,
}

impl fmt::Display for HistoryViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the history of key {:?} is not linearizable: {}\n\
             operations ([invoked..returned] on one logical clock; `?`: outcome unknown):\n{}",
            self.key, self.rule, self.history
        )
    }
}

impl std::error::Error for HistoryViolation {}
