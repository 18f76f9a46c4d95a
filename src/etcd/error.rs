//! [`EtcdError`]: the sources this backend puts into [`StoreError`], and how a driver error is
//! classified: certainly not carried out, maybe carried out, or refused.
//!
//! The rule: a write is only reported as not having happened when that is certain — the
//! member could not be reached (`tonic::ConnectError`: the request never left), or etcd
//! refused it before proposing it to Raft (no leader, checked by the `hasleader` interceptor
//! this client asks for; not capable; too many requests; an invalid request). Anything else
//! once the request was sent (a timeout, a connection lost, `etcdserver: request timed out`,
//! `leader changed`, `server stopped`) may have been applied: `Indeterminate`.

use std::time::Duration;

use etcd_client::Error as ClientError;
use tonic::Code;

use crate::StoreError;

/// What went wrong in the etcd backend: the `source` of the [`StoreError`] it returns.
///
/// Match on the [`StoreError`] variant to decide what to do; downcast its source to this type
/// for the details.
///
/// ```
/// use optimist::StoreError;
/// use optimist::etcd::{EtcdError, EtcdOptions, EtcdStore};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let Err(StoreError::Backend { source }) = EtcdStore::connect("http://127.0.0.1:2379", EtcdOptions::default()).await else {
///     panic!("only etcd:// URLs are accepted");
/// };
/// assert!(matches!(source.downcast_ref::<EtcdError>(), Some(EtcdError::InvalidUrl { .. })));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EtcdError {
    /// The URL is not `etcd://host:port[,host:port...]`.
    #[error("invalid etcd URL {url:?}: {reason} (expected etcd://HOST:PORT[,HOST:PORT...])")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The options cannot work (for example `max_txn_ops` of 0).
    #[error("invalid etcd options: {0}")]
    InvalidOptions(String),
    /// The keep-alive interval is shorter than etcd's default `--grpc-keepalive-min-time`.
    #[error(
        "keep-alive interval {interval:?} is below etcd's --grpc-keepalive-min-time (5 s): \
         the server would close the connection with too_many_pings"
    )]
    KeepAliveTooShort {
        /// The interval asked for.
        interval: Duration,
    },
    /// The member could not be reached: the request was never sent.
    #[error("cannot connect to etcd member {endpoint}: {source}")]
    Connect {
        /// The member's `host:port`.
        endpoint: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// The member refused the request before doing anything with it because it cannot serve
    /// it now (`etcdserver: no leader` during an election, `too many requests`, `not
    /// capable`, a learner).
    #[error("etcd member {endpoint} cannot serve requests now: {source}")]
    NotServing {
        /// The member's `host:port`.
        endpoint: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// No answer from the member within the request timeout.
    #[error("no answer from etcd member {endpoint} within {after:?}")]
    Timeout {
        /// The member's `host:port`.
        endpoint: String,
        /// The request timeout.
        after: Duration,
    },
    /// The request failed after it was sent (connection lost, the server timed out waiting
    /// for Raft, the leader changed, the member stopped): it may have been applied.
    #[error("etcd request to member {endpoint} cut off: {source}")]
    Cut {
        /// The member's `host:port`.
        endpoint: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// The cluster refused the request as it is (too large, too many operations, permission
    /// denied, database space exceeded); nothing was applied, and sending it again unchanged
    /// fails the same way.
    #[error("etcd member {endpoint} refused the request: {source}")]
    Refused {
        /// The member's `host:port`.
        endpoint: String,
        /// The client's error.
        #[source]
        source: ClientError,
    },
    /// A key under the store's prefix holds something this backend did not write.
    #[error("etcd key {key:?} holds a malformed entry: {reason}")]
    MalformedEntry {
        /// The etcd key, as text where it is UTF-8.
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// etcd answered a transaction with something it never sends for it.
    #[error("unexpected etcd reply for key {key:?}: {reason}")]
    UnexpectedReply {
        /// The store's key.
        key: String,
        /// What was unexpected.
        reason: &'static str,
    },
}

impl From<EtcdError> for StoreError {
    fn from(e: EtcdError) -> Self {
        StoreError::backend(e)
    }
}

/// What a failed request certainly did or did not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    /// Certainly nothing: the request never arrived, or was refused before it was proposed.
    /// Safe to send again, to another member.
    NotApplied,
    /// Maybe applied: the request was sent and no answer came back.
    Unknown,
    /// Refused as it is; nothing was applied, and sending it again would not help.
    Refused,
}

/// A classified failure of one request to one member.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) outcome: Outcome,
    pub(super) error: EtcdError,
}

impl Failure {
    /// The failure of a request to `endpoint` that ended with `e`.
    pub(super) fn classify(endpoint: &str, e: ClientError) -> Self {
        let endpoint = endpoint.to_owned();
        let outcome = outcome_of(&e);
        let error = match outcome {
            Outcome::NotApplied if never_sent(&e) => EtcdError::Connect {
                endpoint,
                source: e,
            },
            Outcome::NotApplied => EtcdError::NotServing {
                endpoint,
                source: e,
            },
            Outcome::Unknown => EtcdError::Cut {
                endpoint,
                source: e,
            },
            Outcome::Refused => EtcdError::Refused {
                endpoint,
                source: e,
            },
        };
        Self { outcome, error }
    }

    /// No answer from `endpoint` within `after`.
    pub(super) fn timeout(endpoint: &str, after: Duration) -> Self {
        Self {
            outcome: Outcome::Unknown,
            error: EtcdError::Timeout {
                endpoint: endpoint.to_owned(),
                after,
            },
        }
    }

    /// The error of a write to `key` that failed this way (and was not tried again).
    pub(super) fn into_write_error(self, key: &str) -> StoreError {
        match self.outcome {
            Outcome::NotApplied => StoreError::Unavailable {
                source: Box::new(self.error),
            },
            Outcome::Unknown => StoreError::Indeterminate {
                key: key.to_owned(),
                source: Box::new(self.error),
            },
            Outcome::Refused => StoreError::backend(self.error),
        }
    }

    /// The error of a read that failed this way (and was not tried again).
    pub(super) fn into_read_error(self) -> StoreError {
        match self.outcome {
            Outcome::NotApplied | Outcome::Unknown => StoreError::Unavailable {
                source: Box::new(self.error),
            },
            Outcome::Refused => StoreError::backend(self.error),
        }
    }
}

/// Whether the request never left: the connection to the member could not be opened.
fn never_sent(e: &ClientError) -> bool {
    match e {
        ClientError::TransportError(_) => true,
        ClientError::GRpcStatus(status) => {
            let mut source = std::error::Error::source(status);
            while let Some(s) = source {
                if s.is::<tonic::ConnectError>() {
                    return true;
                }
                source = s.source();
            }
            false
        }
        _ => false,
    }
}

/// The messages of the errors etcd 3.4 returns before a request reaches Raft (from its
/// `rpctypes` package): the request was certainly not applied.
const REFUSED_BEFORE_PROPOSING: &[&str] = &[
    "etcdserver: no leader",
    "etcdserver: not capable",
    "etcdserver: rpc not supported for learner",
    "etcdserver: too many requests",
];

fn outcome_of(e: &ClientError) -> Outcome {
    if never_sent(e) {
        return Outcome::NotApplied;
    }
    let ClientError::GRpcStatus(status) = e else {
        return match e {
            ClientError::InvalidArgs(_) | ClientError::InvalidUri(_) => Outcome::Refused,
            _ => Outcome::Unknown,
        };
    };
    if REFUSED_BEFORE_PROPOSING.contains(&status.message()) {
        return Outcome::NotApplied;
    }
    match status.code() {
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::PermissionDenied
        | Code::Unauthenticated
        | Code::Unimplemented
        | Code::NotFound
        | Code::AlreadyExists
        | Code::ResourceExhausted => Outcome::Refused,
        // Unavailable (timeouts waiting for Raft, leader changed, stopped, a dropped
        // connection), Unknown, Internal, Cancelled, DeadlineExceeded, Aborted, DataLoss.
        _ => Outcome::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, message: &str) -> ClientError {
        ClientError::GRpcStatus(tonic::Status::new(code, message))
    }

    #[test]
    fn refusals_before_raft_are_not_applied() {
        for message in REFUSED_BEFORE_PROPOSING {
            let code = if message.ends_with("too many requests") {
                Code::ResourceExhausted
            } else {
                Code::Unavailable
            };
            let f = Failure::classify("m:1", status(code, message));
            assert_eq!(f.outcome, Outcome::NotApplied, "{message}");
            assert!(matches!(f.error, EtcdError::NotServing { .. }));
            assert!(matches!(
                f.into_write_error("k"),
                StoreError::Unavailable { .. }
            ));
        }
    }

    #[test]
    fn errors_after_proposing_are_indeterminate_for_writes_and_unavailable_for_reads() {
        for message in [
            "etcdserver: request timed out",
            "etcdserver: request timed out, possibly due to previous leader failure",
            "etcdserver: leader changed",
            "etcdserver: server stopped",
            "error reading a body from connection",
        ] {
            let f = Failure::classify("m:1", status(Code::Unavailable, message));
            assert_eq!(f.outcome, Outcome::Unknown, "{message}");
            assert!(
                matches!(f.into_write_error("k"), StoreError::Indeterminate { ref key, .. } if key == "k")
            );
            let f = Failure::classify("m:1", status(Code::Unavailable, message));
            assert!(matches!(
                f.into_read_error(),
                StoreError::Unavailable { .. }
            ));
        }
        for code in [
            Code::Unknown,
            Code::Internal,
            Code::Cancelled,
            Code::DeadlineExceeded,
        ] {
            let f = Failure::classify("m:1", status(code, "anything"));
            assert_eq!(f.outcome, Outcome::Unknown, "{code:?}");
        }
        let f = Failure::timeout("m:1", Duration::from_secs(1));
        assert!(matches!(
            f.into_write_error("k"),
            StoreError::Indeterminate { .. }
        ));
    }

    #[test]
    fn invalid_requests_are_refused_backend_errors() {
        for (code, message) in [
            (Code::InvalidArgument, "etcdserver: request is too large"),
            (
                Code::InvalidArgument,
                "etcdserver: too many operations in txn request",
            ),
            (
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
            ),
            (Code::PermissionDenied, "etcdserver: permission denied"),
        ] {
            let f = Failure::classify("m:1", status(code, message));
            assert_eq!(f.outcome, Outcome::Refused, "{message}");
            assert!(matches!(
                f.into_write_error("k"),
                StoreError::Backend { .. }
            ));
        }
    }

    #[test]
    fn a_connect_error_in_the_source_chain_means_never_sent() {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let status = tonic::Status::from_error(Box::new(tonic::ConnectError(Box::new(io))));
        assert_eq!(status.code(), Code::Unavailable);
        let f = Failure::classify("m:1", ClientError::GRpcStatus(status));
        assert_eq!(f.outcome, Outcome::NotApplied);
        assert!(matches!(f.error, EtcdError::Connect { .. }));
        // The same code without the connect error: the connection broke after sending.
        let f = Failure::classify("m:1", status_unavailable_reset());
        assert_eq!(f.outcome, Outcome::Unknown);
    }

    fn status_unavailable_reset() -> ClientError {
        let io = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        ClientError::GRpcStatus(tonic::Status::from_error(Box::new(io)))
    }
}
