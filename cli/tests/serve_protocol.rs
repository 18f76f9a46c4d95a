//! The protocol edges of `optimist serve`, on every backend: codings, preconditions on POST,
//! `Host`, methods, HEAD/GET parity, caching, connection handling, and problem+json for
//! every error, including the ones hyper answers by itself.

mod common;

use common::*;
use serde_json::json;

fn bob() -> serde_json::Value {
    json!({"username": "bob", "n": 1})
}

/// The header fields of `response` but `Date`, lower-cased and sorted.
fn fields(response: &Response) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = response
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .filter(|(n, _)| n != "date")
        .collect();
    fields.sort();
    fields
}

/// The methods an `Allow` field lists, sorted.
fn allowed(response: &Response) -> Vec<String> {
    let mut methods: Vec<String> = response
        .header_all("allow")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect();
    methods.sort();
    methods
}

every_backend! {
    /// A body with a content coding the server does not decode is 415 with
    /// `Accept-Encoding` (RFC 9110 12.5.3, 15.5.16), on POST, PUT and PATCH; nothing stored.
    fn content_codings_are_415_with_accept_encoding(server) {
        let etag = create(server, &bob());
        for coding in ["gzip", "br", "x-unknown", "identity, gzip", "deflate"] {
            let post = server
                .request("POST", "/api/users")
                .header("Content-Encoding", coding)
                .json(&json!({"username": "carol"}))
                .send();
            post.problem(415);
            assert_eq!(post.one_header("accept-encoding"), "identity", "{coding}");
            let put = server
                .request("PUT", &user_path("bob"))
                .header("If-Match", &etag)
                .header("Content-Encoding", coding)
                .json(&json!({"username": "bob", "n": 2}))
                .send();
            put.problem(415);
            assert_eq!(put.one_header("accept-encoding"), "identity");
            let patch = server
                .request("PATCH", &user_path("bob"))
                .header("If-Match", &etag)
                .header("Content-Encoding", coding)
                .merge_patch(&json!({"n": 2}))
                .send();
            patch.problem(415);
            assert_eq!(patch.one_header("accept-encoding"), "identity");
        }
        assert_absent(server, "carol");
        assert_unchanged(server, "bob", &bob(), &etag);
        // `identity` is no coding at all.
        let post = server
            .request("POST", "/api/users")
            .header("Content-Encoding", "identity")
            .json(&json!({"username": "carol"}))
            .send();
        post.assert_status(201);
    }

    /// A transfer coding the server does not understand is 501 and the connection closes
    /// (RFC 9112 6.1); one that does not end in chunked cannot be framed: a 400 problem
    /// (RFC 9112 6.3). Nothing is stored.
    fn unknown_transfer_codings_are_501(server) {
        let body = r#"{"username":"carol"}"#;
        let chunked = format!("{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
        for coding in ["gzip, chunked", "x-custom, chunked"] {
            let request = format!(
                "POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                 Transfer-Encoding: {coding}\r\n\r\n{chunked}"
            );
            let response = send_raw(server.addr(), request.as_bytes(), "POST");
            response.problem(501);
            assert_eq!(response.one_header("connection"), "close");
        }
        let request = "POST /api/users HTTP/1.1\r\nHost: localhost\r\n\
                       Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n";
        send_raw(server.addr(), request.as_bytes(), "POST").problem(400);
        assert_absent(server, "carol");
    }

    /// POST evaluates its preconditions (RFC 9110 13.1.1) against its target, /api/users,
    /// which has no representation: a malformed one is 400, `If-Match` is 412, and neither
    /// writes; `If-None-Match` holds.
    fn post_evaluates_preconditions(server) {
        let post = |name: &str, header: &str, value: &str| {
            server
                .request("POST", "/api/users")
                .header(header, value)
                .json(&json!({ "username": name }))
                .send()
        };
        assert_eq!(post("p1", "If-Match", "not-a-tag").problem(400)["header"], "If-Match");
        post("p1", "If-None-Match", "\"a\" junk").problem(400);
        assert_eq!(post("p1", "If-Match", "*").problem(412)["header"], "If-Match");
        post("p1", "If-Match", "\"1\"").problem(412);
        assert_absent(server, "p1");
        post("p1", "If-None-Match", "*").assert_status(201);
        post("p2", "If-None-Match", "\"5\"").assert_status(201);
        post("p3", "If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT").assert_status(201);
        // A taken name is still the 409 of a create, not a precondition failure.
        post("p1", "If-None-Match", "*").problem(409);
    }

    /// An HTTP/1.1 request without `Host`, with two, or with an invalid one is 400
    /// (RFC 9112 3.2), and nothing is written.
    fn host_must_be_there_once(server) {
        let body = r#"{"username":"carol"}"#;
        let request = |hosts: &str| {
            format!(
                "POST /api/users HTTP/1.1\r\n{hosts}Content-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        };
        for hosts in [
            "",
            "Host: a\r\nHost: a\r\n",
            "Host: a\r\nHost: b\r\n",
            "Host: \r\n",
            "Host: a b\r\n",
            "Host: user@a\r\n",
        ] {
            let response = send_raw(server.addr(), request(hosts).as_bytes(), "POST");
            response.problem(400);
        }
        assert_absent(server, "carol");
        // HTTP/1.0 predates Host.
        let old = "GET /api/users/carol HTTP/1.0\r\n\r\n";
        send_raw(server.addr(), old.as_bytes(), "GET").problem(404);
    }

    /// RFC 9110 9.1: a method the server does not implement is 501; one a resource does not
    /// take is 405 with `Allow`. OPTIONS answers with `Allow` (and `Accept-Patch` where PATCH
    /// is allowed), the same lists as the 405s; a 415 on PATCH carries `Accept-Patch`
    /// (RFC 5789 2.2, 3.1).
    fn methods_501_405_and_options(server) {
        let etag = create(server, &bob());
        for method in ["FOO", "PROPFIND", "TRACE", "MKCOL"] {
            for path in ["/api/users", "/api/users/bob", "/nowhere"] {
                server.request(method, path).send().problem(501);
            }
        }
        let user_405 = server.request("POST", "/api/users/bob").json(&bob()).send();
        user_405.problem(405);
        let collection_405 = server.request("PUT", "/api/users").send();
        collection_405.problem(405);

        let user = server.request("OPTIONS", "/api/users/bob").send();
        user.assert_status(204);
        assert_eq!(allowed(&user), allowed(&user_405));
        assert_eq!(allowed(&user), ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "PUT"]);
        assert_eq!(user.one_header("accept-patch"), "application/merge-patch+json");
        // Preconditions are ignored for OPTIONS (RFC 9110 13.2.1); a user need not exist.
        let absent = server
            .request("OPTIONS", "/api/users/nobody")
            .header("If-Match", "\"1\"")
            .send();
        absent.assert_status(204);
        assert_eq!(allowed(&absent), allowed(&user));

        let collection = server.request("OPTIONS", "/api/users").send();
        collection.assert_status(204);
        assert_eq!(allowed(&collection), allowed(&collection_405));
        assert_eq!(allowed(&collection), ["GET", "HEAD", "OPTIONS", "POST"]);
        assert!(collection.header("accept-patch").is_none());

        let star = b"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        let star = send_raw(server.addr(), star, "OPTIONS");
        star.assert_status(204);
        assert_eq!(allowed(&star), ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]);

        let patch = server
            .request("PATCH", &user_path("bob"))
            .header("If-Match", &etag)
            .json(&json!({"n": 2}))
            .send();
        patch.problem(415);
        assert_eq!(patch.one_header("accept-patch"), "application/merge-patch+json");
        assert_unchanged(server, "bob", &bob(), &etag);
    }

    /// HEAD answers with the header fields GET would send, in every state (RFC 9110 9.3.2),
    /// a 304 included.
    fn head_and_get_carry_the_same_fields(server) {
        let etag = create(server, &bob());
        let cases: [(&str, &[(&str, &str)]); 6] = [
            ("bob", &[]),
            ("bob", &[("If-None-Match", etag.as_str())]),
            ("bob", &[("If-None-Match", "*")]),
            ("bob", &[("If-Match", "\"1\"")]),
            ("bob", &[("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")]),
            ("nobody", &[]),
        ];
        for (name, headers) in cases {
            let send = |method: &str| {
                let mut request = server.request(method, &user_path(name));
                for (n, v) in headers {
                    request = request.header(n, v);
                }
                request.send()
            };
            let (get, head) = (send("GET"), send("HEAD"));
            assert_eq!(get.status, head.status, "{name} {headers:?}");
            assert_eq!(fields(&get), fields(&head), "{name} {headers:?}: GET vs HEAD");
            head.assert_no_body();
        }
    }

    /// Reads tell caches to revalidate: `Cache-Control: no-cache` on 200, repeated on 304
    /// (RFC 9110 15.4.5), and on errors caches could store heuristically (404).
    fn reads_say_no_cache(server) {
        let etag = create(server, &bob());
        for method in ["GET", "HEAD"] {
            let ok = server.request(method, &user_path("bob")).send();
            ok.assert_status(200);
            assert_eq!(ok.one_header("cache-control"), "no-cache");
            let not_modified = server
                .request(method, &user_path("bob"))
                .header("If-None-Match", &etag)
                .send();
            not_modified.assert_status(304);
            assert_eq!(not_modified.one_header("cache-control"), "no-cache");
            let missing = server.request(method, &user_path("nobody")).send();
            missing.assert_status(404);
            assert_eq!(missing.one_header("cache-control"), "no-cache");
        }
        // A 428 keeps its own `no-store` (RFC 6585 3).
        let required = server.request("DELETE", &user_path("bob")).send();
        required.problem(428);
        assert_eq!(required.one_header("cache-control"), "no-store");
    }

    /// After a 413 or 408 the server says `Connection: close` and closes, though the client
    /// asked to keep the connection (RFC 9110 15.5.9, 15.5.14).
    fn connection_closes_after_408_and_413(server) {
        let small = serve_on(server.backend(), &["--max-body", "64", "--read-timeout", "1s"])
            .expect("the backend is there: this test runs");
        let big = format!(r#"{{"username":"carol","pad":"{}"}}"#, "x".repeat(100));
        let keep_alive = |body: &str, declared: usize| {
            format!(
                "POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                 Content-Length: {declared}\r\n\r\n{body}"
            )
        };
        // Declared too large; sent too large in chunks; sent half, then silence (408).
        let too_large = send_raw(small.addr(), keep_alive(&big, big.len()).as_bytes(), "POST");
        assert_eq!(too_large.problem(413)["title"], "Content Too Large");
        assert_eq!(too_large.one_header("connection"), "close");
        let chunked = format!(
            "POST /api/users HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{big}\r\n0\r\n\r\n",
            big.len()
        );
        let response = send_raw(small.addr(), chunked.as_bytes(), "POST");
        response.problem(413);
        assert_eq!(response.one_header("connection"), "close");
        let half = keep_alive(&big[..30], 60);
        let stalled = send_raw(small.addr(), half.as_bytes(), "POST");
        stalled.problem(408);
        assert_eq!(stalled.one_header("connection"), "close");
        assert_absent(&small, "carol");
    }

    /// Every error is problem+json with the RFC 9110 title, also the ones hyper answers
    /// before the service runs (a malformed or oversized head), and a 428's detail fits
    /// its method.
    fn every_error_is_problem_json(server) {
        let addr = server.addr();
        for head in [
            "GARBAGE\r\n\r\n".to_owned(),
            "GET /api/users/bob HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n".to_owned(),
            "GET /api/users/bob HTTP/9.9\r\nHost: a\r\n\r\n".to_owned(),
            "POST /api/users HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n".to_owned(),
            "POST /api/users HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n".to_owned(),
        ] {
            let response = send_raw_lenient(addr, head.clone().into_bytes(), "GET")
                .unwrap_or_else(|| panic!("no response to {head:?}"));
            let problem = response.problem(400);
            assert_eq!(problem["title"], "Bad Request", "{head:?}");
            assert_eq!(response.one_header("connection"), "close");
        }
        let pad = "p".repeat(70_000);
        let huge = format!("GET /api/users/bob HTTP/1.1\r\nHost: a\r\nX-Pad: {pad}\r\n\r\n");
        let response = send_raw_lenient(addr, huge.into_bytes(), "GET").expect("a response");
        assert_eq!(response.problem(431)["title"], "Request Header Fields Too Large");

        // After a good request on the same connection, the bad one still gets a problem.
        let two = b"GET /api/users/bob HTTP/1.1\r\nHost: a\r\n\r\nGARBAGE\r\n\r\n".to_vec();
        let first = send_raw_lenient(addr, two, "GET").expect("a response");
        first.problem(404);
        let rest = String::from_utf8_lossy(&first.trailing).into_owned();
        assert!(rest.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{rest:?}");
        assert!(rest.contains("application/problem+json"), "{rest:?}");

        let problem = server.request("POST", "/api/users").json(&json!([1])).send().problem(422);
        assert_eq!(problem["title"], "Unprocessable Content");
        let etag = create(server, &bob());
        let delete = server.request("DELETE", &user_path("bob")).send().problem(428);
        let detail = delete["detail"].as_str().unwrap();
        assert!(!detail.contains("create"), "{detail}");
        assert!(detail.contains("If-Match"), "{detail}");
        assert_unchanged(server, "bob", &bob(), &etag);
    }
}
