//! Every error the users API answers, as `application/problem+json`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use optimist::http::{Precondition, Problem, Rejection};

/// An error response: a decision of the library (409/412/428/304/...) or a problem about the
/// request itself (400/404/405/413/415/422/501), with any header fields it needs
/// (`Allow`, `Accept-Patch`, `Accept-Encoding`, ...).
/// (Boxed: errors are the rare path, and `Result<_, ApiError>` stays small.)
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: Kind,
    headers: HeaderMap,
}

#[derive(Debug)]
enum Kind {
    /// Decided by `optimist::http`.
    Rejection(Rejection),
    /// About the request itself.
    Problem(Problem),
}

/// The reason phrase RFC 9110 gives `status`: `http` still has the RFC 7231 phrases for
/// 413 ("Payload Too Large") and 422 ("Unprocessable Entity").
pub fn title(status: StatusCode) -> &'static str {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => "Content Too Large",
        StatusCode::UNPROCESSABLE_ENTITY => "Unprocessable Content",
        other => other.canonical_reason().unwrap_or("Error"),
    }
}

impl ApiError {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let mut problem = Problem::new(status, detail);
        problem.title = title(status).to_owned();
        ApiError::from_problem(problem)
    }

    fn from_problem(problem: Problem) -> Self {
        ApiError(Box::new(Inner {
            kind: Kind::Problem(problem),
            headers: HeaderMap::new(),
        }))
    }

    /// A 422 about one field of the document.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, detail);
        if let Kind::Problem(p) = &mut error.0.kind {
            p.field = Some(field.to_owned());
        }
        error
    }

    /// A 404 for a user that does not exist.
    pub fn not_found(username: &str) -> Self {
        Rejection::not_found(username).into()
    }

    /// Names the request header a problem is about (its `header` member).
    pub fn with_problem_header(mut self, header: &str) -> Self {
        if let Kind::Problem(p) = &mut self.0.kind {
            p.header = Some(header.to_owned());
        }
        self
    }

    /// Adds a header field to the response.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.0.headers.append(name, value);
        self
    }
}

impl From<ApiError> for Rejection {
    /// The library's form of an error, for code that answers with a [`Rejection`] (a
    /// closure given to the guard). Extra header fields are dropped: only problems about
    /// the document itself (which have none) take this path.
    fn from(e: ApiError) -> Self {
        match e.0.kind {
            Kind::Rejection(r) => r,
            Kind::Problem(p) => p.into(),
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError(Box::new(Inner {
            kind: Kind::Rejection(r),
            headers: HeaderMap::new(),
        }))
    }
}

/// What a write refused with 428 must resend, in this API's terms (it also takes a
/// `_version` member for PUT and PATCH, and DELETE creates nothing), and why a precondition
/// it sent does not do (`sent`).
fn precondition_required_detail(method: &Method, sent: Option<Precondition>) -> String {
    let how = match *method {
        Method::DELETE => {
            "read the user, then resend with If-Match set to its ETag (If-Match: * deletes \
             whatever version is current)"
        }
        Method::PATCH => {
            "read the user, then resend with If-Match set to its ETag, or with a \"_version\" \
             member holding it in the patch"
        }
        _ => {
            "read the user, then resend with If-Match set to its ETag or a \"_version\" member \
             holding it; to create it only if absent, send If-None-Match: *"
        }
    };
    let why = match sent {
        Some(Precondition::IfUnmodifiedSince) => {
            ". If-Unmodified-Since alone cannot prevent a lost update: a date has one-second \
             granularity, so a change in the same second goes unseen"
        }
        Some(Precondition::IfNoneMatch) => {
            ". If-None-Match with entity-tags alone cannot prevent a lost update: it names \
             versions not to overwrite, not the one you read"
        }
        _ => "",
    };
    format!("{method} requires a precondition that prevents lost updates: {how}{why}")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let Inner { kind, headers } = *self.0;
        let mut response = match kind {
            Kind::Rejection(rejection @ Rejection::PreconditionRequired { .. }) => {
                let mut response = rejection.clone().into_http_response().map(Body::from);
                if let (Rejection::PreconditionRequired { method, sent, .. }, Some(mut problem)) =
                    (&rejection, rejection.problem())
                {
                    problem.detail = precondition_required_detail(method, *sent);
                    response = problem.into_http_response().map(Body::from);
                }
                response
                    .headers_mut()
                    .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Kind::Rejection(r) => {
                // The client gets no detail (it may name hosts); the operator gets it here.
                // (`Indeterminate` is logged with its cause where it is made, in `users`.)
                match &r {
                    Rejection::Internal { detail } => tracing::error!(%detail, "store failure"),
                    Rejection::Unavailable { detail } => {
                        tracing::warn!(%detail, "store unavailable: 503");
                    }
                    _ => {}
                }
                r.into_http_response().map(Body::from)
            }
            Kind::Problem(p) => p.into_http_response().map(Body::from),
        };
        for (name, value) in &headers {
            response.headers_mut().append(name, value.clone());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_rfc_9110_phrases() {
        assert_eq!(title(StatusCode::PAYLOAD_TOO_LARGE), "Content Too Large");
        assert_eq!(
            title(StatusCode::UNPROCESSABLE_ENTITY),
            "Unprocessable Content"
        );
        assert_eq!(title(StatusCode::NOT_FOUND), "Not Found");
    }

    #[test]
    fn a_428_for_delete_never_says_create() {
        let detail = precondition_required_detail(&Method::DELETE, None);
        assert!(!detail.contains("create"), "{detail}");
        assert!(precondition_required_detail(&Method::PUT, None).contains("If-None-Match: *"));
        let date =
            precondition_required_detail(&Method::PUT, Some(Precondition::IfUnmodifiedSince));
        assert!(date.contains("If-Unmodified-Since alone"), "{date}");
    }
}
