//! The Lua script every write runs (`commit.lua`: check every expectation, then write
//! everything or nothing), and how it is invoked.

use std::sync::LazyLock;

use ::redis::{ErrorKind, RedisResult, Script};

use super::conn::Conn;
use crate::Expect;

/// The source of `commit.lua`.
const COMMIT_SOURCE: &str = include_str!("commit.lua");

/// The script, which knows its SHA1.
static COMMIT: LazyLock<Script> = LazyLock::new(|| Script::new(COMMIT_SOURCE));

/// Runs `commit.lua` with `keys` and `args`: `EVALSHA`, and on `NOSCRIPT` (the server's
/// script cache does not hold it: never loaded there, flushed, or a failed-over node) an
/// `EVAL` of the source, which also caches it. `NOSCRIPT` means nothing ran, so sending it
/// again is safe; `EVAL` is routed by its first key like `EVALSHA`, so in cluster mode it
/// reaches the node owning the slot (a `SCRIPT LOAD` would reach some node).
pub(super) async fn commit(
    conn: &mut Conn,
    keys: &[&[u8]],
    args: &[&[u8]],
) -> RedisResult<Vec<u64>> {
    let mut evalsha = ::redis::cmd("EVALSHA");
    evalsha
        .arg(COMMIT.get_hash())
        .arg(keys.len())
        .arg(keys)
        .arg(args);
    match evalsha.query_async(conn).await {
        Err(e) if e.kind() == ErrorKind::NoScriptError => {
            ::redis::cmd("EVAL")
                .arg(COMMIT_SOURCE)
                .arg(keys.len())
                .arg(keys)
                .arg(args)
                .query_async(conn)
                .await
        }
        result => result,
    }
}

/// The mode argument for `expect`; its versions follow as further arguments.
pub(super) fn mode(expect: &Expect) -> &'static str {
    match expect {
        Expect::Any => "any",
        Expect::Absent => "absent",
        Expect::Exists => "exists",
        Expect::Version(_) | Expect::OneOf(_) => "in",
    }
}
