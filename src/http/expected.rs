//! What a refused write expected, in the form problem bodies carry it.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};

use super::validators::EntityTag;
use crate::{Expect, Version};

/// What a refused write expected of the resource, as the `expected` member of a problem
/// body says it: `"any"`, `"absent"`, `"exists"`, or a list of entity-tags (one of which the
/// current one had to be).
///
/// Unlike [`Expect`] (the store's versions only) it holds any entity-tag, so a client reads
/// a foreign server's body too.
///
/// ```
/// use optimist::http::Expected;
/// use optimist::{Expect, Version};
///
/// let e: Expected = serde_json::from_str(r#"["\"7\"", "\"sha-1f2e\""]"#).unwrap();
/// let Expected::Tags(tags) = &e else { panic!() };
/// assert_eq!(tags.len(), 2);
/// // As the store's expectation only the tag of ours remains.
/// assert_eq!(e.to_expect(), Expect::Version(Version::new(7).unwrap()));
/// assert_eq!(serde_json::to_string(&Expected::Absent).unwrap(), r#""absent""#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Expected {
    /// Any state (an unconditional write).
    Any,
    /// No current representation (create-only, `If-None-Match: *`).
    Absent,
    /// Any current representation (`If-Match: *`).
    Exists,
    /// A current representation whose entity-tag is one of these (`If-Match: "a", "b"`).
    Tags(Vec<EntityTag>),
}

impl Expected {
    /// The store expectation this stands for: tags that are not strong tags of ours can never
    /// match a store version and are left out (an empty list never passes).
    pub fn to_expect(&self) -> Expect {
        match self {
            Expected::Any => Expect::Any,
            Expected::Absent => Expect::Absent,
            Expected::Exists => Expect::Exists,
            Expected::Tags(tags) => {
                let versions: Vec<Version> =
                    tags.iter().filter_map(EntityTag::strong_version).collect();
                match versions.as_slice() {
                    [one] => Expect::Version(*one),
                    _ => Expect::OneOf(versions),
                }
            }
        }
    }
}

impl From<&Expect> for Expected {
    fn from(e: &Expect) -> Self {
        match e {
            Expect::Any => Expected::Any,
            Expect::Absent => Expected::Absent,
            Expect::Exists => Expected::Exists,
            Expect::Version(_) | Expect::OneOf(_) => {
                Expected::Tags(e.versions().iter().map(|&v| EntityTag::from(v)).collect())
            }
        }
    }
}

impl From<Expect> for Expected {
    fn from(e: Expect) -> Self {
        Expected::from(&e)
    }
}

impl serde::Serialize for Expected {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Expected::Any => serializer.serialize_str("any"),
            Expected::Absent => serializer.serialize_str("absent"),
            Expected::Exists => serializer.serialize_str("exists"),
            Expected::Tags(tags) => {
                let mut seq = serializer.serialize_seq(Some(tags.len()))?;
                for tag in tags {
                    seq.serialize_element(&tag.to_string())?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Expected {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ExpectedVisitor;
        impl<'de> Visitor<'de> for ExpectedVisitor {
            type Value = Expected;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(r#""any", "absent", "exists" or a list of entity-tags"#)
            }

            fn visit_str<E: de::Error>(self, word: &str) -> Result<Expected, E> {
                match word {
                    "any" => Ok(Expected::Any),
                    "absent" => Ok(Expected::Absent),
                    "exists" => Ok(Expected::Exists),
                    other => Err(E::unknown_variant(other, &["any", "absent", "exists"])),
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Expected, A::Error> {
                let mut tags = Vec::new();
                while let Some(text) = seq.next_element::<std::borrow::Cow<'de, str>>()? {
                    tags.push(text.parse().map_err(de::Error::custom)?);
                }
                Ok(Expected::Tags(tags))
            }
        }
        deserializer.deserialize_any(ExpectedVisitor)
    }
}
