//! A successful answer: status, validators (and `Location`), and the representation.

use http::header::{CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::validators::Validators;

/// A successful answer of a [`Guard`](super::Guard) operation: the status (200, 201, 204),
/// the headers (`ETag` and `Last-Modified` of the new or current state, `Location` for a
/// create) and the representation, if any.
///
/// With the `axum` feature it is an `IntoResponse`, with `actix` a `Responder`, when `T`
/// is `Serialize`: the body is written as `application/json` (no body for 204). For another
/// representation, [`map`](Self::map) the body first, or take the parts
/// ([`into_parts`](Self::into_parts)).
///
/// ```
/// use http::StatusCode;
/// use optimist::http::{Reply, Validators};
/// use optimist::{Meta, Version};
///
/// let meta = Meta { version: Version::new(3).unwrap(), last_modified: std::time::UNIX_EPOCH };
/// let reply = Reply::created("note").with_validators(&Validators::from(meta)).with_location("/notes/3");
/// assert_eq!(reply.status(), StatusCode::CREATED);
/// assert_eq!(reply.headers()["etag"], "\"3\"");
/// assert_eq!(reply.headers()["location"], "/notes/3");
/// let response = reply.into_json_response();
/// assert_eq!(response.body(), b"\"note\"");
/// assert_eq!(response.headers()["content-type"], "application/json");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply<T> {
    status: StatusCode,
    headers: HeaderMap,
    body: Option<T>,
}

impl<T> Reply<T> {
    fn new(status: StatusCode, body: Option<T>) -> Self {
        Self {
            status,
            headers: HeaderMap::new(),
            body,
        }
    }

    /// 200 OK with `body`.
    pub fn ok(body: T) -> Self {
        Self::new(StatusCode::OK, Some(body))
    }

    /// 201 Created with `body`.
    pub fn created(body: T) -> Self {
        Self::new(StatusCode::CREATED, Some(body))
    }

    /// `status` without a body (the representation can be added with
    /// [`with_body`](Self::with_body)).
    pub fn empty(status: StatusCode) -> Self {
        Self::new(status, None)
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        Self::new(StatusCode::NO_CONTENT, None)
    }

    /// With `ETag` and `Last-Modified` set from `validators`.
    pub fn with_validators(mut self, validators: &Validators) -> Self {
        validators.set_headers(&mut self.headers);
        self
    }

    /// With a `Location` header (the URI of a created resource). A value that cannot be a
    /// header value (control characters) is left out.
    pub fn with_location(mut self, uri: impl AsRef<str>) -> Self {
        if let Ok(v) = HeaderValue::from_str(uri.as_ref()) {
            self.headers.insert(LOCATION, v);
        }
        self
    }

    /// With another header.
    pub fn with_header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// With `body` as the representation (replacing any).
    ///
    /// ```
    /// let reply = optimist::http::Reply::<()>::no_content().with_body(5);
    /// assert_eq!(reply.body(), Some(&5));
    /// ```
    pub fn with_body<U>(self, body: U) -> Reply<U> {
        Reply {
            status: self.status,
            headers: self.headers,
            body: Some(body),
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers (validators, `Location`).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to add more.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The representation, if any.
    pub fn body(&self) -> Option<&T> {
        self.body.as_ref()
    }

    /// The representation, by value.
    pub fn into_body(self) -> Option<T> {
        self.body
    }

    /// Maps the representation (e.g. into a response DTO), keeping status and headers.
    ///
    /// ```
    /// let reply = optimist::http::Reply::ok(2).map(|n| n * 10);
    /// assert_eq!(reply.into_body(), Some(20));
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Reply<U> {
        Reply {
            status: self.status,
            headers: self.headers,
            body: self.body.map(f),
        }
    }

    /// Status, headers and representation.
    pub fn into_parts(self) -> (StatusCode, HeaderMap, Option<T>) {
        (self.status, self.headers, self.body)
    }

    /// The response with the representation written as JSON (`Content-Type:
    /// application/json`), or no body (204).
    pub fn into_json_response(self) -> Response<Vec<u8>>
    where
        T: serde::Serialize,
    {
        let (status, mut headers, body) = self.into_parts();
        let bytes = match body {
            Some(body) => match serde_json::to_vec(&body) {
                Ok(bytes) => {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    bytes
                }
                Err(e) => return json_failure(&e),
            },
            None => Vec::new(),
        };
        let mut response = Response::new(bytes);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        response
    }
}

/// A representation that does not serialize (a map with non-string keys, a failing
/// `Serialize` impl): 500 as problem+json, never a half-written body.
pub(crate) fn json_failure(e: &serde_json::Error) -> Response<Vec<u8>> {
    super::Rejection::Internal {
        detail: format!("the representation does not serialize as JSON: {e}"),
    }
    .into_http_response()
}
