//! The validators of a representation (RFC 9110 8.8): an entity-tag of any opaque text,
//! strong or weak, and a Last-Modified time. The crate's own strong tags (`"17"`) are one
//! kind; a content hash, a weak collection tag or an upstream's opaque tag are others, and
//! every precondition is evaluated the same way against all of them.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use http::header::{ETAG, LAST_MODIFIED};
use http::{HeaderMap, HeaderValue};

use super::entity_tag::{EntityTagRef, entity_tags};
use crate::{Meta, Version};

/// An entity-tag (RFC 9110 8.8.3) with any opaque text, strong or weak, owned.
///
/// A tag whose opaque text is the canonical decimal form of a [`Version`] (`"17"`) is held
/// as that number, so comparing the crate's own tags never touches bytes or allocates; any
/// other text is kept byte for byte (obs-text included). Equality is the byte equality of
/// RFC 9110 8.8.3.2 plus the weak flag: use [`strong_eq`](Self::strong_eq) for `If-Match`
/// and [`weak_eq`](Self::weak_eq) for `If-None-Match`.
///
/// ```
/// use optimist::http::EntityTag;
/// use optimist::Version;
///
/// let hash: EntityTag = "\"33a64df551425fcc55e4d42a148795d9f25f89d4\"".parse().unwrap();
/// assert!(!hash.is_weak());
/// let collection = EntityTag::weak("page-1").unwrap();
/// assert_eq!(collection.to_string(), "W/\"page-1\"");
/// assert!(collection.weak_eq(&EntityTag::strong("page-1").unwrap()));
/// assert!(!collection.strong_eq(&EntityTag::strong("page-1").unwrap()));
///
/// let ours = EntityTag::from(Version::new(17).unwrap());
/// assert_eq!(ours, "\"17\"".parse().unwrap());
/// assert_eq!(ours.version(), Version::new(17));
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EntityTag {
    weak: bool,
    opaque: Opaque,
}

/// The opaque-tag. Invariant: `Other` never holds the canonical form of a version, so the
/// derived equality is byte equality of the opaque text.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Opaque {
    Version(Version),
    Other(Box<[u8]>),
}

/// A string that is not one entity-tag.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an entity-tag ({reason}); expected \"...\" or W/\"...\" with no other text")]
pub struct InvalidEntityTag {
    /// What is wrong with it.
    pub reason: String,
}

fn is_etagc(b: u8) -> bool {
    b == 0x21 || (0x23..=0x7e).contains(&b) || b >= 0x80
}

impl EntityTag {
    /// A tag whose opaque-tag (the text between the quotes) is `opaque`; fails for bytes an
    /// entity-tag cannot hold (`"`, controls, space).
    ///
    /// ```
    /// use optimist::http::EntityTag;
    /// assert_eq!(EntityTag::new(true, b"x").unwrap().to_string(), "W/\"x\"");
    /// assert!(EntityTag::new(false, b"a b").is_err());
    /// ```
    pub fn new(weak: bool, opaque: &[u8]) -> Result<Self, InvalidEntityTag> {
        if let Some(&b) = opaque.iter().find(|&&b| !is_etagc(b)) {
            return Err(InvalidEntityTag {
                reason: format!("byte 0x{b:02x} is not allowed between the quotes"),
            });
        }
        Ok(Self::from_valid(weak, opaque))
    }

    /// A strong tag with opaque-tag `opaque`.
    ///
    /// ```
    /// assert_eq!(optimist::http::EntityTag::strong("v1").unwrap().to_string(), "\"v1\"");
    /// ```
    pub fn strong(opaque: &str) -> Result<Self, InvalidEntityTag> {
        Self::new(false, opaque.as_bytes())
    }

    /// A weak tag (`W/"..."`) with opaque-tag `opaque`: for representations that are
    /// equivalent but not byte-identical (a collection page, a compressed variant).
    ///
    /// ```
    /// assert!(optimist::http::EntityTag::weak("v1").unwrap().is_weak());
    /// ```
    pub fn weak(opaque: &str) -> Result<Self, InvalidEntityTag> {
        Self::new(true, opaque.as_bytes())
    }

    /// From bytes already known to be etagc.
    fn from_valid(weak: bool, opaque: &[u8]) -> Self {
        let opaque = match Version::from_opaque(opaque) {
            Some(v) => Opaque::Version(v),
            None => Opaque::Other(opaque.into()),
        };
        Self { weak, opaque }
    }

    /// The same opaque-tag, marked weak.
    ///
    /// ```
    /// use optimist::http::EntityTag;
    /// assert_eq!(EntityTag::strong("a").unwrap().into_weak(), EntityTag::weak("a").unwrap());
    /// ```
    pub fn into_weak(mut self) -> Self {
        self.weak = true;
        self
    }

    /// Whether the tag is weak (`W/`).
    pub fn is_weak(&self) -> bool {
        self.weak
    }

    /// The opaque-tag, without quotes and without `W/`.
    ///
    /// ```
    /// use optimist::http::EntityTag;
    /// assert_eq!(&*EntityTag::weak("abc").unwrap().opaque(), b"abc");
    /// assert_eq!(&*EntityTag::from(optimist::Version::new(9).unwrap()).opaque(), b"9");
    /// ```
    pub fn opaque(&self) -> Cow<'_, [u8]> {
        match &self.opaque {
            Opaque::Version(v) => Cow::Owned(v.get().to_string().into_bytes()),
            Opaque::Other(bytes) => Cow::Borrowed(bytes),
        }
    }

    /// The version of the crate's stores whose canonical tag this opaque-tag is, weak or
    /// strong; `None` for any other text.
    pub fn version(&self) -> Option<Version> {
        match self.opaque {
            Opaque::Version(v) => Some(v),
            Opaque::Other(_) => None,
        }
    }

    /// The version this tag names when it is a **strong** tag of ours: what `If-Match`
    /// (strong comparison) can match in a store.
    ///
    /// ```
    /// use optimist::http::EntityTag;
    /// assert_eq!("\"4\"".parse::<EntityTag>().unwrap().strong_version().map(|v| v.get()), Some(4));
    /// assert_eq!("W/\"4\"".parse::<EntityTag>().unwrap().strong_version(), None);
    /// ```
    pub fn strong_version(&self) -> Option<Version> {
        if self.weak { None } else { self.version() }
    }

    /// Strong comparison (RFC 9110 8.8.3.2): both strong and the same opaque-tag. What
    /// `If-Match` uses.
    #[inline]
    pub fn strong_eq(&self, other: &EntityTag) -> bool {
        !self.weak && !other.weak && self.opaque == other.opaque
    }

    /// Weak comparison: the same opaque-tag, weak or not. What `If-None-Match` uses.
    #[inline]
    pub fn weak_eq(&self, other: &EntityTag) -> bool {
        self.opaque == other.opaque
    }

    /// The `ETag` header value (`"..."` or `W/"..."`, bytes exactly as held).
    ///
    /// ```
    /// let tag = optimist::http::EntityTag::weak("x").unwrap();
    /// assert_eq!(tag.header_value(), "W/\"x\"");
    /// ```
    pub fn header_value(&self) -> HeaderValue {
        if let (false, Opaque::Version(v)) = (self.weak, &self.opaque) {
            return v.header_value();
        }
        let mut bytes = Vec::with_capacity(8);
        if self.weak {
            bytes.extend_from_slice(b"W/");
        }
        bytes.push(b'"');
        bytes.extend_from_slice(&self.opaque());
        bytes.push(b'"');
        HeaderValue::from_bytes(&bytes).expect("etagc bytes and quotes are a valid header value")
    }
}

impl From<Version> for EntityTag {
    /// The crate's strong tag of `v` (`"17"`).
    fn from(v: Version) -> Self {
        Self {
            weak: false,
            opaque: Opaque::Version(v),
        }
    }
}

impl From<EntityTagRef<'_>> for EntityTag {
    /// The owned form of a tag read from a header.
    fn from(tag: EntityTagRef<'_>) -> Self {
        Self::from_valid(tag.weak, tag.opaque)
    }
}

impl From<&etag::EntityTag> for EntityTag {
    /// From the `etag` crate's type (which only holds ASCII tags).
    fn from(tag: &etag::EntityTag) -> Self {
        Self::from_valid(tag.weak, tag.tag().as_bytes())
    }
}

impl FromStr for EntityTag {
    type Err = InvalidEntityTag;

    /// Parses exactly one entity-tag, `"..."` or `W/"..."`, with optional surrounding
    /// whitespace (SP / HTAB).
    ///
    /// ```
    /// use optimist::http::EntityTag;
    /// assert!("\"a\"".parse::<EntityTag>().is_ok());
    /// assert!("a".parse::<EntityTag>().is_err());
    /// assert!("\"a\", \"b\"".parse::<EntityTag>().is_err());
    /// assert!("*".parse::<EntityTag>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| InvalidEntityTag {
            reason: reason.to_owned(),
        };
        let mut tags = entity_tags(s.as_bytes());
        let first = match tags.next() {
            Some(Ok(tag)) => tag,
            Some(Err(e)) => return Err(invalid(&e.to_string())),
            None => return Err(invalid("empty")),
        };
        match tags.next() {
            None => Ok(first.into()),
            Some(Err(_)) => Err(invalid("text after the tag")),
            Some(Ok(_)) => Err(invalid("a list of several tags")),
        }
    }
}

impl fmt::Display for EntityTag {
    /// As sent in a header; bytes that are not UTF-8 (obs-text) show as U+FFFD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.weak {
            f.write_str("W/")?;
        }
        match &self.opaque {
            Opaque::Version(v) => write!(f, "\"{}\"", v.get()),
            Opaque::Other(bytes) => write!(f, "\"{}\"", String::from_utf8_lossy(bytes)),
        }
    }
}

impl fmt::Debug for EntityTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntityTag({self})")
    }
}

/// The current validators of a representation: what preconditions are evaluated against.
///
/// Either may be missing: a resource can have an entity-tag and no modification time, or
/// only a modification time (then `If-Match` with tags never matches it, and `*` does). A
/// store's [`Meta`] converts into one (a strong tag of its version plus its write time).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use optimist::http::{EntityTag, Validators};
///
/// let v = Validators::from_etag(EntityTag::weak("listing-42").unwrap())
///     .with_last_modified(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
/// let mut headers = http::HeaderMap::new();
/// v.set_headers(&mut headers);
/// assert_eq!(headers["etag"], "W/\"listing-42\"");
/// assert_eq!(headers["last-modified"], "Tue, 14 Nov 2023 22:13:20 GMT");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Validators {
    etag: Option<EntityTag>,
    last_modified: Option<SystemTime>,
}

impl Validators {
    /// Validators with an optional tag and an optional modification time.
    pub fn new(etag: Option<EntityTag>, last_modified: Option<SystemTime>) -> Self {
        Self {
            etag,
            last_modified,
        }
    }

    /// Only an entity-tag.
    pub fn from_etag(etag: EntityTag) -> Self {
        Self::new(Some(etag), None)
    }

    /// Only a modification time.
    pub fn modified_at(last_modified: SystemTime) -> Self {
        Self::new(None, Some(last_modified))
    }

    /// With this modification time.
    pub fn with_last_modified(mut self, last_modified: SystemTime) -> Self {
        self.last_modified = Some(last_modified);
        self
    }

    /// The entity-tag, if the representation has one.
    pub fn etag(&self) -> Option<&EntityTag> {
        self.etag.as_ref()
    }

    /// The modification time, if the representation has one (full precision; HTTP dates
    /// carry whole seconds).
    pub fn last_modified(&self) -> Option<SystemTime> {
        self.last_modified
    }

    /// Sets `ETag` and `Last-Modified` (each when present), as a 200 or 201 carries them.
    pub fn set_headers(&self, headers: &mut HeaderMap) {
        if let Some(tag) = &self.etag {
            headers.insert(ETAG, tag.header_value());
        }
        if let Some(t) = self.last_modified {
            headers.insert(LAST_MODIFIED, http_date(t));
        }
    }

    /// Sets what a 304 carries (RFC 9110 15.4.5): the `ETag`, or `Last-Modified` when there is
    /// no tag.
    pub fn set_not_modified_headers(&self, headers: &mut HeaderMap) {
        match (&self.etag, self.last_modified) {
            (Some(tag), _) => {
                headers.insert(ETAG, tag.header_value());
            }
            (None, Some(t)) => {
                headers.insert(LAST_MODIFIED, http_date(t));
            }
            (None, None) => {}
        }
    }
}

/// An HTTP-date header value.
pub(crate) fn http_date(t: SystemTime) -> HeaderValue {
    HeaderValue::try_from(httpdate::fmt_http_date(t)).expect("an HTTP-date is a valid header value")
}

impl From<Meta> for Validators {
    /// The strong tag of the version and the write time.
    fn from(meta: Meta) -> Self {
        Self::new(
            Some(EntityTag::from(meta.version)),
            Some(meta.last_modified),
        )
    }
}

impl From<&Meta> for Validators {
    fn from(meta: &Meta) -> Self {
        Self::from(*meta)
    }
}

impl From<EntityTag> for Validators {
    fn from(tag: EntityTag) -> Self {
        Self::from_etag(tag)
    }
}
