//! What `optimist serve` logs, as an operator reading a file or a pipe sees it.

mod common;

use common::*;

/// The environment of a server started by hand: no `RUST_LOG`, no `NO_COLOR`.
const PLAIN: &[(&str, Option<&str>)] = &[("RUST_LOG", None), ("NO_COLOR", None)];

every_backend! {
    /// Logs to a pipe carry no ANSI colour escapes, and say what is served.
    fn no_colour_off_a_terminal(server) {
        let mut plain = serve_on_env(server.backend(), &[], PLAIN).expect("this backend runs");
        plain.get(&user_path("nobody")).send().problem(404);
        let logs = plain.stop_and_logs();
        assert!(logs.contains("serving the users API"), "{logs}");
        assert!(!logs.contains('\u{1b}'), "colour escapes in logs to a pipe: {logs:?}");
    }
}

/// PostgreSQL's NOTICEs (`relation "..." already exists, skipping`, at every start on an
/// existing schema) are not printed at the default level.
#[test]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
fn postgres_notices_are_not_logged_by_default() {
    let Some(first) = serve_on(Backend::Postgres, &[]) else {
        return;
    };
    // A second process on the same, now existing, table.
    let args = first.store_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut second = Server::start_env(&args, PLAIN);
    second.get(&user_path("nobody")).send().problem(404);
    let logs = second.stop_and_logs();
    assert!(logs.contains("serving the users API"), "{logs}");
    assert!(
        !logs.contains("NOTICE"),
        "driver notices at the default level: {logs}"
    );
    assert!(!logs.contains("already exists"), "{logs}");
}
