//! The outcomes of a store operation that are not success.

use std::fmt;

use crate::{CommitConflict, Expect, Version};

/// A boxed error from a backend's driver, kept as the `source` of a [`StoreError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a write's expectation did not hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// The key exists, but at a version the write did not expect.
    Stale,
    /// The write required the key to be absent (create-only), but it exists.
    AlreadyExists,
    /// The write required the key to exist, but it does not.
    Missing,
}

impl ConflictKind {
    /// The kind of failure for an expectation that did not admit `current`.
    ///
    /// ```
    /// use optimist::{ConflictKind, Expect, Version};
    /// let v = Version::new(1).unwrap();
    /// assert_eq!(ConflictKind::classify(&Expect::Absent, Some(v)), ConflictKind::AlreadyExists);
    /// assert_eq!(ConflictKind::classify(&Expect::Version(v), None), ConflictKind::Missing);
    /// assert_eq!(ConflictKind::classify(&Expect::Exists, None), ConflictKind::Missing);
    /// ```
    pub fn classify(expected: &Expect, current: Option<Version>) -> Self {
        match (expected, current) {
            (_, None) => ConflictKind::Missing,
            (Expect::Absent, Some(_)) => ConflictKind::AlreadyExists,
            (_, Some(_)) => ConflictKind::Stale,
        }
    }

    /// A short snake_case name, as used in problem bodies.
    ///
    /// ```
    /// assert_eq!(optimist::ConflictKind::AlreadyExists.as_str(), "already_exists");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Stale => "stale",
            ConflictKind::AlreadyExists => "already_exists",
            ConflictKind::Missing => "missing",
        }
    }
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConflictKind::Stale => "stale version",
            ConflictKind::AlreadyExists => "already exists",
            ConflictKind::Missing => "missing",
        })
    }
}

/// A write's expectation did not hold: nothing was written.
///
/// Carries what the write expected and the key's **current** version (`None` when absent),
/// which is what a client needs to reconcile: re-read, merge, and retry with the current ETag.
///
/// ```
/// use optimist::{Conflict, ConflictKind, Expect, Version};
/// let current = Version::new(9).unwrap();
/// let c = Conflict::new("user:1", Expect::Version(Version::new(8).unwrap()), Some(current));
/// assert_eq!(c.kind(), ConflictKind::Stale);
/// assert_eq!(c.current_etag().as_deref(), Some("\"9\""));
/// assert_eq!(c.to_string(), "conflict on key \"user:1\": stale version (expected version \"8\", current \"9\")");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    kind: ConflictKind,
    /// Inline up to 24 bytes: a failed CAS on a short key allocates nothing.
    key: compact_str::CompactString,
    expected: Expect,
    current: Option<Version>,
}

impl Conflict {
    /// A conflict for `key`, whose kind follows from `expected` and `current`.
    ///
    /// Backends build conflicts with this; `expected` should be the expectation they were
    /// given and `current` the version they found (`None`: absent).
    pub fn new(key: impl AsRef<str>, expected: Expect, current: Option<Version>) -> Self {
        let kind = ConflictKind::classify(&expected, current);
        Self {
            kind,
            key: compact_str::CompactString::new(key.as_ref()),
            expected,
            current,
        }
    }

    /// Why the expectation failed.
    pub fn kind(&self) -> ConflictKind {
        self.kind
    }

    /// The key written.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What the write expected.
    pub fn expected(&self) -> &Expect {
        &self.expected
    }

    /// The key's version when the write was refused; `None` when it was absent.
    ///
    /// For backends that cannot return it atomically with the refusal (PostgreSQL reads it
    /// right after), this is a hint: it may already be older than the newest version.
    pub fn current(&self) -> Option<Version> {
        self.current
    }

    /// The current version as an entity-tag, quotes included (`None` when absent).
    pub fn current_etag(&self) -> Option<String> {
        self.current.map(Version::etag)
    }
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conflict on key {:?}: {} (expected {}, current ",
            self.key, self.kind, self.expected
        )?;
        match self.current {
            Some(v) => write!(f, "{v})"),
            None => f.write_str("absent)"),
        }
    }
}

impl std::error::Error for Conflict {}

/// Everything a store operation can fail with.
///
/// Match on the variant to decide what to do: re-read and retry on [`StoreError::Conflict`];
/// re-read before retrying on [`StoreError::Indeterminate`]; back off on
/// [`StoreError::Unavailable`]; report the rest.
///
/// ```
/// use optimist::{Expect, MemoryStore, StoreError, VersionedStore};
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// store.put("k", 1, Expect::Absent).await.unwrap();
/// match store.put("k", 2, Expect::Absent).await {
///     Err(StoreError::Conflict(c)) => assert!(c.current().is_some()),
///     other => panic!("expected a conflict, got {other:?}"),
/// }
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The expectation did not hold; nothing was written. Re-read and retry.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// At least one expectation of a multi-key [`Commit`](crate::Commit) did not hold;
    /// nothing of the commit was written. It lists every failed key with its current
    /// version: re-read those and retry.
    #[error(transparent)]
    CommitConflict(#[from] CommitConflict),
    /// The backend lost the connection or timed out after the write was sent: it may or may
    /// not have happened. Re-read before deciding what to do; never treat it as success.
    /// For a multi-key commit, `key` is the commit's first key and the whole commit either
    /// applied or did not.
    #[error("outcome unknown for write to key {key:?}: re-read before retrying")]
    Indeterminate {
        /// The key written.
        key: String,
        /// What cut the write off.
        #[source]
        source: BoxError,
    },
    /// The backend could not be reached, or no connection was free in time; nothing was sent.
    /// Safe to retry later.
    #[error("store unavailable: {source}")]
    Unavailable {
        /// Why it could not be reached.
        #[source]
        source: BoxError,
    },
    /// A value could not be encoded for, or decoded from, the backend.
    #[error("value for key {key:?} could not be encoded or decoded")]
    Codec {
        /// The key concerned.
        key: String,
        /// The codec's error.
        #[source]
        source: BoxError,
    },
    /// The key cannot be stored by this backend (for example too long); nothing was sent.
    #[error("invalid key: {reason}")]
    InvalidKey {
        /// What is wrong with it.
        reason: String,
    },
    /// The commit cannot be applied as given (no operation, a key named twice, more keys
    /// than the backend takes, keys a cluster cannot commit together); nothing was sent.
    /// Fix the commit; retrying it unchanged fails the same way.
    #[error("invalid commit: {reason}")]
    InvalidCommit {
        /// What is wrong with it.
        reason: String,
    },
    /// This backend does not support the operation (see
    /// [`VersionedStore::capabilities`](crate::VersionedStore::capabilities)); nothing was
    /// sent. Use another backend, or do without the operation.
    #[error("this store does not support {operation}")]
    Unsupported {
        /// The operation asked for, e.g. `"multi-key commits"`.
        operation: &'static str,
    },
    /// Any other backend failure, with its source.
    #[error("backend error: {source}")]
    Backend {
        /// The driver's error.
        #[source]
        source: BoxError,
    },
}

impl StoreError {
    /// The conflict, if this is one.
    ///
    /// ```
    /// use optimist::{Conflict, Expect, StoreError};
    /// let e = StoreError::from(Conflict::new("k", Expect::Absent, None));
    /// assert!(e.as_conflict().is_some());
    /// ```
    pub fn as_conflict(&self) -> Option<&Conflict> {
        match self {
            StoreError::Conflict(c) => Some(c),
            _ => None,
        }
    }

    /// The refused multi-key commit, if this is one.
    ///
    /// ```
    /// use optimist::{CommitConflict, Conflict, Expect, StoreError};
    /// let e = StoreError::from(CommitConflict::new(vec![Conflict::new("k", Expect::Absent, None)]));
    /// assert_eq!(e.as_commit_conflict().unwrap().conflicts().len(), 1);
    /// assert!(e.as_conflict().is_none());
    /// ```
    pub fn as_commit_conflict(&self) -> Option<&CommitConflict> {
        match self {
            StoreError::CommitConflict(c) => Some(c),
            _ => None,
        }
    }

    /// A backend error wrapping `source`.
    pub fn backend(source: impl Into<BoxError>) -> Self {
        StoreError::Backend {
            source: source.into(),
        }
    }
}
