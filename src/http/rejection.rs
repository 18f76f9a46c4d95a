//! The one place that decides the status code of a refusal, and the response that carries it.

use std::fmt;

use http::header::{CACHE_CONTROL, ETAG, RETRY_AFTER};
use http::{HeaderValue, Method, Response, StatusCode};

use super::expected::Expected;
use super::precondition::Precondition;
use super::preconditions::{InvalidPrecondition, Preconditions};
use super::problem::Problem;
use super::problem_type::ProblemType;
use super::validators::{EntityTag, Validators};
use crate::{CommitConflict, Conflict, ConflictKind, StoreError, Version};

/// Where the expectation of a failed write came from; it decides between 412 and 409.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// From a conditional header (`If-Match`, `If-None-Match`, `If-Unmodified-Since`): a
    /// failed CAS is **412 Precondition Failed** (RFC 9110 13.1, RFC 5789 2.2).
    Header,
    /// From a version the client carried in the body (e.g. a `_version` member): a failed
    /// CAS is **409 Conflict**.
    Body,
    /// Chosen by the server: create-only on POST (duplicate unique value), or a server-side
    /// read-modify-write that lost a race: **409 Conflict**.
    Server,
}

/// A response other than the handler's normal one: every refusal this crate decides, and any
/// [`Problem`] a service answers itself, with its status, headers and
/// `application/problem+json` body (RFC 9457).
///
/// | variant | status | headers |
/// |---|---|---|
/// | `InvalidPrecondition`, `InvalidKey` | 400 | |
/// | `NotModified` | 304 (no body) | `ETag` (or `Last-Modified` without a tag) |
/// | `NotFound` | 404 | |
/// | `Conflict` | 409 | `ETag` of the **target's** current version when it exists |
/// | `PreconditionFailed` | 412 | `ETag` of the current version when it exists |
/// | `PreconditionRequired` | 428 | `Cache-Control: no-store` |
/// | `Unavailable`, `Indeterminate` | 503 | `Retry-After: 1` |
/// | `Internal` | 500 | |
/// | `Problem` | the problem's own | |
///
/// Handlers return `Result<_, Rejection>` and use `?` on everything: a [`StoreError`], a
/// [`Conflict`], a [`Problem`] and an [`InvalidPrecondition`] convert into one. With the
/// `axum` feature it is an `IntoResponse`; with `actix` a `ResponseError`; without a
/// framework, [`into_http_response`](Self::into_http_response).
///
/// ```
/// use optimist::http::{Problem, Rejection};
/// use optimist::{Expect, MemoryStore, StoreError};
///
/// fn create(store: &MemoryStore<u32>, name: &str) -> Result<(), Rejection> {
///     if name.is_empty() {
///         // Any problem of your own, through `?`:
///         Err(Problem::new(http::StatusCode::UNPROCESSABLE_ENTITY, "name is empty"))?;
///     }
///     store.put_sync(name, 1, Expect::Absent)?; // a StoreError converts too (409 here)
///     Ok(())
/// }
/// let store = MemoryStore::new();
/// assert!(create(&store, "ann").is_ok());
/// assert_eq!(create(&store, "ann").unwrap_err().status(), 409);
/// assert_eq!(create(&store, "").unwrap_err().status(), 422);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// A malformed `If-Match` / `If-None-Match`: 400. Nothing is written.
    InvalidPrecondition(InvalidPrecondition),
    /// A write without a required lost-update-safe precondition: 428.
    PreconditionRequired {
        /// The request's method.
        method: Method,
        /// The precondition it sent that cannot prevent a lost update alone, if any.
        sent: Option<Precondition>,
        /// Whether the handler would have taken a version in the body instead.
        body_version: bool,
    },
    /// An explicit precondition was false, or the write it conditioned lost to a
    /// concurrent change: 412.
    PreconditionFailed {
        /// The resource's key.
        key: String,
        /// The header found false at evaluation; `None` when the store's CAS refused.
        header: Option<Precondition>,
        /// What the request required, when it can be said.
        expected: Option<Expected>,
        /// The current entity-tag; `None` when the resource does not exist.
        current: Option<EntityTag>,
    },
    /// A matching conditional GET/HEAD: 304 with the current validators.
    NotModified {
        /// The current validators.
        validators: Validators,
    },
    /// A state conflict without a failed conditional header: 409.
    Conflict {
        /// The **target** resource of the request.
        key: String,
        /// What kind of conflict.
        kind: ConflictKind,
        /// The request field the conflict is about (e.g. `username`), if known.
        field: Option<String>,
        /// What the write expected of the target, when it can be said.
        expected: Option<Expected>,
        /// The target's current entity-tag; `None` when it does not exist.
        current: Option<EntityTag>,
        /// Whether the conflict is a unique value held by **another** resource (an index
        /// entry refused, not the target itself).
        unique: bool,
    },
    /// The key cannot be stored by the backend (the client's input): 400.
    InvalidKey {
        /// What is wrong with it.
        reason: String,
    },
    /// The resource does not exist (and the method would not create it): 404.
    NotFound {
        /// The resource's key.
        key: String,
    },
    /// The write may or may not have happened: 503; the client should re-read first.
    Indeterminate {
        /// The resource's key.
        key: String,
    },
    /// The store cannot be reached now: 503.
    Unavailable {
        /// What failed, for logs; not sent to the client (it may name hosts).
        detail: String,
    },
    /// Any other failure: 500. The detail is not sent to the client.
    Internal {
        /// What failed, for logs.
        detail: String,
    },
    /// A problem of the service's own, answered as it is (its status, its body).
    Problem(Box<Problem>),
}

impl From<InvalidPrecondition> for Rejection {
    fn from(e: InvalidPrecondition) -> Self {
        Rejection::InvalidPrecondition(e)
    }
}

impl From<Problem> for Rejection {
    fn from(p: Problem) -> Self {
        Rejection::Problem(Box::new(p))
    }
}

impl From<Conflict> for Rejection {
    /// A 409 about the conflict's key.
    fn from(c: Conflict) -> Self {
        Rejection::conflict(c)
    }
}

impl From<CommitConflict> for Rejection {
    /// A 409 about the first key that refused. To name a target resource and the field a
    /// unique index entry stands for, run the commit through
    /// [`Guard::commit`](super::Guard::commit) instead.
    fn from(c: CommitConflict) -> Self {
        Rejection::from_store_error(StoreError::CommitConflict(c), &Method::POST, Origin::Server)
    }
}

impl From<StoreError> for Rejection {
    /// The answer for a store error when nothing else is known: a conflict is **409**
    /// (a conflict without a failed conditional header; use [`Rejection::from_store_error`]
    /// or a [`Guard`](super::Guard) to answer 412 for header preconditions and 404 for
    /// DELETE/PATCH of a missing key), unavailable / indeterminate 503, an invalid key 400,
    /// anything else 500.
    fn from(e: StoreError) -> Self {
        Rejection::from_store_error(e, &Method::POST, Origin::Server)
    }
}

fn etag_of(v: Option<Version>) -> Option<EntityTag> {
    v.map(EntityTag::from)
}

impl Rejection {
    /// 428 for a write of `method` without a lost-update-safe precondition.
    ///
    /// ```
    /// let r = optimist::http::Rejection::required(http::Method::DELETE);
    /// assert_eq!(r.status(), 428);
    /// assert!(!r.problem().unwrap().detail.contains("create"));
    /// ```
    pub fn required(method: Method) -> Self {
        Rejection::PreconditionRequired {
            method,
            sent: None,
            body_version: false,
        }
    }

    /// 404 for `key`.
    pub fn not_found(key: impl Into<String>) -> Self {
        Rejection::NotFound { key: key.into() }
    }

    /// 304 with `validators`.
    pub fn not_modified(validators: impl Into<Validators>) -> Self {
        Rejection::NotModified {
            validators: validators.into(),
        }
    }

    /// 412 for `key`: `header` of `pre` was false against a resource whose current tag is
    /// `current` (`None`: absent).
    ///
    /// ```
    /// use optimist::http::{EntityTag, Precondition, Preconditions, Rejection};
    /// let mut h = http::HeaderMap::new();
    /// h.insert("if-match", "\"v1\"".parse().unwrap());
    /// let pre = Preconditions::from_headers(&h).unwrap();
    /// let r = Rejection::precondition_failed("doc", &pre, Precondition::IfMatch,
    ///     Some(EntityTag::strong("v2").unwrap()));
    /// let response = r.into_http_response();
    /// assert_eq!(response.status(), 412);
    /// assert_eq!(response.headers()["etag"], "\"v2\"");
    /// ```
    pub fn precondition_failed(
        key: impl Into<String>,
        pre: &Preconditions,
        header: Precondition,
        current: Option<EntityTag>,
    ) -> Self {
        Rejection::PreconditionFailed {
            key: key.into(),
            header: Some(header),
            expected: pre.expected(header),
            current,
        }
    }

    /// A 409 for a store [`Conflict`] on the target resource (its key and current version).
    pub fn conflict(c: Conflict) -> Self {
        Rejection::Conflict {
            key: c.key().to_owned(),
            kind: c.kind(),
            field: None,
            expected: Some(Expected::from(c.expected())),
            current: etag_of(c.current()),
            unique: false,
        }
    }

    /// **409, field `field` is taken**: a unique value the request carries is held by another
    /// resource, so nothing was written to the **target** `key`. `current` is the target's
    /// own current entity-tag (`None` when the request would have created it): the tag a
    /// client retries with, never the tag of whatever holds the value.
    ///
    /// [`Guard::commit`](super::Guard::commit) answers this itself for the index entries
    /// named with `unique`.
    ///
    /// ```
    /// use optimist::http::{EntityTag, Rejection};
    /// let r = Rejection::taken("notes/2", "title", Some(EntityTag::from(optimist::Version::new(7).unwrap())));
    /// let response = r.into_http_response();
    /// assert_eq!(response.status(), 409);
    /// assert_eq!(response.headers()["etag"], "\"7\"");
    /// let p = optimist::http::Problem::from_response(&response).unwrap();
    /// assert_eq!((p.key.as_deref(), p.field.as_deref()), (Some("notes/2"), Some("title")));
    /// ```
    pub fn taken(
        key: impl Into<String>,
        field: impl Into<String>,
        current: Option<EntityTag>,
    ) -> Self {
        Rejection::Conflict {
            key: key.into(),
            kind: ConflictKind::AlreadyExists,
            field: Some(field.into()),
            expected: None,
            current,
            unique: true,
        }
    }

    /// Maps a store error to a response, given the request's method and where the write's
    /// expectation came from. This is the crate's status table:
    ///
    /// - a conflict on a missing resource for DELETE or PATCH -> 404 (RFC 9110 13.2.1:
    ///   preconditions only matter when the request could otherwise succeed);
    /// - any other conflict -> 412 when the expectation came from a header, 409 otherwise
    ///   (a refused multi-key commit: its first failed key);
    /// - `Indeterminate` / `Unavailable` -> 503; an invalid key -> 400; anything else -> 500.
    ///
    /// ```
    /// use http::Method;
    /// use optimist::http::{Origin, Rejection};
    /// use optimist::{Conflict, Expect, StoreError, Version};
    ///
    /// let stale = || StoreError::from(Conflict::new("k", Expect::Version(Version::new(1).unwrap()), Version::new(2)));
    /// assert_eq!(Rejection::from_store_error(stale(), &Method::PUT, Origin::Header).status(), 412);
    /// assert_eq!(Rejection::from_store_error(stale(), &Method::PUT, Origin::Body).status(), 409);
    /// let gone = StoreError::from(Conflict::new("k", Expect::Exists, None));
    /// assert_eq!(Rejection::from_store_error(gone, &Method::DELETE, Origin::Header).status(), 404);
    /// ```
    pub fn from_store_error(err: StoreError, method: &Method, origin: Origin) -> Self {
        let conflict = match err {
            StoreError::Conflict(c) => c,
            StoreError::CommitConflict(c) => match c.into_conflicts().into_iter().next() {
                Some(c) => c,
                None => {
                    return Rejection::Internal {
                        detail: "a commit was refused without naming a key".to_owned(),
                    };
                }
            },
            StoreError::Indeterminate { key, .. } => return Rejection::Indeterminate { key },
            StoreError::Unavailable { source } => {
                return Rejection::Unavailable {
                    detail: source.to_string(),
                };
            }
            StoreError::InvalidKey { reason } => return Rejection::InvalidKey { reason },
            other => {
                return Rejection::Internal {
                    detail: other.to_string(),
                };
            }
        };
        if conflict.kind() == ConflictKind::Missing
            && (method == Method::DELETE || method == Method::PATCH)
        {
            return Rejection::not_found(conflict.key());
        }
        match origin {
            Origin::Header => Rejection::PreconditionFailed {
                key: conflict.key().to_owned(),
                header: None,
                expected: Some(Expected::from(conflict.expected())),
                current: etag_of(conflict.current()),
            },
            Origin::Body | Origin::Server => Rejection::conflict(conflict),
        }
    }

    /// Names the request field a 409 conflict is about (e.g. `username` for a duplicate).
    /// Does nothing for other variants.
    ///
    /// ```
    /// use optimist::http::Rejection;
    /// use optimist::{Conflict, Expect, Version};
    /// let r = Rejection::conflict(Conflict::new("u", Expect::Absent, Version::new(1)));
    /// assert_eq!(r.with_field("username").problem().unwrap().field.as_deref(), Some("username"));
    /// ```
    pub fn with_field(mut self, name: impl Into<String>) -> Self {
        if let Rejection::Conflict { field, .. } = &mut self {
            *field = Some(name.into());
        }
        self
    }

    /// The status code: the crate's status table (see the type's docs).
    ///
    /// ```
    /// use optimist::http::Rejection;
    /// assert_eq!(Rejection::required(http::Method::PUT).status(), 428);
    /// ```
    pub fn status(&self) -> StatusCode {
        self.problem_type().map_or_else(
            || match self {
                Rejection::NotModified { .. } => StatusCode::NOT_MODIFIED,
                Rejection::Problem(p) => p.status_code(),
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ProblemType::status,
        )
    }

    /// This crate's problem type for the refusal (`None` for 304, which has no body, and for
    /// a service's own [`Problem`] unless it uses one of the crate's types).
    pub fn problem_type(&self) -> Option<ProblemType> {
        Some(match self {
            Rejection::InvalidPrecondition(_) => ProblemType::InvalidPrecondition,
            Rejection::InvalidKey { .. } => ProblemType::InvalidKey,
            Rejection::PreconditionRequired { .. } => ProblemType::PreconditionRequired,
            Rejection::PreconditionFailed { .. } => ProblemType::PreconditionFailed,
            Rejection::Conflict { kind, .. } => match kind {
                ConflictKind::Stale => ProblemType::Stale,
                ConflictKind::AlreadyExists => ProblemType::AlreadyExists,
                ConflictKind::Missing => ProblemType::Missing,
            },
            Rejection::NotFound { .. } => ProblemType::NotFound,
            Rejection::Indeterminate { .. } => ProblemType::Indeterminate,
            Rejection::Unavailable { .. } => ProblemType::Unavailable,
            Rejection::Internal { .. } => ProblemType::Internal,
            Rejection::NotModified { .. } => return None,
            Rejection::Problem(p) => return p.problem_type(),
        })
    }

    /// The current entity-tag the response's `ETag` header carries (409 / 412: the target's
    /// current tag; 304: the tag it has), if any.
    pub fn current_etag(&self) -> Option<&EntityTag> {
        match self {
            Rejection::PreconditionFailed { current, .. } | Rejection::Conflict { current, .. } => {
                current.as_ref()
            }
            Rejection::NotModified { validators } => validators.etag(),
            _ => None,
        }
    }

    /// [`current_etag`](Self::current_etag) as a version of the crate's stores, if it is one.
    pub fn current_version(&self) -> Option<Version> {
        self.current_etag().and_then(EntityTag::strong_version)
    }

    /// The problem details body (`None` for 304, which has no body).
    pub fn problem(&self) -> Option<Problem> {
        let Some(problem_type) = self.problem_type() else {
            return match self {
                Rejection::Problem(p) => Some((**p).clone()),
                _ => None,
            };
        };
        if let Rejection::Problem(p) = self {
            return Some((**p).clone());
        }
        let p = |detail: String| Problem::of_type(problem_type, detail);
        Some(match self {
            Rejection::InvalidPrecondition(e) => p(e.to_string()).with_header(e.header),
            Rejection::PreconditionRequired {
                method,
                sent,
                body_version,
            } => p(required_detail(method, *sent, *body_version)),
            Rejection::PreconditionFailed {
                key,
                header,
                expected,
                current,
            } => {
                let kind = failed_kind(*header, expected.as_ref(), current.is_some());
                let what = match (header, kind) {
                    (Some(h), _) => format!("{h} precondition failed"),
                    (None, ConflictKind::AlreadyExists) => {
                        "the create-only write found the resource existing".to_owned()
                    }
                    (None, _) => "the conditional write did not match the current state".to_owned(),
                };
                let detail = match current {
                    Some(tag) => format!("{what} for {key:?}; its current ETag is {tag}"),
                    None => format!("{what} for {key:?}; it does not exist"),
                };
                let mut problem = p(detail).with_key(key);
                problem.conflict = Some(kind);
                problem.expected = expected.clone();
                problem.current_etag = current.as_ref().map(EntityTag::to_string);
                if let Some(h) = header {
                    problem = problem.with_header(*h);
                }
                problem
            }
            Rejection::Conflict {
                key,
                kind,
                field,
                expected,
                current,
                unique,
            } => {
                let detail = match (kind, field, unique) {
                    (_, Some(f), true) => format!(
                        "{f} is already taken by another resource; nothing was written to {key:?}"
                    ),
                    (ConflictKind::AlreadyExists, Some(f), false) => {
                        format!("{f} {key:?} is already taken")
                    }
                    (kind, _, _) => {
                        let now = current
                            .as_ref()
                            .map_or("it does not exist".to_owned(), |t| {
                                format!("its current ETag is {t}")
                            });
                        format!("conflict on {key:?}: {kind}; {now}")
                    }
                };
                let mut problem = p(detail).with_key(key);
                problem.field = field.clone();
                problem.conflict = Some(*kind);
                problem.expected = expected.clone();
                problem.current_etag = current.as_ref().map(EntityTag::to_string);
                problem
            }
            Rejection::InvalidKey { reason } => p(format!("invalid key: {reason}")),
            Rejection::NotFound { key } => p(format!("{key:?} does not exist")).with_key(key),
            Rejection::Indeterminate { key } => p(format!(
                "the write to {key:?} may or may not have been applied: read it again before \
                 retrying"
            ))
            .with_key(key),
            Rejection::Unavailable { .. } => p("the store is unavailable; retry later".to_owned()),
            Rejection::Internal { .. } => p("the store failed; see the server's logs".to_owned()),
            Rejection::NotModified { .. } | Rejection::Problem(_) => {
                unreachable!("handled above")
            }
        })
    }

    /// The complete response: status, `ETag` of the target's current version where it exists
    /// (304: its validators), the status's own headers, and the problem+json body. (Named so
    /// it never shadows a framework's `into_response`.)
    ///
    /// ```
    /// use optimist::http::Rejection;
    /// let r = Rejection::required(http::Method::DELETE).into_http_response();
    /// assert_eq!(r.status(), 428);
    /// assert_eq!(r.headers()["cache-control"], "no-store");
    /// let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    /// assert_eq!(body["status"], 428);
    /// ```
    pub fn into_http_response(self) -> Response<Vec<u8>> {
        let mut response = match self.problem() {
            Some(problem) => problem.into_http_response(),
            None => {
                let mut empty = Response::new(Vec::new());
                *empty.status_mut() = self.status();
                empty
            }
        };
        let headers = response.headers_mut();
        match &self {
            Rejection::NotModified { validators } => validators.set_not_modified_headers(headers),
            Rejection::PreconditionRequired { .. } => {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            Rejection::Indeterminate { .. } | Rejection::Unavailable { .. } => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {
                if let Some(tag) = self.current_etag() {
                    headers.insert(ETAG, tag.header_value());
                }
            }
        }
        response
    }
}

impl From<Rejection> for Response<Vec<u8>> {
    fn from(r: Rejection) -> Self {
        r.into_http_response()
    }
}

/// The kind of a 412: `If-None-Match` losing is an existing resource; otherwise what the
/// expectation and the current state say.
fn failed_kind(
    header: Option<Precondition>,
    expected: Option<&Expected>,
    exists: bool,
) -> ConflictKind {
    match (header, expected, exists) {
        (Some(Precondition::IfNoneMatch), _, _) => ConflictKind::AlreadyExists,
        (_, _, false) => ConflictKind::Missing,
        (_, Some(Expected::Absent), true) => ConflictKind::AlreadyExists,
        (_, _, true) => ConflictKind::Stale,
    }
}

/// What a 428 tells the client to send, for its method.
fn required_detail(method: &Method, sent: Option<Precondition>, body_version: bool) -> String {
    let what = if method == Method::PUT {
        "If-Match with the ETag you read (or If-None-Match: * to create it only if it does \
         not exist)"
    } else if method == Method::POST {
        "If-None-Match: * to create only if absent, or If-Match with the ETag you read"
    } else if method == Method::DELETE {
        "If-Match with the ETag you read (If-Match: * deletes whatever is current)"
    } else {
        "If-Match with the ETag you read"
    };
    let body = if body_version {
        ", or the ETag in the body's version member"
    } else {
        ""
    };
    let why = match sent {
        Some(Precondition::IfUnmodifiedSince) => {
            " If-Unmodified-Since alone cannot prevent a lost update: a date has one-second \
             granularity, so a change in the same second goes unseen."
        }
        Some(Precondition::IfNoneMatch) => {
            " If-None-Match with entity-tags alone cannot prevent a lost update: it names \
             versions not to overwrite, not the one you read."
        }
        _ => "",
    };
    format!(
        "{method} requires a precondition that prevents lost updates: read the resource, then \
         resend with {what}{body}.{why}"
    )
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problem() {
            Some(p) => write!(f, "{} {}: {}", p.status, p.title, p.detail),
            None => f.write_str("304 Not Modified"),
        }
    }
}

impl std::error::Error for Rejection {}
