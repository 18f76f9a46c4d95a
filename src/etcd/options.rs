//! [`EtcdOptions`]: key prefix, timeouts, fail-over and transaction limit of an
//! [`EtcdStore`](super::EtcdStore).

use std::time::Duration;

/// etcd's default `--grpc-keepalive-min-time`: a client pinging more often is sent a GOAWAY
/// (`too_many_pings`) and loses its connection. etcd 3.4 also refuses pings on a connection
/// with no request in flight (`PermitWithoutStream: false`), so this backend never pings an
/// idle connection.
pub const MIN_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(5);

/// etcd's default `--max-txn-ops`: the most compares, or operations per branch, one
/// transaction may carry.
pub const DEFAULT_MAX_TXN_OPS: usize = 128;

/// How an [`EtcdStore`](super::EtcdStore) talks to the cluster and names its keys.
///
/// Defaults: prefix `"optimist/"`, request timeout 5 s, connect timeout 2 s, fail-over for up to
/// 5 s, no HTTP/2 keep-alive pings, at most [`DEFAULT_MAX_TXN_OPS`] keys per commit.
///
/// ```
/// use std::time::Duration;
/// use optimist::etcd::EtcdOptions;
///
/// let options = EtcdOptions::default()
///     .prefix("users/")
///     .request_timeout(Duration::from_secs(2))
///     .failover_timeout(Duration::from_secs(10));
/// assert_eq!(options.get_prefix(), "users/");
/// assert_eq!(options.get_request_timeout(), Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOptions {
    pub(super) prefix: String,
    pub(super) request_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) failover_timeout: Duration,
    pub(super) keep_alive: Option<(Duration, Duration)>,
    pub(super) max_txn_ops: usize,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            prefix: "optimist/".to_owned(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            failover_timeout: Duration::from_secs(5),
            keep_alive: None,
            max_txn_ops: DEFAULT_MAX_TXN_OPS,
        }
    }
}

impl EtcdOptions {
    /// Namespaces every key of the store: `key` lives at the etcd key `{prefix}{key}` (bytes
    /// as they are, no separator added).
    ///
    /// Stores sharing a prefix share their data (that is how several service instances share
    /// one store). Use distinct prefixes for distinct stores, and do not pick one that starts
    /// with another store's prefix: its keys would show up in the other store's listings. The
    /// empty prefix gives the store the whole key space (and then the empty key cannot be
    /// stored: etcd has no empty key).
    ///
    /// ```
    /// let options = optimist::etcd::EtcdOptions::default().prefix("orders/");
    /// assert_eq!(options.get_prefix(), "orders/");
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one request to one member may take (default 5 s).
    ///
    /// A write without an answer in time is
    /// [`StoreError::Indeterminate`](crate::StoreError::Indeterminate): it was sent and may
    /// still be applied. A read without an answer is tried on the next member (see
    /// [`failover_timeout`](Self::failover_timeout)).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = optimist::etcd::EtcdOptions::default().request_timeout(Duration::from_millis(800));
    /// assert_eq!(options.get_request_timeout(), Duration::from_millis(800));
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How long opening a connection to one member may take (default 2 s). A member that
    /// cannot be reached in time is skipped: nothing was sent to it.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = optimist::etcd::EtcdOptions::default().connect_timeout(Duration::from_millis(300));
    /// assert_eq!(options.get_connect_timeout(), Duration::from_millis(300));
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long an operation keeps going through the other members (default 5 s) when the
    /// member it asked certainly did nothing: it could not be reached, or it had no leader
    /// (an election is under way), or it was too busy. Reads are also tried again after a
    /// timeout or a lost connection, since reading twice is harmless; writes are not (they
    /// are `Indeterminate`). When the time is up the operation is
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    ///
    /// A leader election after a member dies takes about one to two election timeouts
    /// (etcd's `--election-timeout`, default 1 s), so the default rides one out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = optimist::etcd::EtcdOptions::default().failover_timeout(Duration::ZERO);
    /// assert_eq!(options.get_failover_timeout(), Duration::ZERO); // one attempt per member
    /// ```
    pub fn failover_timeout(mut self, timeout: Duration) -> Self {
        self.failover_timeout = timeout;
        self
    }

    /// Sends HTTP/2 keep-alive pings every `interval` while a request is in flight, and drops
    /// the connection when a ping is not answered within `timeout` (default: no pings; the
    /// [request timeout](Self::request_timeout) bounds every request anyway).
    ///
    /// Pings are never sent on an idle connection: etcd 3.4 counts those as abuse and closes
    /// the connection with `too_many_pings`. For the same reason `interval` must be at least
    /// the server's `--grpc-keepalive-min-time` (default [`MIN_KEEP_ALIVE_INTERVAL`], 5 s);
    /// [`EtcdStore::connect`](super::EtcdStore::connect) refuses a shorter one with
    /// [`EtcdError::KeepAliveTooShort`](super::EtcdError::KeepAliveTooShort). Pings matter
    /// only with a request timeout longer than `interval`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = optimist::etcd::EtcdOptions::default()
    ///     .request_timeout(Duration::from_secs(60))
    ///     .keep_alive(Duration::from_secs(10), Duration::from_secs(5));
    /// assert_eq!(options.get_keep_alive(), Some((Duration::from_secs(10), Duration::from_secs(5))));
    /// ```
    pub fn keep_alive(mut self, interval: Duration, timeout: Duration) -> Self {
        self.keep_alive = Some((interval, timeout));
        self
    }

    /// The most keys one [`Commit`](crate::Commit) may name (default
    /// [`DEFAULT_MAX_TXN_OPS`], 128): set it to the cluster's `--max-txn-ops`.
    ///
    /// A commit of `n` keys is one etcd transaction with at most `n` compares, `n` operations
    /// on success and `n` reads on failure, so it needs `n <= --max-txn-ops`. A larger commit
    /// is refused before anything is sent ([`StoreError::InvalidCommit`](crate::StoreError::InvalidCommit)),
    /// and [`capabilities`](crate::VersionedStore::capabilities) reports this number.
    ///
    /// ```
    /// let options = optimist::etcd::EtcdOptions::default().max_txn_ops(1024);
    /// assert_eq!(options.get_max_txn_ops(), 1024);
    /// ```
    pub fn max_txn_ops(mut self, max: usize) -> Self {
        self.max_txn_ops = max;
        self
    }

    /// The key prefix.
    pub fn get_prefix(&self) -> &str {
        &self.prefix
    }

    /// The timeout of one request.
    pub fn get_request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The timeout of opening one connection.
    pub fn get_connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How long an operation goes through the other members.
    pub fn get_failover_timeout(&self) -> Duration {
        self.failover_timeout
    }

    /// The keep-alive interval and timeout, if pings are on.
    pub fn get_keep_alive(&self) -> Option<(Duration, Duration)> {
        self.keep_alive
    }

    /// The most keys per commit.
    pub fn get_max_txn_ops(&self) -> usize {
        self.max_txn_ops
    }
}
