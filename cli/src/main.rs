//! `optimist`: serve a guarded users API on any backend, or benchmark CAS throughput.

mod bench;
mod serve;
mod store_spec;

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Optimistic concurrency control, on the command line.
#[derive(Debug, Parser)]
#[command(name = "optimist", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the guarded users API (POST/GET/PUT/PATCH/DELETE /api/users).
    Serve(serve::ServeArgs),
    /// Measure read-modify-CAS throughput against a backend.
    Bench(bench::BenchArgs),
}

/// Everything the command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// `--store` names a backend that cannot be opened.
    #[error(transparent)]
    Store(#[from] store_spec::StoreSpecError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(std::io::Error),
    /// The benchmark's options are inconsistent.
    #[error("invalid benchmark options: {0}")]
    BenchOptions(String),
    /// The benchmark found stored counters that differ from the acknowledged updates.
    #[error("{0} updates were lost or applied without being acknowledged")]
    LostUpdates(u64),
    /// The store failed during the benchmark.
    #[error("store error during the benchmark: {0}")]
    BenchStore(#[from] optimist::StoreError),
}

/// The log filter without `RUST_LOG`: our own events at info; the PostgreSQL driver's only
/// from warn up, since it logs every server NOTICE at info (`relation "optimist_kv" already
/// exists, skipping` at each start-up).
const DEFAULT_LOG_FILTER: &str = "info,tokio_postgres=warn";

/// Logs to stderr, in colour only when stderr is a terminal and `NO_COLOR` is unset
/// (https://no-color.org): a file or a pipe gets plain text.
fn init_logging() {
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    init_logging();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Bench(args) => bench::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("optimist: {e}");
            ExitCode::FAILURE
        }
    }
}
