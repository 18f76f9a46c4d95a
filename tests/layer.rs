//! The tower layer across a whole axum router: 428 and 400 as problem+json before any
//! handler runs, and the policy handed to each handler's `Guard`.
#![cfg(feature = "axum")]

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post, put};
use http::{Method, Request, StatusCode};
use optimist::http::{Guard, PreconditionLayer, PreconditionPolicy, Problem};
use tower::ServiceExt;

async fn handler(guard: Guard) -> String {
    format!(
        "{} requires: {}",
        guard.method(),
        guard.requires_precondition()
    )
}

fn app(policy: PreconditionPolicy) -> Router {
    Router::new()
        .route(
            "/notes/{id}",
            get(handler).put(handler).delete(handler).patch(handler),
        )
        .route("/notes", post(handler))
        .route("/other", put(handler))
        .layer(PreconditionLayer::new(policy))
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let response = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap().to_vec();
    (parts.status, parts.headers, bytes)
}

#[tokio::test]
async fn the_layer_refuses_before_the_handler_and_passes_the_policy_on() {
    let app = app(PreconditionPolicy::default());
    for (method, uri) in [
        (Method::PUT, "/notes/1"),
        (Method::DELETE, "/notes/1"),
        (Method::PATCH, "/notes/1"),
        (Method::PUT, "/other"),
    ] {
        for headers in [
            vec![],
            vec![("if-unmodified-since", "Tue, 14 Nov 2023 22:13:20 GMT")],
            vec![("if-none-match", "\"a\"")],
        ] {
            let (status, h, body) = send(&app, method.clone(), uri, &headers).await;
            assert_eq!(status, 428, "{method} {uri} {headers:?}");
            assert_eq!(h["content-type"], "application/problem+json");
            assert_eq!(h["cache-control"], "no-store");
            let problem = Problem::from_json(&body).unwrap();
            assert!(
                problem.detail.contains(method.as_str()),
                "{}",
                problem.detail
            );
        }
        // With a lost-update-safe precondition the handler runs, under the same policy.
        let (status, _, body) = send(&app, method.clone(), uri, &[("if-match", "\"1\"")]).await;
        assert_eq!(status, 200);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            format!("{method} requires: true")
        );
    }
    // Malformed preconditions: 400 naming the header, on any method.
    for method in [Method::GET, Method::PUT, Method::POST] {
        let (status, _, body) = send(
            &app,
            method.clone(),
            "/notes/1",
            &[("if-none-match", "nope")],
        )
        .await;
        assert_eq!(status, 400, "{method}");
        assert_eq!(
            Problem::from_json(&body).unwrap().header.as_deref(),
            Some("If-None-Match")
        );
    }
    // Reads and methods outside the policy go through.
    assert_eq!(send(&app, Method::GET, "/notes/1", &[]).await.0, 200);
    let (status, _, body) = send(&app, Method::POST, "/notes", &[]).await;
    assert_eq!(
        (status, String::from_utf8(body).unwrap().as_str()),
        (StatusCode::OK, "POST requires: false")
    );
}

#[tokio::test]
async fn a_custom_policy_reaches_the_guards() {
    let app = app(PreconditionPolicy::methods([Method::POST]));
    assert_eq!(send(&app, Method::POST, "/notes", &[]).await.0, 428);
    let (status, _, body) = send(&app, Method::POST, "/notes", &[("if-none-match", "*")]).await;
    assert_eq!(
        (status, String::from_utf8(body).unwrap().as_str()),
        (StatusCode::OK, "POST requires: true")
    );
    let (status, _, body) = send(&app, Method::PUT, "/notes/1", &[]).await;
    assert_eq!(
        (status, String::from_utf8(body).unwrap().as_str()),
        (StatusCode::OK, "PUT requires: false")
    );
}
