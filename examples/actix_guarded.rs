//! The actix-web twin of `axum_guarded`: the same documents API, each handler the `Guard`
//! extractor plus one call.
//!
//! ```text
//! cargo run --example actix_guarded --features actix          # listens on 127.0.0.1:3000
//! curl -i -X POST localhost:3000/docs -H 'content-type: application/json' -d '{"id":"a","n":1}'   # 201
//! curl -i localhost:3000/docs/a                               # 200, ETag and Last-Modified
//! curl -i -X DELETE localhost:3000/docs/a                     # 428
//! ```
//!
//! Routes and answers are those of `examples/axum_guarded.rs`.

use std::sync::Arc;

use actix_web::{App, HttpServer, web};
use http::StatusCode;
use optimist::http::{Guard, Problem, Rejection, Reply};
use optimist::{MemoryStore, SharedStore};
use serde_json::{Map, Value};

type Store = web::Data<SharedStore<Value>>;

/// The service's routes over `store`.
pub fn routes(store: SharedStore<Value>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(store))
            .route("/docs", web::post().to(create))
            .service(
                web::resource("/docs/{id}")
                    .route(web::get().to(read))
                    .route(web::head().to(read))
                    .route(web::put().to(replace))
                    .route(web::patch().to(patch))
                    .route(web::delete().to(remove)),
            );
    }
}

async fn read(
    store: Store,
    id: web::Path<String>,
    guard: Guard,
) -> Result<Reply<Value>, Rejection> {
    guard.read(&**store, &id).await
}

async fn replace(
    store: Store,
    id: web::Path<String>,
    guard: Guard,
    doc: web::Json<Value>,
) -> Result<Reply<Value>, Rejection> {
    guard.put(&**store, &id, doc.into_inner()).await
}

async fn patch(
    store: Store,
    id: web::Path<String>,
    guard: Guard,
    changes: web::Json<Map<String, Value>>,
) -> Result<Reply<Value>, Rejection> {
    guard
        .modify(&**store, &id, |doc| merge(doc, changes.into_inner()))
        .await
}

async fn remove(store: Store, id: web::Path<String>, guard: Guard) -> Result<Reply<()>, Rejection> {
    guard.delete(&**store, &id).await
}

async fn create(
    store: Store,
    guard: Guard,
    doc: web::Json<Value>,
) -> Result<Reply<Value>, Rejection> {
    let doc = doc.into_inner();
    let id = document_id(&doc)?;
    let location = format!("/docs/{id}");
    guard
        .create(&**store, &id, doc)
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
#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let store: SharedStore<Value> = Arc::new(MemoryStore::new());
    let server =
        HttpServer::new(move || App::new().configure(routes(store.clone()))).bind(&addr)?;
    for a in server.addrs() {
        println!("listening on http://{a}");
    }
    server.run().await
}
