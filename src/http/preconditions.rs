//! Parsing and evaluating request preconditions (RFC 9110 section 13).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{IF_MATCH, IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_UNMODIFIED_SINCE};
use http::{HeaderMap, HeaderName, Method};

use super::entity_tag::{TagListError, visit_tag_list};
use super::rejection::Rejection;
use crate::{Expect, Meta, Version};

/// One of the four precondition header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precondition {
    /// `If-Match`
    IfMatch,
    /// `If-None-Match`
    IfNoneMatch,
    /// `If-Modified-Since`
    IfModifiedSince,
    /// `If-Unmodified-Since`
    IfUnmodifiedSince,
}

impl Precondition {
    /// The header's name.
    ///
    /// ```
    /// use optimist::http::Precondition;
    /// assert_eq!(Precondition::IfMatch.header_name(), http::header::IF_MATCH);
    /// ```
    pub fn header_name(self) -> HeaderName {
        match self {
            Precondition::IfMatch => IF_MATCH,
            Precondition::IfNoneMatch => IF_NONE_MATCH,
            Precondition::IfModifiedSince => IF_MODIFIED_SINCE,
            Precondition::IfUnmodifiedSince => IF_UNMODIFIED_SINCE,
        }
    }

    /// The header's name as usually written (`If-Match`).
    pub fn as_str(self) -> &'static str {
        match self {
            Precondition::IfMatch => "If-Match",
            Precondition::IfNoneMatch => "If-None-Match",
            Precondition::IfModifiedSince => "If-Modified-Since",
            Precondition::IfUnmodifiedSince => "If-Unmodified-Since",
        }
    }
}

impl fmt::Display for Precondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A syntactically invalid `If-Match` or `If-None-Match`: answer 400 (it becomes
/// [`Rejection::InvalidPrecondition`]). A request carrying one must never write.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {header} header: {reason}")]
pub struct InvalidPrecondition {
    /// The offending header.
    pub header: Precondition,
    /// What is wrong with it.
    #[source]
    pub reason: TagListError,
}

/// One tag of ours from a list: the version it names and whether it was weak.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OurTag {
    version: Version,
    weak: bool,
}

/// The tags of a list that name versions of ours; foreign tags can never match, so they are
/// only counted. The first is kept inline: one-tag requests allocate nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct OurTags {
    first: Option<OurTag>,
    rest: Vec<OurTag>,
    listed: usize,
}

impl OurTags {
    fn push(&mut self, tag: OurTag) {
        if self.first.is_none() {
            self.first = Some(tag);
        } else {
            self.rest.push(tag);
        }
    }

    fn iter(&self) -> impl Iterator<Item = OurTag> + '_ {
        self.first.iter().chain(self.rest.iter()).copied()
    }

    /// Strong comparison (If-Match): weak tags never match.
    fn matches_strong(&self, current: Version) -> bool {
        self.iter().any(|t| !t.weak && t.version == current)
    }

    /// Weak comparison (If-None-Match): weakness is ignored.
    fn matches_weak(&self, current: Version) -> bool {
        self.iter().any(|t| t.version == current)
    }

    /// The expectation enforcing "one of the strong tags": an empty list never passes.
    fn strong_expect(&self) -> Expect {
        let mut strong = self.iter().filter(|t| !t.weak).map(|t| t.version);
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
    Listed(OurTags),
}

/// The preconditions of a request, parsed once from its headers.
///
/// Parsing follows RFC 9110: list fields may span several header lines (they form one list),
/// commas inside quoted tags belong to the tag, empty list elements and whitespace are
/// tolerated, `*` must stand alone, `W/` is case-sensitive. A field whose lines hold no
/// element at all counts as absent. Invalid `If-Match` / `If-None-Match` is an error (400);
/// an invalid or repeated date in `If-Modified-Since` / `If-Unmodified-Since` is ignored.
/// Parsing is one pass over the headers; only tags naming versions of ours are kept.
///
/// Evaluate with [`Preconditions::evaluate`] (RFC 9110 13.2.2 order), and turn them into the
/// store's [`Expect`] with [`Preconditions::write_condition`] or [`Preconditions::expect_for`]
/// so the compare-and-swap, not an earlier read, enforces them.
///
/// ```
/// use http::{HeaderMap, Method};
/// use optimist::http::{Evaluation, Preconditions};
/// use optimist::{Meta, Version};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("if-none-match", "\"7\"".parse().unwrap());
/// let pre = Preconditions::from_headers(&headers).unwrap();
/// let current = Meta { version: Version::new(7).unwrap(), last_modified: std::time::UNIX_EPOCH };
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
    let mut ours = OurTags::default();
    let star = visit_tag_list(lines.map(|v| v.as_bytes()), |tag| {
        ours.listed += 1;
        if let Some(version) = tag.version() {
            ours.push(OurTag {
                version,
                weak: tag.weak,
            });
        }
    })
    .map_err(|reason| InvalidPrecondition {
        header: which,
        reason,
    })?;
    Ok(match (star, ours.listed) {
        (true, _) => Some(TagCondition::Any),
        (false, 0) => None,
        (false, _) => Some(TagCondition::Listed(ours)),
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

/// Last-Modified at the one-second granularity of HTTP dates.
fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(_) => UNIX_EPOCH,
    }
}

fn is_safe_read(method: &Method) -> bool {
    method == Method::GET || method == Method::HEAD
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
    /// assert!(Preconditions::from_headers(&h).unwrap().has_write_condition());
    ///
    /// h.insert("if-match", "not-a-tag".parse().unwrap());
    /// assert!(Preconditions::from_headers(&h).is_err());
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, InvalidPrecondition> {
        Ok(Self {
            if_match: parse_tags(headers, Precondition::IfMatch)?,
            if_none_match: parse_tags(headers, Precondition::IfNoneMatch)?,
            if_modified_since: parse_date(headers, IF_MODIFIED_SINCE),
            if_unmodified_since: parse_date(headers, IF_UNMODIFIED_SINCE),
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
    /// GET/HEAD). A write without one may be refused with 428 ([`Preconditions::require`]).
    pub fn has_write_condition(&self) -> bool {
        self.if_match.is_some()
            || self.if_none_match.is_some()
            || self.if_unmodified_since.is_some()
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

    /// Refuses with 428 when `policy` requires a precondition for `method` and the request
    /// has none that applies to writes. Call it only when the request has no other way to
    /// name the version it expects (such as a version in its body).
    ///
    /// ```
    /// use http::{HeaderMap, Method};
    /// use optimist::http::{PreconditionPolicy, Preconditions};
    /// let pre = Preconditions::from_headers(&HeaderMap::new()).unwrap();
    /// let policy = PreconditionPolicy::default();
    /// assert_eq!(pre.require(&Method::PUT, &policy).unwrap_err().status(), 428);
    /// assert!(pre.require(&Method::POST, &policy).is_ok());
    /// ```
    pub fn require(&self, method: &Method, policy: &PreconditionPolicy) -> Result<(), Rejection> {
        if policy.requires(method) && !self.has_write_condition() {
            return Err(Rejection::PreconditionRequired {
                method: method.clone(),
            });
        }
        Ok(())
    }

    /// Evaluates the preconditions against the current state (`None`: the resource does not
    /// exist), in the order of RFC 9110 13.2.2:
    ///
    /// 1. `If-Match`: false when absent or no listed tag matches by **strong** comparison
    ///    (`*` matches any existing representation) -> 412.
    /// 2. otherwise a valid `If-Unmodified-Since`: false when the resource was modified after
    ///    the date (ignored when the resource does not exist) -> 412.
    /// 3. `If-None-Match`: false when a listed tag matches by **weak** comparison (`*`: any
    ///    existing representation) -> 304 for GET/HEAD, 412 otherwise.
    /// 4. otherwise, for GET/HEAD, a valid `If-Modified-Since`: not modified since -> 304.
    ///
    /// Preconditions are ignored for CONNECT, OPTIONS and TRACE (13.2.1). A server answers
    /// 404 itself, before evaluating, when the resource is absent and the method would not
    /// create it.
    ///
    /// ```
    /// use http::{HeaderMap, Method};
    /// use optimist::http::{Evaluation, Precondition, Preconditions};
    /// use optimist::{Meta, Version};
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("if-match", "W/\"3\"".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// let current = Meta { version: Version::new(3).unwrap(), last_modified: std::time::UNIX_EPOCH };
    /// // A weak tag never matches If-Match's strong comparison.
    /// assert_eq!(pre.evaluate(&Method::PUT, Some(&current)), Evaluation::Failed(Precondition::IfMatch));
    /// ```
    pub fn evaluate(&self, method: &Method, current: Option<&Meta>) -> Evaluation {
        if method == Method::OPTIONS || method == Method::CONNECT || method == Method::TRACE {
            return Evaluation::Proceed;
        }
        let version = current.map(|m| m.version);
        let modified = current.map(|m| whole_seconds(m.last_modified));
        match &self.if_match {
            Some(cond) => {
                let ok = match (cond, version) {
                    (_, None) => false,
                    (TagCondition::Any, Some(_)) => true,
                    (TagCondition::Listed(tags), Some(v)) => tags.matches_strong(v),
                };
                if !ok {
                    return Evaluation::Failed(Precondition::IfMatch);
                }
            }
            None => {
                if let (Some(since), Some(modified)) = (self.if_unmodified_since, modified) {
                    if modified > since {
                        return Evaluation::Failed(Precondition::IfUnmodifiedSince);
                    }
                }
            }
        }
        match &self.if_none_match {
            Some(cond) => {
                let matched = match (cond, version) {
                    (_, None) => false,
                    (TagCondition::Any, Some(_)) => true,
                    (TagCondition::Listed(tags), Some(v)) => tags.matches_weak(v),
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
                    if modified <= since {
                        return Evaluation::NotModified;
                    }
                }
            }
        }
        Evaluation::Proceed
    }

    /// Evaluates for a GET or HEAD of an existing resource and turns the outcome into the
    /// response to send instead: `Err` with 304 or 412, `Ok` to send the representation.
    ///
    /// ```
    /// use http::{HeaderMap, Method};
    /// use optimist::http::Preconditions;
    /// use optimist::{Meta, Version};
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("if-none-match", "*".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// let meta = Meta { version: Version::new(1).unwrap(), last_modified: std::time::UNIX_EPOCH };
    /// assert_eq!(pre.check_read(&Method::GET, "k", &meta).unwrap_err().status(), 304);
    /// ```
    pub fn check_read(&self, method: &Method, key: &str, current: &Meta) -> Result<(), Rejection> {
        match self.evaluate(method, Some(current)) {
            Evaluation::Proceed => Ok(()),
            Evaluation::NotModified => Err(Rejection::NotModified { meta: *current }),
            Evaluation::Failed(header) => Err(Rejection::PreconditionFailed {
                key: key.to_owned(),
                header: Some(header),
                expected: self.header_expect(header),
                current: Some(current.version),
            }),
        }
    }

    /// What the headers alone require of a write, when they can be enforced by the store's
    /// compare-and-swap without reading first (`If-Match` -> the listed strong versions or
    /// `Exists`; `If-None-Match: *` -> `Absent`).
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
            (Some(_), None) => WriteCondition::Enforce(
                self.header_expect(Precondition::IfMatch)
                    .expect("If-Match is present"),
            ),
            (None, Some(TagCondition::Any)) if self.if_unmodified_since.is_none() => {
                WriteCondition::Enforce(Expect::Absent)
            }
            _ => WriteCondition::NeedsCurrent,
        }
    }

    /// Evaluates the preconditions for a write against `current` (the state just read,
    /// `None`: absent) and returns the expectation that pins that state, so the store's CAS
    /// fails if anything changed since; `Ok(None)` when the request has no precondition that
    /// applies to writes. A false precondition is `Err` with 412.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use optimist::http::Preconditions;
    /// use optimist::{Expect, Meta, Version};
    ///
    /// let mut h = HeaderMap::new();
    /// h.insert("if-none-match", "\"1\", \"2\"".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// let meta = Meta { version: Version::new(5).unwrap(), last_modified: std::time::UNIX_EPOCH };
    /// assert_eq!(pre.expect_for("k", Some(&meta)).unwrap(), Some(Expect::Version(meta.version)));
    /// let stale = Meta { version: Version::new(2).unwrap(), ..meta };
    /// assert_eq!(pre.expect_for("k", Some(&stale)).unwrap_err().status(), 412);
    /// ```
    pub fn expect_for(
        &self,
        key: &str,
        current: Option<&Meta>,
    ) -> Result<Option<Expect>, Rejection> {
        if !self.has_write_condition() {
            return Ok(None);
        }
        match self.evaluate(&Method::PUT, current) {
            Evaluation::Failed(header) => Err(Rejection::PreconditionFailed {
                key: key.to_owned(),
                header: Some(header),
                expected: self.header_expect(header),
                current: current.map(|m| m.version),
            }),
            Evaluation::Proceed | Evaluation::NotModified => {
                Ok(Some(Expect::from(current.map(|m| m.version))))
            }
        }
    }

    /// The expectation a tag header stands for, for problem bodies.
    fn header_expect(&self, header: Precondition) -> Option<Expect> {
        match (header, &self.if_match, &self.if_none_match) {
            (Precondition::IfMatch, Some(TagCondition::Any), _) => Some(Expect::Exists),
            (Precondition::IfMatch, Some(TagCondition::Listed(tags)), _) => {
                Some(tags.strong_expect())
            }
            (Precondition::IfNoneMatch, _, Some(TagCondition::Any)) => Some(Expect::Absent),
            _ => None,
        }
    }
}

/// Which methods must carry a precondition (else 428 Precondition Required, RFC 6585 3).
///
/// The default requires one for PUT, PATCH and DELETE.
///
/// ```
/// use http::Method;
/// use optimist::http::PreconditionPolicy;
/// assert!(PreconditionPolicy::default().requires(&Method::DELETE));
/// assert!(!PreconditionPolicy::none().requires(&Method::DELETE));
/// assert!(PreconditionPolicy::methods([Method::POST]).requires(&Method::POST));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreconditionPolicy {
    methods: Vec<Method>,
}

impl Default for PreconditionPolicy {
    fn default() -> Self {
        Self::methods([Method::PUT, Method::PATCH, Method::DELETE])
    }
}

impl PreconditionPolicy {
    /// Requires nothing: writes without preconditions are unconditional.
    pub fn none() -> Self {
        Self {
            methods: Vec::new(),
        }
    }

    /// Requires a precondition for exactly these methods.
    pub fn methods(methods: impl IntoIterator<Item = Method>) -> Self {
        Self {
            methods: methods.into_iter().collect(),
        }
    }

    /// Whether `method` must carry a precondition.
    pub fn requires(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }
}
