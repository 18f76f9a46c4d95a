//! Listing the keys under a prefix, a page at a time.

use crate::Meta;

/// What [`VersionedStore::list`](crate::VersionedStore::list) should return: the keys that
/// start with `prefix` and sort after `after`, at most `limit` of them, with or without their
/// values.
///
/// Keys are ordered by their UTF-8 bytes (which is also code-point order), ascending. To read
/// everything, pass each page's [`ListPage::next`] as the next request's `after` until it is
/// `None`.
///
/// ```
/// use optimist::ListRequest;
/// let first = ListRequest::prefix("user:").limit(50);
/// let next = first.clone().after("user:ann");
/// assert_eq!(next.after_key(), Some("user:ann"));
/// assert_eq!(next.limit_value(), 50);
/// assert_eq!(ListRequest::prefix("").limit(0).limit_value(), 1); // clamped
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListRequest {
    prefix: String,
    after: Option<String>,
    limit: usize,
    values: bool,
}

impl ListRequest {
    /// The largest page: larger limits are lowered to this.
    pub const MAX_LIMIT: usize = 1000;
    /// The page size when none is set.
    pub const DEFAULT_LIMIT: usize = 100;

    /// The first page of keys starting with `prefix` (`""`: every key), without values,
    /// [`DEFAULT_LIMIT`](Self::DEFAULT_LIMIT) keys per page.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            after: None,
            limit: Self::DEFAULT_LIMIT,
            values: false,
        }
    }

    /// Only keys that sort strictly after `key` (a cursor: the previous page's
    /// [`ListPage::next`]).
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.after = Some(key.into());
        self
    }

    /// At most `limit` keys per page, clamped into `1 ..= MAX_LIMIT`.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.clamp(1, Self::MAX_LIMIT);
        self
    }

    /// Also return each key's value.
    ///
    /// ```
    /// assert!(optimist::ListRequest::prefix("a").with_values().wants_values());
    /// ```
    pub fn with_values(mut self) -> Self {
        self.values = true;
        self
    }

    /// The prefix every listed key starts with.
    pub fn prefix_str(&self) -> &str {
        &self.prefix
    }

    /// The cursor: listed keys sort strictly after it.
    pub fn after_key(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The most keys a page holds.
    pub fn limit_value(&self) -> usize {
        self.limit
    }

    /// Whether values are wanted.
    pub fn wants_values(&self) -> bool {
        self.values
    }

    /// Whether `key` belongs to this request's range: it starts with the prefix and sorts
    /// after the cursor. Backends that filter in Rust use it.
    ///
    /// ```
    /// use optimist::ListRequest;
    /// let r = ListRequest::prefix("u:").after("u:b");
    /// assert!(r.admits("u:c"));
    /// assert!(!r.admits("u:b"));
    /// assert!(!r.admits("v:z"));
    /// ```
    pub fn admits(&self, key: &str) -> bool {
        key.starts_with(&self.prefix) && self.after.as_deref().is_none_or(|a| key > a)
    }
}

/// One key of a [`ListPage`]: its metadata and, when asked for, its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed<V> {
    /// The key.
    pub key: String,
    /// Its current version and time.
    pub meta: Meta,
    /// Its value, when the request asked for values ([`ListRequest::with_values`]).
    pub value: Option<V>,
}

/// A page of a listing.
///
/// **Consistency.** Each entry is a consistent read of its key (the value, version and time
/// belong together), but a page is not a snapshot of the whole store, and pages may
/// interleave with writes: a key created or deleted while you page may or may not appear. A
/// key that exists, unchanged, during the whole walk appears exactly once.
///
/// ```
/// use optimist::{Expect, ListRequest, MemoryStore, VersionedStore};
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// for name in ["c", "a", "b"] {
///     store.put(&format!("u:{name}"), 0u8, Expect::Absent).await.unwrap();
/// }
/// let page = store.list(ListRequest::prefix("u:").limit(2)).await.unwrap();
/// assert_eq!(page.entries.iter().map(|e| e.key.as_str()).collect::<Vec<_>>(), ["u:a", "u:b"]);
/// let rest = store.list(ListRequest::prefix("u:").limit(2).after(page.next.unwrap())).await.unwrap();
/// assert_eq!(rest.entries.len(), 1);
/// assert_eq!(rest.next, None);
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage<V> {
    /// The keys, ascending by their bytes.
    pub entries: Vec<Listed<V>>,
    /// The cursor for the next page (the last key of this one) when more keys may follow;
    /// `None` when the listing is complete.
    pub next: Option<String>,
}

impl<V> ListPage<V> {
    /// A page of `entries` (ascending) answering `request`: `next` is the last key when the
    /// page is full, else `None`. Backends that fetch `limit` entries use it.
    ///
    /// ```
    /// use optimist::{ListPage, ListRequest};
    /// let page: ListPage<()> = ListPage::from_entries(Vec::new(), &ListRequest::prefix("a"));
    /// assert!(page.entries.is_empty() && page.next.is_none());
    /// ```
    pub fn from_entries(entries: Vec<Listed<V>>, request: &ListRequest) -> Self {
        let next = if entries.len() >= request.limit_value() {
            entries.last().map(|e| e.key.clone())
        } else {
            None
        };
        Self { entries, next }
    }
}

/// The smallest byte string above every string that starts with `prefix`: the prefix with
/// its last byte below 0xFF incremented and what follows dropped; `None` when there is none
/// (the empty prefix, or only 0xFF bytes). The byte-ordered backends bound a prefix listing
/// with it.
#[cfg(any(feature = "redis", feature = "mysql", feature = "sqlite"))]
pub(crate) fn byte_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|b| *b < 0xFF)?;
    let mut upper = prefix[..=last].to_vec();
    upper[last] += 1;
    Some(upper)
}
