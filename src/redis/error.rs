//! How driver errors become [`StoreError`]s.
//!
//! The rule: a write is only reported as not having happened when the driver says so for
//! certain (the connection was refused, or the server refused the command before running it).
//! Any I/O failure, dropped connection or timeout once a write may have been sent is
//! [`StoreError::Indeterminate`]. Reads failing that way are [`StoreError::Unavailable`].
//!
//! In Redis Cluster mode the client resends a request itself (after a dropped connection,
//! a redirect, `TRYAGAIN`), so the error it finally returns says nothing about the earlier
//! attempts: a write failing with anything but an error of the script itself is
//! `Indeterminate` there.

use ::redis::{ErrorKind, RedisError};

use crate::StoreError;

/// Data found under a key of the store that this backend did not write, or a reply the
/// scripts never give.
#[derive(Debug, thiserror::Error)]
pub(super) enum MalformedError {
    /// The hash lacks a field or holds an unreadable one.
    #[error("redis key {key:?} holds a malformed entry (field {field:?} missing or invalid)")]
    Entry {
        /// The store's key.
        key: String,
        /// The hash field.
        field: &'static str,
    },
    /// The script replied with something it never returns.
    #[error("unexpected reply from the optimist commit script for key {key:?}: {reply:?}")]
    Reply {
        /// The first key of the write.
        key: String,
        /// The reply.
        reply: Vec<u64>,
    },
    /// The listing index names a Redis key outside the store's key prefix.
    #[error("the listing index {index:?} holds a foreign member {member:?}")]
    Index {
        /// The index.
        index: String,
        /// The member.
        member: String,
    },
}

impl From<MalformedError> for StoreError {
    fn from(e: MalformedError) -> Self {
        StoreError::backend(e)
    }
}

/// Whether the command certainly did not run: the server could not be reached, or it
/// refused the command before running it (busy with a script, loading, ...).
fn certainly_not_run(e: &RedisError) -> bool {
    if e.is_connection_refusal() {
        return true;
    }
    matches!(
        e.kind(),
        ErrorKind::BusyLoadingError | ErrorKind::TryAgain | ErrorKind::MasterDown
    ) || matches!(e.code(), Some("BUSY" | "LOADING" | "MASTERDOWN"))
}

/// Whether the connection failed (I/O error, dropped connection, timeout, unreadable reply):
/// a command may or may not have reached the server.
fn connection_failed(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_timeout()
        || e.is_connection_dropped()
        || e.kind() == ErrorKind::ParseError
}

/// Whether the server ran the script and it failed (or refused its arguments): the same
/// request fails the same way, and in cluster mode a resend of a write that had applied
/// answers its result instead, so the write did not happen.
fn script_failed(e: &RedisError) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ResponseError | ErrorKind::ExtensionError | ErrorKind::TypeError
    ) && !matches!(e.code(), Some("BUSY" | "LOADING" | "MASTERDOWN"))
}

/// The error of a write (the commit script) whose first key is `key`; `cluster`: the client
/// may have sent it more than once.
pub(super) fn write_error(key: &str, e: RedisError, cluster: bool) -> StoreError {
    if cluster {
        return if script_failed(&e) {
            StoreError::backend(e)
        } else {
            StoreError::Indeterminate {
                key: key.to_owned(),
                source: Box::new(e),
            }
        };
    }
    if certainly_not_run(&e) {
        StoreError::Unavailable {
            source: Box::new(e),
        }
    } else if connection_failed(&e) {
        StoreError::Indeterminate {
            key: key.to_owned(),
            source: Box::new(e),
        }
    } else {
        StoreError::backend(e)
    }
}

/// The error of a read.
pub(super) fn read_error(e: RedisError) -> StoreError {
    if certainly_not_run(&e) || connection_failed(&e) {
        StoreError::Unavailable {
            source: Box::new(e),
        }
    } else {
        StoreError::backend(e)
    }
}

/// The error of connecting: anything that looks like the network is `Unavailable`, the rest
/// (authentication, bad configuration) is `Backend`.
pub(super) fn connect_error(e: RedisError) -> StoreError {
    if certainly_not_run(&e) || connection_failed(&e) {
        StoreError::Unavailable {
            source: Box::new(e),
        }
    } else {
        StoreError::backend(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn io_err(kind: io::ErrorKind) -> RedisError {
        io::Error::from(kind).into()
    }

    #[test]
    fn refused_connection_is_unavailable_even_for_writes() {
        let e = write_error("k", io_err(io::ErrorKind::ConnectionRefused), false);
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e:?}");
    }

    #[test]
    fn in_cluster_mode_every_failure_but_the_scripts_is_indeterminate() {
        // The client may have sent the write before the attempt that was refused.
        let e = write_error("k", io_err(io::ErrorKind::ConnectionRefused), true);
        assert!(matches!(e, StoreError::Indeterminate { .. }), "{e:?}");
        let e = write_error("k", io_err(io::ErrorKind::TimedOut), true);
        assert!(matches!(e, StoreError::Indeterminate { .. }), "{e:?}");
    }

    #[test]
    fn cut_off_writes_are_indeterminate_and_reads_unavailable() {
        for kind in [
            io::ErrorKind::TimedOut,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::UnexpectedEof,
        ] {
            let w = write_error("k", io_err(kind), false);
            assert!(
                matches!(w, StoreError::Indeterminate { ref key, .. } if key == "k"),
                "{w:?}"
            );
            let r = read_error(io_err(kind));
            assert!(matches!(r, StoreError::Unavailable { .. }), "{r:?}");
        }
    }

    #[test]
    fn script_errors_are_backend_errors() {
        let e: RedisError = (
            ErrorKind::ResponseError,
            "script failed",
            "ERR user_script:1".to_owned(),
        )
            .into();
        assert!(matches!(
            write_error("k", e, true),
            StoreError::Backend { .. }
        ));
        let e: RedisError = (
            ErrorKind::ResponseError,
            "script failed",
            "ERR user_script:1".to_owned(),
        )
            .into();
        assert!(matches!(
            write_error("k", e, false),
            StoreError::Backend { .. }
        ));
    }
}
