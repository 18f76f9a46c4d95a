//! An axum service whose documents are guarded end to end by optimist.
//!
//! ```text
//! cargo run --example axum_guarded --features axum            # listens on 127.0.0.1:3000
//! curl -i -X PUT localhost:3000/docs/a -H 'If-None-Match: *' -H 'content-type: application/json' -d '{"n":1}'
//! curl -i localhost:3000/docs/a                               # 200, ETag: "…"
//! curl -i -X PUT localhost:3000/docs/a -H 'content-type: application/json' -d '{"n":2}'       # 428
//! curl -i -X PUT localhost:3000/docs/a -H 'If-Match: "1"' -H 'content-type: application/json' -d '{"n":2}'  # 412 unless "1" is current
//! ```
//!
//! - `GET /docs/{id}`: 200 with `ETag` and `Last-Modified`; 304 / 412 per the request's
//!   preconditions; 404 when absent.
//! - `PUT /docs/{id}`: needs `If-Match` (replace) or `If-None-Match: *` (create), else 428;
//!   a false precondition, or losing a race to another writer, is 412 with the current ETag.
//! - `DELETE /docs/{id}`: needs `If-Match`; 204, 404, 412 or 428.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use optimist::http::{Origin, PreconditionPolicy, Preconditions, Rejection, set_validators};
use optimist::{Expect, MemoryStore, VersionedStore};
use serde_json::Value;

type Store = Arc<MemoryStore<Value>>;

/// The service's routes over `store`.
pub fn app(store: Store) -> Router {
    Router::new()
        .route("/docs/{id}", get(read).put(replace).delete(remove))
        .with_state(store)
}

async fn read(
    State(store): State<Store>,
    Path(id): Path<String>,
    method: Method,
    pre: Preconditions,
) -> Result<Response, Rejection> {
    let doc = store
        .get(&id)
        .await
        .map_err(|e| Rejection::from_store_error(e, &method, Origin::Server))?
        .ok_or(Rejection::NotFound { key: id.clone() })?;
    pre.check_read(&method, &id, &doc.meta())?; // 304 or 412
    let mut headers = HeaderMap::new();
    set_validators(&mut headers, &doc.meta());
    Ok((headers, Json(doc.value)).into_response())
}

async fn replace(
    State(store): State<Store>,
    Path(id): Path<String>,
    pre: Preconditions,
    Json(body): Json<Value>,
) -> Result<Response, Rejection> {
    let method = Method::PUT;
    pre.require(&method, &PreconditionPolicy::default())?; // 428
    let expect = pre
        .write_expect(&*store, &id, &method)
        .await? // 412 when false against the current state
        .expect("require() made sure a precondition is present");
    let created = expect == Expect::Absent;
    let version = store
        .put(&id, body, expect)
        .await
        .map_err(|e| Rejection::from_store_error(e, &method, Origin::Header))?
        .version; // 412 on a lost race
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, [(axum::http::header::ETAG, version.header_value())]).into_response())
}

async fn remove(
    State(store): State<Store>,
    Path(id): Path<String>,
    pre: Preconditions,
) -> Result<StatusCode, Rejection> {
    let method = Method::DELETE;
    pre.require(&method, &PreconditionPolicy::default())?;
    let expect = pre
        .write_expect(&*store, &id, &method)
        .await?
        .expect("require() made sure a precondition is present");
    match store.delete(&id, expect).await {
        Ok(Some(_)) => Ok(StatusCode::NO_CONTENT),
        Ok(None) => Err(Rejection::NotFound { key: id }),
        Err(e) => Err(Rejection::from_store_error(e, &method, Origin::Header)),
    }
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
