//! The Lua scripts that compare and write in one step, and how they are invoked.

use std::sync::LazyLock;

use ::redis::aio::ConnectionManager;
use ::redis::{ErrorKind, RedisResult, Script};

use crate::Expect;

/// A CAS script: its source and its [`Script`] (which knows the SHA1).
pub(super) struct CasScript {
    source: &'static str,
    script: LazyLock<Script>,
}

const PUT_SOURCE: &str = concat!(include_str!("check.lua"), include_str!("put.lua"));
const DELETE_SOURCE: &str = concat!(include_str!("check.lua"), include_str!("delete.lua"));

/// Compare-and-put: see `put.lua`.
pub(super) static PUT: CasScript = CasScript {
    source: PUT_SOURCE,
    script: LazyLock::new(|| Script::new(PUT_SOURCE)),
};

/// Compare-and-delete: see `delete.lua`.
pub(super) static DELETE: CasScript = CasScript {
    source: DELETE_SOURCE,
    script: LazyLock::new(|| Script::new(DELETE_SOURCE)),
};

impl CasScript {
    /// Runs the script: `EVALSHA`, and on `NOSCRIPT` `SCRIPT LOAD` + `EVALSHA` again (what
    /// [`Script::invoke_async`] does). Should the cache be flushed once more in between, the
    /// second `NOSCRIPT` is answered with a plain `EVAL` of the source: `NOSCRIPT` means
    /// nothing ran, so sending it again is safe.
    pub(super) async fn invoke(
        &self,
        conn: &mut ConnectionManager,
        keys: &[&[u8]],
        args: &[&[u8]],
    ) -> RedisResult<Vec<u64>> {
        let mut invocation = self.script.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for arg in args {
            invocation.arg(*arg);
        }
        match invocation.invoke_async(conn).await {
            Err(e) if e.kind() == ErrorKind::NoScriptError => {
                ::redis::cmd("EVAL")
                    .arg(self.source)
                    .arg(keys.len())
                    .arg(keys)
                    .arg(args)
                    .query_async(conn)
                    .await
            }
            result => result,
        }
    }
}

/// The mode argument (`ARGV[1]`) for `expect`; its versions follow as further arguments.
pub(super) fn mode(expect: &Expect) -> &'static str {
    match expect {
        Expect::Any => "any",
        Expect::Absent => "absent",
        Expect::Exists => "exists",
        Expect::Version(_) | Expect::OneOf(_) => "in",
    }
}
