//! Hostile HTTP input against `optimist serve` (memory store) over real TCP: oversized and
//! malformed heads, a 10,000-tag `If-Match`, bodies that are not UTF-8 or nest 100,000 deep,
//! keys that are not UTF-8 or percent-encoded garbage, a 10 MB body, and slow clients.
//!
//! Each gets a clear 4xx and the server stays up; after every one, the stored user is checked
//! to be exactly as it was (same document, same ETag). Where hyper refuses a request before
//! the users API sees it (a head over the size limit, a malformed request line or header),
//! the answer is hyper's bare 4xx without a problem body; every answer of our own code is
//! `application/problem+json`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// The user every test keeps checking.
fn alice() -> Value {
    json!({"username": "alice", "email": "alice@example.com", "n": 1})
}

/// A server with `alice` stored; her ETag.
fn with_alice(extra: &[&str]) -> (Server, String) {
    let server = Server::start_with(extra);
    let etag = create(&server, &alice());
    (server, etag)
}

/// `alice` is still exactly as created, and a normal request still works.
#[track_caller]
fn intact(server: &Server, etag: &str) {
    assert_unchanged(server, "alice", &alice(), etag);
}

/// A bare request head for `GET /api/users/alice` with `extra` header lines.
fn get_alice_with(extra: &str) -> Vec<u8> {
    format!("GET /api/users/alice HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n")
        .into_bytes()
}

/// Asserts a 4xx; returns the status.
#[track_caller]
fn client_error(response: &Response) -> u16 {
    assert!(
        (400..500).contains(&response.status),
        "{}: expected a 4xx, got {} {:?} {}",
        response.context,
        response.status_line,
        response.headers,
        response.text()
    );
    response.status
}

// ------------------------------------------------------------------ oversized heads

#[test]
fn oversized_heads_are_431_and_the_server_stays_up() {
    let (server, etag) = with_alice(&[]);

    // A 100 KB header value: over the 64 KiB head limit.
    let big = format!("X-Big: {}\r\n", "a".repeat(100_000));
    let response = send_raw_lenient(server.addr(), get_alice_with(&big), "GET")
        .expect("a response to a 100 KB header");
    response.assert_status(431);
    intact(&server, &etag);

    // 1,000 headers of 20 bytes (20 KB, under the size limit): over hyper's 100 headers.
    let many: String = (0..1000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let response = send_raw_lenient(server.addr(), get_alice_with(&many), "GET")
        .expect("a response to 1,000 headers");
    response.assert_status(431);
    intact(&server, &etag);

    // A 100 KB request target.
    let path = format!("/api/users/{}", "a".repeat(100_000));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let response = send_raw_lenient(server.addr(), request.into_bytes(), "GET")
        .expect("a response to a 100 KB path");
    assert!(
        matches!(response.status, 414 | 431),
        "{:?}",
        response.status_line
    );
    intact(&server, &etag);

    // The same limits on a write: a PUT with a 100 KB header changes nothing.
    let body = json!({"username": "alice", "n": 2}).to_string();
    let request = format!(
        "PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIf-Match: {etag}\r\n\
         {big}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send_raw_lenient(server.addr(), request.into_bytes(), "PUT")
        .expect("a response")
        .assert_status(431);
    intact(&server, &etag);

    // Just under the limit (a 50 KB header) is served normally.
    let response = send_raw(
        server.addr(),
        &get_alice_with(&format!("X-Big: {}\r\n", "a".repeat(50_000))),
        "GET",
    );
    response.assert_status(200);
    assert_eq!(response.json(), alice());
}

// ------------------------------------------------------------------ malformed heads

#[test]
fn malformed_request_lines_and_headers_are_400() {
    let (server, etag) = with_alice(&[]);
    let cases: &[(&str, &[u8])] = &[
        ("garbage request line", b"GARBAGE\r\n\r\n"),
        ("no target", b"GET\r\n\r\n"),
        ("no version", b"GET /api/users/alice\r\nHost: x\r\n\r\n"),
        ("bad version", b"GET /api/users/alice HTTP/9.9\r\nHost: x\r\n\r\n"),
        ("space in target", b"GET /api/users/al ice HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("raw non-ASCII target", b"GET /api/users/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("NUL in target", b"GET /api/users/a\0b HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("header without colon", b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
        ("space in header name", b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n"),
        ("empty header name", b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n"),
        ("NUL in header value", b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n"),
        ("control char in header value", b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"),
        ("obsolete line folding", b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\n\r\n"),
        ("bare CR", b"GET /api/users/alice HTTP/1.1\rHost: x\r\n\r\n"),
        ("non-numeric Content-Length", b"PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
        ("negative Content-Length", b"PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"),
        ("conflicting Content-Lengths", b"PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        ("unknown transfer coding", b"PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        ("bad chunk size", b"PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIf-Match: *\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
    ];
    let mut seen = Vec::new();
    for (what, bytes) in cases {
        let method = std::str::from_utf8(&bytes[..3]).unwrap_or("GET");
        let response = send_raw_lenient(server.addr(), bytes.to_vec(), method)
            .unwrap_or_else(|| panic!("{what}: the connection closed without a response"));
        response.assert_status(400);
        let problem = response.media_type().as_deref() == Some("application/problem+json");
        if problem {
            response.problem(400); // ours (the body), not hyper's (the head)
        }
        seen.push(format!(
            "{what}: 400{}",
            if problem { " problem+json" } else { "" }
        ));
        intact(&server, &etag);
    }
    eprintln!("malformed heads: {seen:#?}");
}

/// Request smuggling shapes: `Content-Length` together with `Transfer-Encoding: chunked`.
/// Whatever hyper decides, the hidden second request must not run.
#[test]
fn content_length_with_chunked_does_not_smuggle_a_request() {
    let (server, etag) = with_alice(&[]);
    let smuggled = format!(
        "PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nIf-Match: {etag}\r\n\
         Content-Type: application/json\r\nContent-Length: 40\r\n\r\n\
         {{\"username\":\"alice\",\"smuggled\":true}}"
    );
    let request = format!(
        "POST /api/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
    );
    let response =
        send_raw_lenient(server.addr(), request.into_bytes(), "POST").expect("a response");
    client_error(&response);
    intact(&server, &etag);
}

// ------------------------------------------------------------------ If-Match lists

#[test]
fn ten_thousand_tag_if_match() {
    let (server, etag) = with_alice(&[]);
    let put = |if_match: &str, n: u64| {
        server
            .request("PUT", "/api/users/alice")
            .header("If-Match", if_match)
            .json(&json!({"username": "alice", "email": "alice@example.com", "n": n}))
            .send()
    };
    let others = vec!["\"x\""; 9_999].join(",");

    // 10,000 valid tags, none current: 412 with the current ETag.
    let none = format!("{others},\"y\"");
    put(&none, 2).conflict(412, &etag);
    intact(&server, &etag);

    // The same list split over 10 header lines.
    let lines: String = vec!["\"x\""; 10_000]
        .chunks(1_000)
        .map(|c| format!("If-Match: {}\r\n", c.join(",")))
        .collect();
    let body = json!({"username": "alice", "n": 3}).to_string();
    let request = format!(
        "PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{lines}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send_raw(server.addr(), request.as_bytes(), "PUT").conflict(412, &etag);
    intact(&server, &etag);

    // 10,000 tags, malformed (unquoted) at the end, or all of them: 400, nothing stored.
    put(&format!("{others},y"), 4).problem(400);
    put(&vec!["x"; 10_000].join(","), 4).problem(400);
    // Weak tags never match in If-Match (strong comparison): 412.
    put(&vec![format!("W/{etag}"); 5_000].join(","), 4).conflict(412, &etag);
    intact(&server, &etag);

    // Over the head limit (20,000 tags, 80 KB): 431 from hyper.
    let huge = format!("{},{etag}", vec!["\"x\""; 20_000].join(","));
    let request = format!(
        "PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIf-Match: {huge}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    send_raw_lenient(server.addr(), request.into_bytes(), "PUT")
        .expect("a response")
        .assert_status(431);
    intact(&server, &etag);

    // The current tag last of 10,000: 200, written once.
    let last = format!("{others},{etag}");
    let response = put(&last, 5);
    response.assert_status(200);
    let new_etag = response.etag();
    assert_ne!(new_etag, etag);
    let (doc, now) = fetch(&server, "alice");
    assert_eq!(now, new_etag);
    assert_eq!(doc["n"], 5);
    // The old tag last of 10,000 is now stale: 412.
    put(&last, 6).conflict(412, &new_etag);
}

/// Bytes above 0x7F in `If-Match` / `If-None-Match`: inside quotes they are `obs-text`, which
/// RFC 9110 (8.8.3) allows in an entity-tag, so such an `If-Match` list is valid and never
/// matches ours (412); unquoted they are no entity-tag at all (400, for either header).
#[test]
fn non_ascii_precondition_values() {
    let (server, etag) = with_alice(&[]);
    let cases: [(&str, &[u8], u16); 8] = [
        ("If-Match", b"\"\xff\"", 412),
        ("If-Match", b"\"a\xe2\x80\x8b\"", 412), // a zero-width space inside the quotes
        ("If-Match", b"\xc3\xa9", 400),
        ("If-Match", b"\"1\", \xff", 400),
        ("If-Match", b"W/\xff", 400),
        ("If-None-Match", b"\xc3\xa9", 400),
        ("If-None-Match", b"\"1\", \xff", 400),
        ("If-None-Match", b"W/\xff", 400),
    ];
    for (header, value, status) in cases {
        let mut request = format!(
            "PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: 20\r\n{header}: "
        )
        .into_bytes();
        request.extend_from_slice(value);
        request.extend_from_slice(b"\r\n\r\n{\"username\":\"alice\"}");
        let response = send_raw(server.addr(), &request, "PUT");
        if status == 412 {
            response.conflict(412, &etag);
        } else {
            response.problem(status);
        }
        intact(&server, &etag);
    }
}

// ------------------------------------------------------------------ bodies

#[test]
fn invalid_utf8_in_json_bodies_is_400() {
    let (server, etag) = with_alice(&[]);
    let invalid: [&[u8]; 5] = [
        b"\xff",             // never valid
        b"\xc3\x28",         // a lead byte without its continuation
        b"\xed\xa0\x80",     // an encoded surrogate
        b"\xc0\xaf",         // an overlong '/'
        b"\xf4\x90\x80\x80", // above U+10FFFF
    ];
    let with = |before: &[u8], bytes: &[u8], after: &[u8]| [before, bytes, after].concat();
    for bytes in invalid {
        // In a string value, and in a member name.
        for body in [
            with(b"{\"username\":\"bob\",\"x\":\"", bytes, b"\"}"),
            with(b"{\"username\":\"bob\",\"", bytes, b"\":1}"),
        ] {
            server
                .request("POST", "/api/users")
                .typed_body("application/json", &body)
                .send()
                .problem(400);
        }
        assert_absent(&server, "bob");
        server
            .request("PUT", "/api/users/alice")
            .header("If-Match", &etag)
            .typed_body(
                "application/json",
                with(b"{\"username\":\"alice\",\"x\":\"", bytes, b"\"}"),
            )
            .send()
            .problem(400);
        server
            .request("PATCH", "/api/users/alice")
            .header("If-Match", &etag)
            .typed_body(
                "application/merge-patch+json",
                with(b"{\"x\":\"", bytes, b"\"}"),
            )
            .send()
            .problem(400);
        intact(&server, &etag);
    }
    // Valid UTF-8 that is still not acceptable JSON text: a lone surrogate escape (no
    // Unicode scalar value), a byte order mark before the document.
    for body in [
        &br#"{"username":"bob","x":"\ud800"}"#[..],
        b"\xef\xbb\xbf{\"username\":\"bob\"}",
    ] {
        server
            .request("POST", "/api/users")
            .typed_body("application/json", body)
            .send()
            .problem(400);
        assert_absent(&server, "bob");
    }
    intact(&server, &etag);
}

#[test]
fn deeply_nested_json_is_400_without_a_stack_overflow() {
    let (server, etag) = with_alice(&[]);
    let deep_arrays = "[".repeat(100_000);
    let deep_closed = format!("{}{}", "[".repeat(50_000), "]".repeat(50_000));
    let deep_objects = format!(
        "{{\"username\":\"bob\",\"x\":{}1{}}}",
        "{\"a\":".repeat(30_000),
        "}".repeat(30_000)
    );
    for body in [&deep_arrays, &deep_closed, &deep_objects] {
        server
            .request("POST", "/api/users")
            .typed_body("application/json", body)
            .send()
            .problem(400);
        server
            .request("PUT", "/api/users/alice")
            .header("If-Match", &etag)
            .typed_body("application/json", body)
            .send()
            .problem(400);
        server
            .request("PATCH", "/api/users/alice")
            .header("If-Match", &etag)
            .typed_body("application/merge-patch+json", body)
            .send()
            .problem(400);
        // The server survived: a normal request works and nothing changed.
        intact(&server, &etag);
        assert_absent(&server, "bob");
    }
}

#[test]
fn ten_megabyte_bodies_are_413() {
    let (server, etag) = with_alice(&[]);
    let padding = "x".repeat(10 << 20);
    let body = format!("{{\"username\":\"bob\",\"p\":\"{padding}\"}}");
    // Declared with Content-Length: refused before the body is read.
    let mut request = format!(
        "POST /api/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    let response = send_raw_lenient(server.addr(), request, "POST").expect("a response");
    response.problem(413);
    assert_absent(&server, "bob");

    // Chunked, so the size shows only while reading; a PUT.
    let mut request = format!(
        "PUT /api/users/alice HTTP/1.1\r\nHost: x\r\nConnection: close\r\nIf-Match: {etag}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    let put = format!("{{\"username\":\"alice\",\"p\":\"{padding}\"}}");
    for chunk in put.as_bytes().chunks(256 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = send_raw_lenient(server.addr(), request, "PUT").expect("a response");
    response.problem(413);
    intact(&server, &etag);
}

// ------------------------------------------------------------------ keys

#[test]
fn invalid_utf8_and_percent_garbage_in_keys_are_problems() {
    let (server, etag) = with_alice(&[]);
    // (path segment, status for GET, status for PUT)
    let cases = [
        ("%FF", 400, 400),       // not UTF-8 once decoded
        ("%C3%28", 400, 400),    // an invalid two-byte sequence
        ("%ED%A0%80", 400, 400), // an encoded surrogate
        ("%C0%AF", 400, 400),    // an overlong '/'
        ("alice%00", 404, 422),  // NUL: decodes, but no valid username
        ("a%2Fb", 404, 422),     // an encoded slash
        ("%ZZ", 404, 422),       // not a percent escape: kept as is
        ("%", 404, 422),         // a lone percent sign
        ("%E2%80%AE", 404, 422), // right-to-left override: valid UTF-8, invalid name
        ("..", 404, 422),        // dot segments stay a name here
        ("%2E%2E", 404, 422),
    ];
    for (segment, get_status, put_status) in cases {
        let path = format!("/api/users/{segment}");
        let response = server.get(&path).send();
        response.problem(get_status);
        let response = server
            .request("PUT", &path)
            .header("If-None-Match", "*")
            .json(&json!({"username": "alice"}))
            .send();
        response.problem(put_status);
        let response = server
            .request("DELETE", &path)
            .header("If-Match", &etag)
            .send();
        let status = client_error(&response);
        response.problem(status);
        intact(&server, &etag);
    }
    // A 64-character name is the longest; 65 is refused.
    let long = "a".repeat(65);
    server.get(&user_path(&long)).send().problem(404);
    server
        .request("PUT", &user_path(&long))
        .header("If-None-Match", "*")
        .json(&json!({"username": long}))
        .send()
        .problem(422);
    intact(&server, &etag);
}

// ------------------------------------------------------------------ slow clients

/// Sends `bytes` one at a time, `pause` apart, until the server closes the connection or
/// `give_up` passes. Returns whether the server closed it, and what it answered if anything.
fn drip(
    stream: &mut TcpStream,
    bytes: &[u8],
    pause: Duration,
    give_up: Duration,
) -> (bool, Vec<u8>) {
    let started = Instant::now();
    stream
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    for byte in bytes.iter().cycle() {
        if started.elapsed() > give_up {
            return (false, answer);
        }
        if stream.write_all(&[*byte]).is_err() {
            return (true, answer);
        }
        match stream.read(&mut buf) {
            Ok(0) => return (true, answer),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return (true, answer),
        }
        std::thread::sleep(pause);
    }
    unreachable!("cycle() never ends")
}

#[test]
fn a_slow_head_does_not_block_others_and_is_cut_off() {
    let (server, etag) = with_alice(&["--read-timeout", "1s"]);
    let addr = server.addr();
    // A client dripping a head that never ends (one header line after another).
    let slow = std::thread::spawn(move || {
        let mut stream = connect(addr);
        stream
            .write_all(b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        drip(
            &mut stream,
            b"X-Slow: z\r\n",
            Duration::from_millis(20),
            TIMEOUT,
        )
    });
    // Meanwhile others are served.
    for _ in 0..5 {
        intact(&server, &etag);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (closed, answer) = slow.join().unwrap();
    assert!(
        closed,
        "a head still incomplete after {TIMEOUT:?} must be cut off (--read-timeout 1s)"
    );
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "the slow client got {answer:?}"
    );

    // An idle connection that never sends a byte is closed too.
    let mut idle = connect(addr);
    let mut buf = [0u8; 64];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert!(
        n == 0 || buf.starts_with(b"HTTP/1.1 408"),
        "an idle connection got {:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    intact(&server, &etag);
}

#[test]
fn a_stalled_or_abandoned_body_stores_nothing() {
    let (server, etag) = with_alice(&["--read-timeout", "1s"]);
    let addr = server.addr();
    let full = json!({"username": "alice", "email": "alice@example.com", "n": 99}).to_string();
    // (POST takes no If-Match: its target, /api/users, has no representation to match.)
    let head = |method: &str, path: &str| {
        let condition = if method == "POST" {
            String::new()
        } else {
            format!("If-Match: {etag}\r\n")
        };
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{condition}\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            full.len()
        )
    };

    // Half the body, then silence: 408 once the read timeout passes; nothing stored.
    for (method, path) in [("PUT", "/api/users/alice"), ("POST", "/api/users")] {
        let body = if method == "POST" {
            full.replace("alice", "carol")
        } else {
            full.clone()
        };
        let mut stream = connect(addr);
        stream.write_all(head(method, path).as_bytes()).unwrap();
        stream
            .write_all(&body.as_bytes()[..body.len() / 2])
            .unwrap();
        // Another client is served while this one stalls.
        intact(&server, &etag);
        let response = read_response(&mut stream, method, "stalled body");
        response.problem(408);
        intact(&server, &etag);
        assert_absent(&server, "carol");
    }

    // Half the body, then the client goes away (closes, or only stops sending).
    for how in [Shutdown::Both, Shutdown::Write] {
        let mut stream = connect(addr);
        stream
            .write_all(head("PUT", "/api/users/alice").as_bytes())
            .unwrap();
        stream
            .write_all(&full.as_bytes()[..full.len() / 2])
            .unwrap();
        stream.shutdown(how).unwrap();
        if how == Shutdown::Write {
            let mut raw = Vec::new();
            let _ = stream.read_to_end(&mut raw);
            let text = String::from_utf8_lossy(&raw);
            assert!(
                raw.is_empty() || text.starts_with("HTTP/1.1 400"),
                "a truncated body got {text:?}"
            );
        }
        intact(&server, &etag);
    }

    // A body that is slow but arrives within the limit is fine.
    let mut stream = connect(addr);
    let head =
        head("PUT", "/api/users/alice").replace("Host: x\r\n", "Host: x\r\nConnection: close\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    for piece in full.as_bytes().chunks(full.len() / 3 + 1) {
        stream.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let response = read_response(&mut stream, "PUT", "slow body within the limit");
    response.assert_status(200);
    let (doc, _) = fetch(&server, "alice");
    assert_eq!(doc["n"], 99);
}

/// SIGTERM while a client is halfway through a head (and another sits idle): the server
/// finishes within the read timeout instead of waiting for them forever.
#[test]
fn a_slow_client_does_not_hold_up_shutdown() {
    let (mut server, _) = with_alice(&["--read-timeout", "1s"]);
    let mut slow = connect(server.addr());
    slow.write_all(b"GET /api/users/alice HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let _idle = connect(server.addr());
    std::thread::sleep(Duration::from_millis(100));
    // `terminate` fails the test if the process has not exited within TIMEOUT (10 s).
    let status = server.terminate();
    assert!(status.success(), "{status}");
}
