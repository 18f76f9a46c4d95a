//! What a write requires of the key's current state.

use std::fmt;

use crate::Version;

/// What a write requires of the current state of its key; the store checks it and writes in
/// one atomic step.
///
/// | variant | HTTP origin | passes when |
/// |---|---|---|
/// | `Any` | no precondition | always |
/// | `Absent` | `If-None-Match: *` | the key does not exist (create-only) |
/// | `Exists` | `If-Match: *` | the key exists |
/// | `Version(v)` | `If-Match: "v"` | the current version is `v` |
/// | `OneOf(vs)` | `If-Match: "a", "b"` | the current version is one of `vs` (an empty list never passes) |
///
/// ```
/// use optimist::{Expect, Version};
/// let v = Version::new(3).unwrap();
/// assert!(Expect::Version(v).admits(Some(v)));
/// assert!(!Expect::Version(v).admits(None));
/// assert!(Expect::Absent.admits(None));
/// assert!(!Expect::OneOf(vec![]).admits(Some(v)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Expect {
    /// Unconditional: the write happens whatever the current state.
    #[default]
    Any,
    /// Create-only: the key must not exist.
    Absent,
    /// The key must exist, in any version.
    Exists,
    /// The key must exist at exactly this version.
    Version(Version),
    /// The key must exist at one of these versions. An empty list never passes.
    OneOf(Vec<Version>),
}

impl Expect {
    /// Whether a key whose current version is `current` (`None`: absent) satisfies this.
    ///
    /// Backends that compare in their own process (the memory store) call this inside their
    /// critical section; database backends express the same rule in their statement.
    ///
    /// ```
    /// use optimist::{Expect, Version};
    /// let (a, b) = (Version::new(1).unwrap(), Version::new(2).unwrap());
    /// assert!(Expect::OneOf(vec![a, b]).admits(Some(b)));
    /// assert!(Expect::Exists.admits(Some(a)));
    /// assert!(!Expect::Exists.admits(None));
    /// ```
    #[inline]
    pub fn admits(&self, current: Option<Version>) -> bool {
        match (self, current) {
            (Expect::Any, _) => true,
            (Expect::Absent, current) => current.is_none(),
            (_, None) => false,
            (Expect::Exists, Some(_)) => true,
            (Expect::Version(v), Some(c)) => *v == c,
            (Expect::OneOf(vs), Some(c)) => vs.contains(&c),
        }
    }

    /// The versions this expectation names, if it names any.
    ///
    /// ```
    /// use optimist::{Expect, Version};
    /// let v = Version::new(4).unwrap();
    /// assert_eq!(Expect::Version(v).versions(), &[v]);
    /// assert!(Expect::Any.versions().is_empty());
    /// ```
    pub fn versions(&self) -> &[Version] {
        match self {
            Expect::Version(v) => std::slice::from_ref(v),
            Expect::OneOf(vs) => vs,
            _ => &[],
        }
    }

    /// Whether this requires the key to exist (`Exists`, `Version`, `OneOf`).
    ///
    /// ```
    /// assert!(optimist::Expect::Exists.requires_existing());
    /// assert!(!optimist::Expect::Any.requires_existing());
    /// ```
    pub fn requires_existing(&self) -> bool {
        matches!(self, Expect::Exists | Expect::Version(_) | Expect::OneOf(_))
    }
}

impl From<Version> for Expect {
    fn from(v: Version) -> Self {
        Expect::Version(v)
    }
}

impl From<Option<Version>> for Expect {
    /// `Some(v)` pins version `v`; `None` requires the key to be absent. This is the
    /// expectation of a read-modify-write that read `current`.
    ///
    /// ```
    /// use optimist::{Expect, Version};
    /// assert_eq!(Expect::from(None::<Version>), Expect::Absent);
    /// ```
    fn from(v: Option<Version>) -> Self {
        match v {
            Some(v) => Expect::Version(v),
            None => Expect::Absent,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Any => f.write_str("any state"),
            Expect::Absent => f.write_str("absent"),
            Expect::Exists => f.write_str("existing"),
            Expect::Version(v) => write!(f, "version {v}"),
            Expect::OneOf(vs) if vs.is_empty() => f.write_str("one of no known versions"),
            Expect::OneOf(vs) => {
                f.write_str("one of ")?;
                for (i, v) in vs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                Ok(())
            }
        }
    }
}

/// Serialized for problem bodies as `"any"`, `"absent"`, `"exists"`, or a list of entity-tags.
impl serde::Serialize for Expect {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expect::Any => serializer.serialize_str("any"),
            Expect::Absent => serializer.serialize_str("absent"),
            Expect::Exists => serializer.serialize_str("exists"),
            Expect::Version(_) | Expect::OneOf(_) => serializer.collect_seq(self.versions()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Expect {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Word(String),
            Tags(Vec<Version>),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Word(w) => match w.as_str() {
                "any" => Ok(Expect::Any),
                "absent" => Ok(Expect::Absent),
                "exists" => Ok(Expect::Exists),
                other => Err(serde::de::Error::unknown_variant(
                    other,
                    &["any", "absent", "exists"],
                )),
            },
            Repr::Tags(mut vs) if vs.len() == 1 => Ok(Expect::Version(vs.remove(0))),
            Repr::Tags(vs) => Ok(Expect::OneOf(vs)),
        }
    }
}
