//! The axum adapter (feature `axum`): [`Preconditions`] as an extractor and
//! [`Rejection`] as a response.

use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use super::{Preconditions, Rejection};

/// Extracts the request's preconditions; a malformed `If-Match` / `If-None-Match` is
/// rejected with 400 and a problem body before the handler runs.
///
/// ```
/// use axum::{Router, routing::put};
/// use optimist::http::Preconditions;
///
/// async fn handler(pre: Preconditions) -> &'static str {
///     if pre.has_write_condition() { "conditional" } else { "unconditional" }
/// }
/// let app: Router = Router::new().route("/doc", put(handler));
/// # let _ = app;
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Preconditions::from_headers(&parts.headers)?)
    }
}

/// Answers with the rejection's status, headers and problem+json body.
impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        Rejection::into_response(self).map(axum_core::body::Body::from)
    }
}
