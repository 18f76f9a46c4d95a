//! Multi-key commits: several writes and checks, each with its own expectation, applied all
//! or nothing in one atomic step inside the backend.

use std::collections::HashSet;
use std::fmt;

use crate::{Conflict, Expect, Meta, StoreError, Version};

/// One operation of a [`Commit`]: a write, a removal, or a pure check of a key it does not
/// write.
///
/// ```
/// use optimist::{Expect, Op};
/// let op: Op<u32> = Op::Check { key: "email:ann@example.com".into(), expect: Expect::Absent };
/// assert_eq!(op.key(), "email:ann@example.com");
/// assert_eq!(op.expect(), &Expect::Absent);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op<V> {
    /// Write `value` under `key` if its current state satisfies `expect`.
    Put {
        /// The key written.
        key: String,
        /// The new value.
        value: V,
        /// What the key's current state must be.
        expect: Expect,
    },
    /// Remove `key` if its current state satisfies `expect`.
    Delete {
        /// The key removed.
        key: String,
        /// What the key's current state must be.
        expect: Expect,
    },
    /// Write nothing, but require `key`'s current state to satisfy `expect` at the moment
    /// the commit applies.
    Check {
        /// The key checked.
        key: String,
        /// What the key's current state must be.
        expect: Expect,
    },
}

impl<V> Op<V> {
    /// The key this operation is about.
    ///
    /// ```
    /// use optimist::{Expect, Op};
    /// assert_eq!(Op::<()>::Delete { key: "k".into(), expect: Expect::Any }.key(), "k");
    /// ```
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key, .. } | Op::Check { key, .. } => key,
        }
    }

    /// What this operation requires of its key's current state.
    ///
    /// ```
    /// use optimist::{Expect, Op};
    /// assert_eq!(Op::Put { key: "k".into(), value: 1, expect: Expect::Absent }.expect(), &Expect::Absent);
    /// ```
    pub fn expect(&self) -> &Expect {
        match self {
            Op::Put { expect, .. } | Op::Delete { expect, .. } | Op::Check { expect, .. } => expect,
        }
    }

    /// Whether this operation changes its key (a put or a delete, not a check).
    ///
    /// ```
    /// use optimist::{Expect, Op};
    /// assert!(!Op::<()>::Check { key: "k".into(), expect: Expect::Any }.writes());
    /// ```
    pub fn writes(&self) -> bool {
        !matches!(self, Op::Check { .. })
    }
}

/// Several writes and checks applied **all or nothing, in one atomic step** by
/// [`VersionedStore::commit`](crate::VersionedStore::commit).
///
/// Each operation names a distinct key and carries its own [`Expect`]. The backend checks
/// every expectation and applies every write as one step (a set of shard locks, one
/// transaction, one script): no reader ever sees some of the writes without the others, and
/// when any expectation fails nothing is written and the error
/// ([`StoreError::CommitConflict`]) names **every** key whose expectation failed, each with
/// its current version. Every written key gets its own new version.
///
/// The classic use is a unique secondary field: write a document and claim its index entry
/// together, so no crash or race leaves an orphan or a duplicate.
///
/// ```
/// use optimist::{Commit, Expect, MemoryStore, StoreError, VersionedStore};
///
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// // Create user ann and claim her email in one step.
/// let ok = Commit::new()
///     .put("user:ann", "ann@example.com".to_string(), Expect::Absent)
///     .put("email:ann@example.com", "ann".to_string(), Expect::Absent);
/// store.commit(ok).await.unwrap();
///
/// // Bob cannot take the same email: nothing of this commit is written.
/// let taken = Commit::new()
///     .put("user:bob", "ann@example.com".to_string(), Expect::Absent)
///     .put("email:ann@example.com", "bob".to_string(), Expect::Absent);
/// match store.commit(taken).await {
///     Err(StoreError::CommitConflict(c)) => {
///         assert_eq!(c.conflicts().len(), 1);
///         assert_eq!(c.conflicts()[0].key(), "email:ann@example.com");
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(store.get("user:bob").await.unwrap().is_none());
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit<V> {
    ops: Vec<Op<V>>,
}

impl<V> Default for Commit<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> Commit<V> {
    /// An empty commit; add operations with [`put`](Self::put), [`delete`](Self::delete)
    /// and [`check`](Self::check).
    ///
    /// ```
    /// assert!(optimist::Commit::<u8>::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self { ops: Vec::new() }
    }

    /// Adds a write of `value` under `key`, if `key`'s state satisfies `expect`.
    ///
    /// ```
    /// use optimist::{Commit, Expect};
    /// let c = Commit::new().put("a", 1, Expect::Absent);
    /// assert_eq!(c.len(), 1);
    /// ```
    pub fn put(mut self, key: impl Into<String>, value: V, expect: Expect) -> Self {
        self.ops.push(Op::Put {
            key: key.into(),
            value,
            expect,
        });
        self
    }

    /// Adds the removal of `key`, if its state satisfies `expect`.
    ///
    /// ```
    /// use optimist::{Commit, Expect};
    /// let c = Commit::<u8>::new().delete("a", Expect::Exists);
    /// assert_eq!(c.ops()[0].key(), "a");
    /// ```
    pub fn delete(mut self, key: impl Into<String>, expect: Expect) -> Self {
        self.ops.push(Op::Delete {
            key: key.into(),
            expect,
        });
        self
    }

    /// Adds a check that `key`'s state satisfies `expect`, without writing it.
    ///
    /// ```
    /// use optimist::{Commit, Expect};
    /// let c = Commit::<u8>::new().check("a", Expect::Absent);
    /// assert!(!c.ops()[0].writes());
    /// ```
    pub fn check(mut self, key: impl Into<String>, expect: Expect) -> Self {
        self.ops.push(Op::Check {
            key: key.into(),
            expect,
        });
        self
    }

    /// Adds an operation.
    ///
    /// ```
    /// use optimist::{Commit, Expect, Op};
    /// let mut c = Commit::new();
    /// c.push(Op::Put { key: "a".into(), value: 1, expect: Expect::Any });
    /// assert_eq!(c.len(), 1);
    /// ```
    pub fn push(&mut self, op: Op<V>) {
        self.ops.push(op);
    }

    /// The operations, in the order they were added.
    pub fn ops(&self) -> &[Op<V>] {
        &self.ops
    }

    /// The operations, by value (for backends).
    pub fn into_ops(self) -> Vec<Op<V>> {
        self.ops
    }

    /// The number of operations (each on its own key).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the commit has no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The keys, in the order of the operations.
    ///
    /// ```
    /// use optimist::{Commit, Expect};
    /// let c = Commit::<u8>::new().check("b", Expect::Any).delete("a", Expect::Any);
    /// assert_eq!(c.keys().collect::<Vec<_>>(), ["b", "a"]);
    /// ```
    pub fn keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.ops.iter().map(Op::key)
    }

    /// Checks that the commit can be applied by a backend taking at most `max_keys` keys per
    /// commit: at least one operation, at most `max_keys`, and no key named twice. Backends
    /// call this before sending anything; the error is [`StoreError::InvalidCommit`] and
    /// nothing is written.
    ///
    /// ```
    /// use optimist::{Commit, Expect, StoreError};
    /// let twice = Commit::new().put("a", 1, Expect::Any).put("a", 2, Expect::Any);
    /// assert!(matches!(twice.validate(8), Err(StoreError::InvalidCommit { .. })));
    /// assert!(Commit::<u8>::new().validate(8).is_err());
    /// assert!(Commit::new().put("a", 1, Expect::Any).validate(8).is_ok());
    /// ```
    pub fn validate(&self, max_keys: usize) -> Result<(), StoreError> {
        let invalid = |reason: String| Err(StoreError::InvalidCommit { reason });
        if self.ops.is_empty() {
            return invalid("a commit needs at least one operation".to_owned());
        }
        if self.ops.len() > max_keys {
            return invalid(format!(
                "{} keys in one commit; this backend takes at most {max_keys}",
                self.ops.len()
            ));
        }
        let mut seen = HashSet::with_capacity(self.ops.len());
        for key in self.keys() {
            if !seen.insert(key) {
                return invalid(format!(
                    "key {key:?} appears twice; each key may be named once per commit"
                ));
            }
        }
        Ok(())
    }
}

/// What one operation of a successful commit did, in the commit's order.
///
/// ```
/// use optimist::{Applied, Commit, Expect, MemoryStore, VersionedStore};
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let applied = store.commit(Commit::new().put("a", 1, Expect::Absent).check("b", Expect::Absent)).await.unwrap();
/// assert!(matches!(applied[0], Applied::Put(_)));
/// assert_eq!(applied[1], Applied::Checked(None));
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The key was written: its new version and time.
    Put(Meta),
    /// The key was removed (its last version), or was already absent (`None`).
    Deleted(Option<Version>),
    /// The key was checked: its current version (`None`: absent).
    Checked(Option<Version>),
}

/// A commit was refused: at least one expectation failed, and nothing was written.
///
/// Lists **every** operation whose expectation failed, in the commit's order, each as a
/// [`Conflict`] with the key's current version (like DynamoDB's cancellation reasons), so a
/// caller can say which field conflicted.
///
/// ```
/// use optimist::{CommitConflict, Conflict, Expect, Version};
/// let c = CommitConflict::new(vec![Conflict::new("email:a", Expect::Absent, Version::new(3))]);
/// assert_eq!(c.get("email:a").unwrap().current(), Version::new(3));
/// assert!(c.get("user:a").is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitConflict {
    conflicts: Vec<Conflict>,
}

impl CommitConflict {
    /// A refusal listing `conflicts` (backends build it; it should not be empty).
    pub fn new(conflicts: Vec<Conflict>) -> Self {
        Self { conflicts }
    }

    /// Every failed expectation, in the commit's order.
    pub fn conflicts(&self) -> &[Conflict] {
        &self.conflicts
    }

    /// The failed expectations, by value.
    pub fn into_conflicts(self) -> Vec<Conflict> {
        self.conflicts
    }

    /// The conflict on `key`, if its expectation failed.
    pub fn get(&self, key: &str) -> Option<&Conflict> {
        self.conflicts.iter().find(|c| c.key() == key)
    }
}

impl fmt::Display for CommitConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "commit refused, nothing written: ")?;
        for (i, c) in self.conflicts.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CommitConflict {}
