//! `optimist serve`: the guarded users API over HTTP.

mod body;
mod error;
mod merge_patch;
mod users;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::{ALLOW, CONTENT_TYPE};
use optimist::SharedStore;
use optimist::http::PROBLEM_JSON;
use serde_json::Value;
use tower_http::trace::TraceLayer;

use crate::store_spec::StoreSpec;
use error::ApiError;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The documents, keyed by username.
    pub store: SharedStore<Value>,
    /// The largest body accepted, in bytes.
    pub max_body: usize,
}

/// `optimist serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Backend: memory, sqlite:PATH, postgres://..., redis://...
    #[arg(long, default_value = "memory")]
    pub store: StoreSpec,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
}

/// The users API's routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/users", post(users::create))
        .route(
            "/api/users/{username}",
            get(users::read)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::remove),
        )
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "no such route: see /api/users")
        })
        .layer(middleware::from_fn(problem_for_405))
        .layer(DefaultBodyLimit::disable())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// axum answers a wrong method with a bare 405 and its `Allow` header; give it a problem
/// body like every other error, keeping `Allow`.
async fn problem_for_405(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = next.run(request).await;
    if response.status() != StatusCode::METHOD_NOT_ALLOWED
        || response
            .headers()
            .get(CONTENT_TYPE)
            .is_some_and(|ct| ct == PROBLEM_JSON)
    {
        return response;
    }
    let allow = response.headers().get(ALLOW).cloned();
    let detail = match allow.as_ref().and_then(|a| a.to_str().ok()) {
        Some(allowed) => format!("{method} is not allowed here; allowed: {allowed}"),
        None => format!("{method} is not allowed here"),
    };
    let mut problem = ApiError::new(StatusCode::METHOD_NOT_ALLOWED, detail).into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(ALLOW, allow);
    }
    problem.map(Body::new)
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), crate::CliError> {
    let store = args.store.open::<Value>().await?;
    let state = AppState {
        store,
        max_body: args.max_body,
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|source| crate::CliError::Bind {
            addr: args.addr,
            source,
        })?;
    let local = listener
        .local_addr()
        .map_err(|source| crate::CliError::Bind {
            addr: args.addr,
            source,
        })?;
    let shutdown = shutdown_signal();
    tracing::info!(addr = %local, store = %args.store, "serving the users API");
    println!("listening on http://{local}");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(crate::CliError::Serve)?;
    tracing::info!("shut down");
    Ok(())
}

/// Registers the SIGINT and SIGTERM handlers now, before the `listening on` line announces
/// readiness (a signal sent right after it must be a graceful shutdown, not the default
/// kill), and returns the future that completes on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let interrupt = signal(SignalKind::interrupt()).ok();
        let terminate = signal(SignalKind::terminate()).ok();
        async move {
            let received = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = received(interrupt) => {},
                () = received(terminate) => {},
            }
        }
    };
    #[cfg(not(unix))]
    let signals = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    async move {
        signals.await;
        tracing::info!("signal received, finishing in-flight requests");
    }
}
