//! An axum service whose documents are guarded end to end by optimist: each handler is the
//! `Guard` extractor plus one call.
//!
//! ```text
//! cargo run --example axum_guarded --features axum            # listens on 127.0.0.1:3000
//! curl -i -X POST localhost:3000/docs -H 'content-type: application/json' -d '{"id":"a","n":1}'   # 201
//! curl -i localhost:3000/docs/a                               # 200, ETag and Last-Modified
//! curl -i -X PUT localhost:3000/docs/a -H 'content-type: application/json' -d '{"n":2}'   # 428
//! curl -i -X PUT localhost:3000/docs/a -H 'If-Match: "1"' -H 'content-type: application/json' -d '{"n":2}'   # 200, or 412 with the current ETag
//! ```
//!
//! - `POST /docs` with an `id` member: 201 with `Location`; a taken `id` is 409 naming it.
//! - `GET /docs/{id}` (and HEAD): 200 with `ETag` and `Last-Modified`; 304 / 412 per the
//!   request's preconditions; 404 when absent.
//! - `PUT /docs/{id}`: needs `If-Match` (replace) or `If-None-Match: *` (create), else 428;
//!   a false precondition, or losing a race to another writer, is 412 with the current ETag.
//! - `PATCH /docs/{id}` (the members given replace the document's; `null` removes one):
//!   needs `If-Match`; the change is applied to the version read and written pinned to it.
//! - `DELETE /docs/{id}`: needs `If-Match`; 204, 404, 412 or 428.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use optimist::http::{Guard, Problem, Rejection, Reply};
use optimist::{MemoryStore, SharedStore};
use serde_json::{Map, Value};

type Store = SharedStore<Value>;

/// The service's routes over `store`.
pub fn app(store: Store) -> Router {
    Router::new()
        .route("/docs", post(create))
        .route(
            "/docs/{id}",
            get(read).put(replace).patch(patch).delete(remove),
        )
        .with_state(store)
}

async fn read(
    State(store): State<Store>,
    Path(id): Path<String>,
    guard: Guard,
) -> Result<Reply<Value>, Rejection> {
    guard.read(&*store, &id).await
}

async fn replace(
    State(store): State<Store>,
    Path(id): Path<String>,
    guard: Guard,
    Json(doc): Json<Value>,
) -> Result<Reply<Value>, Rejection> {
    guard.put(&*store, &id, doc).await
}

async fn patch(
    State(store): State<Store>,
    Path(id): Path<String>,
    guard: Guard,
    Json(changes): Json<Map<String, Value>>,
) -> Result<Reply<Value>, Rejection> {
    guard.modify(&*store, &id, |doc| merge(doc, changes)).await
}

async fn remove(
    State(store): State<Store>,
    Path(id): Path<String>,
    guard: Guard,
) -> Result<Reply<()>, Rejection> {
    guard.delete(&*store, &id).await
}

async fn create(
    State(store): State<Store>,
    guard: Guard,
    Json(doc): Json<Value>,
) -> Result<Reply<Value>, Rejection> {
    let id = document_id(&doc)?;
    let location = format!("/docs/{id}");
    guard
        .create(&*store, &id, doc)
        .field("id")
        .location(location)
        .await
}

/// The document's `id` member: a string, else 422 naming the field.
fn document_id(doc: &Value) -> Result<String, Rejection> {
    match doc.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "id must be a non-empty string",
        )
        .with_field("id")
        .into()),
    }
}

/// Replaces the members given, removes those given as `null`; 422 if the stored document is
/// not an object.
fn merge(doc: Value, changes: Map<String, Value>) -> Result<Value, Rejection> {
    let Value::Object(mut members) = doc else {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the document is not an object",
        )
        .into());
    };
    for (name, value) in changes {
        if value.is_null() {
            members.remove(&name);
        } else {
            members.insert(name, value);
        }
    }
    Ok(Value::Object(members))
}

#[allow(dead_code)] // unused when the test suite includes this file as a module
#[tokio::main]
async fn main() {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("listening on http://{}", listener.local_addr().unwrap());
    axum::serve(listener, app(Arc::new(MemoryStore::new())))
        .await
        .expect("server error");
}
