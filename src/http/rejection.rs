//! The one place that decides the status code, and the response that carries it.

use std::fmt;

use http::header::{CACHE_CONTROL, ETAG, RETRY_AFTER};
use http::{HeaderValue, Method, Response, StatusCode};

use super::preconditions::{InvalidPrecondition, Precondition};
use super::problem::Problem;
use crate::{Conflict, ConflictKind, Expect, Meta, StoreError, Version};

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

/// A response other than the handler's normal one: every refusal this crate decides, with
/// its status, headers and `application/problem+json` body (RFC 9457).
///
/// | variant | status |
/// |---|---|
/// | `InvalidPrecondition`, `InvalidKey` | 400 |
/// | `NotModified` | 304 (`ETag`, no body) |
/// | `NotFound` | 404 |
/// | `Conflict` | 409 (`ETag` of the current version when it exists) |
/// | `PreconditionFailed` | 412 (`ETag` of the current version when it exists) |
/// | `PreconditionRequired` | 428 (`Cache-Control: no-store`) |
/// | `Unavailable`, `Indeterminate` | 503 (`Retry-After: 1`) |
/// | `Internal` | 500 |
///
/// ```
/// use http::Method;
/// use optimist::http::{Origin, Rejection};
/// use optimist::{Expect, MemoryStore};
///
/// let store = MemoryStore::new();
/// store.put_sync("john_doe", (), Expect::Absent).unwrap();
/// let err = store.put_sync("john_doe", (), Expect::Absent).unwrap_err();
/// let rejection = Rejection::from_store_error(err, &Method::POST, Origin::Server).with_field("username");
/// let response = rejection.into_response();
/// assert_eq!(response.status(), 409);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// assert!(response.headers().contains_key("etag"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// A malformed `If-Match` / `If-None-Match`: 400. Nothing is written.
    InvalidPrecondition(InvalidPrecondition),
    /// A write without a required precondition: 428.
    PreconditionRequired {
        /// The request's method.
        method: Method,
    },
    /// An explicit precondition was false, or the write it conditioned lost to a
    /// concurrent change: 412.
    PreconditionFailed {
        /// The resource's key.
        key: String,
        /// The header found false at evaluation; `None` when the store's CAS refused.
        header: Option<Precondition>,
        /// What the header required, when it can be said as an [`Expect`].
        expected: Option<Expect>,
        /// The current version; `None` when the resource does not exist.
        current: Option<Version>,
    },
    /// A matching conditional GET/HEAD: 304 with the current `ETag`.
    NotModified {
        /// The current version and time.
        meta: Meta,
    },
    /// A state conflict without a failed conditional header: 409.
    Conflict {
        /// The store's conflict, with the current version.
        conflict: Conflict,
        /// The request field the conflict is about (e.g. `username`), if known.
        field: Option<String>,
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
}

impl From<InvalidPrecondition> for Rejection {
    fn from(e: InvalidPrecondition) -> Self {
        Rejection::InvalidPrecondition(e)
    }
}

impl Rejection {
    /// Maps a store error to a response, given the request's method and where the write's
    /// expectation came from. This is the crate's status table:
    ///
    /// - a conflict on a missing resource for DELETE or PATCH -> 404 (RFC 9110 13.2.1:
    ///   preconditions only matter when the request could otherwise succeed);
    /// - any other conflict -> 412 when the expectation came from a header, 409 otherwise;
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
        match err {
            StoreError::Conflict(conflict) => {
                if conflict.kind() == ConflictKind::Missing
                    && (method == Method::DELETE || method == Method::PATCH)
                {
                    return Rejection::NotFound {
                        key: conflict.key().to_owned(),
                    };
                }
                match origin {
                    Origin::Header => Rejection::PreconditionFailed {
                        key: conflict.key().to_owned(),
                        header: None,
                        expected: Some(conflict.expected().clone()),
                        current: conflict.current(),
                    },
                    Origin::Body | Origin::Server => Rejection::Conflict {
                        conflict,
                        field: None,
                    },
                }
            }
            StoreError::Indeterminate { key, .. } => Rejection::Indeterminate { key },
            StoreError::Unavailable { source } => Rejection::Unavailable {
                detail: source.to_string(),
            },
            StoreError::InvalidKey { reason } => Rejection::InvalidKey { reason },
            other => Rejection::Internal {
                detail: other.to_string(),
            },
        }
    }

    /// Names the request field a 409 conflict is about (e.g. `username` for a duplicate).
    /// Does nothing for other variants.
    ///
    /// ```
    /// use optimist::http::Rejection;
    /// use optimist::{Conflict, Expect, Version};
    /// let r = Rejection::Conflict { conflict: Conflict::new("u", Expect::Absent, Version::new(1)), field: None };
    /// assert_eq!(r.with_field("username").problem().unwrap().field.as_deref(), Some("username"));
    /// ```
    pub fn with_field(mut self, name: impl Into<String>) -> Self {
        if let Rejection::Conflict { field, .. } = &mut self {
            *field = Some(name.into());
        }
        self
    }

    /// The status code.
    ///
    /// ```
    /// use optimist::http::Rejection;
    /// assert_eq!(Rejection::PreconditionRequired { method: http::Method::PUT }.status(), 428);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::InvalidPrecondition(_) | Rejection::InvalidKey { .. } => {
                StatusCode::BAD_REQUEST
            }
            Rejection::PreconditionRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
            Rejection::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Rejection::NotModified { .. } => StatusCode::NOT_MODIFIED,
            Rejection::Conflict { .. } => StatusCode::CONFLICT,
            Rejection::NotFound { .. } => StatusCode::NOT_FOUND,
            Rejection::Indeterminate { .. } | Rejection::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Rejection::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The current version the response's `ETag` header carries, if any.
    pub fn current_version(&self) -> Option<Version> {
        match self {
            Rejection::PreconditionFailed { current, .. } => *current,
            Rejection::Conflict { conflict, .. } => conflict.current(),
            Rejection::NotModified { meta } => Some(meta.version),
            _ => None,
        }
    }

    /// The problem details body (`None` for 304, which has no body).
    pub fn problem(&self) -> Option<Problem> {
        let status = self.status();
        let p = match self {
            Rejection::NotModified { .. } => return None,
            Rejection::InvalidPrecondition(e) => Problem::typed(status, "http/enum.Rejection.html#variant.InvalidPrecondition", e.to_string())
                .with_header(e.header),
            Rejection::PreconditionRequired { method } => Problem::typed(
                status,
                "http/enum.Rejection.html#variant.PreconditionRequired",
                format!(
                    "{method} requires a precondition: read the resource, then resend with \
                     If-Match set to its ETag (or If-None-Match: * to create it only if absent)"
                ),
            ),
            Rejection::PreconditionFailed {
                key,
                header,
                expected,
                current,
            } => {
                // When the store's CAS refused (no header), the expectation says what kind
                // of conflict it was: `If-None-Match: *` losing a race is AlreadyExists.
                let kind = match (header, expected, current) {
                    (Some(Precondition::IfNoneMatch), _, _) => ConflictKind::AlreadyExists,
                    (_, Some(expected), _) => ConflictKind::classify(expected, *current),
                    (_, None, None) => ConflictKind::Missing,
                    (_, None, Some(_)) => ConflictKind::Stale,
                };
                let what = match (header, kind) {
                    (Some(h), _) => format!("{h} precondition failed"),
                    (None, ConflictKind::AlreadyExists) => {
                        "the create-only write found the resource existing".to_owned()
                    }
                    (None, _) => "the conditional write did not match the current state".to_owned(),
                };
                let detail = match current {
                    Some(v) => format!("{what} for {key:?}; its current ETag is {v}"),
                    None => format!("{what} for {key:?}; it does not exist"),
                };
                let mut p = Problem::typed(status, "http/enum.Rejection.html#variant.PreconditionFailed", detail).with_key(key);
                p.conflict = Some(kind);
                p.expected = expected.clone();
                p.current_etag = current.map(Version::etag);
                if let Some(h) = header {
                    p = p.with_header(*h);
                }
                p
            }
            Rejection::Conflict { conflict, field } => {
                let detail = match (conflict.kind(), field) {
                    (ConflictKind::AlreadyExists, Some(f)) => {
                        format!("{f} {:?} is already taken", conflict.key())
                    }
                    _ => conflict.to_string(),
                };
                let mut p = Problem::typed(status, conflict_type_path(conflict.kind()), detail)
                    .with_key(conflict.key());
                p.field = field.clone();
                p.conflict = Some(conflict.kind());
                p.expected = Some(conflict.expected().clone());
                p.current_etag = conflict.current_etag();
                p
            }
            Rejection::InvalidKey { reason } => {
                Problem::typed(status, "http/enum.Rejection.html#variant.InvalidKey", format!("invalid key: {reason}"))
            }
            Rejection::NotFound { key } => {
                Problem::typed(status, "http/enum.Rejection.html#variant.NotFound", format!("{key:?} does not exist")).with_key(key)
            }
            Rejection::Indeterminate { key } => Problem::typed(
                status,
                "http/enum.Rejection.html#variant.Indeterminate",
                format!(
                    "the write to {key:?} may or may not have been applied: read it again before retrying"
                ),
            )
            .with_key(key),
            Rejection::Unavailable { .. } => Problem::typed(
                status,
                "http/enum.Rejection.html#variant.Unavailable",
                "the store is unavailable; retry later",
            ),
            Rejection::Internal { .. } => {
                Problem::typed(status, "http/enum.Rejection.html#variant.Internal", "the store failed; see the server's logs")
            }
        };
        Some(p)
    }

    /// The complete response: status, `ETag` of the current version where the resource
    /// exists, and the problem+json body.
    ///
    /// ```
    /// use optimist::http::Rejection;
    /// let r = Rejection::PreconditionRequired { method: http::Method::DELETE }.into_response();
    /// assert_eq!(r.status(), 428);
    /// assert_eq!(r.headers()["cache-control"], "no-store");
    /// let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    /// assert_eq!(body["status"], 428);
    /// ```
    pub fn into_response(self) -> Response<Vec<u8>> {
        let mut response = match self.problem() {
            Some(problem) => problem.into_response(),
            None => {
                let mut empty = Response::new(Vec::new());
                *empty.status_mut() = self.status();
                empty
            }
        };
        let headers = response.headers_mut();
        if let Some(v) = self.current_version() {
            headers.insert(ETAG, v.header_value());
        }
        match &self {
            Rejection::PreconditionRequired { .. } => {
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
            }
            Rejection::Indeterminate { .. } | Rejection::Unavailable { .. } => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

fn conflict_type_path(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::Stale => "enum.ConflictKind.html#variant.Stale",
        ConflictKind::AlreadyExists => "enum.ConflictKind.html#variant.AlreadyExists",
        ConflictKind::Missing => "enum.ConflictKind.html#variant.Missing",
    }
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
