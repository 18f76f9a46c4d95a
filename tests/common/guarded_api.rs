//! The black-box scenario both example services (`examples/axum_guarded.rs`,
//! `examples/actix_guarded.rs`) must pass over real TCP: every status row of the documents
//! API, and a lost-update race of 8 clients x 25 increments that must end exact.

use std::net::SocketAddr;
use std::thread;

use serde_json::{Value, json};

use super::http_client::{Answer, send};

fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    send(addr, "GET", path, headers, None)
}

/// Every status the API answers, in the order a client meets them.
pub fn every_status(addr: SocketAddr) {
    let doc = "/docs/a";

    // POST creates: 201 with Location, ETag, Last-Modified and the document.
    let created = send(
        addr,
        "POST",
        "/docs",
        &[],
        Some(&json!({"id": "a", "n": 1})),
    );
    assert_eq!(created.status, 201, "{created:?}");
    assert_eq!(created.header("location"), doc);
    assert!(created.has("last-modified"));
    assert_eq!(created.json(), json!({"id": "a", "n": 1}));
    let v1 = created.etag();

    // A taken id: 409 naming the field, with the existing document's ETag.
    let taken = send(
        addr,
        "POST",
        "/docs",
        &[],
        Some(&json!({"id": "a", "n": 9})),
    );
    let problem = taken.problem(409);
    assert_eq!(problem["field"], "id");
    assert_eq!(problem["key"], "a");
    assert_eq!(problem["conflict"], "already_exists");
    assert_eq!(taken.etag(), v1);
    // No id: 422 naming it.
    let invalid = send(addr, "POST", "/docs", &[], Some(&json!({"n": 1})));
    assert_eq!(invalid.problem(422)["field"], "id");

    // GET and HEAD: the same validators.
    let read = get(addr, doc, &[]);
    assert_eq!(read.status, 200);
    assert_eq!(read.etag(), v1);
    assert_eq!(read.json(), json!({"id": "a", "n": 1}));
    let last_modified = read.header("last-modified").to_owned();
    let head = send(addr, "HEAD", doc, &[], None);
    assert_eq!(head.status, 200);
    assert_eq!(head.etag(), v1);
    assert_eq!(head.header("last-modified"), last_modified);

    // Conditional reads: 304 (strong, weak, *, date), 412 (If-Match, If-Unmodified-Since).
    let weak = format!("W/{v1}");
    for headers in [
        [("If-None-Match", v1.as_str())],
        [("If-None-Match", weak.as_str())],
        [("If-None-Match", "*")],
        [("If-Modified-Since", last_modified.as_str())],
    ] {
        for method in ["GET", "HEAD"] {
            let not_modified = send(addr, method, doc, &headers, None);
            assert_eq!(
                not_modified.status, 304,
                "{method} {headers:?}: {not_modified:?}"
            );
            assert_eq!(not_modified.etag(), v1);
            assert!(not_modified.body.is_empty());
        }
    }
    let failed = get(addr, doc, &[("If-Match", "\"999999\"")]);
    assert_eq!(failed.problem(412)["current_etag"], v1.as_str());
    assert_eq!(failed.etag(), v1);
    let failed = get(
        addr,
        doc,
        &[("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:37 GMT")],
    );
    assert_eq!(failed.problem(412)["header"], "If-Unmodified-Since");
    assert_eq!(get(addr, "/docs/none", &[]).problem(404)["key"], "none");

    // Writes need a lost-update-safe precondition: 428, also for a date or a tag list alone.
    for headers in [
        vec![],
        vec![("If-Unmodified-Since", last_modified.as_str())],
        vec![("If-None-Match", "\"x\"")],
    ] {
        let put = send(addr, "PUT", doc, &headers, Some(&json!({"n": 2})));
        let problem = put.problem(428);
        assert_eq!(put.header("cache-control"), "no-store");
        assert!(
            problem["detail"].as_str().unwrap().contains("If-Match"),
            "{problem}"
        );
    }
    // Malformed If-Match: 400 naming the header, nothing written.
    let malformed = send(
        addr,
        "PUT",
        doc,
        &[("If-Match", "not-a-tag")],
        Some(&json!({"n": 2})),
    );
    assert_eq!(malformed.problem(400)["header"], "If-Match");

    // Replace with the ETag read: 200 with new validators from the write itself.
    let replaced = send(
        addr,
        "PUT",
        doc,
        &[("If-Match", &v1)],
        Some(&json!({"n": 2})),
    );
    assert_eq!(replaced.status, 200, "{replaced:?}");
    assert!(replaced.has("last-modified"));
    assert_eq!(replaced.json(), json!({"n": 2}));
    let v2 = replaced.etag();
    assert_ne!(v1, v2);
    // The old ETag is stale: 412 with the current one.
    let stale = send(
        addr,
        "PUT",
        doc,
        &[("If-Match", &v1)],
        Some(&json!({"n": 3})),
    );
    assert_eq!(stale.problem(412)["current_etag"], v2.as_str());
    assert_eq!(stale.etag(), v2);
    // Create-only on an existing document: 412; on a new one: 201.
    let exists = send(
        addr,
        "PUT",
        doc,
        &[("If-None-Match", "*")],
        Some(&json!({"n": 0})),
    );
    assert_eq!(exists.problem(412)["conflict"], "already_exists");
    let new = send(
        addr,
        "PUT",
        "/docs/b",
        &[("If-None-Match", "*")],
        Some(&json!({"n": 0})),
    );
    assert_eq!(new.status, 201, "{new:?}");
    assert_eq!(get(addr, doc, &[]).json(), json!({"n": 2}));

    // PATCH: 428, then applied to the version read, then stale.
    let patch = |headers: &[(&str, &str)], changes: Value| {
        send(addr, "PATCH", doc, headers, Some(&changes))
    };
    assert_eq!(patch(&[], json!({"m": 1})).status, 428);
    let patched = patch(&[("If-Match", &v2)], json!({"m": 1}));
    assert_eq!(patched.status, 200, "{patched:?}");
    assert_eq!(patched.json(), json!({"n": 2, "m": 1}));
    let v3 = patched.etag();
    assert_eq!(
        patch(&[("If-Match", &v2)], json!({"m": 2})).problem(412)["current_etag"],
        v3.as_str()
    );
    let missing = send(
        addr,
        "PATCH",
        "/docs/zz",
        &[("If-Match", "*")],
        Some(&json!({})),
    );
    missing.problem(404);

    // DELETE: 428 (not told to create anything), 412, 204, 404.
    let required = send(addr, "DELETE", doc, &[], None);
    let detail = required.problem(428)["detail"].as_str().unwrap().to_owned();
    assert!(!detail.contains("create"), "{detail}");
    assert_eq!(
        send(addr, "DELETE", doc, &[("If-Match", &v1)], None).problem(412)["current_etag"],
        v3.as_str()
    );
    let deleted = send(addr, "DELETE", doc, &[("If-Match", &v3)], None);
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert!(deleted.body.is_empty());
    send(addr, "DELETE", doc, &[("If-Match", &v3)], None).problem(404);

    // No ABA: re-created, the deleted incarnation's ETag never matches.
    let recreated = send(
        addr,
        "PUT",
        doc,
        &[("If-None-Match", "*")],
        Some(&json!({"n": 0})),
    );
    assert_eq!(recreated.status, 201);
    assert_ne!(recreated.etag(), v3);
    let aba = send(
        addr,
        "PUT",
        doc,
        &[("If-Match", &v3)],
        Some(&json!({"n": 5})),
    );
    assert_eq!(aba.problem(412)["current_etag"], recreated.etag().as_str());
}

/// 8 clients each add 1 to a counter 25 times (GET, then PUT with If-Match, again on 412):
/// the end value is exactly 200, so no update was lost.
pub fn no_lost_update(addr: SocketAddr) {
    const CLIENTS: u64 = 8;
    const INCREMENTS: u64 = 25;
    let doc = "/docs/counter";
    let created = send(
        addr,
        "PUT",
        doc,
        &[("If-None-Match", "*")],
        Some(&json!({"n": 0})),
    );
    assert_eq!(created.status, 201, "{created:?}");

    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            thread::spawn(move || {
                let mut conflicts = 0u64;
                for _ in 0..INCREMENTS {
                    loop {
                        let read = get(addr, doc, &[]);
                        let n = read.json()["n"].as_u64().unwrap();
                        let tag = read.etag();
                        let write = send(
                            addr,
                            "PUT",
                            doc,
                            &[("If-Match", &tag)],
                            Some(&json!({"n": n + 1})),
                        );
                        match write.status {
                            200 => break,
                            412 => conflicts += 1,
                            other => panic!("unexpected {other}: {write:?}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();
    let end = get(addr, doc, &[]).json();
    assert_eq!(
        end["n"].as_u64(),
        Some(CLIENTS * INCREMENTS),
        "{conflicts} conflicts"
    );
}
