//! `optimist serve`: the guarded users API over HTTP.

mod body;
mod document;
mod email;
mod error;
mod json;
mod listing;
mod merge_patch;
mod methods;
mod parse_errors;
mod protocol;
mod users;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::get;
use http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use optimist::SharedStore;
use tower_http::trace::TraceLayer;

use crate::store_spec::{ClusterKeys, StoreSpec};
use document::Document;
use error::ApiError;
use parse_errors::{Pending, ProblemIo};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The documents, keyed by username, and the email index entries (`email:...`).
    pub store: SharedStore<Document>,
    /// The largest body accepted, in bytes.
    pub max_body: usize,
    /// How long a client may take to send a request's body (slower: 408).
    pub read_timeout: Duration,
}

/// The largest request head (request line and headers) accepted, in bytes: larger is a
/// bare 431 from hyper, which closes the connection. 64 KiB holds an `If-Match` list of
/// thousands of short tags; common servers allow 8 to 32 KiB.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// `optimist serve` options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Backend: memory, sqlite:PATH, postgres://USER@HOST/DB, redis://HOST,
    /// etcd://HOST:PORT[,HOST:PORT...], or mysql://USER@HOST/DB (MariaDB)
    #[arg(long, default_value = "memory")]
    pub store: StoreSpec,
    /// Where in the store the users live: the SQLite or PostgreSQL table, or the Redis key
    /// prefix (letters, digits and `_`, not starting with a digit). Default: the backend's
    /// own (`optimist` for SQLite and Redis, `optimist_kv` for PostgreSQL). Several APIs can
    /// share one database under different names.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// How long a client may take to send a request's head (slower, or idle that long
    /// between requests: the connection is closed) and, separately, its body (slower: 408).
    /// Slow clients cannot hold connections forever.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub read_timeout: Duration,
}

/// The users API's routes.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .route(
            "/api/users",
            get(listing::list)
                .post(users::create)
                .options(|| async { methods::options(methods::COLLECTION_ALLOW) }),
        )
        .route(
            "/api/users/{username}",
            get(users::read)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::remove)
                .options(|| async { methods::options(methods::USER_ALLOW) }),
        )
        .fallback(|| async {
            ApiError::new(StatusCode::NOT_FOUND, "no such route: see /api/users")
        })
        .layer(DefaultBodyLimit::disable())
        .with_state(state);
    // `Router::layer` wraps each route, inside axum's method matching (which adds `Allow`
    // to the bare 405 afterwards); as the fallback of an empty router, `routes` is wrapped
    // whole, so these layers see every request before routing and every response after.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(methods::methods))
        .layer(middleware::from_fn(protocol::protocol))
        .layer(TraceLayer::new_for_http())
}

/// Runs the server until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), crate::CliError> {
    let store = args
        .store
        .open_in::<Document>(args.namespace.as_deref(), ClusterKeys::OneSlot)
        .await?;
    let state = AppState {
        store,
        max_body: args.max_body,
        read_timeout: args.read_timeout,
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
    serve_http(listener, router(state), args.read_timeout, shutdown)
        .await
        .map_err(crate::CliError::Serve)?;
    tracing::info!("shut down");
    Ok(())
}

/// Serves `app` over HTTP/1.1 on `listener` until `shutdown` completes, then stops accepting
/// and waits for the open connections to finish their requests.
///
/// This is what `axum::serve` does, with hyper's limits set: `axum::serve` sets no timer, so
/// hyper's header read timeout is off and a client sending its head one byte a minute holds
/// its connection (and task) forever; and hyper's default head buffer is about 400 KiB.
/// Here a head must arrive within `read_timeout` (also the idle limit between requests on a
/// kept-alive connection; then the connection is closed) and fit in [`MAX_HEAD_BYTES`]
/// (larger: 431).
///
/// Accept errors (a connection reset before it was accepted, too many open files) are
/// logged and retried, as `axum::serve` does: it never returns an error today.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: Router,
    read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(read_timeout)
        .max_header_size(MAX_HEAD_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Every request the service is called for is recorded, so that `ProblemIo` can
        // tell hyper's own error responses from the service's.
        let pending = Pending::default();
        let recorder = pending.clone();
        let app = tower::ServiceBuilder::new()
            .map_request(move |request: http::Request<hyper::body::Incoming>| {
                recorder.push(request.method().clone());
                request
            })
            .service(app.clone());
        let io = TokioIo::new(ProblemIo::new(stream, pending));
        let connection = graceful.watch(http.serve_connection(io, TowerToHyperService::new(app)));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%remote, error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
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
