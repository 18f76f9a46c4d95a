//! What a backend can do beyond single-key compare-and-swap.

/// The optional operations a store supports, from
/// [`VersionedStore::capabilities`](crate::VersionedStore::capabilities).
///
/// A store without a capability answers the operation with
/// [`StoreError::Unsupported`](crate::StoreError::Unsupported) and never fakes it (a
/// multi-key commit is never a sequence of single-key writes).
///
/// ```
/// use optimist::Capabilities;
/// let caps = Capabilities::none().with_commit(64).with_list();
/// assert_eq!(caps.max_commit_keys, 64);
/// assert!(caps.list);
/// assert!(!Capabilities::none().supports_commit());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// The most keys one [`Commit`](crate::Commit) may name; 0 when multi-key commits are not
    /// supported.
    pub max_commit_keys: usize,
    /// Whether [`VersionedStore::list`](crate::VersionedStore::list) is supported.
    pub list: bool,
}

impl Capabilities {
    /// Single-key operations only.
    pub const fn none() -> Self {
        Self {
            max_commit_keys: 0,
            list: false,
        }
    }

    /// Multi-key commits of up to `max_keys` keys.
    pub const fn with_commit(mut self, max_keys: usize) -> Self {
        self.max_commit_keys = max_keys;
        self
    }

    /// Prefix listing.
    pub const fn with_list(mut self) -> Self {
        self.list = true;
        self
    }

    /// Whether multi-key commits are supported.
    pub const fn supports_commit(&self) -> bool {
        self.max_commit_keys > 0
    }
}
