//! Data comes back exactly as stored, on every backend: numbers as sent, duplicate members
//! refused, and a write's response is the stored representation with its ETag.

mod common;

use common::*;

/// A document whose numbers `f64`/`i64`/`u64` cannot hold, compact and in a fixed order.
const EXACT: &str = concat!(
    r#"{"username":"numbers","big":12345678901234567890123,"below_i64":-9223372036854775809,"#,
    r#""above_u64":18446744073709551616,"tiny":1e-400,"huge":1E400,"minus_zero":-0,"#,
    r#""trailing":1.50,"exp":2.5e+3,"long":0.1000000000000000055511151231257827,"#,
    r#""nested":{"list":[-0.0,1e-7,99999999999999999999]}}"#
);

fn post_raw(server: &Server, body: &str) -> Response {
    server
        .request("POST", "/api/users")
        .typed_body("application/json", body)
        .send()
}

/// GET `username`: 200, its body bytes and ETag.
fn get_raw(server: &Server, username: &str) -> (String, String) {
    let (body, etag, _) = get_held(server, username);
    (body, etag)
}

/// What a client holds after a response: its body, ETag and Last-Modified.
fn held(response: &Response) -> (String, String, String) {
    (
        response.text(),
        response.etag(),
        response.one_header("last-modified").to_owned(),
    )
}

/// GET `username`: 200, and what it gives a client to hold.
fn get_held(server: &Server, username: &str) -> (String, String, String) {
    let response = server.get(&user_path(username)).send();
    response.assert_status(200);
    held(&response)
}

every_backend! {
    /// POST, PUT and PATCH keep every number's text; GET returns it unchanged.
    fn numbers_round_trip_exactly(server) {
        let created = post_raw(server, EXACT);
        created.assert_status(201);
        assert_eq!(created.text(), EXACT, "POST answered a changed document");
        assert_eq!(get_raw(server, "numbers").0, EXACT, "GET after POST");

        // PUT: whitespace goes, the numbers stay as written.
        let put_body = r#"{ "username" : "numbers", "n" : 123456789012345678901234567890.5e-3 }"#;
        let put = server
            .request("PUT", &user_path("numbers"))
            .header("If-Match", created.etag())
            .typed_body("application/json", put_body)
            .send();
        put.assert_status(200);
        let stored = r#"{"username":"numbers","n":123456789012345678901234567890.5e-3}"#;
        assert_eq!(put.text(), stored);
        assert_eq!(get_raw(server, "numbers").0, stored, "GET after PUT");

        // PATCH: merged members keep their text; new ones go last.
        let patch = server
            .request("PATCH", &user_path("numbers"))
            .header("If-Match", put.etag())
            .typed_body(
                "application/merge-patch+json",
                r#"{"m":-12345678901234567890123e-400,"n":1.000}"#,
            )
            .send();
        patch.assert_status(200);
        let patched = r#"{"username":"numbers","n":1.000,"m":-12345678901234567890123e-400}"#;
        assert_eq!(patch.text(), patched);
        assert_eq!(get_raw(server, "numbers").0, patched, "GET after PATCH");
    }

    /// Two members of one name, anywhere in the document (also two `_version`s): 422,
    /// nothing stored, nothing changed.
    fn duplicate_members_are_refused(server) {
        for body in [
            r#"{"username":"dup","username":"dup2"}"#,
            r#"{"username":"dup","a":1,"a":1}"#,
            r#"{"username":"dup","x":{"y":[{"k":1,"k":2}]}}"#,
        ] {
            let problem = post_raw(server, body).problem(422);
            assert!(problem["detail"].as_str().unwrap().contains("two members"), "{problem}");
        }
        assert_absent(server, "dup");
        assert_absent(server, "dup2");

        let doc = serde_json::json!({"username": "dup", "n": 1});
        let etag = create(server, &doc);
        let versions = format!(r#"{{"username":"dup","_version":{etag:?},"_version":{etag:?}}}"#);
        let put = server
            .request("PUT", &user_path("dup"))
            .typed_body("application/json", &versions)
            .send();
        assert_eq!(put.problem(422)["field"], "_version");
        let patch = server
            .request("PATCH", &user_path("dup"))
            .header("If-Match", &etag)
            .typed_body("application/merge-patch+json", r#"{"n":2,"z":{"q":1,"q":2}}"#)
            .send();
        patch.problem(422);
        let put = server
            .request("PUT", &user_path("dup"))
            .header("If-Match", &etag)
            .typed_body("application/json", r#"{"username":"dup","n":2,"n":3}"#)
            .send();
        put.problem(422);
        assert_unchanged(server, "dup", &doc, &etag);
    }

    /// A client that keeps a write's response body and validators holds exactly what a GET
    /// then returns (RFC 9110 9.3.4 with 8.7): the body is the stored representation, byte
    /// for byte, with its ETag and Last-Modified, and `Content-Location` says so.
    fn write_responses_are_the_stored_representation(server) {
        let sent = concat!(
            r#"{ "username":"kept", "name":"\u00e9t\u00e9", "#,
            r#""_version":"ignored-on-POST", "n":1.0 }"#
        );
        let post = post_raw(server, sent);
        post.assert_status(201);
        let mut kept = held(&post);
        assert_eq!(post.one_header("content-location"), "/api/users/kept");
        assert_eq!(get_held(server, "kept"), kept, "after POST");

        let put = server
            .request("PUT", &user_path("kept"))
            .typed_body(
                "application/json",
                format!(r#"{{"n":2.50,"_version":{:?},"username":"kept"}}"#, kept.1),
            )
            .send();
        put.assert_status(200);
        assert_eq!(put.one_header("content-location"), "/api/users/kept");
        assert!(!put.text().contains("_version"), "{}", put.text());
        kept = held(&put);
        assert_eq!(get_held(server, "kept"), kept, "after PUT");

        let patch = server
            .request("PATCH", &user_path("kept"))
            .header("If-Match", &kept.1)
            .typed_body("application/merge-patch+json", r#"{ "extra" : [ 1 , 2 ] }"#)
            .send();
        patch.assert_status(200);
        assert_eq!(patch.one_header("content-location"), "/api/users/kept");
        kept = held(&patch);
        assert_eq!(get_held(server, "kept"), kept, "after PATCH");

        // Create-only PUT: 201, the same promise.
        let created = server
            .request("PUT", &user_path("fresh"))
            .header("If-None-Match", "*")
            .typed_body("application/json", r#"{"username":"fresh",  "v":1e1}"#)
            .send();
        created.assert_status(201);
        assert_eq!(created.one_header("content-location"), "/api/users/fresh");
        assert_eq!(get_held(server, "fresh"), held(&created));
    }

    /// `.` and `..` are dot-segments (RFC 3986 5.2.4): no user may have them as a name.
    fn dot_segment_usernames_are_422(server) {
        for name in [".", ".."] {
            let body = serde_json::json!({ "username": name });
            let problem = server.request("POST", "/api/users").json(&body).send().problem(422);
            assert_eq!(problem["field"], "username");
            let put = server
                .request("PUT", &user_path(name))
                .header("If-None-Match", "*")
                .json(&body)
                .send();
            assert_eq!(put.problem(422)["field"], "username");
            server.get(&user_path(name)).send().problem(404);
        }
        // Dots elsewhere are fine.
        for name in ["...", ".a", "a..b"] {
            create(server, &serde_json::json!({ "username": name }));
        }
    }
}
