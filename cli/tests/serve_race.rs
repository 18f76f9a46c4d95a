//! Issue 3's race: 8 concurrent clients each increment a counter 25 times with GET +
//! `If-Match` PUT, retrying on 412; no increment may be lost.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use serde_json::json;

const CLIENTS: u64 = 8;
const INCREMENTS: u64 = 25;

#[test]
fn concurrent_if_match_increments_lose_nothing() {
    let server = Arc::new(Server::start());
    create(&server, &json!({"username": "counter", "count": 0}));
    let retries = Arc::new(AtomicU64::new(0));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let server = Arc::clone(&server);
            let retries = Arc::clone(&retries);
            std::thread::spawn(move || {
                for _ in 0..INCREMENTS {
                    // A bound on retries turns a livelock or a bug into a failure, not a hang.
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        assert!(attempts <= 10_000, "client {client}: too many retries");
                        let (doc, etag) = fetch(&server, "counter");
                        let count = doc["count"].as_u64().expect("count is a number");
                        let response = server
                            .request("PUT", "/api/users/counter")
                            .header("If-Match", &etag)
                            .json(&json!({"username": "counter", "count": count + 1}))
                            .send();
                        match response.status {
                            200 => {
                                assert_ne!(response.etag(), etag);
                                assert_eq!(response.json()["count"], count + 1);
                                break;
                            }
                            412 => {
                                // Someone else won: the problem names the newer version.
                                let problem = response.problem(412);
                                let current = response.etag();
                                assert_ne!(current, etag, "a 412 must report a newer ETag");
                                assert_eq!(problem["current_etag"], current);
                                retries.fetch_add(1, Ordering::Relaxed);
                            }
                            other => {
                                panic!("client {client}: unexpected {other}: {}", response.text())
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("a client thread panicked");
    }

    let (doc, _) = fetch(&server, "counter");
    assert_eq!(
        doc,
        json!({"username": "counter", "count": CLIENTS * INCREMENTS}),
        "lost or duplicated increments"
    );
    println!(
        "{} clients x {} increments: count {}, {} retries after 412",
        CLIENTS,
        INCREMENTS,
        doc["count"],
        retries.load(Ordering::Relaxed)
    );
}
