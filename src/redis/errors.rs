//! How driver errors become [`StoreError`]s.
//!
//! The rule: a write is only reported as not having happened when the driver says so for
//! certain (the connection was refused, or the server refused the command before running it).
//! Any I/O failure, dropped connection or timeout once a write may have been sent is
//! [`StoreError::Indeterminate`]. Reads failing that way are [`StoreError::Unavailable`].

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
    /// A script replied with something it never returns.
    #[error("unexpected reply from the optimist {script} script for key {key:?}: {reply:?}")]
    Reply {
        /// Which script.
        script: &'static str,
        /// The store's key.
        key: String,
        /// The reply.
        reply: Vec<u64>,
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

/// The error of a write (a CAS script) to `key`.
pub(super) fn write_error(key: &str, e: RedisError) -> StoreError {
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
        let e = write_error("k", io_err(io::ErrorKind::ConnectionRefused));
        assert!(matches!(e, StoreError::Unavailable { .. }), "{e:?}");
    }

    #[test]
    fn cut_off_writes_are_indeterminate_and_reads_unavailable() {
        for kind in [
            io::ErrorKind::TimedOut,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::UnexpectedEof,
        ] {
            let w = write_error("k", io_err(kind));
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
        assert!(matches!(write_error("k", e), StoreError::Backend { .. }));
    }
}
