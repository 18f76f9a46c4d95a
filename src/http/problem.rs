//! RFC 9457 problem details: the body of every refusal, and the client-side way back to a
//! [`Conflict`].

use http::header::{CONTENT_TYPE, ETAG};
use http::{Response, StatusCode};

use super::preconditions::Precondition;
use crate::{Conflict, ConflictKind, Expect, Version};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Where the `type` URIs of this crate's problems point: this crate's documentation, at the
/// variant of [`Rejection`](super::Rejection) (or of [`ConflictKind`] for 409s) that
/// explains the problem, e.g. `https://docs.rs/optimist/latest/optimist/enum.ConflictKind.html#variant.Stale`.
pub const PROBLEM_TYPE_BASE: &str = "https://docs.rs/optimist/latest/optimist/";

/// An `application/problem+json` body (RFC 9457) with this crate's extension members.
///
/// ```
/// use optimist::http::Problem;
/// let p: Problem = serde_json::from_str(r#"{"type":"about:blank","title":"Conflict","status":409,
///     "detail":"taken","key":"john_doe","field":"username","current_etag":"\"3\""}"#).unwrap();
/// assert_eq!(p.field.as_deref(), Some("username"));
/// let c = p.to_conflict(None).unwrap();
/// assert_eq!(c.current().map(|v| v.get()), Some(3));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    /// A short summary of the problem type.
    #[serde(default)]
    pub title: String,
    /// The HTTP status code.
    #[serde(default)]
    pub status: u16,
    /// What happened, for a person.
    #[serde(default)]
    pub detail: String,
    /// The resource's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The request field the conflict is about (e.g. `username`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The header concerned (a failed or invalid precondition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// The kind of conflict (`stale`, `already_exists`, `missing`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictKind>,
    /// What the refused write expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<Expect>,
    /// The current entity-tag; absent when the resource does not exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_etag: Option<String>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

/// Why a response could not be read back as a problem or a conflict.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    /// The response is not `application/problem+json`.
    #[error("response is not application/problem+json (content-type: {content_type:?})")]
    NotProblem {
        /// The content type it had, if any.
        content_type: Option<String>,
    },
    /// The body is not a valid problem object.
    #[error("invalid problem+json body: {0}")]
    Json(#[from] serde_json::Error),
    /// The response is a problem, but not a 409 or 412 conflict.
    #[error("response status {status} is not a conflict (409) or failed precondition (412)")]
    NotAConflict {
        /// Its status.
        status: StatusCode,
    },
}

impl Problem {
    /// A problem with `type` `about:blank`, the status's reason phrase as `title`, and
    /// `detail`; add members with the `with_*` methods.
    ///
    /// ```
    /// use http::StatusCode;
    /// use optimist::http::Problem;
    /// let response = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "username must match ^[a-z]+$")
    ///     .with_field("username")
    ///     .into_response();
    /// assert_eq!(response.status(), 422);
    /// assert_eq!(response.headers()["content-type"], "application/problem+json");
    /// ```
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            type_uri: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            key: None,
            field: None,
            header: None,
            conflict: None,
            expected: None,
            current_etag: None,
        }
    }

    /// One of this crate's own problem types: `doc_path` is relative to [`PROBLEM_TYPE_BASE`].
    pub(crate) fn typed(status: StatusCode, doc_path: &str, detail: impl Into<String>) -> Self {
        Self::new(status, detail).with_type(format!("{PROBLEM_TYPE_BASE}{doc_path}"))
    }

    /// Sets the `type` URI.
    pub fn with_type(mut self, uri: impl Into<String>) -> Self {
        self.type_uri = uri.into();
        self
    }

    /// Sets the `key` member: the resource concerned.
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the `field` member: the request field concerned.
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub(crate) fn with_header(mut self, header: Precondition) -> Self {
        self.header = Some(header.as_str().to_owned());
        self
    }

    /// A response with this problem's status, `Content-Type: application/problem+json` and
    /// the problem as its body. A status that is not a valid code becomes 500.
    pub fn into_response(self) -> Response<Vec<u8>> {
        let mut response = Response::new(self.to_json());
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, http::HeaderValue::from_static(PROBLEM_JSON));
        response
    }

    /// The body as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a problem of strings and numbers always serializes")
    }

    /// Reads a problem from a response, checking its content type.
    ///
    /// ```
    /// use optimist::http::{Problem, Rejection};
    /// let response = Rejection::PreconditionRequired { method: http::Method::PUT }.into_response();
    /// assert_eq!(Problem::from_response(&response).unwrap().status, 428);
    /// ```
    pub fn from_response<B: AsRef<[u8]>>(response: &Response<B>) -> Result<Self, ProblemError> {
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok());
        let is_problem = content_type.is_some_and(|ct| {
            ct.split(';')
                .next()
                .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(PROBLEM_JSON))
        });
        if !is_problem {
            return Err(ProblemError::NotProblem {
                content_type: content_type.map(str::to_owned),
            });
        }
        Ok(serde_json::from_slice(response.body().as_ref())?)
    }

    /// The conflict this problem describes (from a 409 or 412), or `None` for other
    /// statuses. The current version is read from `current_etag`, or else from the
    /// response's `ETag` header passed as `etag_header`.
    pub fn to_conflict(&self, etag_header: Option<&str>) -> Option<Conflict> {
        if self.status != 409 && self.status != 412 {
            return None;
        }
        let current = self
            .current_etag
            .as_deref()
            .or(etag_header)
            .and_then(Version::from_etag);
        let kind = self.conflict.unwrap_or(match current {
            Some(_) => ConflictKind::Stale,
            None => ConflictKind::Missing,
        });
        let expected = self.expected.clone().unwrap_or(match kind {
            ConflictKind::AlreadyExists => Expect::Absent,
            ConflictKind::Stale | ConflictKind::Missing => Expect::Exists,
        });
        Some(Conflict::new(
            self.key.clone().unwrap_or_default(),
            expected,
            current,
        ))
    }
}

/// Client side: turns a 409 or 412 `application/problem+json` response back into the
/// [`Conflict`] it reports, so a Rust client can reconcile (re-read, merge) and retry with
/// the current ETag.
///
/// ```
/// use http::Method;
/// use optimist::http::{conflict_from_response, Origin, Rejection};
/// use optimist::{ConflictKind, Expect, MemoryStore};
///
/// let store = MemoryStore::new();
/// let v = store.put_sync("u", 1, Expect::Absent).unwrap().version;
/// let err = store.put_sync("u", 2, Expect::Absent).unwrap_err();
/// let response = Rejection::from_store_error(err, &Method::POST, Origin::Server).into_response();
/// let conflict = conflict_from_response(&response).unwrap();
/// assert_eq!(conflict.kind(), ConflictKind::AlreadyExists);
/// assert_eq!(conflict.current(), Some(v));
/// assert_eq!(conflict.key(), "u");
/// ```
pub fn conflict_from_response<B: AsRef<[u8]>>(
    response: &Response<B>,
) -> Result<Conflict, ProblemError> {
    let mut problem = Problem::from_response(response)?;
    // `status` is optional in a problem body (RFC 9457 3.1.2): without it, the response's.
    if problem.status == 0 {
        problem.status = response.status().as_u16();
    }
    let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok());
    problem.to_conflict(etag).ok_or(ProblemError::NotAConflict {
        status: response.status(),
    })
}
