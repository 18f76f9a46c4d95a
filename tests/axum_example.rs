//! The axum example (`examples/axum_guarded.rs`) served over real TCP: every status it
//! answers, and a lost-update race of 8 clients x 25 increments.
#![cfg(feature = "axum")]

mod common;
#[path = "../examples/axum_guarded.rs"]
mod example;

use std::net::SocketAddr;
use std::sync::Arc;

use optimist::MemoryStore;

/// Serves the example on a free port of 127.0.0.1 (for the rest of the test process).
fn serve() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, example::app(Arc::new(MemoryStore::new())))
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
