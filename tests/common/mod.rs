//! Helpers shared by the backend tests.
#![allow(dead_code)]

#[cfg(any(feature = "postgres", feature = "mysql", feature = "sqlite"))]
pub mod commits;
#[cfg(feature = "etcd")]
pub mod etcd;
#[cfg(any(feature = "axum", feature = "actix"))]
pub mod guarded_api;
pub mod http_client;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod proxy;
#[cfg(all(feature = "redis", target_os = "linux"))]
pub mod redis_cluster;

/// The URL of a backend server from the environment variable `var`.
///
/// Unset: the test says on stderr (past the test runner's capture) that it skipped and
/// returns `None`. Set: the test must use
/// it, and fails if the server is unreachable (CI sets these; see `.ci/run`).
pub fn env_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            // Straight to stderr: `eprintln!` would be captured by libtest and never shown
            // for a passing test. (Built without the variable, the test is `#[ignore]`d
            // with the reason instead, see build.rs; this covers a run with the variable
            // unset after a build with it.)
            use std::io::Write as _;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED: {var} is not set, so this backend test did not run. \
                 Set it (as .ci/run does) to run it against a real server."
            );
            None
        }
    }
}

/// A name unique to this run and call, usable as a table name or key prefix:
/// `{base}_{pid}_{nanos}`, lower-case ASCII letters, digits and underscores only.
pub fn unique_name(base: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{base}_{}_{nanos}", std::process::id())
}
