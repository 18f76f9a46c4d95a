//! The axum example, guarded end to end: every status it can answer, and a lost-update race.
#![cfg(feature = "axum")]

#[path = "../examples/axum_guarded.rs"]
mod example;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use optimist::MemoryStore;
use serde_json::{Value, json};
use tower::ServiceExt;

fn app() -> Router {
    example::app(Arc::new(MemoryStore::new()))
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Response<Body> {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            req = req.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    app.clone().oneshot(req.body(body).unwrap()).await.unwrap()
}

async fn json_body(resp: Response<Body>) -> Value {
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn etag(resp: &Response<Body>) -> String {
    resp.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_status_of_the_guarded_resource() {
    let app = app();
    let doc = "/docs/a";

    // Create-only.
    let created = send(
        &app,
        "PUT",
        doc,
        &[("if-none-match", "*")],
        Some(json!({"n": 1})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let v1 = etag(&created);
    let again = send(
        &app,
        "PUT",
        doc,
        &[("if-none-match", "*")],
        Some(json!({"n": 9})),
    )
    .await;
    assert_eq!(again.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(etag(&again), v1);

    // Read, conditional reads.
    let read = send(&app, "GET", doc, &[], None).await;
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(etag(&read), v1);
    assert!(read.headers().contains_key("last-modified"));
    assert_eq!(json_body(read).await, json!({"n": 1}));
    let not_modified = send(&app, "GET", doc, &[("if-none-match", &v1)], None).await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(etag(&not_modified), v1);
    let failed = send(&app, "GET", doc, &[("if-match", "\"999999\"")], None).await;
    assert_eq!(failed.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(
        send(&app, "GET", "/docs/none", &[], None).await.status(),
        StatusCode::NOT_FOUND
    );

    // Writes need a precondition.
    let required = send(&app, "PUT", doc, &[], Some(json!({"n": 2}))).await;
    assert_eq!(required.status(), StatusCode::PRECONDITION_REQUIRED);
    assert_eq!(
        required.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(required.headers()["cache-control"], "no-store");

    // Malformed If-Match: 400 naming the header, nothing written.
    let malformed = send(
        &app,
        "PUT",
        doc,
        &[("if-match", "not-a-tag")],
        Some(json!({"n": 2})),
    )
    .await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_body(malformed).await["header"], "If-Match");

    // Replace with the current tag; the old one is stale afterwards.
    let replaced = send(
        &app,
        "PUT",
        doc,
        &[("if-match", &v1)],
        Some(json!({"n": 2})),
    )
    .await;
    assert_eq!(replaced.status(), StatusCode::OK);
    let v2 = etag(&replaced);
    assert_ne!(v1, v2);
    let stale = send(
        &app,
        "PUT",
        doc,
        &[("if-match", &v1)],
        Some(json!({"n": 3})),
    )
    .await;
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(etag(&stale), v2);
    let problem = json_body(stale).await;
    assert_eq!(problem["current_etag"], v2.as_str());
    assert_eq!(problem["status"], 412);
    assert_eq!(
        json_body(send(&app, "GET", doc, &[], None).await).await,
        json!({"n": 2})
    );

    // Delete.
    assert_eq!(
        send(&app, "DELETE", doc, &[], None).await.status(),
        StatusCode::PRECONDITION_REQUIRED
    );
    assert_eq!(
        send(&app, "DELETE", doc, &[("if-match", &v1)], None)
            .await
            .status(),
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        send(&app, "DELETE", doc, &[("if-match", &v2)], None)
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(&app, "DELETE", doc, &[("if-match", &v2)], None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    // No ABA: re-created, the deleted incarnation's tag never matches.
    let recreated = send(
        &app,
        "PUT",
        doc,
        &[("if-none-match", "*")],
        Some(json!({"n": 0})),
    )
    .await;
    assert_eq!(recreated.status(), StatusCode::CREATED);
    assert_ne!(etag(&recreated), v2);
    assert_eq!(
        send(
            &app,
            "PUT",
            doc,
            &[("if-match", &v2)],
            Some(json!({"n": 5}))
        )
        .await
        .status(),
        StatusCode::PRECONDITION_FAILED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_lose_no_update() {
    const CLIENTS: u64 = 8;
    const INCREMENTS: u64 = 25;
    let app = app();
    let doc = "/docs/counter";
    let created = send(
        &app,
        "PUT",
        doc,
        &[("if-none-match", "*")],
        Some(json!({"n": 0})),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let mut tasks = Vec::new();
    for _ in 0..CLIENTS {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for _ in 0..INCREMENTS {
                loop {
                    let read = send(&app, "GET", doc, &[], None).await;
                    let tag = etag(&read);
                    let n = json_body(read).await["n"].as_u64().unwrap();
                    let write = send(
                        &app,
                        "PUT",
                        doc,
                        &[("if-match", &tag)],
                        Some(json!({"n": n + 1})),
                    )
                    .await;
                    match write.status() {
                        StatusCode::OK => break,
                        StatusCode::PRECONDITION_FAILED => conflicts += 1,
                        other => panic!("unexpected {other}"),
                    }
                    tokio::task::yield_now().await;
                }
            }
            conflicts
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let end = json_body(send(&app, "GET", doc, &[], None).await).await;
    assert_eq!(end["n"].as_u64(), Some(CLIENTS * INCREMENTS));
}
