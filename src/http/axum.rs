//! The axum adapter (feature `axum`): [`Guard`] and [`Preconditions`] as extractors, and
//! `IntoResponse` for [`Reply`], [`Rejection`] and [`Problem`]. The core knows nothing of it.

use axum_core::body::Body;
use axum_core::extract::FromRequestParts;
use axum_core::response::{IntoResponse, Response};
use http::request::Parts;

use super::{Guard, Preconditions, Problem, Rejection, Reply};

/// Extracts the request's guard (policy: a [`PreconditionPolicy`](super::PreconditionPolicy)
/// in the request's extensions, as the tower layer or `Extension` puts there, else the
/// default). A malformed `If-Match` / `If-None-Match` is answered 400 before the handler
/// runs.
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, extract::{Path, State}, routing::get};
/// use optimist::MemoryStore;
/// use optimist::http::{Guard, Rejection, Reply};
///
/// type Store = Arc<MemoryStore<String>>;
///
/// async fn read(State(store): State<Store>, Path(id): Path<String>, guard: Guard)
///     -> Result<Reply<String>, Rejection> {
///     guard.read(&*store, &id).await
/// }
/// let app: Router = Router::new().route("/notes/{id}", get(read)).with_state(Store::default());
/// # let _ = app;
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Guard {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Guard::from_parts(parts)
    }
}

/// Extracts the request's preconditions (the lower-level piece); malformed ones are 400.
impl<S: Send + Sync> FromRequestParts<S> for Preconditions {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Preconditions::from_headers(&parts.headers)?)
    }
}

/// Answers with the rejection's status, headers and problem+json body.
impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.into_http_response().map(Body::from)
    }
}

/// Answers with the problem's status and problem+json body.
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.into_http_response().map(Body::from)
    }
}

/// Answers with the reply's status and headers, and its body as `application/json` (no
/// body for 204).
impl<T: serde::Serialize> IntoResponse for Reply<T> {
    fn into_response(self) -> Response {
        self.into_json_response().map(Body::from)
    }
}
