//! Black-box tests of `optimist serve` over real TCP: the users API table of issue 3.
//!
//! Every test starts its own server (`--addr 127.0.0.1:0`) so tests are independent. Every
//! rejected write is followed by a GET asserting that the stored document and its ETag did
//! not change.

mod common;

use common::*;
use serde_json::{Value, json};

fn alice() -> Value {
    json!({"username": "alice", "email": "alice@example.com", "age": 30})
}

/// A server with `alice` created; returns the server and alice's ETag.
fn with_alice() -> (Server, String) {
    let server = Server::start();
    let etag = create(&server, &alice());
    (server, etag)
}

fn weak(etag: &str) -> String {
    format!("W/{etag}")
}

// ---------------------------------------------------------------- helpers' own checks

#[test]
fn http_dates_round_trip() {
    assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), 0);
    assert_eq!(
        parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        784_111_777
    );
    assert_eq!(
        shift_http_date("Sun, 01 Mar 2026 00:30:00 GMT", -3600),
        "Sat, 28 Feb 2026 23:30:00 GMT"
    );
}

// ---------------------------------------------------------------- POST /api/users

#[test]
fn post_creates_with_location_etag_and_document() {
    let server = Server::start();
    let doc = json!({"username": "john_doe", "email": "j@example.com", "tags": ["a", {"b": null}]});
    let response = server.request("POST", "/api/users").json(&doc).send();
    response.assert_status(201);
    assert_eq!(response.one_header("location"), "/api/users/john_doe");
    let etag = response.etag();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "a strong ETag: {etag}"
    );
    assert_eq!(response.media_type().as_deref(), Some("application/json"));
    assert_eq!(response.json(), doc);
    // GET returns the stored document with the same ETag.
    assert_unchanged(&server, "john_doe", &doc, &etag);

    // Content-Type parameters and case are accepted.
    let other = json!({"username": "A.b-C_9"});
    let response = server
        .request("POST", "/api/users")
        .typed_body("Application/JSON; charset=utf-8", other.to_string())
        .send();
    response.assert_status(201);
    assert_eq!(response.one_header("location"), "/api/users/A.b-C_9");
    assert_ne!(response.etag(), etag, "two documents, two ETags");
    assert_unchanged(&server, "A.b-C_9", &other, &response.etag());

    // A 64-character username is the longest allowed.
    let long = json!({"username": "x".repeat(64)});
    create(&server, &long);
}

#[test]
fn post_of_a_taken_username_is_409_and_changes_nothing() {
    let (server, etag) = with_alice();
    let response = server
        .request("POST", "/api/users")
        .json(&json!({"username": "alice", "email": "mallory@example.com"}))
        .send();
    let problem = response.conflict(409, &etag);
    assert_eq!(problem["field"], "username");
    assert!(response.header("location").is_none());
    assert_unchanged(&server, "alice", &alice(), &etag);
}

#[test]
fn post_bad_input() {
    let server = Server::start();
    let post = || server.request("POST", "/api/users");

    // Malformed JSON: 400.
    post()
        .typed_body("application/json", r#"{"username": "bob""#)
        .send()
        .problem(400);
    post()
        .typed_body("application/json", "")
        .send()
        .problem(400);
    post()
        .typed_body("application/json", b"{\"username\": \"b\xffb\"}")
        .send()
        .problem(400);

    // Valid JSON that is not an object: 422.
    for body in [json!(["bob"]), json!("bob"), json!(null), json!(42)] {
        post().json(&body).send().problem(422);
    }
    // Missing or invalid username: 422 naming the field.
    for body in [
        json!({"email": "bob@example.com"}),
        json!({"username": 5}),
        json!({"username": null}),
        json!({"username": ""}),
        json!({"username": "bob smith"}),
        json!({"username": "bob/smith"}),
        json!({"username": "jöhn"}),
        json!({"username": "x".repeat(65)}),
    ] {
        let problem = post().json(&body).send().problem(422);
        assert_eq!(problem["field"], "username", "{body}");
    }

    // Wrong or missing Content-Type: 415.
    let bob = json!({"username": "bob"}).to_string();
    post().typed_body("text/plain", &bob).send().problem(415);
    post()
        .typed_body("application/merge-patch+json", &bob)
        .send()
        .problem(415);
    post().body(&bob).send().problem(415);

    // Nothing was stored by any of these.
    for name in ["bob", "bob_smith", "x"] {
        assert_absent(&server, name);
    }
    // A rejected request leaves an existing user alone too.
    let etag = create(&server, &alice());
    post()
        .json(&json!({"username": "alice", "age": []}))
        .send()
        .conflict(409, &etag);
    post()
        .typed_body("text/plain", alice().to_string())
        .send()
        .problem(415);
    assert_unchanged(&server, "alice", &alice(), &etag);
}

// ---------------------------------------------------------------- GET / HEAD

#[test]
fn get_and_head_return_validators() {
    let (server, etag) = with_alice();
    let response = server.get("/api/users/alice").send();
    response.assert_status(200);
    assert_eq!(response.etag(), etag);
    assert_eq!(response.media_type().as_deref(), Some("application/json"));
    let last_modified = response.one_header("last-modified").to_owned();
    parse_http_date(&last_modified);
    assert_eq!(response.json(), alice());

    let head = server.request("HEAD", "/api/users/alice").send();
    head.assert_status(200);
    assert_eq!(head.etag(), etag);
    assert_eq!(head.one_header("last-modified"), last_modified);
    head.assert_no_body();
}

#[test]
fn get_and_head_of_a_missing_user_are_404() {
    let (server, _) = with_alice();
    let problem = server.get("/api/users/nobody").send().problem(404);
    assert!(problem["detail"].as_str().unwrap().contains("nobody"));
    // An impossible username is simply absent.
    server.get("/api/users/no%20body").send().problem(404);
    // Preconditions do not turn a 404 into something else.
    server
        .get("/api/users/nobody")
        .header("If-Match", "*")
        .send()
        .problem(404);
    server
        .get("/api/users/nobody")
        .header("If-None-Match", "*")
        .send()
        .problem(404);

    let head = server.request("HEAD", "/api/users/nobody").send();
    head.assert_status(404);
    head.assert_no_body();
    assert!(head.header("etag").is_none());
}

#[test]
fn conditional_get_if_none_match() {
    let (server, etag) = with_alice();
    let get = || server.get("/api/users/alice");
    let not_modified = |response: Response| {
        response.assert_status(304);
        assert_eq!(response.etag(), etag);
        response.assert_no_body();
    };
    // Strong, weak (weak comparison), in a list, on a second header line, and `*`.
    not_modified(get().header("If-None-Match", &etag).send());
    not_modified(get().header("If-None-Match", weak(&etag)).send());
    not_modified(
        get()
            .header("If-None-Match", format!("\"nope\", {etag}, W/\"1\""))
            .send(),
    );
    not_modified(
        get()
            .header("If-None-Match", "\"nope\"")
            .header("If-None-Match", &etag)
            .send(),
    );
    not_modified(get().header("If-None-Match", "*").send());
    not_modified(
        server
            .request("HEAD", "/api/users/alice")
            .header("If-None-Match", &etag)
            .send(),
    );
    // A tag that does not match: 200 with the document.
    let response = get().header("If-None-Match", "\"nope\", W/\"1\"").send();
    response.assert_status(200);
    assert_eq!(response.etag(), etag);
    assert_eq!(response.json(), alice());
}

#[test]
fn conditional_get_if_modified_since() {
    let (server, etag) = with_alice();
    let last_modified = server
        .get("/api/users/alice")
        .send()
        .one_header("last-modified")
        .to_owned();
    let get = || server.get("/api/users/alice");

    let response = get().header("If-Modified-Since", &last_modified).send();
    response.assert_status(304);
    assert_eq!(response.etag(), etag);
    response.assert_no_body();

    let head = server
        .request("HEAD", "/api/users/alice")
        .header("If-Modified-Since", &last_modified)
        .send();
    head.assert_status(304);
    head.assert_no_body();

    let hour_before = shift_http_date(&last_modified, -3600);
    let response = get().header("If-Modified-Since", &hour_before).send();
    response.assert_status(200);
    assert_eq!(response.etag(), etag);
    assert_eq!(response.json(), alice());

    // An invalid date is ignored.
    get()
        .header("If-Modified-Since", "yesterday")
        .send()
        .assert_status(200);

    // If-None-Match takes precedence: a non-matching tag makes If-Modified-Since ignored.
    get()
        .header("If-None-Match", "\"nope\"")
        .header("If-Modified-Since", &last_modified)
        .send()
        .assert_status(200);
}

#[test]
fn conditional_get_if_match_and_if_unmodified_since() {
    let (server, etag) = with_alice();
    let last_modified = server
        .get("/api/users/alice")
        .send()
        .one_header("last-modified")
        .to_owned();
    let get = || server.get("/api/users/alice");
    let ok = |response: Response| {
        response.assert_status(200);
        assert_eq!(response.etag(), etag);
        assert_eq!(response.json(), alice());
    };

    ok(get().header("If-Match", &etag).send());
    ok(get().header("If-Match", "*").send());
    ok(get().header("If-Match", format!("\"nope\", {etag}")).send());
    get()
        .header("If-Match", "\"nope\"")
        .send()
        .conflict(412, &etag);
    // If-Match uses the strong comparison: a weak tag never matches.
    let problem = get()
        .header("If-Match", weak(&etag))
        .send()
        .conflict(412, &etag);
    assert_eq!(problem["header"], "If-Match");

    ok(get().header("If-Unmodified-Since", &last_modified).send());
    let hour_before = shift_http_date(&last_modified, -3600);
    let problem = get()
        .header("If-Unmodified-Since", &hour_before)
        .send()
        .conflict(412, &etag);
    assert_eq!(problem["header"], "If-Unmodified-Since");
    // A matching If-Match makes If-Unmodified-Since ignored (RFC 9110 13.2.2 step 2).
    ok(get()
        .header("If-Match", &etag)
        .header("If-Unmodified-Since", &hour_before)
        .send());
    // If-Match is evaluated before If-None-Match: 412, not 304.
    get()
        .header("If-Match", "\"nope\"")
        .header("If-None-Match", &etag)
        .send()
        .conflict(412, &etag);
    // Both true up to If-None-Match, which matches: 304.
    get()
        .header("If-Match", &etag)
        .header("If-None-Match", &etag)
        .send()
        .assert_status(304);
}

// ---------------------------------------------------------------- PUT

#[test]
fn put_without_a_precondition_is_428() {
    let (server, etag) = with_alice();
    let doc = json!({"username": "alice", "email": "new@example.com"});
    let response = server.request("PUT", "/api/users/alice").json(&doc).send();
    response.problem(428);
    assert_eq!(response.one_header("cache-control"), "no-store");
    assert_unchanged(&server, "alice", &alice(), &etag);

    // If-Modified-Since does not apply to writes.
    let response = server
        .request("PUT", "/api/users/alice")
        .header("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT")
        .json(&doc)
        .send();
    response.problem(428);
    assert_unchanged(&server, "alice", &alice(), &etag);

    // Also for a user that does not exist.
    let response = server
        .request("PUT", "/api/users/bob")
        .json(&json!({"username": "bob"}))
        .send();
    response.problem(428);
    assert_eq!(response.one_header("cache-control"), "no-store");
    assert_absent(&server, "bob");
}

#[test]
fn put_with_if_match() {
    let (server, etag) = with_alice();
    let put = || server.request("PUT", "/api/users/alice");
    let v2 = json!({"username": "alice", "email": "v2@example.com"});

    // Stale / unknown / weak tags: 412 with the current ETag, nothing stored.
    for tag in [
        "\"nope\"".to_owned(),
        "\"1\", \"2\"".to_owned(),
        weak(&etag),
    ] {
        let problem = put()
            .header("If-Match", &tag)
            .json(&v2)
            .send()
            .conflict(412, &etag);
        assert_eq!(problem["key"], "alice", "{tag}");
        assert_unchanged(&server, "alice", &alice(), &etag);
    }

    // The current ETag: 200 with the new ETag and the stored document.
    let response = put().header("If-Match", &etag).json(&v2).send();
    response.assert_status(200);
    let etag2 = response.etag();
    assert_ne!(etag2, etag);
    assert_eq!(response.json(), v2);
    assert_unchanged(&server, "alice", &v2, &etag2);

    // The old ETag is now stale.
    put()
        .header("If-Match", &etag)
        .json(&alice())
        .send()
        .conflict(412, &etag2);
    assert_unchanged(&server, "alice", &v2, &etag2);

    // Several header lines form one list.
    let v3 = json!({"username": "alice", "n": 3});
    let response = put()
        .header("If-Match", "\"nope\"")
        .header("If-Match", &etag2)
        .json(&v3)
        .send();
    response.assert_status(200);
    let etag3 = response.etag();
    assert_unchanged(&server, "alice", &v3, &etag3);

    // `*` matches any current representation.
    let v4 = json!({"username": "alice", "n": 4});
    let response = put().header("If-Match", "*").json(&v4).send();
    response.assert_status(200);
    assert_unchanged(&server, "alice", &v4, &response.etag());

    // If-Match on a user that does not exist: 412, and nothing is created.
    for tag in ["*", "\"1\""] {
        let response = server
            .request("PUT", "/api/users/bob")
            .header("If-Match", tag)
            .json(&json!({"username": "bob"}))
            .send();
        let problem = response.problem(412);
        assert!(response.header("etag").is_none());
        assert!(problem.get("current_etag").is_none(), "{problem}");
        assert_absent(&server, "bob");
    }
}

#[test]
fn put_with_if_none_match() {
    let (server, etag) = with_alice();

    // `If-None-Match: *` creates only: 201 for a new user...
    let bob = json!({"username": "bob", "email": "bob@example.com"});
    let response = server
        .request("PUT", "/api/users/bob")
        .header("If-None-Match", "*")
        .json(&bob)
        .send();
    response.assert_status(201);
    let bob_etag = response.etag();
    assert_eq!(response.json(), bob);
    assert_unchanged(&server, "bob", &bob, &bob_etag);

    // ...and 412 for an existing one.
    let response = server
        .request("PUT", "/api/users/alice")
        .header("If-None-Match", "*")
        .json(&json!({"username": "alice"}))
        .send();
    response.conflict(412, &etag);
    assert_unchanged(&server, "alice", &alice(), &etag);

    // If-None-Match with entity-tags alone cannot prevent a lost update: 428, and the
    // detail says what to send (issue 10).
    for tag in [etag.clone(), "\"nope\"".to_owned()] {
        let response = server
            .request("PUT", "/api/users/alice")
            .header("If-None-Match", &tag)
            .json(&json!({"username": "alice"}))
            .send();
        let problem = response.problem(428);
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("If-None-Match with entity-tags alone"),
            "{detail}"
        );
        assert_unchanged(&server, "alice", &alice(), &etag);
    }

    // With If-Match, a tag list is evaluated too: the current tag (weak comparison) is 412.
    for tag in [etag.clone(), weak(&etag), format!("\"nope\", {etag}")] {
        server
            .request("PUT", "/api/users/alice")
            .header("If-Match", &etag)
            .header("If-None-Match", &tag)
            .json(&json!({"username": "alice"}))
            .send()
            .conflict(412, &etag);
        assert_unchanged(&server, "alice", &alice(), &etag);
    }

    // With a tag that is not current: the write proceeds.
    let v2 = json!({"username": "alice", "v": 2});
    let response = server
        .request("PUT", "/api/users/alice")
        .header("If-Match", &etag)
        .header("If-None-Match", "\"nope\"")
        .json(&v2)
        .send();
    response.assert_status(200);
    assert_ne!(response.etag(), etag);
    assert_unchanged(&server, "alice", &v2, &response.etag());
}

#[test]
fn put_with_if_unmodified_since() {
    let (server, etag) = with_alice();
    let last_modified = server
        .get("/api/users/alice")
        .send()
        .one_header("last-modified")
        .to_owned();
    // A date alone cannot prevent a lost update (one-second granularity): 428, whatever
    // the date, and the detail says what to send instead (issue 10).
    for date in [
        shift_http_date(&last_modified, -3600),
        last_modified.clone(),
        shift_http_date(&last_modified, 3600),
    ] {
        let response = server
            .request("PUT", "/api/users/alice")
            .header("If-Unmodified-Since", &date)
            .json(&json!({"username": "alice"}))
            .send();
        let problem = response.problem(428);
        let detail = problem["detail"].as_str().unwrap();
        assert!(detail.contains("If-Match"), "{detail}");
        assert!(detail.contains("If-Unmodified-Since alone"), "{detail}");
        assert_unchanged(&server, "alice", &alice(), &etag);
    }

    // With the ETag in `_version` it is evaluated as well (with If-Match it would be
    // ignored, RFC 9110 13.2.2): an earlier date is 412...
    let put = |date: String, doc: &Value| {
        let mut doc = doc.clone();
        doc["_version"] = json!(etag);
        server
            .request("PUT", "/api/users/alice")
            .header("If-Unmodified-Since", date)
            .json(&doc)
            .send()
    };
    put(
        shift_http_date(&last_modified, -3600),
        &json!({"username": "alice"}),
    )
    .conflict(412, &etag);
    assert_unchanged(&server, "alice", &alice(), &etag);

    // ...and so is the second the resource was modified in: a write in that same second
    // could be lost, so the date (a weak validator) fails for a write (RFC 9110 8.8.2.2).
    put(last_modified.clone(), &json!({"username": "alice", "v": 1})).conflict(412, &etag);
    assert_unchanged(&server, "alice", &alice(), &etag);

    let v2 = json!({"username": "alice", "v": 2});
    let response = put(shift_http_date(&last_modified, 1), &v2);
    response.assert_status(200);
    assert_unchanged(&server, "alice", &v2, &response.etag());
}

#[test]
fn put_with_a_version_member() {
    let (server, etag) = with_alice();
    let put = |body: &Value| server.request("PUT", "/api/users/alice").json(body).send();

    // Stale `_version` (no conditional header): 409 with the current ETag.
    for stale in ["\"1\"", "\"nope\"", "not an etag"] {
        let problem = put(&json!({"username": "alice", "_version": stale})).conflict(409, &etag);
        assert_eq!(problem["key"], "alice");
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    // `_version` that is not a string: 422 naming it.
    for bad in [json!(1), json!(null), json!({"etag": etag}), json!([etag])] {
        let problem = put(&json!({"username": "alice", "_version": bad})).problem(422);
        assert_eq!(problem["field"], "_version", "{bad}");
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    // `_version` on a user that does not exist: 409, nothing created.
    server
        .request("PUT", "/api/users/bob")
        .json(&json!({"username": "bob", "_version": etag}))
        .send()
        .problem(409);
    assert_absent(&server, "bob");

    // The current ETag: 200; `_version` itself is not stored.
    let response = put(&json!({"username": "alice", "_version": etag, "v": 2}));
    response.assert_status(200);
    let etag2 = response.etag();
    assert_ne!(etag2, etag);
    let v2 = json!({"username": "alice", "v": 2});
    assert_eq!(response.json(), v2);
    assert_unchanged(&server, "alice", &v2, &etag2);

    // A conditional header takes precedence over `_version`: its failure is a 412.
    let response = server
        .request("PUT", "/api/users/alice")
        .header("If-Match", &etag)
        .json(&json!({"username": "alice", "_version": etag2}))
        .send();
    response.conflict(412, &etag2);
    assert_unchanged(&server, "alice", &v2, &etag2);
}

#[test]
fn put_bad_input() {
    let (server, etag) = with_alice();
    let put = || {
        server
            .request("PUT", "/api/users/alice")
            .header("If-Match", &etag)
    };

    put()
        .typed_body("application/json", "{\"username\": ")
        .send()
        .problem(400);
    for body in [json!([1]), json!("alice"), json!(null)] {
        put().json(&body).send().problem(422);
    }
    for body in [
        json!({"email": "x"}),
        json!({"username": 1}),
        json!({"username": "bob"}),
        json!({"username": "Alice"}),
    ] {
        let problem = put().json(&body).send().problem(422);
        assert_eq!(problem["field"], "username", "{body}");
    }
    put()
        .typed_body("text/plain", alice().to_string())
        .send()
        .problem(415);
    put()
        .typed_body("application/merge-patch+json", alice().to_string())
        .send()
        .problem(415);
    put().body(alice().to_string()).send().problem(415);
    assert_unchanged(&server, "alice", &alice(), &etag);

    // A path username that is not valid: 422, nothing created.
    let response = server
        .request("PUT", "/api/users/b%20b")
        .header("If-None-Match", "*")
        .json(&json!({"username": "b b"}))
        .send();
    assert_eq!(response.problem(422)["field"], "username");
    // Creating under another name than the body's: 422.
    let response = server
        .request("PUT", "/api/users/bob")
        .header("If-None-Match", "*")
        .json(&json!({"username": "carol"}))
        .send();
    assert_eq!(response.problem(422)["field"], "username");
    assert_absent(&server, "bob");
    assert_absent(&server, "carol");
}

// ---------------------------------------------------------------- PATCH

#[test]
fn patch_without_a_precondition_is_428() {
    let (server, etag) = with_alice();
    let response = server
        .request("PATCH", "/api/users/alice")
        .merge_patch(&json!({"email": null}))
        .send();
    response.problem(428);
    assert_eq!(response.one_header("cache-control"), "no-store");
    assert_unchanged(&server, "alice", &alice(), &etag);
}

#[test]
fn patch_merges_with_if_match() {
    let (server, etag) = with_alice();
    // `null` removes a member; other members are merged, recursively.
    let response = server
        .request("PATCH", "/api/users/alice")
        .header("If-Match", &etag)
        .merge_patch(&json!({"email": null, "age": 31, "address": {"city": "Oslo", "zip": null}}))
        .send();
    response.assert_status(200);
    let etag2 = response.etag();
    assert_ne!(etag2, etag);
    let expected = json!({"username": "alice", "age": 31, "address": {"city": "Oslo"}});
    assert_eq!(response.json(), expected);
    assert!(response.json().get("email").is_none());
    assert_unchanged(&server, "alice", &expected, &etag2);

    // Nested merge and removal.
    let response = server
        .request("PATCH", "/api/users/alice")
        .header("If-Match", &etag2)
        .merge_patch(&json!({"address": {"city": null, "street": "Main"}}))
        .send();
    response.assert_status(200);
    let etag3 = response.etag();
    let expected = json!({"username": "alice", "age": 31, "address": {"street": "Main"}});
    assert_eq!(response.json(), expected);
    assert_unchanged(&server, "alice", &expected, &etag3);

    // The stale ETag: 412 with the current one.
    server
        .request("PATCH", "/api/users/alice")
        .header("If-Match", &etag)
        .merge_patch(&json!({"age": 99}))
        .send()
        .conflict(412, &etag3);
    // A weak tag never matches If-Match.
    server
        .request("PATCH", "/api/users/alice")
        .header("If-Match", weak(&etag3))
        .merge_patch(&json!({"age": 99}))
        .send()
        .conflict(412, &etag3);
    assert_unchanged(&server, "alice", &expected, &etag3);

    // `If-Match: *` and a patch repeating the username are fine.
    let response = server
        .request("PATCH", "/api/users/alice")
        .header("If-Match", "*")
        .merge_patch(&json!({"username": "alice", "age": 32}))
        .send();
    response.assert_status(200);
    let expected = json!({"username": "alice", "age": 32, "address": {"street": "Main"}});
    assert_unchanged(&server, "alice", &expected, &response.etag());
}

#[test]
fn patch_with_if_none_match_and_if_unmodified_since() {
    let (server, etag) = with_alice();
    let patch = json!({"age": 40});
    // `If-None-Match: *` is lost-update-safe (create-only): false on an existing user, 412.
    server
        .request("PATCH", "/api/users/alice")
        .header("If-None-Match", "*")
        .merge_patch(&patch)
        .send()
        .conflict(412, &etag);
    // Tags or a date alone cannot prevent a lost update: 428 (issue 10).
    for tag in [etag.clone(), weak(&etag), "\"nope\"".to_owned()] {
        server
            .request("PATCH", "/api/users/alice")
            .header("If-None-Match", &tag)
            .merge_patch(&patch)
            .send()
            .problem(428);
        // With If-Match they are evaluated: the current tag is 412.
        if tag != "\"nope\"" {
            server
                .request("PATCH", "/api/users/alice")
                .header("If-Match", "*")
                .header("If-None-Match", &tag)
                .merge_patch(&patch)
                .send()
                .conflict(412, &etag);
        }
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    let last_modified = server
        .get("/api/users/alice")
        .send()
        .one_header("last-modified")
        .to_owned();
    let earlier = shift_http_date(&last_modified, -3600);
    server
        .request("PATCH", "/api/users/alice")
        .header("If-Unmodified-Since", &earlier)
        .merge_patch(&patch)
        .send()
        .problem(428);
    // With the ETag in `_version`, the date is evaluated too (RFC 9110 13.2.2).
    let mut with_version = patch.clone();
    with_version["_version"] = json!(etag);
    server
        .request("PATCH", "/api/users/alice")
        .header("If-Unmodified-Since", &earlier)
        .merge_patch(&with_version)
        .send()
        .conflict(412, &etag);
    assert_unchanged(&server, "alice", &alice(), &etag);

    // With If-Match, a tag that is not current: proceeds.
    let response = server
        .request("PATCH", "/api/users/alice")
        .header("If-Match", &etag)
        .header("If-None-Match", "\"nope\"")
        .merge_patch(&patch)
        .send();
    response.assert_status(200);
    let expected = json!({"username": "alice", "email": "alice@example.com", "age": 40});
    assert_unchanged(&server, "alice", &expected, &response.etag());
}

#[test]
fn patch_with_a_version_member() {
    let (server, etag) = with_alice();
    let patch = |body: &Value| {
        server
            .request("PATCH", "/api/users/alice")
            .merge_patch(body)
            .send()
    };
    // Stale: 409 with the current ETag.
    for stale in ["\"1\"", "garbage"] {
        let problem = patch(&json!({"_version": stale, "age": 1})).conflict(409, &etag);
        assert_eq!(problem["key"], "alice");
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    // Not a string: 422.
    for bad in [json!(7), json!(true), json!([etag])] {
        let problem = patch(&json!({"_version": bad, "age": 1})).problem(422);
        assert_eq!(problem["field"], "_version");
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    // Current: 200, `_version` not stored.
    let response = patch(&json!({"_version": etag, "age": 31}));
    response.assert_status(200);
    let etag2 = response.etag();
    assert_ne!(etag2, etag);
    let expected = json!({"username": "alice", "email": "alice@example.com", "age": 31});
    assert_eq!(response.json(), expected);
    assert_unchanged(&server, "alice", &expected, &etag2);
    // Now the first ETag is stale.
    patch(&json!({"_version": etag, "age": 32})).conflict(409, &etag2);
    assert_unchanged(&server, "alice", &expected, &etag2);
    // A conditional header takes precedence, as on PUT: `_version` is ignored, even one
    // that is not a string.
    let response = server
        .request("PATCH", "/api/users/alice")
        .header("If-Match", &etag2)
        .merge_patch(&json!({"_version": 7, "age": 33}))
        .send();
    response.assert_status(200);
    assert_eq!(response.json()["age"], 33);
    assert!(response.json().get("_version").is_none());
}

#[test]
fn patch_bad_input_and_missing_user() {
    let (server, etag) = with_alice();
    let patch = || {
        server
            .request("PATCH", "/api/users/alice")
            .header("If-Match", &etag)
    };
    // Changing or removing the username: 422.
    for body in [
        json!({"username": "bob"}),
        json!({"username": null}),
        json!({"username": 5}),
        json!({"username": "bad name"}),
    ] {
        let problem = patch().merge_patch(&body).send().problem(422);
        assert_eq!(problem["field"], "username", "{body}");
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    // A patch that is not an object replaces the document with a non-object: 422.
    for body in [json!(["x"]), json!("x"), json!(null), json!(1)] {
        patch().merge_patch(&body).send().problem(422);
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    // Malformed JSON: 400; JSON sent as application/json: 415.
    patch()
        .typed_body("application/merge-patch+json", "{\"age\": }")
        .send()
        .problem(400);
    patch()
        .typed_body("application/json", "{\"age\": 1}")
        .send()
        .problem(415);
    patch().body("{\"age\": 1}").send().problem(415);
    assert_unchanged(&server, "alice", &alice(), &etag);
    assert_absent(&server, "bob");

    // A user that does not exist: 404, nothing created.
    for tag in [etag.as_str(), "*"] {
        server
            .request("PATCH", "/api/users/bob")
            .header("If-Match", tag)
            .merge_patch(&json!({"username": "bob"}))
            .send()
            .problem(404);
    }
    server
        .request("PATCH", "/api/users/bob")
        .merge_patch(&json!({"_version": etag, "username": "bob"}))
        .send()
        .problem(404);
    assert_absent(&server, "bob");
}

// ---------------------------------------------------------------- DELETE

#[test]
fn delete_needs_if_match() {
    let (server, etag) = with_alice();
    let response = server.request("DELETE", "/api/users/alice").send();
    response.problem(428);
    assert_eq!(response.one_header("cache-control"), "no-store");
    assert_unchanged(&server, "alice", &alice(), &etag);

    for tag in ["\"nope\"".to_owned(), weak(&etag)] {
        server
            .request("DELETE", "/api/users/alice")
            .header("If-Match", &tag)
            .send()
            .conflict(412, &etag);
        assert_unchanged(&server, "alice", &alice(), &etag);
    }
    // If-None-Match with entity-tags alone cannot prevent a lost update: 428 (issue 10).
    server
        .request("DELETE", "/api/users/alice")
        .header("If-None-Match", &etag)
        .send()
        .problem(428);
    assert_unchanged(&server, "alice", &alice(), &etag);

    let response = server
        .request("DELETE", "/api/users/alice")
        .header("If-Match", &etag)
        .send();
    response.assert_status(204);
    response.assert_no_body();
    assert_absent(&server, "alice");

    // A user that does not exist (any more): 404.
    for tag in [etag.as_str(), "*"] {
        server
            .request("DELETE", "/api/users/alice")
            .header("If-Match", tag)
            .send()
            .problem(404);
    }
    server
        .request("DELETE", "/api/users/nobody")
        .header("If-Match", "\"1\"")
        .send()
        .problem(404);
    assert_absent(&server, "alice");
}

#[test]
fn recreated_user_does_not_accept_old_etags() {
    let (server, etag) = with_alice();
    server
        .request("DELETE", "/api/users/alice")
        .header("If-Match", &etag)
        .send()
        .assert_status(204);
    let etag2 = create(&server, &alice());
    assert_ne!(
        etag2, etag,
        "a re-created user must get a new ETag (no ABA)"
    );

    for method in ["PUT", "PATCH", "DELETE"] {
        let request = server
            .request(method, "/api/users/alice")
            .header("If-Match", &etag);
        let request = match method {
            "PUT" => request.json(&json!({"username": "alice", "v": "old"})),
            "PATCH" => request.merge_patch(&json!({"v": "old"})),
            _ => request,
        };
        request.send().conflict(412, &etag2);
        assert_unchanged(&server, "alice", &alice(), &etag2);
    }
    // The same with the ETag in `_version`: 409.
    server
        .request("PUT", "/api/users/alice")
        .json(&json!({"username": "alice", "_version": etag}))
        .send()
        .conflict(409, &etag2);
    assert_unchanged(&server, "alice", &alice(), &etag2);
    // And a GET conditioned on the old ETag is not a 304.
    server
        .get("/api/users/alice")
        .header("If-None-Match", &etag)
        .send()
        .assert_status(200);
}

// ---------------------------------------------------------------- malformed preconditions

#[test]
fn malformed_if_match_or_if_none_match_is_400() {
    let (server, etag) = with_alice();
    let malformed: [&[u8]; 7] = [
        b"nope",
        b"\"1\" \"2\"",
        b"*, \"1\"",
        b"*, *",
        b"\"unterminated",
        b"w/\"1\"",
        b"\"a\"b\"",
    ];
    for header in ["If-Match", "If-None-Match"] {
        for value in malformed {
            let what = format!("{header}: {}", value.escape_ascii());
            let problem = server
                .get("/api/users/alice")
                .header(header, value)
                .send()
                .problem(400);
            assert_eq!(problem["header"], header, "{what}");
            let head = server
                .request("HEAD", "/api/users/alice")
                .header(header, value)
                .send();
            head.assert_status(400);
            head.assert_no_body();
            server
                .request("PUT", "/api/users/alice")
                .header(header, value)
                .json(&json!({"username": "alice", "v": 2}))
                .send()
                .problem(400);
            server
                .request("PATCH", "/api/users/alice")
                .header(header, value)
                .merge_patch(&json!({"v": 2}))
                .send()
                .problem(400);
            server
                .request("DELETE", "/api/users/alice")
                .header(header, value)
                .send()
                .problem(400);
            // Valid on one line, malformed on the other: still 400.
            server
                .request("PUT", "/api/users/alice")
                .header(header, &etag)
                .header(header, value)
                .json(&json!({"username": "alice", "v": 2}))
                .send()
                .problem(400);
            // Even with a valid `_version`.
            server
                .request("PUT", "/api/users/alice")
                .header(header, value)
                .json(&json!({"username": "alice", "_version": etag}))
                .send()
                .problem(400);
            assert_unchanged(&server, "alice", &alice(), &etag);
            // Nor does it create anything.
            server
                .request("PUT", "/api/users/bob")
                .header(header, value)
                .json(&json!({"username": "bob"}))
                .send()
                .problem(400);
            assert_absent(&server, "bob");
        }
    }
}

// ---------------------------------------------------------------- body limits

#[test]
fn body_over_max_body_is_413() {
    let server = Server::start_with(&["--max-body", "64"]);
    // Exactly 64 bytes: accepted.
    let padding = 64 - json!({"username": "bob", "p": ""}).to_string().len();
    let fits = json!({"username": "bob", "p": "x".repeat(padding)});
    assert_eq!(fits.to_string().len(), 64);
    let etag = create(&server, &fits);

    // 65 bytes: 413, with Content-Length and with chunked transfer coding.
    let big = json!({"username": "carol", "p": "x".repeat(padding - 1)});
    assert_eq!(big.to_string().len(), 65);
    server
        .request("POST", "/api/users")
        .json(&big)
        .send()
        .problem(413);
    server
        .request("POST", "/api/users")
        .json(&big)
        .chunked()
        .send()
        .problem(413);
    assert_absent(&server, "carol");

    // A chunked body under the limit is fine.
    let small = json!({"username": "dave"});
    server
        .request("POST", "/api/users")
        .json(&small)
        .chunked()
        .send()
        .assert_status(201);

    // PUT and PATCH too; nothing changes.
    let big_bob = json!({"username": "bob", "p": "x".repeat(padding + 1)});
    server
        .request("PUT", "/api/users/bob")
        .header("If-Match", &etag)
        .json(&big_bob)
        .send()
        .problem(413);
    server
        .request("PATCH", "/api/users/bob")
        .header("If-Match", &etag)
        .merge_patch(&json!({"p": "x".repeat(100)}))
        .send()
        .problem(413);
    server
        .request("PATCH", "/api/users/bob")
        .header("If-Match", &etag)
        .merge_patch(&json!({"p": "x".repeat(100)}))
        .chunked()
        .send()
        .problem(413);
    assert_unchanged(&server, "bob", &fits, &etag);
}

#[test]
fn default_max_body_is_one_mebibyte() {
    let server = Server::start();
    let limit = 1 << 20;
    let padding = limit - json!({"username": "big", "p": ""}).to_string().len();
    let fits = json!({"username": "big", "p": "x".repeat(padding)});
    assert_eq!(fits.to_string().len(), limit);
    let etag = create(&server, &fits);
    assert_unchanged(&server, "big", &fits, &etag);

    // One byte more: 413, decided from Content-Length before the body is sent.
    let over = json!({"username": "bigger", "p": "x".repeat(padding - 2)});
    assert_eq!(over.to_string().len(), limit + 1);
    server
        .request("POST", "/api/users")
        .header("Expect", "100-continue")
        .json(&over)
        .send()
        .problem(413);
    assert_absent(&server, "bigger");
}

// ---------------------------------------------------------------- routing

#[test]
fn unknown_routes_are_404_and_wrong_methods_405() {
    let (server, etag) = with_alice();
    for path in ["/", "/api", "/api/user", "/api/users/alice/extra", "/nope"] {
        server.get(path).send().problem(404);
        server
            .request("POST", path)
            .json(&alice())
            .send()
            .problem(404);
    }

    let allow_of = |response: &Response| -> Vec<String> {
        let mut allowed: Vec<String> = response
            .header_all("allow")
            .iter()
            .flat_map(|v| v.split(','))
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect();
        allowed.sort();
        allowed
    };

    for method in ["PUT", "PATCH", "DELETE"] {
        let response = server.request(method, "/api/users").send();
        response.problem(405);
        assert_eq!(
            allow_of(&response),
            ["GET", "HEAD", "OPTIONS", "POST"],
            "{method} /api/users"
        );
    }
    let response = server
        .request("POST", "/api/users/alice")
        .json(&alice())
        .send();
    response.problem(405);
    let allowed = allow_of(&response);
    for method in ["DELETE", "GET", "HEAD", "PATCH", "PUT"] {
        assert!(
            allowed.iter().any(|m| m == method),
            "{method} in {allowed:?}"
        );
    }
    assert!(!allowed.iter().any(|m| m == "POST"), "{allowed:?}");
    assert_unchanged(&server, "alice", &alice(), &etag);
}

#[test]
fn a_path_that_is_not_utf8_is_a_problem() {
    // `%FF` decodes to a byte that is not UTF-8: a 400, as problem+json like every error.
    let (server, etag) = with_alice();
    server.get("/api/users/%FF").send().problem(400);
    let head = server.request("HEAD", "/api/users/%FF").send();
    head.assert_status(400);
    head.assert_no_body();
    for method in ["PUT", "PATCH", "DELETE"] {
        let request = server
            .request(method, "/api/users/%FF")
            .header("If-Match", &etag);
        let request = match method {
            "PUT" => request.json(&json!({"username": "alice"})),
            "PATCH" => request.merge_patch(&json!({"v": 1})),
            _ => request,
        };
        request.send().problem(400);
    }
    assert_unchanged(&server, "alice", &alice(), &etag);
}

#[test]
fn raw_request_with_repeated_and_unusual_headers() {
    let (server, etag) = with_alice();
    // Header names in any case; the `If-None-Match` list split over two lines.
    let request = format!(
        "GET /api/users/alice HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
         if-none-match: \"nope\",\r\nIF-NONE-MATCH: , {etag}\r\n\r\n"
    );
    let response = send_raw(server.addr(), request.as_bytes(), "GET");
    response.assert_status(304);
    assert_eq!(response.etag(), etag);
    response.assert_no_body();
}
