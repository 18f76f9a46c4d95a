//! RFC 9457 problem details: the body of every refusal, and of any problem a service answers.

use std::fmt;

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use serde::ser::SerializeMap;
use serde_json::{Map, Value};

use super::expected::Expected;
use super::precondition::Precondition;
use super::problem_type::ProblemType;
use crate::ConflictKind;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An `application/problem+json` body (RFC 9457) with this crate's extension members, and
/// any others in [`extensions`](Self::extensions).
///
/// Every refusal of this crate is one (see [`Rejection::problem`](super::Rejection::problem));
/// a service answers its own the same way, from a handler or through `?` (a `Problem`
/// converts into a [`Rejection`](super::Rejection)).
///
/// Reading is lenient, as RFC 9457 3.1 asks: a member whose value has the wrong type is
/// ignored as if absent, unknown members are kept in `extensions`, and any entity-tag (not
/// only this crate's) is accepted in `expected`. Only a body that is not a JSON object fails.
///
/// ```
/// use http::StatusCode;
/// use optimist::http::Problem;
///
/// let p = Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "username must match ^[a-z]+$")
///     .with_field("username")
///     .with_extension("pattern", "^[a-z]+$");
/// let response = p.clone().into_http_response();
/// assert_eq!(response.status(), 422);
/// assert_eq!(response.headers()["content-type"], "application/problem+json");
/// assert_eq!(Problem::from_response(&response).unwrap(), p);
///
/// // A foreign body with odd members still parses.
/// let foreign: Problem = serde_json::from_str(
///     r#"{"status":"409","title":7,"expected":["\"sha-1\""],"retry":true}"#).unwrap();
/// assert_eq!(foreign.status, 0); // a string is not a number: ignored
/// assert!(foreign.expected.is_some());
/// assert_eq!(foreign.extensions["retry"], true);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// A URI naming the problem type (`about:blank` when absent).
    pub type_uri: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code (0 when absent: the response's status then applies).
    pub status: u16,
    /// What happened, for a person.
    pub detail: String,
    /// A URI naming this occurrence of the problem.
    pub instance: Option<String>,
    /// The resource concerned (the target of the request).
    pub key: Option<String>,
    /// The request field the problem is about (e.g. `username`).
    pub field: Option<String>,
    /// The header concerned (a failed or invalid precondition).
    pub header: Option<String>,
    /// The kind of conflict (`stale`, `already_exists`, `missing`).
    pub conflict: Option<ConflictKind>,
    /// What the refused write expected.
    pub expected: Option<Expected>,
    /// The target's current entity-tag, exactly as sent; absent when it does not exist.
    pub current_etag: Option<String>,
    /// Any other members.
    pub extensions: Map<String, Value>,
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
    /// The body is not a JSON object.
    #[error("invalid problem+json body: {0}")]
    Json(#[from] serde_json::Error),
    /// The response is a problem, but not a 409 or 412 conflict.
    #[error("response status {status} is not a conflict (409) or failed precondition (412)")]
    NotAConflict {
        /// Its status.
        status: StatusCode,
    },
}

const STANDARD: [&str; 11] = [
    "type",
    "title",
    "status",
    "detail",
    "instance",
    "key",
    "field",
    "header",
    "conflict",
    "expected",
    "current_etag",
];

impl Problem {
    /// A problem with `type` `about:blank`, the status's reason phrase as `title`, and
    /// `detail`; add members with the `with_*` methods.
    ///
    /// ```
    /// use http::StatusCode;
    /// let p = optimist::http::Problem::new(StatusCode::FORBIDDEN, "read-only");
    /// assert_eq!((p.status, p.title.as_str(), p.type_uri.as_str()), (403, "Forbidden", "about:blank"));
    /// ```
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            type_uri: "about:blank".to_owned(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            instance: None,
            key: None,
            field: None,
            header: None,
            conflict: None,
            expected: None,
            current_etag: None,
            extensions: Map::new(),
        }
    }

    /// A problem of one of this crate's types, with that type's status.
    ///
    /// ```
    /// use optimist::http::{Problem, ProblemType};
    /// let p = Problem::of_type(ProblemType::NotFound, "no such note");
    /// assert_eq!(p.status, 404);
    /// assert_eq!(p.problem_type(), Some(ProblemType::NotFound));
    /// ```
    pub fn of_type(problem_type: ProblemType, detail: impl Into<String>) -> Self {
        Self::new(problem_type.status(), detail).with_type(problem_type.uri())
    }

    /// Sets the `type` URI.
    pub fn with_type(mut self, uri: impl Into<String>) -> Self {
        self.type_uri = uri.into();
        self
    }

    /// Sets the `title`.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = title.into();
        self
    }

    /// Sets the `instance` member.
    pub fn with_instance(mut self, uri: impl Into<String>) -> Self {
        self.instance = Some(uri.into());
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

    /// Sets the `header` member: the precondition header concerned.
    pub fn with_header(mut self, header: Precondition) -> Self {
        self.header = Some(header.as_str().to_owned());
        self
    }

    /// Adds an extension member (RFC 9457 3.2). A name of a member this type holds itself
    /// (`type`, `status`, `key`, ...) is ignored when the body is written; set the field.
    ///
    /// ```
    /// use http::StatusCode;
    /// let p = optimist::http::Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    ///     .with_extension("errors", serde_json::json!([{"pointer": "#/age"}]));
    /// assert_eq!(p.extensions["errors"][0]["pointer"], "#/age");
    /// ```
    pub fn with_extension(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extensions.insert(name.into(), value.into());
        self
    }

    /// The status as a [`StatusCode`]; a member that is not a valid code (or absent) is 500.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// This crate's problem type, if the `type` URI is one of them.
    pub fn problem_type(&self) -> Option<ProblemType> {
        ProblemType::from_uri(&self.type_uri)
    }

    /// The body as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a problem of strings, numbers and JSON values serializes")
    }

    /// Reads a problem from JSON bytes (leniently; see the type's docs).
    ///
    /// ```
    /// let p = optimist::http::Problem::from_json(br#"{"status":412}"#).unwrap();
    /// assert_eq!(p.status, 412);
    /// assert!(optimist::http::Problem::from_json(b"[1]").is_err());
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Self, ProblemError> {
        Ok(serde_json::from_slice(bytes)?)
    }

    /// The complete response: this problem's status, `Content-Type: application/problem+json`
    /// and the problem as its body. (Named so it never shadows a framework's
    /// `into_response`.)
    pub fn into_http_response(self) -> Response<Vec<u8>> {
        let mut response = Response::new(self.to_json());
        *response.status_mut() = self.status_code();
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }

    /// Reads a problem from a response, checking its content type (`application/problem+json`,
    /// parameters and case allowed).
    ///
    /// ```
    /// use optimist::http::{Problem, Rejection};
    /// let response = Rejection::required(http::Method::PUT).into_http_response();
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
        Self::from_json(response.body().as_ref())
    }
}

impl From<Problem> for Response<Vec<u8>> {
    fn from(problem: Problem) -> Self {
        problem.into_http_response()
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

impl std::error::Error for Problem {}

impl serde::Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", &self.type_uri)?;
        if !self.title.is_empty() {
            map.serialize_entry("title", &self.title)?;
        }
        if self.status != 0 {
            map.serialize_entry("status", &self.status)?;
        }
        if !self.detail.is_empty() {
            map.serialize_entry("detail", &self.detail)?;
        }
        let optional = [
            ("instance", &self.instance),
            ("key", &self.key),
            ("field", &self.field),
            ("header", &self.header),
        ];
        for (name, value) in optional {
            if let Some(v) = value {
                map.serialize_entry(name, v)?;
            }
        }
        if let Some(kind) = &self.conflict {
            map.serialize_entry("conflict", kind)?;
        }
        if let Some(expected) = &self.expected {
            map.serialize_entry("expected", expected)?;
        }
        if let Some(tag) = &self.current_etag {
            map.serialize_entry("current_etag", tag)?;
        }
        for (name, value) in &self.extensions {
            if !STANDARD.contains(&name.as_str()) {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

impl<'de> serde::Deserialize<'de> for Problem {
    /// Lenient (RFC 9457 3.1): a member of the wrong type is ignored.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let mut string = |name: &str| match map.remove(name) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        };
        let type_uri = string("type").unwrap_or_else(|| "about:blank".to_owned());
        let title = string("title").unwrap_or_default();
        let detail = string("detail").unwrap_or_default();
        let instance = string("instance");
        let key = string("key");
        let field = string("field");
        let header = string("header");
        let current_etag = string("current_etag");
        let status = map
            .remove("status")
            .and_then(|v| v.as_u64())
            .and_then(|n| u16::try_from(n).ok())
            .unwrap_or(0);
        let conflict = map
            .remove("conflict")
            .and_then(|v| serde_json::from_value(v).ok());
        let expected = map
            .remove("expected")
            .and_then(|v| serde_json::from_value(v).ok());
        Ok(Problem {
            type_uri,
            title,
            status,
            detail,
            instance,
            key,
            field,
            header,
            conflict,
            expected,
            current_etag,
            extensions: map,
        })
    }
}
