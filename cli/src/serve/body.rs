//! Reading a JSON request body: content coding and media type (415), size (413), time
//! (408), syntax (400), duplicate members (422).

use axum::body::Body;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use super::AppState;
use super::error::ApiError;
use super::json::{Json, JsonError};

/// `application/json`, for POST and PUT.
pub const JSON: &str = "application/json";
/// `application/merge-patch+json` (RFC 7396), for PATCH.
pub const MERGE_PATCH: &str = "application/merge-patch+json";

/// `Accept-Patch` (RFC 5789 3.1): the patch formats PATCH takes.
pub const ACCEPT_PATCH: HeaderName = HeaderName::from_static("accept-patch");

/// Whether the `Content-Type` header's media type (parameters ignored) is `expected`.
fn has_media_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(expected))
}

/// The content codings applied to the body (RFC 9110 8.4) that this server would have to
/// undo: every listed coding but `identity`, over all `Content-Encoding` lines.
fn content_codings(headers: &HeaderMap) -> Vec<String> {
    let mut codings = Vec::new();
    for line in headers.get_all(CONTENT_ENCODING) {
        for coding in String::from_utf8_lossy(line.as_bytes()).split(',') {
            let coding = coding.trim();
            if !coding.is_empty() && !coding.eq_ignore_ascii_case("identity") {
                codings.push(coding.to_owned());
            }
        }
    }
    codings
}

/// Reads at most `state.max_body` bytes of `body`, within `state.read_timeout`, as JSON of
/// media type `media_type`.
///
/// The server decodes no content coding: a body sent with one (gzip, br, anything but
/// `identity`) is 415 with `Accept-Encoding: identity` (RFC 9110 12.5.3, 15.5.16). A 415
/// for the wrong media type on PATCH carries `Accept-Patch` (RFC 5789 2.2).
pub async fn read_json(
    headers: &HeaderMap,
    body: Body,
    state: &AppState,
    media_type: &str,
) -> Result<Json, ApiError> {
    let max = state.max_body;
    let codings = content_codings(headers);
    if !codings.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "the body is sent with Content-Encoding {}: this server decodes no content \
                 coding, send it unencoded",
                codings.join(", ")
            ),
        )
        .with_header(ACCEPT_ENCODING, HeaderValue::from_static("identity")));
    }
    if !has_media_type(headers, media_type) {
        let error = ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("the body must be sent with Content-Type: {media_type}"),
        );
        return Err(if media_type == MERGE_PATCH {
            error.with_header(ACCEPT_PATCH, HeaderValue::from_static(MERGE_PATCH))
        } else {
            error
        });
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
    Json::parse(&bytes).map_err(json_error)
}

/// The problem for a body that is not a document the API accepts.
fn json_error(e: JsonError) -> ApiError {
    match &e {
        JsonError::Syntax(_) | JsonError::TooDeep => {
            ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        }
        JsonError::DuplicateMember { pointer, name } if pointer.is_empty() => {
            ApiError::invalid_field(name, e.to_string())
        }
        JsonError::DuplicateMember { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
    }
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

    #[test]
    fn identity_is_no_coding() {
        let mut h = HeaderMap::new();
        assert!(content_codings(&h).is_empty());
        h.append(CONTENT_ENCODING, "Identity, ".parse().unwrap());
        assert!(content_codings(&h).is_empty());
        h.append(CONTENT_ENCODING, "gzip".parse().unwrap());
        assert_eq!(content_codings(&h), ["gzip"]);
    }
}
