//! The actix-web example (`examples/actix_guarded.rs`) served over real TCP: the same status
//! rows and lost-update race as the axum twin.
#![cfg(feature = "actix")]

mod common;
#[path = "../examples/actix_guarded.rs"]
mod example;

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use optimist::{MemoryStore, SharedStore};
use serde_json::Value;

/// Serves the example on a free port of 127.0.0.1 (for the rest of the test process).
fn serve() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let store: SharedStore<Value> = Arc::new(MemoryStore::new());
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || App::new().configure(example::routes(store.clone())))
                .workers(2)
                .listen(listener)
                .unwrap()
                .run()
                .await
                .unwrap();
        });
    });
    addr
}

#[test]
fn every_status_of_the_guarded_resource() {
    common::guarded_api::every_status(serve());
}

#[test]
fn concurrent_clients_lose_no_update() {
    common::guarded_api::no_lost_update(serve());
}
