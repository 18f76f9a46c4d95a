//! The rules the kit checks, as they appear in its failure messages (`(rule: ...)`).
//!
//! Each is a short statement of the [`VersionedStore`](crate::VersionedStore) contract; a
//! failure message names exactly one, with the values that broke it.

/// A put or delete whose expectation holds is applied.
pub(super) const PASSES: &str = "a write whose expectation holds is applied";
/// A write whose expectation fails is a `Conflict`.
pub(super) const REFUSED: &str = "a write whose expectation fails is refused with a Conflict";
/// The conflict's kind follows from the expectation and the current state.
pub(super) const CONFLICT_KIND: &str =
    "a conflict's kind follows from the expectation and the current state";
/// The conflict carries the current version.
pub(super) const CONFLICT_CURRENT: &str = "a conflict carries the key's current version";
/// The conflict names the key and the expectation it was given.
pub(super) const CONFLICT_ECHO: &str = "a conflict names the key and the expectation given";
/// Nothing changes on a refusal.
pub(super) const REFUSED_NOTHING: &str = "a refused write changes nothing";
/// No stale reads.
pub(super) const LATEST: &str = "a read returns the latest acknowledged write";
/// `head` and `get` agree.
pub(super) const HEAD: &str = "head agrees with get";
/// Each write's version is greater than the key's earlier ones.
pub(super) const VERSIONS_INCREASE: &str =
    "every write returns a version greater than all of the key's earlier ones";
/// No ABA.
pub(super) const NO_REUSE: &str =
    "versions are never reused for a key, also after delete and re-create (no ABA)";
/// Delete returns what it removed.
pub(super) const DELETE_RETURNS: &str = "delete returns the version it removed";
/// The write's time.
pub(super) const LAST_MODIFIED: &str = "last_modified is the time of the write";
/// Keys and values round-trip.
pub(super) const ROUND_TRIP: &str = "keys and values round-trip exactly";
/// Check and write in one step.
pub(super) const ATOMIC: &str = "the compare and the write are one atomic step (two writers \
     expecting the same state never both succeed; no update is lost)";
/// Commits apply all or nothing.
pub(super) const ALL_OR_NOTHING: &str = "a commit applies all of its operations or none";
/// One result per operation.
pub(super) const COMMIT_RESULTS: &str = "a commit returns one result per operation, in order";
/// Every failed key, with its current version.
pub(super) const EVERY_CONFLICT: &str = "a refused commit is a CommitConflict naming every \
     failed key, each with its current version, and no other key";
/// A commit's keys get their own new versions.
pub(super) const COMMIT_VERSIONS: &str = "each key a commit writes gets its own new version";
/// Malformed commits.
pub(super) const INVALID_COMMIT: &str = "a malformed commit (no operation, a key named twice, \
     more keys than max_commit_keys) is InvalidCommit and writes nothing";
/// No torn reads.
pub(super) const NO_HALF_COMMIT: &str = "a reader never sees half of a commit";
/// Honest capabilities.
pub(super) const UNSUPPORTED: &str =
    "an operation the capabilities do not list answers Unsupported and writes nothing";
/// Ascending byte order.
pub(super) const LIST_ORDER: &str =
    "a listing is in ascending byte order of the keys, never repeating one";
/// Complete listings.
pub(super) const LIST_COMPLETE: &str = "a listing walk returns every key that exists, \
     unchanged, during the whole walk, exactly once";
/// Page size.
pub(super) const LIST_LIMIT: &str = "a page holds at most `limit` keys";
/// The cursor.
pub(super) const LIST_NEXT: &str = "a page's `next` is its last key when more keys may \
     follow, and None only when the listing is complete";
/// The prefix and the cursor bound the listing.
pub(super) const LIST_RANGE: &str =
    "a listing returns only keys under the prefix that sort strictly after `after`";
/// An entry is a consistent read of its key.
pub(super) const LIST_ENTRY: &str =
    "a listed entry is a consistent read of its key (version, time and value belong together)";
/// Liveness of commits.
pub(super) const NO_DEADLOCK: &str =
    "overlapping commits, naming their keys in any order, all finish (no deadlock)";
/// A commit's checks write nothing.
pub(super) const CHECKS_WRITE_NOTHING: &str = "a commit's checks write nothing";
/// Liveness of every operation.
pub(super) const FINISHES: &str = "every store operation finishes (no deadlock, no hang)";
/// Linearizability.
pub(super) const LINEARIZABLE: &str = "operations are linearizable: each takes effect at one \
     point between its call and its return (a commit on all of its keys at once)";
