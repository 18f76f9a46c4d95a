//! The status mapping (`Rejection::from_store_error`) and the responses it builds: status,
//! `ETag`, `Retry-After`, `Cache-Control`, `application/problem+json` bodies (RFC 9457), and
//! the client-side way back (`conflict_from_response`).

use std::time::{Duration, UNIX_EPOCH};

use http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use optimist::http::{
    Guard, Origin, PROBLEM_JSON, PROBLEM_TYPE_BASE, Precondition, PreconditionPolicy,
    Preconditions, Problem, ProblemError, Rejection, ReportedConflict, Validators, WriteCondition,
    conflict_from_response,
};
use optimist::{Conflict, ConflictKind, Expect, MemoryStore, Meta, StoreError, Version};
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The guard of a request with preconditions `pre`, under `policy`.
fn guard(method: &Method, pre: &Preconditions, policy: &PreconditionPolicy) -> Guard {
    Guard::from_preconditions(method.clone(), pre.clone(), policy)
}

/// `expect_for`, a false precondition answered as the guard does (412).
fn expect_for(
    pre: &Preconditions,
    key: &str,
    current: Option<&Meta>,
) -> Result<Option<Expect>, Rejection> {
    pre.expect_for(current).map_err(|header| {
        Rejection::precondition_failed(key, pre, header, current.map(|m| m.version.into()))
    })
}

/// A conditional read of an existing resource through the guard.
fn check_read(
    pre: &Preconditions,
    method: &Method,
    key: &str,
    current: &Meta,
) -> Result<(), Rejection> {
    guard(method, pre, &PreconditionPolicy::none()).check(key, Some(&Validators::from(current)))
}

/// The crate's `Conflict` a response of ours reports.
fn own_conflict(response: &Response<Vec<u8>>) -> Conflict {
    conflict_from_response(response)
        .unwrap_or_else(|e| panic!("not a conflict: {e}"))
        .to_conflict()
        .expect("our own tags")
}

/// A store with "doc" written twice (`v1` is stale, `v2` current) and "gone" created then
/// deleted (`g1`, never current again).
struct World {
    store: MemoryStore<String>,
    v1: Version,
    v2: Version,
    g1: Version,
}

impl World {
    fn new() -> Self {
        let store = MemoryStore::new();
        let v1 = store
            .put_sync("doc", "one".into(), Expect::Absent)
            .unwrap()
            .version;
        let v2 = store
            .put_sync("doc", "two".into(), Expect::Version(v1))
            .unwrap()
            .version;
        let g1 = store
            .put_sync("gone", "x".into(), Expect::Absent)
            .unwrap()
            .version;
        store.delete_sync("gone", Expect::Version(g1)).unwrap();
        World { store, v1, v2, g1 }
    }

    /// A write expecting the stale version: `Stale`, current `v2`.
    fn stale(&self) -> StoreError {
        self.store
            .put_sync("doc", "late".into(), Expect::Version(self.v1))
            .unwrap_err()
    }

    /// A create-only write of an existing key: `AlreadyExists`, current `v2`.
    fn duplicate(&self) -> StoreError {
        self.store
            .put_sync("doc", "dup".into(), Expect::Absent)
            .unwrap_err()
    }

    /// A conditional write to a deleted key: `Missing`, no current version.
    fn missing(&self) -> StoreError {
        self.store
            .put_sync("gone", "y".into(), Expect::Version(self.g1))
            .unwrap_err()
    }

    /// A conditional delete of a deleted key: `Missing` as well.
    fn missing_delete(&self) -> StoreError {
        self.store.delete_sync("gone", Expect::Exists).unwrap_err()
    }
}

fn indeterminate() -> StoreError {
    StoreError::Indeterminate {
        key: "doc".into(),
        source: "connection reset after COMMIT was sent".into(),
    }
}

fn unavailable() -> StoreError {
    StoreError::Unavailable {
        source: format!("pool timed out connecting to {SECRET}").into(),
    }
}

fn invalid_key() -> StoreError {
    StoreError::InvalidKey {
        reason: "longer than 1024 bytes".into(),
    }
}

const SECRET: &str = "password=hunter2 host=db.internal:5432";

fn backend() -> StoreError {
    StoreError::backend(format!("driver exploded: {SECRET}"))
}

fn codec() -> StoreError {
    StoreError::Codec {
        key: "doc".into(),
        source: format!("bad bytes, {SECRET}").into(),
    }
}

fn body_json(response: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(response.body()).unwrap_or_else(|e| {
        panic!(
            "body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(response.body())
        )
    })
}

fn etag_of(response: &Response<Vec<u8>>) -> Option<String> {
    response
        .headers()
        .get(ETAG)
        .map(|v| v.to_str().unwrap().to_owned())
}

/// Checks what every problem response must have, and returns its JSON body.
fn check_problem(what: &str, response: &Response<Vec<u8>>, status: u16) -> Value {
    assert_eq!(response.status(), status, "{what}: status");
    assert_eq!(
        response
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap()),
        Some(PROBLEM_JSON),
        "{what}: content-type"
    );
    let body = body_json(response);
    let type_uri = body["type"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: type"));
    assert!(
        type_uri.starts_with(PROBLEM_TYPE_BASE),
        "{what}: type {type_uri}"
    );
    assert!(
        type_uri.len() > PROBLEM_TYPE_BASE.len(),
        "{what}: type has a slug"
    );
    let reason = StatusCode::from_u16(status)
        .unwrap()
        .canonical_reason()
        .unwrap();
    assert_eq!(body["title"], reason, "{what}: title");
    assert_eq!(body["status"], status, "{what}: status member");
    let detail = body["detail"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: detail"));
    assert!(!detail.is_empty(), "{what}: detail");
    // The typed view agrees with the raw JSON.
    let problem = Problem::from_response(response).unwrap();
    assert_eq!(problem.status, status, "{what}");
    assert_eq!(problem.detail, detail, "{what}");
    body
}

// ---------------------------------------------------------------------------------------------
// The status table
// ---------------------------------------------------------------------------------------------

struct Row {
    what: &'static str,
    err: StoreError,
    method: Method,
    origin: Origin,
    status: u16,
    /// The `ETag` header (and `current_etag` member) expected; `None`: must be absent.
    etag: Option<Version>,
    /// The `key` member expected; `None`: must be absent.
    key: Option<&'static str>,
}

#[test]
#[rustfmt::skip]
fn from_store_error_status_table() {
    let w = World::new();
    let (put, patch, delete, post, get) = (Method::PUT, Method::PATCH, Method::DELETE, Method::POST, Method::GET);
    let row = |what, err, method: &Method, origin, status, etag, key| Row { what, err, method: method.clone(), origin, status, etag, key };
    let mut rows = vec![
        row("stale, If-Match on PUT: 412", w.stale(), &put, Origin::Header, 412, Some(w.v2), Some("doc")),
        row("stale, If-Match on PATCH: 412", w.stale(), &patch, Origin::Header, 412, Some(w.v2), Some("doc")),
        row("stale, If-Match on DELETE: 412", w.stale(), &delete, Origin::Header, 412, Some(w.v2), Some("doc")),
        row("stale, version in the body: 409", w.stale(), &put, Origin::Body, 409, Some(w.v2), Some("doc")),
        row("stale, version in the body on PATCH: 409", w.stale(), &patch, Origin::Body, 409, Some(w.v2), Some("doc")),
        row("stale, server read-modify-write lost: 409", w.stale(), &put, Origin::Server, 409, Some(w.v2), Some("doc")),
        row("duplicate on POST create: 409", w.duplicate(), &post, Origin::Server, 409, Some(w.v2), Some("doc")),
        row("duplicate with If-None-Match: * on PUT: 412", w.duplicate(), &put, Origin::Header, 412, Some(w.v2), Some("doc")),
        row("duplicate, body said create: 409", w.duplicate(), &put, Origin::Body, 409, Some(w.v2), Some("doc")),
        row("missing, If-Match on PUT: 412 without ETag", w.missing(), &put, Origin::Header, 412, None, Some("gone")),
        row("missing, body version on PUT: 409 without ETag", w.missing(), &put, Origin::Body, 409, None, Some("gone")),
        row("missing on POST by the server: 409 without ETag", w.missing(), &post, Origin::Server, 409, None, Some("gone")),
        row("indeterminate: 503", indeterminate(), &put, Origin::Header, 503, None, Some("doc")),
        row("unavailable: 503", unavailable(), &get, Origin::Header, 503, None, None),
        row("invalid key: 400", invalid_key(), &put, Origin::Header, 400, None, None),
        row("backend: 500", backend(), &put, Origin::Header, 500, None, None),
        row("codec: 500", codec(), &get, Origin::Server, 500, None, None),
    ];
    // Missing on DELETE / PATCH is 404 whatever the origin (RFC 9110 13.2.1).
    for method in [&delete, &patch] {
        for origin in [Origin::Header, Origin::Body, Origin::Server] {
            rows.push(row("missing on DELETE/PATCH: 404", w.missing(), method, origin, 404, None, Some("gone")));
            rows.push(row("missing delete on DELETE/PATCH: 404", w.missing_delete(), method, origin, 404, None, Some("gone")));
        }
    }

    for Row { what, err, method, origin, status, etag, key } in rows {
        let what = format!("{what} ({method} {origin:?})");
        let rejection = Rejection::from_store_error(err, &method, origin);
        assert_eq!(rejection.status(), status, "{what}");
        assert_eq!(rejection.current_version(), etag, "{what}");
        let response = rejection.into_http_response();
        let body = check_problem(&what, &response, status);

        // ETag: the current version's tag when the resource exists, absent otherwise.
        assert_eq!(etag_of(&response), etag.map(Version::etag), "{what}: ETag header");
        match etag {
            Some(v) => assert_eq!(body["current_etag"], v.etag(), "{what}: current_etag"),
            None => assert!(body.get("current_etag").is_none(), "{what}: no current_etag"),
        }
        match key {
            Some(k) => assert_eq!(body["key"], k, "{what}: key"),
            None => assert!(body.get("key").is_none(), "{what}: no key"),
        }
        // Retry-After exactly on 503; Cache-Control only on 428.
        assert_eq!(response.headers().contains_key(RETRY_AFTER), status == 503, "{what}: Retry-After");
        if status == 503 {
            let secs: u64 = response.headers()[RETRY_AFTER].to_str().unwrap().parse().unwrap();
            assert!(secs >= 1, "{what}");
        }
        assert!(!response.headers().contains_key(CACHE_CONTROL), "{what}: Cache-Control");
        // Conflicts say which kind.
        if status == 409 || status == 412 {
            assert!(body["conflict"].is_string(), "{what}: conflict kind");
        }
    }
}

#[test]
fn conflict_kinds_in_bodies() {
    let w = World::new();
    let kinds = [
        (w.stale(), Method::PUT, Origin::Header, "stale"),
        (w.stale(), Method::PUT, Origin::Body, "stale"),
        (
            w.duplicate(),
            Method::POST,
            Origin::Server,
            "already_exists",
        ),
        (w.duplicate(), Method::PUT, Origin::Header, "already_exists"),
        (w.missing(), Method::PUT, Origin::Header, "missing"),
        (w.missing(), Method::PUT, Origin::Body, "missing"),
    ];
    for (err, method, origin, kind) in kinds {
        let expected = err.as_conflict().unwrap().expected().clone();
        let response = Rejection::from_store_error(err, &method, origin).into_http_response();
        let body = body_json(&response);
        assert_eq!(body["conflict"], kind, "{method} {origin:?}");
        // `expected` says what the write required: a list of tags or a word.
        let want = serde_json::to_value(&expected).unwrap();
        assert_eq!(body["expected"], want, "{method} {origin:?}");
    }
    // The stale write expected v1, as a list of one tag.
    let body = body_json(
        &Rejection::from_store_error(w.stale(), &Method::PUT, Origin::Header).into_http_response(),
    );
    assert_eq!(body["expected"], serde_json::json!([w.v1.etag()]));
}

#[test]
fn server_duplicate_names_the_field() {
    let store = MemoryStore::new();
    let v = store
        .put_sync("john_doe", 1u8, Expect::Absent)
        .unwrap()
        .version;
    let err = store.put_sync("john_doe", 2u8, Expect::Absent).unwrap_err();
    let rejection =
        Rejection::from_store_error(err, &Method::POST, Origin::Server).with_field("username");
    assert_eq!(rejection.status(), 409);
    let response = rejection.into_http_response();
    let body = check_problem("duplicate username", &response, 409);
    assert_eq!(body["field"], "username");
    assert_eq!(body["key"], "john_doe");
    assert_eq!(body["conflict"], "already_exists");
    assert_eq!(body["current_etag"], v.etag());
    assert_eq!(etag_of(&response), Some(v.etag()));
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("username"), "{detail}");
    assert!(detail.contains("john_doe"), "{detail}");

    // Without a field there is no `field` member.
    let err = store.put_sync("john_doe", 3u8, Expect::Absent).unwrap_err();
    let body = body_json(
        &Rejection::from_store_error(err, &Method::POST, Origin::Server).into_http_response(),
    );
    assert!(body.get("field").is_none());

    // with_field does nothing on anything but a 409.
    let err = store.put_sync("john_doe", 3u8, Expect::Absent).unwrap_err();
    let r = Rejection::from_store_error(err, &Method::PUT, Origin::Header).with_field("username");
    assert_eq!(r.status(), 412);
    assert!(r.problem().unwrap().field.is_none());
}

#[test]
fn backend_details_do_not_leak() {
    for (what, err) in [("backend", backend()), ("codec", codec())] {
        let rejection = Rejection::from_store_error(err, &Method::PUT, Origin::Header);
        // The detail is kept for the server's logs...
        match &rejection {
            Rejection::Internal { detail } => assert!(!detail.is_empty(), "{what}"),
            other => panic!("{what}: expected Internal, got {other:?}"),
        }
        let display = rejection.to_string();
        let response = rejection.into_http_response();
        let body = check_problem(what, &response, 500);
        let text = String::from_utf8(response.body().clone()).unwrap();
        // ...but never sent to the client.
        for secret in ["hunter2", "db.internal", "driver exploded", "bad bytes"] {
            assert!(
                !text.contains(secret),
                "{what}: body leaks {secret:?}: {text}"
            );
            assert!(
                !display.contains(secret),
                "{what}: Display leaks {secret:?}"
            );
        }
        assert!(body.get("key").is_none());
        assert!(response.headers().get(ETAG).is_none());
    }
    // The backend error's own Display carries the detail (for logs).
    assert!(backend().to_string().contains("hunter2"));
}

#[test]
fn indeterminate_and_unavailable_are_503_with_retry_after() {
    let response = Rejection::from_store_error(indeterminate(), &Method::PUT, Origin::Header)
        .into_http_response();
    let body = check_problem("indeterminate", &response, 503);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    assert_eq!(body["key"], "doc");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("read it again"),
        "tells the client to re-read: {detail}"
    );
    // Never reported as a conflict or a success.
    assert!(matches!(
        conflict_from_response(&response),
        Err(ProblemError::NotAConflict { status }) if status == 503
    ));

    let rejection = Rejection::from_store_error(unavailable(), &Method::GET, Origin::Server);
    assert!(
        matches!(&rejection, Rejection::Unavailable { detail } if detail.contains("pool timed out"))
    );
    let response = rejection.into_http_response();
    check_problem("unavailable", &response, 503);
    assert_eq!(response.headers()[RETRY_AFTER], "1");
    let text = String::from_utf8(response.body().clone()).unwrap();
    assert!(
        !text.contains("hunter2") && !text.contains("db.internal"),
        "503 leaks: {text}"
    );
}

/// RFC 9110 13.2.1: DELETE and PATCH of a missing key are 404 whatever the preconditions,
/// also when they must be evaluated against a read (If-None-Match with tags), while a PUT
/// that would create the key still evaluates them.
#[test]
fn write_expect_is_404_for_delete_and_patch_of_a_missing_key() {
    let store: MemoryStore<u8> = MemoryStore::new();
    let mut headers = HeaderMap::new();
    headers.insert("if-none-match", HeaderValue::from_static("\"1\""));
    headers.insert("if-match", HeaderValue::from_static("\"2\""));
    let pre = Preconditions::from_headers(&headers).unwrap();
    for method in [Method::DELETE, Method::PATCH] {
        let err = futures_executor::block_on(
            guard(&method, &pre, &PreconditionPolicy::default()).write_expect(&store, "gone"),
        )
        .unwrap_err();
        assert_eq!(err.status(), StatusCode::NOT_FOUND, "{method}");
    }
    let err = futures_executor::block_on(
        guard(&Method::PUT, &pre, &PreconditionPolicy::default()).write_expect(&store, "gone"),
    )
    .unwrap_err();
    assert_eq!(err.status(), StatusCode::PRECONDITION_FAILED);
}

#[test]
fn invalid_key_is_400() {
    let response =
        Rejection::from_store_error(invalid_key(), &Method::PUT, Origin::Body).into_http_response();
    let body = check_problem("invalid key", &response, 400);
    assert!(body["detail"].as_str().unwrap().contains("1024 bytes"));
    assert!(response.headers().get(ETAG).is_none());
}

// ---------------------------------------------------------------------------------------------
// 428, 412 from evaluation, 304, 400
// ---------------------------------------------------------------------------------------------

#[test]
fn precondition_required_is_428_with_no_store_and_instructions() {
    let pre = Preconditions::from_headers(&HeaderMap::new()).unwrap();
    for method in [Method::PUT, Method::PATCH, Method::DELETE] {
        let rejection = guard(&method, &pre, &PreconditionPolicy::default())
            .gate()
            .unwrap_err();
        let response = rejection.into_http_response();
        let body = check_problem("428", &response, 428);
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        assert!(response.headers().get(ETAG).is_none());
        assert!(response.headers().get(RETRY_AFTER).is_none());
        let detail = body["detail"].as_str().unwrap();
        // How to resubmit: read, then resend with If-Match; only a PUT (which can create) is
        // offered If-None-Match: *, and DELETE or PATCH are never told to create anything.
        assert!(detail.contains(method.as_str()), "{detail}");
        assert!(detail.contains("If-Match"), "{detail}");
        assert!(detail.contains("ETag"), "{detail}");
        assert_eq!(
            detail.contains("If-None-Match: *"),
            method == Method::PUT,
            "{detail}"
        );
        assert_eq!(detail.contains("create"), method == Method::PUT, "{detail}");
        // Not a conflict.
        match conflict_from_response(&response) {
            Err(ProblemError::NotAConflict { status }) => assert_eq!(status, 428),
            other => panic!("expected NotAConflict, got {other:?}"),
        }
    }
}

#[test]
fn failed_evaluation_is_412_with_the_current_etag() {
    let current = Meta {
        version: Version::new(9).unwrap(),
        last_modified: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let cases: [(&str, &str, Precondition, ConflictKind); 4] = [
        (
            "if-match",
            "\"8\"",
            Precondition::IfMatch,
            ConflictKind::Stale,
        ),
        (
            "if-match",
            "W/\"9\"",
            Precondition::IfMatch,
            ConflictKind::Stale,
        ),
        (
            "if-none-match",
            "\"9\"",
            Precondition::IfNoneMatch,
            ConflictKind::AlreadyExists,
        ),
        (
            "if-none-match",
            "*",
            Precondition::IfNoneMatch,
            ConflictKind::AlreadyExists,
        ),
    ];
    for (name, value, header, kind) in cases {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        let pre = Preconditions::from_headers(&h).unwrap();
        let rejection = expect_for(&pre, "doc", Some(&current)).unwrap_err();
        let response = rejection.into_http_response();
        let what = format!("{name}: {value}");
        let body = check_problem(&what, &response, 412);
        assert_eq!(etag_of(&response).as_deref(), Some("\"9\""), "{what}");
        assert_eq!(body["current_etag"], "\"9\"", "{what}");
        assert_eq!(body["header"], header.as_str(), "{what}");
        assert_eq!(body["key"], "doc", "{what}");
        let conflict = own_conflict(&response);
        assert_eq!(conflict.kind(), kind, "{what}");
        assert_eq!(conflict.key(), "doc");
        assert_eq!(conflict.current(), Some(current.version));
    }

    // If-Match: * on an absent resource: 412 without ETag, a Missing conflict.
    let mut h = HeaderMap::new();
    h.insert("if-match", HeaderValue::from_static("*"));
    let pre = Preconditions::from_headers(&h).unwrap();
    let response = expect_for(&pre, "new", None)
        .unwrap_err()
        .into_http_response();
    let body = check_problem("If-Match: * on absent", &response, 412);
    assert!(response.headers().get(ETAG).is_none());
    assert!(body.get("current_etag").is_none());
    assert_eq!(body["expected"], "exists");
    let conflict = own_conflict(&response);
    assert_eq!(conflict.kind(), ConflictKind::Missing);
    assert_eq!(conflict.current(), None);
    assert_eq!(conflict.expected(), &Expect::Exists);
}

#[test]
fn not_modified_is_304_with_etag_and_empty_body() {
    let meta = Meta {
        version: Version::new(41).unwrap(),
        last_modified: UNIX_EPOCH,
    };
    let mut h = HeaderMap::new();
    h.insert("if-none-match", HeaderValue::from_static("W/\"41\""));
    let pre = Preconditions::from_headers(&h).unwrap();
    for method in [Method::GET, Method::HEAD] {
        let rejection = check_read(&pre, &method, "doc", &meta).unwrap_err();
        assert_eq!(rejection.status(), 304);
        assert_eq!(rejection.current_version(), Some(meta.version));
        assert!(rejection.problem().is_none());
        let response = rejection.into_http_response();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[ETAG], "\"41\"");
        assert!(
            response.headers().get(CONTENT_TYPE).is_none(),
            "no content-type on 304"
        );
        assert!(response.body().is_empty(), "no body on 304");
        // A 304 is not a problem.
        assert!(matches!(
            conflict_from_response(&response),
            Err(ProblemError::NotProblem { content_type: None })
        ));
    }
    // Built directly, too.
    let response = Rejection::not_modified(meta).into_http_response();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()[ETAG], "\"41\"");
    assert!(response.body().is_empty());
}

#[test]
fn invalid_precondition_is_400_naming_the_header() {
    for (name, header) in [("if-match", "If-Match"), ("if-none-match", "If-None-Match")] {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static("not-a-tag"));
        let err = Preconditions::from_headers(&h).unwrap_err();
        let response = Rejection::from(err).into_http_response();
        let body = check_problem(name, &response, 400);
        assert_eq!(body["header"], header);
        assert!(body["detail"].as_str().unwrap().contains(header));
        assert!(response.headers().get(ETAG).is_none());
        assert!(matches!(
            conflict_from_response(&response),
            Err(ProblemError::NotAConflict { status }) if status == 400
        ));
    }
}

#[test]
fn not_found_is_404() {
    let w = World::new();
    let response = Rejection::from_store_error(w.missing(), &Method::DELETE, Origin::Header)
        .into_http_response();
    let body = check_problem("404", &response, 404);
    assert_eq!(body["key"], "gone");
    assert!(body.get("conflict").is_none());
    assert!(matches!(
        conflict_from_response(&response),
        Err(ProblemError::NotAConflict { status }) if status == 404
    ));
}

// ---------------------------------------------------------------------------------------------
// Round trip: response -> Conflict
// ---------------------------------------------------------------------------------------------

#[test]
fn conflicts_round_trip_through_responses() {
    let w = World::new();
    let rows = [
        (w.stale(), Method::PUT, Origin::Header, 412),
        (w.stale(), Method::PATCH, Origin::Header, 412),
        (w.stale(), Method::PUT, Origin::Body, 409),
        (w.stale(), Method::DELETE, Origin::Server, 409),
        (w.duplicate(), Method::POST, Origin::Server, 409),
        (w.duplicate(), Method::PUT, Origin::Header, 412),
        (w.duplicate(), Method::PUT, Origin::Body, 409),
        (w.missing(), Method::PUT, Origin::Header, 412),
        (w.missing(), Method::PUT, Origin::Body, 409),
        (w.missing(), Method::POST, Origin::Server, 409),
    ];
    for (err, method, origin, status) in rows {
        let original = err.as_conflict().unwrap().clone();
        let what = format!("{method} {origin:?} {:?}", original.kind());
        let response = Rejection::from_store_error(err, &method, origin).into_http_response();
        assert_eq!(response.status(), status, "{what}");
        let reported = conflict_from_response(&response).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(reported.key(), Some(original.key()), "{what}: key");
        assert_eq!(
            reported.current_version(),
            original.current(),
            "{what}: current"
        );
        let back = reported.to_conflict().expect("our own tags");
        assert_eq!(back.kind(), original.kind(), "{what}: kind");
        assert_eq!(back.key(), original.key(), "{what}: key");
        assert_eq!(back.current(), original.current(), "{what}: current");
        assert_eq!(back.expected(), original.expected(), "{what}: expected");
        assert_eq!(back, original, "{what}");
        // The body's `conflict` member names the same kind.
        let body = body_json(&response);
        assert_eq!(
            body["conflict"],
            original.kind().as_str(),
            "{what}: conflict member"
        );
    }

    // With a field: still the same conflict.
    let err = w.duplicate();
    let original = err.as_conflict().unwrap().clone();
    let response = Rejection::from_store_error(err, &Method::POST, Origin::Server)
        .with_field("username")
        .into_http_response();
    assert_eq!(own_conflict(&response), original);
}

#[test]
fn conflict_from_response_refuses_what_is_not_a_problem_conflict() {
    let problem_409 = br#"{"type":"about:blank","title":"Conflict","status":409,"detail":"x","key":"k","current_etag":"\"3\""}"#;
    let build = |content_type: Option<&'static str>, body: &[u8]| {
        let mut response = Response::new(body.to_vec());
        *response.status_mut() = StatusCode::CONFLICT;
        if let Some(ct) = content_type {
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        response
    };

    // Not problem+json: NotProblem, with the content type it had.
    match conflict_from_response(&build(Some("application/json"), problem_409)) {
        Err(ProblemError::NotProblem { content_type }) => {
            assert_eq!(content_type.as_deref(), Some("application/json"))
        }
        other => panic!("expected NotProblem, got {other:?}"),
    }
    match conflict_from_response(&build(Some("text/html"), b"<h1>Conflict</h1>")) {
        Err(ProblemError::NotProblem { content_type }) => {
            assert_eq!(content_type.as_deref(), Some("text/html"))
        }
        other => panic!("expected NotProblem, got {other:?}"),
    }
    assert!(matches!(
        conflict_from_response(&build(None, problem_409)),
        Err(ProblemError::NotProblem { content_type: None })
    ));

    // Invalid JSON with the right content type: Json.
    for bad in [&b"{not json"[..], b"", b"[1, 2]", b"\"conflict\""] {
        assert!(
            matches!(
                conflict_from_response(&build(Some(PROBLEM_JSON), bad)),
                Err(ProblemError::Json(_))
            ),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }

    // Parameters and case in the media type are fine.
    for ct in [
        "application/problem+json; charset=utf-8",
        "Application/Problem+JSON",
    ] {
        let c = conflict_from_response(&build(Some(ct), problem_409)).unwrap();
        assert_eq!(c.key(), Some("k"));
        assert_eq!(c.current_version(), Version::new(3));
        assert_eq!(c.kind(), ConflictKind::Stale);
    }
}

#[test]
fn a_foreign_problem_falls_back_to_the_etag_header() {
    // A 412 from some other server: no `current_etag` member, no `conflict` kind, the
    // current version only in the ETag header.
    let mut response = Response::new(
        br#"{"type":"about:blank","title":"Precondition Failed","status":412,"detail":"no","key":"k"}"#
            .to_vec(),
    );
    *response.status_mut() = StatusCode::PRECONDITION_FAILED;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
        .headers_mut()
        .insert(ETAG, HeaderValue::from_static("\"7\""));
    let c = own_conflict(&response);
    assert_eq!(c.current(), Version::new(7));
    assert_eq!(c.kind(), ConflictKind::Stale);
    assert_eq!(c.key(), "k");

    // Without any ETag: a Missing conflict.
    response.headers_mut().remove(ETAG);
    let c = own_conflict(&response);
    assert_eq!(c.current(), None);
    assert_eq!(c.kind(), ConflictKind::Missing);
}

// ---------------------------------------------------------------------------------------------
// End to end on the memory store
// ---------------------------------------------------------------------------------------------

/// A guarded PUT as a handler would write it, on the sync API.
fn guarded_put(
    store: &MemoryStore<String>,
    key: &str,
    headers: &HeaderMap,
    body: &str,
) -> Result<Version, Rejection> {
    let pre = Preconditions::from_headers(headers)?;
    guard(&Method::PUT, &pre, &PreconditionPolicy::default()).gate()?;
    let expect = match pre.write_condition() {
        WriteCondition::None => Expect::Any,
        WriteCondition::Enforce(expect) => expect,
        WriteCondition::NeedsCurrent => {
            expect_for(&pre, key, store.head_sync(key).as_ref())?.unwrap_or(Expect::Any)
        }
    };
    store
        .put_sync(key, body.to_owned(), expect)
        .map(|m| m.version)
        .map_err(|e| Rejection::from_store_error(e, &Method::PUT, Origin::Header))
}

fn if_match(v: Version) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("if-match", v.header_value());
    h
}

#[test]
fn lost_update_is_412_and_the_client_can_reconcile() {
    let store = MemoryStore::new();
    let mut create = HeaderMap::new();
    create.insert("if-none-match", HeaderValue::from_static("*"));
    let v1 = guarded_put(&store, "doc", &create, "a").unwrap();

    // Creating again: 412 (If-None-Match: * failed in the CAS), ETag of the existing one.
    let response = guarded_put(&store, "doc", &create, "again")
        .unwrap_err()
        .into_http_response();
    check_problem("create again", &response, 412);
    assert_eq!(etag_of(&response), Some(v1.etag()));
    assert_eq!(own_conflict(&response).kind(), ConflictKind::AlreadyExists);

    // No precondition: 428.
    let response = guarded_put(&store, "doc", &HeaderMap::new(), "blind")
        .unwrap_err()
        .into_http_response();
    check_problem("blind write", &response, 428);

    // Two clients read v1; the first wins, the second gets 412 with the winner's ETag.
    let v2 = guarded_put(&store, "doc", &if_match(v1), "alice").unwrap();
    let response = guarded_put(&store, "doc", &if_match(v1), "bob")
        .unwrap_err()
        .into_http_response();
    check_problem("lost update", &response, 412);
    assert_eq!(etag_of(&response), Some(v2.etag()));
    let conflict = own_conflict(&response);
    assert_eq!(conflict.kind(), ConflictKind::Stale);
    assert_eq!(conflict.current(), Some(v2));
    assert_eq!(conflict.expected(), &Expect::Version(v1));
    assert_eq!(store.get_sync("doc").unwrap().value, "alice");

    // Bob reconciles with the current ETag from the 412 and succeeds.
    let v3 = guarded_put(&store, "doc", &if_match(conflict.current().unwrap()), "bob").unwrap();
    assert!(v3 > v2);
    assert_eq!(store.get_sync("doc").unwrap().value, "bob");
}

#[test]
fn no_aba_a_tag_from_a_deleted_incarnation_fails() {
    let store = MemoryStore::new();
    let old = store
        .put_sync("doc", "a".to_string(), Expect::Absent)
        .unwrap()
        .version;
    store.delete_sync("doc", Expect::Version(old)).unwrap();

    // While deleted: 412 without ETag on PUT, 404 on DELETE.
    let response = guarded_put(&store, "doc", &if_match(old), "x")
        .unwrap_err()
        .into_http_response();
    check_problem("deleted", &response, 412);
    assert!(response.headers().get(ETAG).is_none());
    let err = store.delete_sync("doc", Expect::Version(old)).unwrap_err();
    assert_eq!(
        Rejection::from_store_error(err, &Method::DELETE, Origin::Header).status(),
        404
    );

    // Re-created: the old tag is stale, the 412 carries the new incarnation's ETag.
    let new = store
        .put_sync("doc", "b".to_string(), Expect::Absent)
        .unwrap()
        .version;
    assert_ne!(new, old);
    let response = guarded_put(&store, "doc", &if_match(old), "x")
        .unwrap_err()
        .into_http_response();
    check_problem("re-created", &response, 412);
    assert_eq!(etag_of(&response), Some(new.etag()));
    assert_eq!(store.get_sync("doc").unwrap().value, "b");
}

#[test]
fn conflict_display_and_problem_agree() {
    // The problem body of a 409 is built from the conflict: same key, same current tag.
    let c = Conflict::new(
        "user:1",
        Expect::Version(Version::new(8).unwrap()),
        Version::new(9),
    );
    let rejection = Rejection::conflict(c.clone());
    let problem = rejection.problem().unwrap();
    assert_eq!(problem.key.as_deref(), Some("user:1"));
    assert_eq!(problem.current_etag, c.current_etag());
    assert_eq!(problem.conflict, Some(ConflictKind::Stale));
    let reported = ReportedConflict::from_problem(&problem, StatusCode::CONFLICT, None).unwrap();
    assert_eq!(reported.to_conflict(), Some(c));
    assert!(rejection.to_string().starts_with("409 Conflict"));
}
