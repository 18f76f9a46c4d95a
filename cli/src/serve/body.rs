//! Reading a JSON request body: media type (415), size (413), time (408), syntax (400).

use axum::body::Body;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;

/// `application/json`, for POST and PUT.
pub const JSON: &str = "application/json";
/// `application/merge-patch+json` (RFC 7396), for PATCH.
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// Whether the `Content-Type` header's media type (parameters ignored) is `expected`.
fn has_media_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

/// Reads at most `state.max_body` bytes of `body`, within `state.read_timeout`, as JSON of
/// media type `media_type`.
pub async fn read_json(
    headers: &HeaderMap,
    body: Body,
    state: &AppState,
    media_type: &str,
) -> Result<Value, ApiError> {
    let max = state.max_body;
    if !has_media_type(headers, media_type) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be sent with Content-Type: {media_type}"),
        ));
    }
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than the limit of {max} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let timeout = state.read_timeout;
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, max))
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {timeout:?}"),
            )
        })?;
    let bytes = read.map_err(|e| {
        if std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>())
        {
            too_large()
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("could not read the body: {e}"),
            )
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_ignores_parameters_and_case() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            "Application/JSON; charset=utf-8".parse().unwrap(),
        );
        assert!(has_media_type(&h, JSON));
        assert!(!has_media_type(&h, MERGE_PATCH));
        assert!(!has_media_type(&HeaderMap::new(), JSON));
    }
}
