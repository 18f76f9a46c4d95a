//! HTTP/1.1 message rules hyper leaves to the service: `Host` (RFC 9112 3.2), transfer
//! codings (RFC 9112 6.1), and the header fields every response must get right: caches
//! revalidate (RFC 9111 5.2.2.4), HEAD answers with GET's fields (RFC 9110 9.3.2), and a
//! connection whose request was not read to its end is closed (RFC 9110 15.5.9, 15.5.14).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::Authority;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use hyper::ext::ReasonPhrase;

use super::error::{ApiError, title};

/// What GET and HEAD responses (and all others) say to caches unless they say otherwise:
/// store if you like, but revalidate with the ETag before every use (RFC 9111 5.2.2.4).
pub const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// Why the `Host` header fields make the request invalid, if they do.
fn host_problem(version: Version, headers: &HeaderMap) -> Option<String> {
    let mut lines = headers.get_all(HOST).iter();
    let Some(host) = lines.next() else {
        // HTTP/1.0 predates Host; every HTTP/1.1 request must carry it.
        return (version >= Version::HTTP_11)
            .then(|| "an HTTP/1.1 request must carry a Host header field".to_owned());
    };
    if lines.next().is_some() {
        return Some("the request carries more than one Host header field".to_owned());
    }
    // Host = uri-host [ ":" port ] (port = *DIGIT), never empty for http URIs, never with
    // userinfo.
    let valid = !host.is_empty()
        && !host.as_bytes().contains(&b'@')
        && Authority::try_from(host.as_bytes()).is_ok_and(|authority| {
            let after_host = &authority.as_str()[authority.host().len()..];
            after_host.is_empty()
                || after_host
                    .strip_prefix(':')
                    .is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()))
        });
    (!valid).then(|| {
        format!(
            "the Host header field {:?} is not a host with an optional port",
            String::from_utf8_lossy(host.as_bytes())
        )
    })
}

/// The transfer codings other than `chunked` the request was sent with. hyper refuses (400)
/// any list that does not end in `chunked`, and undoes `chunked` itself, but hands the rest
/// on: the body would still be gzip'ed, say.
fn unknown_transfer_codings(headers: &HeaderMap) -> Vec<String> {
    let mut codings = Vec::new();
    for line in headers.get_all(TRANSFER_ENCODING) {
        for coding in String::from_utf8_lossy(line.as_bytes()).split(',') {
            let coding = coding.trim();
            if !coding.is_empty() && !coding.eq_ignore_ascii_case("chunked") {
                codings.push(coding.to_owned());
            }
        }
    }
    codings
}

/// Checks `Host` (400) and transfer codings (501) before anything else, and fixes up the
/// header fields of every response.
pub async fn protocol(request: Request, next: Next) -> Response {
    if let Some(detail) = host_problem(request.version(), request.headers()) {
        return finish(
            &Method::GET,
            ApiError::new(StatusCode::BAD_REQUEST, detail).into_response(),
        );
    }
    let codings = unknown_transfer_codings(request.headers());
    if !codings.is_empty() {
        let detail = format!(
            "the body is sent with the transfer coding {}: this server understands chunked only",
            codings.join(", ")
        );
        let mut response = ApiError::new(StatusCode::NOT_IMPLEMENTED, detail).into_response();
        // The body was not read; what follows it on the connection cannot be trusted.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return finish(request.method(), response);
    }
    let method = request.method().clone();
    finish(&method, next.run(request).await)
}

/// The header fields every response gets:
/// - `Cache-Control: no-cache` unless it has its own (428: `no-store`), on 200 and 304 alike
///   (RFC 9110 15.4.5) and on errors, which caches may otherwise store heuristically (404,
///   405, 501: RFC 9110 15.1);
/// - for HEAD, what GET would carry: no `Content-Length` on a 304 or 204, which have no
///   content to measure (RFC 9110 8.6);
/// - `Connection: close` after a 408 or 413, whose body was not read to its end.
fn finish(method: &Method, mut response: Response) -> Response {
    let status = response.status();
    let headers = response.headers_mut();
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, NO_CACHE);
    }
    if method == Method::HEAD
        && (status == StatusCode::NOT_MODIFIED || status == StatusCode::NO_CONTENT)
    {
        headers.remove(CONTENT_LENGTH);
    }
    if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::PAYLOAD_TOO_LARGE {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    // The status line's phrase too: `http` has the RFC 7231 ones for 413 and 422.
    if let Some(phrase) = reason_phrase(status) {
        response.extensions_mut().insert(phrase);
    }
    response
}

/// The RFC 9110 reason phrase where hyper's (`http`'s) differs.
fn reason_phrase(status: StatusCode) -> Option<ReasonPhrase> {
    let phrase = title(status);
    (status.canonical_reason() != Some(phrase))
        .then(|| ReasonPhrase::from_static(phrase.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(HOST, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn host_rules() {
        let ok = |v: Version, h: &[&[u8]]| host_problem(v, &hosts(h)).is_none();
        assert!(ok(Version::HTTP_11, &[b"localhost:8080"]));
        assert!(ok(Version::HTTP_11, &[b"[::1]:80"]));
        assert!(ok(Version::HTTP_11, &[b"example.com"]));
        assert!(ok(Version::HTTP_10, &[]));
        assert!(!ok(Version::HTTP_11, &[]));
        assert!(!ok(Version::HTTP_11, &[b"a", b"a"]));
        assert!(!ok(Version::HTTP_10, &[b"a", b"b"]));
        assert!(!ok(Version::HTTP_11, &[b""]));
        assert!(!ok(Version::HTTP_11, &[b"a b"]));
        assert!(!ok(Version::HTTP_11, &[b"user@host"]));
        assert!(!ok(Version::HTTP_11, &[b"host:port"]));
        assert!(!ok(Version::HTTP_11, &[b"[::1"]));
    }

    #[test]
    fn transfer_codings_other_than_chunked() {
        let mut h = HeaderMap::new();
        h.append(TRANSFER_ENCODING, "chunked".parse().unwrap());
        assert!(unknown_transfer_codings(&h).is_empty());
        h.insert(TRANSFER_ENCODING, "gzip, Chunked".parse().unwrap());
        assert_eq!(unknown_transfer_codings(&h), ["gzip"]);
    }
}
