//! Issue 3's race: 8 concurrent clients each increment a counter 25 times with GET +
//! `If-Match` PUT, retrying on 412; no increment may be lost.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;

const CLIENTS: u64 = 8;
const INCREMENTS: u64 = 25;

#[test]
fn concurrent_if_match_increments_lose_nothing() {
    let server = Arc::new(Server::start());
    create(&server, &json!({"username": "counter", "count": 0}));
    let retries = increment_race(&[Arc::clone(&server)], "counter", CLIENTS, INCREMENTS);
    let (doc, _) = fetch(&server, "counter");
    assert_eq!(
        doc,
        json!({"username": "counter", "count": CLIENTS * INCREMENTS}),
        "lost or duplicated increments"
    );
    println!(
        "{CLIENTS} clients x {INCREMENTS} increments: count {}, {retries} retries after 412",
        doc["count"]
    );
}
