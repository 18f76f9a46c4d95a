//! The problem types this crate sends: stable identifiers, part of the wire contract.

use std::fmt;

use http::StatusCode;

/// Where every problem `type` URI of this crate starts. The URIs are identifiers that this
/// crate commits to keep unchanged across versions, whatever moves in the code (see
/// [`ProblemType`] for the choice of scheme); compare them as whole strings.
pub const PROBLEM_TYPE_BASE: &str = "https://docs.rs/optimist/latest/optimist/#problem-";

/// A problem type this crate sends in the `type` member of a problem body (RFC 9457 3.1.1).
///
/// | type (after [`PROBLEM_TYPE_BASE`]) | status | sent when |
/// |---|---|---|
/// | `invalid-precondition` | 400 | `If-Match` / `If-None-Match` is malformed; nothing was written |
/// | `invalid-key` | 400 | the resource's key cannot be stored by the backend |
/// | `precondition-required` | 428 | a write required a lost-update-safe precondition and had none |
/// | `precondition-failed` | 412 | a conditional header was false, or the write it conditioned lost a race |
/// | `stale` | 409 | a version carried in the body, or read by the server, is no longer current |
/// | `already-exists` | 409 | a create found the resource, or a unique value (`field`) is held by another |
/// | `missing` | 409 | the write required the resource to exist and it does not |
/// | `not-found` | 404 | the resource does not exist (and the method would not create it) |
/// | `indeterminate` | 503 | the store lost the reply: the write may or may not have happened |
/// | `unavailable` | 503 | the store cannot be reached; nothing was written |
/// | `internal` | 500 | anything else; the detail is only in the server's logs |
///
/// The URIs are `https` locators of the crate's front page on docs.rs, each with its own
/// fragment (`#problem-stale`), where the same table documents them. RFC 9457 3.1.1 allows a
/// non-resolvable identifier (a `tag:` URI, RFC 4151) but encourages resolvable ones, since
/// switching later would change the identity of every type; a `tag:` URI also needs a domain
/// or mail address owned by the minter, which this crate does not have. The crate front page
/// (unlike the rustdoc path of a type) does not move when code moves, so these URIs stay
/// as they are. Bodies from older versions of the crate (types pointing at rustdoc pages of
/// `Rejection` and `ConflictKind`) are still recognized by [`ProblemType::from_uri`].
///
/// ```
/// use optimist::http::ProblemType;
/// let t = ProblemType::PreconditionFailed;
/// assert_eq!(t.uri(), "https://docs.rs/optimist/latest/optimist/#problem-precondition-failed");
/// assert_eq!(t.status(), 412);
/// assert_eq!(ProblemType::from_uri(&t.uri()), Some(t));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProblemType {
    /// 400: a malformed `If-Match` / `If-None-Match`.
    InvalidPrecondition,
    /// 400: a key the backend cannot store.
    InvalidKey,
    /// 428: no lost-update-safe precondition on a write that requires one.
    PreconditionRequired,
    /// 412: a conditional header was false, or its write lost a race.
    PreconditionFailed,
    /// 409: a stale version from the body or the server.
    Stale,
    /// 409: the resource, or a unique value, already exists.
    AlreadyExists,
    /// 409: the resource does not exist but the write required it.
    Missing,
    /// 404: no such resource.
    NotFound,
    /// 503: the outcome of the write is unknown.
    Indeterminate,
    /// 503: the store is unavailable.
    Unavailable,
    /// 500: any other failure.
    Internal,
}

impl ProblemType {
    /// Every type, in the order of the table above.
    pub const ALL: [ProblemType; 11] = [
        ProblemType::InvalidPrecondition,
        ProblemType::InvalidKey,
        ProblemType::PreconditionRequired,
        ProblemType::PreconditionFailed,
        ProblemType::Stale,
        ProblemType::AlreadyExists,
        ProblemType::Missing,
        ProblemType::NotFound,
        ProblemType::Indeterminate,
        ProblemType::Unavailable,
        ProblemType::Internal,
    ];

    /// The short name after [`PROBLEM_TYPE_BASE`].
    ///
    /// ```
    /// assert_eq!(optimist::http::ProblemType::AlreadyExists.slug(), "already-exists");
    /// ```
    pub fn slug(self) -> &'static str {
        match self {
            ProblemType::InvalidPrecondition => "invalid-precondition",
            ProblemType::InvalidKey => "invalid-key",
            ProblemType::PreconditionRequired => "precondition-required",
            ProblemType::PreconditionFailed => "precondition-failed",
            ProblemType::Stale => "stale",
            ProblemType::AlreadyExists => "already-exists",
            ProblemType::Missing => "missing",
            ProblemType::NotFound => "not-found",
            ProblemType::Indeterminate => "indeterminate",
            ProblemType::Unavailable => "unavailable",
            ProblemType::Internal => "internal",
        }
    }

    /// The `type` URI.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPE_BASE}{}", self.slug())
    }

    /// The status this type is sent with.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::InvalidPrecondition | ProblemType::InvalidKey => StatusCode::BAD_REQUEST,
            ProblemType::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            ProblemType::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ProblemType::Stale | ProblemType::AlreadyExists | ProblemType::Missing => {
                StatusCode::CONFLICT
            }
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::Indeterminate | ProblemType::Unavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The type a `type` URI names: one of the URIs above, or one that earlier versions of
    /// the crate sent (rustdoc pages of `Rejection` and `ConflictKind`); `None` for any other.
    ///
    /// ```
    /// use optimist::http::ProblemType;
    /// let old = "https://docs.rs/optimist/latest/optimist/enum.ConflictKind.html#variant.Stale";
    /// assert_eq!(ProblemType::from_uri(old), Some(ProblemType::Stale));
    /// assert_eq!(ProblemType::from_uri("about:blank"), None);
    /// ```
    pub fn from_uri(uri: &str) -> Option<Self> {
        if let Some(slug) = uri.strip_prefix(PROBLEM_TYPE_BASE) {
            return Self::ALL.into_iter().find(|t| t.slug() == slug);
        }
        let old = uri.strip_prefix("https://docs.rs/optimist/latest/optimist/")?;
        Some(match old {
            "http/enum.Rejection.html#variant.InvalidPrecondition" => {
                ProblemType::InvalidPrecondition
            }
            "http/enum.Rejection.html#variant.InvalidKey" => ProblemType::InvalidKey,
            "http/enum.Rejection.html#variant.PreconditionRequired" => {
                ProblemType::PreconditionRequired
            }
            "http/enum.Rejection.html#variant.PreconditionFailed" => {
                ProblemType::PreconditionFailed
            }
            "enum.ConflictKind.html#variant.Stale" => ProblemType::Stale,
            "enum.ConflictKind.html#variant.AlreadyExists" => ProblemType::AlreadyExists,
            "enum.ConflictKind.html#variant.Missing" => ProblemType::Missing,
            "http/enum.Rejection.html#variant.NotFound" => ProblemType::NotFound,
            "http/enum.Rejection.html#variant.Indeterminate" => ProblemType::Indeterminate,
            "http/enum.Rejection.html#variant.Unavailable" => ProblemType::Unavailable,
            "http/enum.Rejection.html#variant.Internal" => ProblemType::Internal,
            _ => return None,
        })
    }
}

impl fmt::Display for ProblemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PROBLEM_TYPE_BASE}{}", self.slug())
    }
}
