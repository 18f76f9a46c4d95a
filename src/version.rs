//! Versions, their HTTP face (strong entity-tags) and versioned values.

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::SystemTime;

/// An opaque, totally ordered revision of one key.
///
/// Every successful write produces a new version that is greater than every version the key
/// had before, also across delete and re-create: a version is never reused for a key, so a
/// client holding a version of a deleted incarnation can never match the new one (no ABA).
///
/// Its HTTP face is a strong entity-tag (`"17"`): [`Version::etag`] formats it and
/// [`Version::from_etag`] reads it back. A tag that is not exactly one of ours is simply
/// `None`: it can never match, and it is not an error.
///
/// ```
/// use optimist::Version;
///
/// let v = Version::new(17).unwrap();
/// assert_eq!(v.etag(), "\"17\"");
/// assert_eq!(Version::from_etag("\"17\""), Some(v));
/// assert_eq!(Version::from_etag("W/\"17\""), None); // weak: not a strong tag of ours
/// assert_eq!(Version::from_etag("\"017\""), None); // not our canonical form
/// assert!(Version::new(18).unwrap() > v);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(NonZeroU64);

/// The longest opaque-tag we ever produce: `u64::MAX` has 20 decimal digits.
pub(crate) const MAX_OPAQUE_LEN: usize = 20;

impl Version {
    /// The version with raw number `n`; `None` for 0, which is never a version.
    ///
    /// Backends allocate these numbers (a counter or a database sequence); users normally
    /// only receive them.
    ///
    /// ```
    /// assert!(optimist::Version::new(0).is_none());
    /// assert_eq!(optimist::Version::new(3).unwrap().get(), 3);
    /// ```
    pub const fn new(n: u64) -> Option<Self> {
        match NonZeroU64::new(n) {
            Some(n) => Some(Self(n)),
            None => None,
        }
    }

    /// The raw number, for backends that store it.
    ///
    /// ```
    /// assert_eq!(optimist::Version::new(9).unwrap().get(), 9);
    /// ```
    pub const fn get(self) -> u64 {
        self.0.get()
    }

    /// The strong entity-tag, quotes included, as sent in an `ETag` header.
    ///
    /// ```
    /// assert_eq!(optimist::Version::new(42).unwrap().etag(), "\"42\"");
    /// ```
    pub fn etag(self) -> String {
        format!("\"{}\"", self.0)
    }

    /// The `ETag` header value for this version.
    ///
    /// ```
    /// let v = optimist::Version::new(5).unwrap();
    /// assert_eq!(v.header_value(), "\"5\"");
    /// ```
    pub fn header_value(self) -> http::HeaderValue {
        http::HeaderValue::try_from(self.etag())
            .expect("digits and quotes are a valid header value")
    }

    /// The version written as `etag` (a strong tag with quotes, e.g. `"42"`), or `None` when
    /// the tag is weak, malformed or not in our canonical form.
    ///
    /// ```
    /// use optimist::Version;
    /// assert_eq!(Version::from_etag("\"42\"").map(Version::get), Some(42));
    /// assert_eq!(Version::from_etag("\"abc\""), None);
    /// assert_eq!(Version::from_etag("42"), None);
    /// ```
    pub fn from_etag(etag: &str) -> Option<Self> {
        let opaque = etag.strip_prefix('"')?.strip_suffix('"')?;
        Self::from_opaque(opaque.as_bytes())
    }

    /// The version whose opaque-tag (the text between the quotes) is `opaque`.
    ///
    /// Only the canonical form matches: ASCII digits, no leading zero, at most 20 digits,
    /// not zero, no overflow. Anything else is `None`, without allocating.
    ///
    /// ```
    /// use optimist::Version;
    /// assert_eq!(Version::from_opaque(b"7").map(Version::get), Some(7));
    /// assert_eq!(Version::from_opaque(b"07"), None);
    /// assert_eq!(Version::from_opaque(b"99999999999999999999"), None); // > u64::MAX
    /// ```
    pub fn from_opaque(opaque: &[u8]) -> Option<Self> {
        if opaque.is_empty() || opaque.len() > MAX_OPAQUE_LEN || opaque[0] == b'0' {
            return None;
        }
        let mut n: u64 = 0;
        for &b in opaque {
            if !b.is_ascii_digit() {
                return None;
            }
            n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        }
        Self::new(n)
    }

    /// This version as an [`etag::EntityTag`] (always strong).
    ///
    /// ```
    /// let tag = optimist::Version::new(3).unwrap().entity_tag();
    /// assert!(!tag.weak);
    /// assert_eq!(tag.to_string(), "\"3\"");
    /// ```
    pub fn entity_tag(self) -> etag::EntityTag {
        etag::EntityTag::checked_strong(&self.0.to_string())
            .expect("20 digits fit the etag crate's buffer")
    }

    /// The version an [`etag::EntityTag`] stands for, if it is a strong tag of ours.
    ///
    /// ```
    /// use optimist::Version;
    /// let v = Version::new(8).unwrap();
    /// assert_eq!(Version::from_entity_tag(&v.entity_tag()), Some(v));
    /// assert_eq!(Version::from_entity_tag(&etag::EntityTag::weak("8")), None);
    /// ```
    pub fn from_entity_tag(tag: &etag::EntityTag) -> Option<Self> {
        if tag.weak {
            return None;
        }
        Self::from_opaque(tag.tag().as_bytes())
    }
}

impl fmt::Display for Version {
    /// Formats as the entity-tag, quotes included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", self.0)
    }
}

/// The error of parsing a [`Version`] from a string that is not one of our strong entity-tags.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an entity-tag produced by this store (expected a quoted number such as \"17\")"
)]
pub struct ParseVersionError(pub String);

impl FromStr for Version {
    type Err = ParseVersionError;

    /// Parses the entity-tag form, quotes included.
    ///
    /// ```
    /// let v: optimist::Version = "\"12\"".parse().unwrap();
    /// assert_eq!(v.get(), 12);
    /// assert!("12".parse::<optimist::Version>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_etag(s).ok_or_else(|| ParseVersionError(s.to_owned()))
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The metadata of a stored value: its version and when it was last written.
///
/// This is what precondition evaluation needs; [`Versioned::meta`] gives it.
///
/// ```
/// use optimist::{Meta, Version};
/// let meta = Meta { version: Version::new(1).unwrap(), last_modified: std::time::UNIX_EPOCH };
/// assert_eq!(meta.version.etag(), "\"1\"");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    /// The current version.
    pub version: Version,
    /// When the current version was written.
    pub last_modified: SystemTime,
}

/// A value together with its version and last-modified time, as read from a store.
///
/// ```
/// use optimist::{MemoryStore, Expect, VersionedStore};
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let v = store.put("k", 1u32, Expect::Absent).await.unwrap().version;
/// let read = store.get("k").await.unwrap().unwrap();
/// assert_eq!((read.value, read.version), (1, v));
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<V> {
    /// The stored value.
    pub value: V,
    /// The version that wrote it.
    pub version: Version,
    /// When it was written.
    pub last_modified: SystemTime,
}

impl<V> Versioned<V> {
    /// The version and last-modified time, without the value.
    ///
    /// ```
    /// use optimist::{Versioned, Version};
    /// let v = Versioned { value: "x", version: Version::new(2).unwrap(), last_modified: std::time::UNIX_EPOCH };
    /// assert_eq!(v.meta().version, v.version);
    /// ```
    pub fn meta(&self) -> Meta {
        Meta {
            version: self.version,
            last_modified: self.last_modified,
        }
    }

    /// Maps the value, keeping version and time.
    ///
    /// ```
    /// use optimist::{Versioned, Version};
    /// let v = Versioned { value: 2, version: Version::new(2).unwrap(), last_modified: std::time::UNIX_EPOCH };
    /// assert_eq!(v.map(|x| x * 10).value, 20);
    /// ```
    pub fn map<U>(self, f: impl FnOnce(V) -> U) -> Versioned<U> {
        Versioned {
            value: f(self.value),
            version: self.version,
            last_modified: self.last_modified,
        }
    }
}
