//! Parsing and evaluating request preconditions (RFC 9110 section 13), against any current
//! validators. Pure: no store, no status codes (those are [`Rejection`](super::Rejection)'s).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, Method};

use super::entity_tag::{TagListError, visit_tag_list};
use super::expected::Expected;
use super::precondition::Precondition;
use super::validators::{EntityTag, Validators};
use crate::{Expect, Meta};

/// A syntactically invalid `If-Match` or `If-None-Match`: answer 400 (it converts into
/// [`Rejection::InvalidPrecondition`](super::Rejection::InvalidPrecondition)). A request
/// carrying one must never write.
///
/// ```
/// let mut h = http::HeaderMap::new();
/// h.insert("if-match", "not-a-tag".parse().unwrap());
/// let err = optimist::http::Preconditions::from_headers(&h).unwrap_err();
/// assert_eq!(err.header, optimist::http::Precondition::IfMatch);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {header} header: {reason}")]
pub struct InvalidPrecondition {
    /// The offending header.
    pub header: Precondition,
    /// What is wrong with it.
    #[source]
    pub reason: TagListError,
}

/// The tags of one list field, in order. The first is kept inline: a one-tag request of the
/// crate's own form allocates nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Tags {
    first: Option<EntityTag>,
    rest: Vec<EntityTag>,
}

impl Tags {
    fn push(&mut self, tag: EntityTag) {
        if self.first.is_none() {
            self.first = Some(tag);
        } else {
            self.rest.push(tag);
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    fn iter(&self) -> impl Iterator<Item = &EntityTag> + '_ {
        self.first.iter().chain(self.rest.iter())
    }

    /// Strong comparison (If-Match).
    fn matches_strong(&self, current: &EntityTag) -> bool {
        self.iter().any(|t| t.strong_eq(current))
    }

    /// Weak comparison (If-None-Match).
    fn matches_weak(&self, current: &EntityTag) -> bool {
        self.iter().any(|t| t.weak_eq(current))
    }

    /// The store expectation "one of the strong tags of ours": an empty list never passes.
    fn strong_expect(&self) -> Expect {
        let mut strong = self.iter().filter_map(EntityTag::strong_version);
        match (strong.next(), strong.next()) {
            (None, _) => Expect::OneOf(Vec::new()),
            (Some(v), None) => Expect::Version(v),
            (Some(a), Some(b)) => {
                let mut all = vec![a, b];
                all.extend(strong);
                Expect::OneOf(all)
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TagCondition {
    Any,
    Listed(Tags),
}

/// The preconditions of a request, parsed once from its headers.
///
/// Parsing follows RFC 9110: list fields may span several header lines (they form one list),
/// commas inside quoted tags belong to the tag, empty list elements and whitespace are
/// tolerated, `*` must stand alone, `W/` is case-sensitive. A field whose lines hold no
/// element at all counts as absent. Invalid `If-Match` / `If-None-Match` is an error (400);
/// an invalid or repeated date in `If-Modified-Since` / `If-Unmodified-Since` is ignored.
/// Every tag is kept, of any opaque text, so the request can be evaluated against any
/// current validator ([`Preconditions::evaluate`]).
///
/// Most handlers never touch this type: [`Guard`](super::Guard) parses it and does the
/// whole job. Use it directly to evaluate against your own state, or to turn the headers
/// into the store's [`Expect`] yourself ([`Preconditions::write_condition`],
/// [`Preconditions::expect_for`]).
///
/// ```
/// use http::{HeaderMap, Method};
/// use optimist::http::{EntityTag, Evaluation, Preconditions, Validators};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("if-none-match", "W/\"page-3\"".parse().unwrap());
/// let pre = Preconditions::from_headers(&headers).unwrap();
/// let current = Validators::from_etag(EntityTag::weak("page-3").unwrap());
/// assert_eq!(pre.evaluate(&Method::GET, Some(&current)), Evaluation::NotModified);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preconditions {
    if_match: Option<TagCondition>,
    if_none_match: Option<TagCondition>,
    if_modified_since: Option<SystemTime>,
    if_unmodified_since: Option<SystemTime>,
}

/// The result of [`Preconditions::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// Go on with the request.
    Proceed,
    /// Answer 304 Not Modified (GET/HEAD only).
    NotModified,
    /// Answer 412 Precondition Failed: this precondition was false.
    Failed(Precondition),
}

/// How a write must be conditioned so the store enforces a request's preconditions; see
/// [`Preconditions::write_condition`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteCondition {
    /// The request has no precondition that applies to writes.
    None,
    /// The headers alone say what the store must check: pass this [`Expect`] to the write.
    Enforce(Expect),
    /// The preconditions must be evaluated against the current state first (If-None-Match
    /// with tags, If-Unmodified-Since, or both If-Match and If-None-Match): read the key's
    /// [`Meta`] and call [`Preconditions::expect_for`].
    NeedsCurrent,
}

fn parse_tags(
    headers: &HeaderMap,
    which: Precondition,
) -> Result<Option<TagCondition>, InvalidPrecondition> {
    let lines = headers.get_all(which.header_name()).iter();
    let mut tags = Tags::default();
    let star = visit_tag_list(lines.map(|v| v.as_bytes()), |tag| {
        tags.push(EntityTag::from(tag));
    })
    .map_err(|reason| InvalidPrecondition {
        header: which,
        reason,
    })?;
    Ok(match (star, tags.is_empty()) {
        (true, _) => Some(TagCondition::Any),
        (false, true) => None,
        (false, false) => Some(TagCondition::Listed(tags)),
    })
}

/// A valid HTTP-date from exactly one field line; anything else is ignored (RFC 9110 13.1.3/4).
fn parse_date(headers: &HeaderMap, name: HeaderName) -> Option<SystemTime> {
    let mut lines = headers.get_all(name).iter();
    let value = lines.next()?;
    if lines.next().is_some() {
        return None;
    }
    httpdate::parse_http_date(value.to_str().ok()?.trim()).ok()
}

/// A modification time at the one-second granularity of HTTP dates.
fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

fn is_safe_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
}

/// Whether `If-Unmodified-Since: since` is false for a representation modified at
/// `modified` (full precision).
///
/// For GET/HEAD: modified after the second the date names (RFC 9110 13.1.4, at the
/// one-second granularity of HTTP dates). For every other method the date is a **weak**
/// validator (8.8.2.2: the representation may have changed twice within that second), and a
/// weak validator must not decide a write (8.8.1): the condition is also false when the
/// modification falls within that second, because a write a moment after the client's read
/// (in the same second) would otherwise be overwritten. A server could only treat the date
/// as strong if it knew the representation changed at most once in that second; the crate's
/// stores do not record that, so it never does.
fn unmodified_since_is_false(method: &Method, modified: SystemTime, since: SystemTime) -> bool {
    if is_safe_read(method) {
        whole_seconds(modified) > since
    } else {
        modified >= since
    }
}

impl Preconditions {
    /// Parses the four precondition fields from `headers`.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use optimist::http::Preconditions;
    ///
    /// let mut h = HeaderMap::new();
    /// h.append("if-match", "\"1\", \"2\"".parse().unwrap());
    /// h.append("if-match", "\"3\"".parse().unwrap()); // same list, second line
    /// assert!(Preconditions::from_headers(&h).unwrap().is_lost_update_safe());
    ///
    /// h.insert("if-match", "not-a-tag".parse().unwrap());
    /// assert!(Preconditions::from_headers(&h).is_err());
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, InvalidPrecondition> {
        Ok(Self {
            if_match: parse_tags(headers, Precondition::IfMatch)?,
            if_none_match: parse_tags(headers, Precondition::IfNoneMatch)?,
            if_modified_since: parse_date(headers, http::header::IF_MODIFIED_SINCE),
            if_unmodified_since: parse_date(headers, http::header::IF_UNMODIFIED_SINCE),
        })
    }

    /// Whether the request carries no (valid, non-empty) precondition at all.
    ///
    /// ```
    /// assert!(optimist::http::Preconditions::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.if_modified_since.is_none() && !self.has_write_condition()
    }

    /// Whether the request carries a precondition that applies to writes: `If-Match`,
    /// `If-None-Match` or a valid `If-Unmodified-Since` (`If-Modified-Since` only applies to
    /// GET/HEAD). Each of them is evaluated; only some prevent a lost update
    /// ([`is_lost_update_safe`](Self::is_lost_update_safe)).
    pub fn has_write_condition(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_unmodified_since.is_some()
    }

    /// Whether the request carries a precondition that prevents a lost update, which is what
    /// a server requiring conditional requests asks for (RFC 6585 3, answered 428 otherwise):
    /// `If-Match` (tags or `*`), or `If-None-Match: *` (create only if absent).
    ///
    /// `If-Unmodified-Since` is not one: an HTTP-date has one-second granularity, so a change
    /// within the second the client read in goes unseen (RFC 9110 8.8.2.2, 8.8.1). Nor is
    /// `If-None-Match` with tags: it says which versions the client does *not* want to
    /// overwrite, not which one it read. Both are still evaluated when sent.
    ///
    /// ```
    /// use optimist::http::Preconditions;
    /// let pre = |name, value: &str| {
    ///     let mut h = http::HeaderMap::new();
    ///     h.insert(name, value.parse().unwrap());
    ///     Preconditions::from_headers(&h).unwrap()
    /// };
    /// assert!(pre("if-match", "\"1\"").is_lost_update_safe());
    /// assert!(pre("if-match", "*").is_lost_update_safe());
    /// assert!(pre("if-none-match", "*").is_lost_update_safe());
    /// assert!(!pre("if-none-match", "\"1\"").is_lost_update_safe());
    /// assert!(!pre("if-unmodified-since", "Tue, 14 Nov 2023 22:13:20 GMT").is_lost_update_safe());
    /// ```
    pub fn is_lost_update_safe(&self) -> bool {
        self.if_match.is_some() || self.if_none_match == Some(TagCondition::Any)
    }

    /// The precondition the request relies on that cannot prevent a lost update by itself
    /// (`If-None-Match` with tags, else `If-Unmodified-Since`), when it has no safe one: what
    /// a 428 answer explains.
    pub fn unsafe_condition(&self) -> Option<Precondition> {
        if self.is_lost_update_safe() {
            None
        } else if self.if_none_match.is_some() {
            Some(Precondition::IfNoneMatch)
        } else if self.if_unmodified_since.is_some() {
            Some(Precondition::IfUnmodifiedSince)
        } else {
            None
        }
    }

    /// Whether the request is `If-None-Match: *` and nothing else that applies to writes:
    /// a create-only write.
    ///
    /// ```
    /// let mut h = http::HeaderMap::new();
    /// h.insert("if-none-match", "*".parse().unwrap());
    /// assert!(optimist::http::Preconditions::from_headers(&h).unwrap().is_create_only());
    /// ```
    pub fn is_create_only(&self) -> bool {
        self.write_condition() == WriteCondition::Enforce(Expect::Absent)
    }

    /// Evaluates the preconditions against the current validators (`None`: the resource
    /// does not exist), in the order of RFC 9110 13.2.2:
    ///
    /// 1. `If-Match`: false when absent or no listed tag matches the current entity-tag by
    ///    **strong** comparison (`*` matches any existing representation) -> 412.
    /// 2. otherwise a valid `If-Unmodified-Since`: false when the representation was modified
    ///    after the date -> 412; for methods other than GET/HEAD also when it was modified
    ///    within the second the date names (the date is a weak validator, RFC 9110 8.8.2.2;
    ///    otherwise a second write in that second is lost). Ignored when there is no
    ///    modification time.
    /// 3. `If-None-Match`: false when a listed tag matches by **weak** comparison (`*`: any
    ///    existing representation) -> 304 for GET/HEAD, 412 otherwise.
    /// 4. otherwise, for GET/HEAD, a valid `If-Modified-Since`: not modified since -> 304.
    ///
    /// The current entity-tag may be any tag (a content hash, a weak tag, an upstream's);
    /// the crate's own strong tags are compared as numbers. Preconditions are ignored for
    /// CONNECT, OPTIONS and TRACE (13.2.1). A server answers 404 itself, before evaluating,
    /// when the resource is absent and the method would not create it.
    ///
    /// ```
    /// use http::{HeaderMap, Method};
    /// use optimist::http::{EntityTag, Evaluation, Precondition, Preconditions, Validators};
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", "W/\"a1\"".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// let current = Validators::from_etag(EntityTag::weak("a1").unwrap());
    /// // A weak tag never matches If-Match's strong comparison.
    /// assert_eq!(pre.evaluate(&Method::PUT, Some(&current)), Evaluation::Failed(Precondition::IfMatch));
    /// ```
    pub fn evaluate(&self, method: &Method, current: Option<&Validators>) -> Evaluation {
        if method == Method::OPTIONS || method == Method::CONNECT || method == Method::TRACE {
            return Evaluation::Proceed;
        }
        let modified = current.and_then(Validators::last_modified);
        match &self.if_match {
            Some(cond) => {
                let ok = match (cond, current) {
                    (_, None) => false,
                    (TagCondition::Any, Some(_)) => true,
                    (TagCondition::Listed(tags), Some(c)) => {
                        c.etag().is_some_and(|t| tags.matches_strong(t))
                    }
                };
                if !ok {
                    return Evaluation::Failed(Precondition::IfMatch);
                }
            }
            None => {
                if let (Some(since), Some(modified)) = (self.if_unmodified_since, modified) {
                    if unmodified_since_is_false(method, modified, since) {
                        return Evaluation::Failed(Precondition::IfUnmodifiedSince);
                    }
                }
            }
        }
        match &self.if_none_match {
            Some(cond) => {
                let matched = match (cond, current) {
                    (_, None) => false,
                    (TagCondition::Any, Some(_)) => true,
                    (TagCondition::Listed(tags), Some(c)) => {
                        c.etag().is_some_and(|t| tags.matches_weak(t))
                    }
                };
                if matched {
                    return if is_safe_read(method) {
                        Evaluation::NotModified
                    } else {
                        Evaluation::Failed(Precondition::IfNoneMatch)
                    };
                }
            }
            None => {
                if let (true, Some(since), Some(modified)) =
                    (is_safe_read(method), self.if_modified_since, modified)
                {
                    if whole_seconds(modified) <= since {
                        return Evaluation::NotModified;
                    }
                }
            }
        }
        Evaluation::Proceed
    }

    /// What the headers alone require of a write to a store, when the store's
    /// compare-and-swap can enforce them without reading first (`If-Match` -> the listed
    /// strong tags of ours, or `Exists` for `*`; `If-None-Match: *` -> `Absent`).
    ///
    /// Tags that are not strong tags of the store's form can never match a store version:
    /// they are left out (`If-Match` with only such tags is `OneOf([])`, which never passes).
    ///
    /// Use it for writes whose new value does not depend on the current one (PUT that
    /// replaces, DELETE). A read-modify-write (PATCH) must use [`Preconditions::expect_for`]
    /// with the state it read, so it never applies a change to a different version.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use optimist::http::{Preconditions, WriteCondition};
    /// use optimist::{Expect, Version};
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", "\"4\"".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// assert_eq!(pre.write_condition(), WriteCondition::Enforce(Expect::Version(Version::new(4).unwrap())));
    /// ```
    pub fn write_condition(&self) -> WriteCondition {
        match (&self.if_match, &self.if_none_match) {
            (None, None) if self.if_unmodified_since.is_none() => WriteCondition::None,
            // If-Unmodified-Since is ignored when If-Match is present.
            (Some(TagCondition::Any), None) => WriteCondition::Enforce(Expect::Exists),
            (Some(TagCondition::Listed(tags)), None) => {
                WriteCondition::Enforce(tags.strong_expect())
            }
            (None, Some(TagCondition::Any)) if self.if_unmodified_since.is_none() => {
                WriteCondition::Enforce(Expect::Absent)
            }
            _ => WriteCondition::NeedsCurrent,
        }
    }

    /// Evaluates the preconditions for a write against `current` (the state just read,
    /// `None`: absent) and returns the expectation that pins that state, so the store's CAS
    /// fails if anything changed since; `Ok(None)` when the request has no precondition that
    /// applies to writes. `Err` names the precondition that was false (answer 412, e.g. with
    /// [`Rejection::precondition_failed`](super::Rejection::precondition_failed)).
    ///
    /// ```
    /// use http::HeaderMap;
    /// use optimist::http::{Precondition, Preconditions};
    /// use optimist::{Expect, Meta, Version};
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("if-none-match", "\"1\", \"2\"".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// let meta = Meta { version: Version::new(5).unwrap(), last_modified: std::time::UNIX_EPOCH };
    /// assert_eq!(pre.expect_for(Some(&meta)), Ok(Some(Expect::Version(meta.version))));
    /// let stale = Meta { version: Version::new(2).unwrap(), ..meta };
    /// assert_eq!(pre.expect_for(Some(&stale)), Err(Precondition::IfNoneMatch));
    /// ```
    pub fn expect_for(&self, current: Option<&Meta>) -> Result<Option<Expect>, Precondition> {
        if !self.has_write_condition() {
            return Ok(None);
        }
        let validators = current.map(Validators::from);
        match self.evaluate(&Method::PUT, validators.as_ref()) {
            Evaluation::Failed(header) => Err(header),
            Evaluation::Proceed | Evaluation::NotModified => {
                Ok(Some(Expect::from(current.map(|m| m.version))))
            }
        }
    }

    /// What a tag header required, as a problem body's `expected` member says it (`None` for
    /// `If-None-Match` with tags and for dates, which say what must *not* be current).
    ///
    /// ```
    /// use optimist::http::{Expected, Precondition, Preconditions};
    /// let mut h = http::HeaderMap::new();
    /// h.insert("if-match", "\"sha-9\"".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// assert!(matches!(pre.expected(Precondition::IfMatch), Some(Expected::Tags(t)) if t.len() == 1));
    /// ```
    pub fn expected(&self, header: Precondition) -> Option<Expected> {
        match (header, &self.if_match, &self.if_none_match) {
            (Precondition::IfMatch, Some(TagCondition::Any), _) => Some(Expected::Exists),
            (Precondition::IfMatch, Some(TagCondition::Listed(tags)), _) => {
                Some(Expected::Tags(tags.iter().cloned().collect()))
            }
            (Precondition::IfNoneMatch, _, Some(TagCondition::Any)) => Some(Expected::Absent),
            _ => None,
        }
    }
}
