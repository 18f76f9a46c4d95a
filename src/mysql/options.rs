//! [`MysqlOptions`]: table, pool size, timeouts and commit retries.

use std::time::Duration;

/// How a [`MysqlStore`](super::MysqlStore) connects and where it keeps its data.
///
/// Every timeout is bounded by default, so an unreachable server, an exhausted pool or a
/// stuck statement ends in an error instead of a hang.
///
/// | option | default | what it bounds |
/// |---|---|---|
/// | [`table`](Self::table) | `optimist_kv` | the table (its sequence is named after it) |
/// | [`max_size`](Self::max_size) | 16 | connections in the pool |
/// | [`wait_timeout`](Self::wait_timeout) | 5 s | waiting for a free connection |
/// | [`connect_timeout`](Self::connect_timeout) | 5 s | opening a new connection |
/// | [`statement_timeout`](Self::statement_timeout) | 5 s | one statement, on the client |
/// | [`create_schema`](Self::create_schema) | `true` | the first operation creates the schema |
/// | [`commit_attempts`](Self::commit_attempts) | 3 | runs of a transaction InnoDB aborted as a deadlock |
///
/// ```
/// use std::time::Duration;
/// use optimist::mysql::MysqlOptions;
///
/// let options = MysqlOptions::default()
///     .table("users")
///     .max_size(32)
///     .statement_timeout(Duration::from_millis(1500));
/// assert_eq!(options.table_name(), "users");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlOptions {
    pub(crate) table: String,
    pub(crate) max_size: usize,
    pub(crate) wait_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) statement_timeout: Duration,
    pub(crate) create_schema: bool,
    pub(crate) commit_attempts: u32,
}

impl Default for MysqlOptions {
    fn default() -> Self {
        Self {
            table: "optimist_kv".to_owned(),
            max_size: 16,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            create_schema: true,
            commit_attempts: 3,
        }
    }
}

impl MysqlOptions {
    /// The table holding the keys. It must match `^[A-Za-z_][A-Za-z0-9_]{0,51}$` (it is the
    /// only thing ever put into SQL text, always back-quoted; 52 bytes leave room for the
    /// sequence's suffix `_version_seq` within MariaDB's 64);
    /// [`MysqlStore::connect`](super::MysqlStore::connect) rejects anything else with
    /// [`MysqlError::InvalidTableName`](super::MysqlError::InvalidTableName).
    ///
    /// ```
    /// let options = optimist::mysql::MysqlOptions::default().table("sessions");
    /// assert_eq!(options.table_name(), "sessions");
    /// ```
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The most connections the pool opens (at least 1).
    ///
    /// ```
    /// let options = optimist::mysql::MysqlOptions::default().max_size(4);
    /// # let _ = options;
    /// ```
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size.max(1);
        self
    }

    /// How long an operation waits for a free connection when all `max_size` are in use;
    /// after that it fails with [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = optimist::mysql::MysqlOptions::default().wait_timeout(Duration::from_secs(1));
    /// # let _ = options;
    /// ```
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// How long opening a new connection may take; after that the operation fails with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = optimist::mysql::MysqlOptions::default()
    ///     .connect_timeout(Duration::from_secs(1));
    /// # let _ = options;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one statement may take, measured on the client. A write cut off after its
    /// `COMMIT` was sent is [`StoreError::Indeterminate`](crate::StoreError::Indeterminate);
    /// before that, and for reads,
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable). The store then kills
    /// the connection on the server (`KILL CONNECTION`, from a connection of its own), which
    /// rolls back whatever it had not committed and releases its locks.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = optimist::mysql::MysqlOptions::default()
    ///     .statement_timeout(Duration::from_secs(2));
    /// # let _ = options;
    /// ```
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// Whether the first operation creates the table and its sequence when they are missing
    /// (default `true`). With `false`, call [`MysqlStore::migrate`](super::MysqlStore::migrate)
    /// yourself.
    ///
    /// ```
    /// let options = optimist::mysql::MysqlOptions::default().create_schema(false);
    /// # let _ = options;
    /// ```
    pub fn create_schema(mut self, create: bool) -> Self {
        self.create_schema = create;
        self
    }

    /// How many times a write runs when InnoDB aborts its transaction as a deadlock victim
    /// (error 1213, which rolls the whole transaction back) before anything was committed
    /// (at least 1; default 3). The last such error is returned as
    /// [`StoreError::Backend`](crate::StoreError::Backend).
    ///
    /// ```
    /// let options = optimist::mysql::MysqlOptions::default().commit_attempts(5);
    /// # let _ = options;
    /// ```
    pub fn commit_attempts(mut self, attempts: u32) -> Self {
        self.commit_attempts = attempts.max(1);
        self
    }

    /// The table name set with [`table`](Self::table) (not yet validated).
    ///
    /// ```
    /// assert_eq!(optimist::mysql::MysqlOptions::default().table_name(), "optimist_kv");
    /// ```
    pub fn table_name(&self) -> &str {
        &self.table
    }
}
