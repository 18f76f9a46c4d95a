//! Which methods the API implements (RFC 9110 9.1): 501 for any other, 405 with `Allow` for
//! one a resource does not take, and `OPTIONS` answering with `Allow` and `Accept-Patch`.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{ALLOW, CONTENT_TYPE};
use http::{HeaderValue, Method, StatusCode};
use optimist::http::PROBLEM_JSON;

use super::body::{ACCEPT_PATCH, MERGE_PATCH};
use super::error::ApiError;

/// Every method the server implements on some resource.
pub const IMPLEMENTED: [Method; 7] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
];

/// The methods of `/api/users`.
pub const COLLECTION_ALLOW: &str = "GET, HEAD, POST, OPTIONS";
/// The methods of `/api/users/{username}`.
pub const USER_ALLOW: &str = "GET, HEAD, PUT, PATCH, DELETE, OPTIONS";
/// The methods of the server as a whole (`OPTIONS *`).
const SERVER_ALLOW: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";

/// `204 No Content` with `Allow` (and `Accept-Patch` where PATCH is allowed): the answer to
/// `OPTIONS` (RFC 9110 9.3.7; RFC 5789 3.1). Preconditions are ignored (RFC 9110 13.2.1).
pub fn options(allow: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(ALLOW, HeaderValue::from_static(allow));
    if allow.contains("PATCH") {
        headers.insert(ACCEPT_PATCH, HeaderValue::from_static(MERGE_PATCH));
    }
    response
}

/// Answers 501 for a method the server does not implement (before routing: it is not about
/// one resource), `OPTIONS *` for the whole server, and gives axum's bare 405 a problem body,
/// keeping its `Allow`.
pub async fn methods(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    if !IMPLEMENTED.contains(&method) {
        return ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            format!(
                "this server does not implement the method {method}; it implements {SERVER_ALLOW}"
            ),
        )
        .into_response();
    }
    if method == Method::OPTIONS && request.uri() == "*" {
        return options(SERVER_ALLOW);
    }
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|ct| ct == PROBLEM_JSON)
    {
        return response;
    }
    let allow = response.headers().get(ALLOW).cloned();
    let detail = match allow.as_ref().and_then(|a| a.to_str().ok()) {
        Some(allowed) => format!("{method} is not allowed here; allowed: {allowed}"),
        None => format!("{method} is not allowed here"),
    };
    let mut problem = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, detail);
    if let Some(allow) = allow {
        problem = problem.with_header(ALLOW, allow);
    }
    problem.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_lists_name_implemented_methods_only() {
        for list in [COLLECTION_ALLOW, USER_ALLOW, SERVER_ALLOW] {
            for name in list.split(", ") {
                let method: Method = name.parse().unwrap();
                assert!(IMPLEMENTED.contains(&method), "{name}");
            }
        }
        assert_eq!(SERVER_ALLOW.split(", ").count(), IMPLEMENTED.len());
    }
}
