//! [`RedisOptions`]: key prefix and timeouts of a [`RedisStore`](super::RedisStore).

use std::time::Duration;

/// How a [`RedisStore`](super::RedisStore) connects and names its keys.
///
/// Defaults: prefix `"optimist"`, response timeout 5 s, connection timeout 5 s, no
/// reconnect retries inside one operation (a failed reconnect is retried by the next one);
/// in Redis Cluster mode 10 resends of a request (redirects, failovers).
///
/// ```
/// use std::time::Duration;
/// use optimist::redis::RedisOptions;
///
/// let options = RedisOptions::default()
///     .prefix("users")
///     .response_timeout(Duration::from_secs(2))
///     .connection_timeout(Duration::from_secs(1));
/// assert_eq!(options.get_prefix(), "users");
/// assert_eq!(options.get_response_timeout(), Duration::from_secs(2));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisOptions {
    pub(super) prefix: String,
    pub(super) response_timeout: Duration,
    pub(super) connection_timeout: Duration,
    pub(super) reconnect_retries: usize,
    pub(super) cluster_retries: u32,
    pub(super) hash_tag: Option<String>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        Self {
            prefix: "optimist".to_owned(),
            response_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(5),
            reconnect_retries: 0,
            cluster_retries: 10,
            hash_tag: None,
        }
    }
}

impl RedisOptions {
    /// Namespaces every key of the store: values live under `{prefix}:k:{key}`, the
    /// store-wide version counter under `{prefix}:version`.
    ///
    /// Stores sharing a prefix share their data and their counter (that is how several
    /// service instances share one store). Use distinct prefixes for distinct stores, and
    /// do not pick one that starts with another prefix followed by `:k:`.
    ///
    /// The listing index is `{prefix}:index`. In Redis Cluster mode each hash slot has its
    /// own counter `{prefix}:version:{T}`, index `{prefix}:index:{T}` and write markers
    /// `{prefix}:w:{T}:{id}`, where `T` is a tag hashing to that slot; there the prefix may
    /// not hold `{` or `}` (the keys' own hash tags decide their slots), and
    /// [`connect`](super::RedisStore::connect) refuses one that does.
    ///
    /// ```
    /// let options = optimist::redis::RedisOptions::default().prefix("orders");
    /// assert_eq!(options.get_prefix(), "orders");
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Puts every key of the store into the hash slot of `tag` (default: none, each key's
    /// own hash tag decides): values then live under `{prefix}:{{tag}}:k:{key}`.
    ///
    /// In Redis Cluster mode this lets any keys of the store share a multi-key commit and any
    /// prefix be listed, at the price of keeping the whole store on one master (the cluster
    /// then gives failover, not spread). On a single server it only changes the key names.
    /// Every process sharing a store must use the same tag. [`connect`](super::RedisStore::connect)
    /// refuses an empty tag or one holding `{` or `}`.
    ///
    /// ```
    /// let options = optimist::redis::RedisOptions::default().hash_tag("users");
    /// assert_eq!(options.get_hash_tag(), Some("users"));
    /// ```
    pub fn hash_tag(mut self, tag: impl Into<String>) -> Self {
        self.hash_tag = Some(tag.into());
        self
    }

    /// The store-wide hash tag set with [`hash_tag`](Self::hash_tag), if any.
    ///
    /// ```
    /// assert_eq!(optimist::redis::RedisOptions::default().get_hash_tag(), None);
    /// ```
    pub fn get_hash_tag(&self) -> Option<&str> {
        self.hash_tag.as_deref()
    }

    /// How long to wait for the server's reply to one command (default 5 s).
    ///
    /// A write whose reply does not come in time is reported as
    /// [`StoreError::Indeterminate`](crate::StoreError::Indeterminate): it was sent and may
    /// still be applied. A read that times out is
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = optimist::redis::RedisOptions::default().response_timeout(Duration::from_millis(500));
    /// assert_eq!(options.get_response_timeout(), Duration::from_millis(500));
    /// ```
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// How long one attempt to connect (or reconnect) may take (default 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = optimist::redis::RedisOptions::default().connection_timeout(Duration::from_secs(1));
    /// assert_eq!(options.get_connection_timeout(), Duration::from_secs(1));
    /// ```
    pub fn connection_timeout(mut self, timeout: Duration) -> Self {
        self.connection_timeout = timeout;
        self
    }

    /// How many times a (re)connection is retried before the operation waiting for it fails
    /// (default 0). Each retry first waits about one to two seconds, the next ones longer
    /// (at most about four), so every retry lengthens the time an operation may wait for an
    /// unreachable server. With 0 an operation fails at once with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable) and the next operation
    /// tries to reconnect again.
    ///
    /// ```
    /// let options = optimist::redis::RedisOptions::default().reconnect_retries(2);
    /// assert_eq!(options.get_reconnect_retries(), 2);
    /// ```
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = retries;
        self
    }

    /// Redis Cluster mode only: how many times the client resends one request after a
    /// redirect (`MOVED`, `ASK`), `TRYAGAIN`/`CLUSTERDOWN`, or a dropped connection, waiting
    /// 50 ms to 1 s between attempts (default 10: long enough to ride out a failover of a
    /// few seconds). A resent write cannot apply twice: each write carries a write id, and a
    /// resend of a write that already applied answers that write's result.
    ///
    /// ```
    /// let options = optimist::redis::RedisOptions::default().cluster_retries(3);
    /// assert_eq!(options.get_cluster_retries(), 3);
    /// ```
    pub fn cluster_retries(mut self, retries: u32) -> Self {
        self.cluster_retries = retries;
        self
    }

    /// The number of resends in Redis Cluster mode.
    pub fn get_cluster_retries(&self) -> u32 {
        self.cluster_retries
    }

    /// The key prefix.
    pub fn get_prefix(&self) -> &str {
        &self.prefix
    }

    /// The response timeout.
    pub fn get_response_timeout(&self) -> Duration {
        self.response_timeout
    }

    /// The connection timeout.
    pub fn get_connection_timeout(&self) -> Duration {
        self.connection_timeout
    }

    /// The number of reconnect retries.
    pub fn get_reconnect_retries(&self) -> usize {
        self.reconnect_retries
    }
}
