//! Every error the users API answers, as `application/problem+json`.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use optimist::http::{Problem, Rejection};

/// An error response: a decision of the library (409/412/428/304/...) or a problem about the
/// request itself (400/404/405/413/415/422).
#[derive(Debug)]
pub enum ApiError {
    /// Decided by `optimist::http`.
    Rejection(Rejection),
    /// About the request itself (boxed: a problem is large and errors are the rare path).
    Problem(Box<Problem>),
}

impl ApiError {
    /// A problem with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError::Problem(Box::new(Problem::new(status, detail)))
    }

    /// A 422 about one field of the document.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        ApiError::Problem(Box::new(
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, detail).with_field(field),
        ))
    }

    /// A 404 for a user that does not exist.
    pub fn not_found(username: &str) -> Self {
        ApiError::Rejection(Rejection::NotFound {
            key: username.to_owned(),
        })
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        ApiError::Rejection(r)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Rejection(r) => {
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
            ApiError::Problem(p) => p.into_http_response().map(Body::from),
        }
    }
}
