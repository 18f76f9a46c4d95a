//! [`PostgresOptions`]: table, pool size and timeouts.

use std::time::Duration;

/// How a [`PostgresStore`](super::PostgresStore) connects and where it keeps its data.
///
/// Every timeout is bounded by default, so an unreachable server, an exhausted pool or a
/// stuck statement ends in an error instead of a hang.
///
/// | option | default | what it bounds |
/// |---|---|---|
/// | [`table`](Self::table) | `optimist_kv` | the table (its sequence is named after it) |
/// | [`max_size`](Self::max_size) | 16 | connections in the pool |
/// | [`wait_timeout`](Self::wait_timeout) | 5 s | waiting for a free connection when all are busy |
/// | [`connect_timeout`](Self::connect_timeout) | 5 s | opening a new connection |
/// | [`statement_timeout`](Self::statement_timeout) | 5 s | one statement, measured on the client |
/// | [`application_name`](Self::application_name) | from the URL, else none | what `pg_stat_activity` shows |
/// | [`create_schema`](Self::create_schema) | `true` | whether the first operation creates the table and sequence |
/// | [`commit_attempts`](Self::commit_attempts) | 3 | runs of a multi-key commit that PostgreSQL aborted with a deadlock or serialization failure |
///
/// ```
/// use std::time::Duration;
/// use optimist::postgres::PostgresOptions;
///
/// let options = PostgresOptions::default()
///     .table("users")
///     .max_size(32)
///     .wait_timeout(Duration::from_secs(2))
///     .statement_timeout(Duration::from_millis(1500))
///     .application_name("users-api");
/// assert_eq!(options.table_name(), "users");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
    pub(crate) table: String,
    pub(crate) max_size: usize,
    pub(crate) wait_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) statement_timeout: Duration,
    pub(crate) application_name: Option<String>,
    pub(crate) create_schema: bool,
    pub(crate) commit_attempts: u32,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            table: "optimist_kv".to_owned(),
            max_size: 16,
            wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(5),
            application_name: None,
            create_schema: true,
            commit_attempts: 3,
        }
    }
}

impl PostgresOptions {
    /// The table holding the keys. It must match `^[A-Za-z_][A-Za-z0-9_]{0,62}$` (it is the
    /// only thing ever put into SQL text, always double-quoted, so case is kept);
    /// [`PostgresStore::connect`](super::PostgresStore::connect) rejects anything else with
    /// [`PostgresError::InvalidTableName`](super::PostgresError::InvalidTableName).
    ///
    /// ```
    /// let options = optimist::postgres::PostgresOptions::default().table("sessions");
    /// assert_eq!(options.table_name(), "sessions");
    /// ```
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The most connections the pool opens (at least 1).
    ///
    /// ```
    /// let options = optimist::postgres::PostgresOptions::default().max_size(4);
    /// # let _ = options;
    /// ```
    pub fn max_size(mut self, max_size: usize) -> Self {
        self.max_size = max_size.max(1);
        self
    }

    /// How long an operation waits for a free connection when all `max_size` are in use;
    /// after that it fails with [`StoreError::Unavailable`](crate::StoreError::Unavailable)
    /// ([`PostgresError::PoolExhausted`](super::PostgresError::PoolExhausted)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = optimist::postgres::PostgresOptions::default().wait_timeout(Duration::from_millis(200));
    /// # let _ = options;
    /// ```
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// How long opening a new connection may take (TCP connect, startup and authentication);
    /// after that the operation fails with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = optimist::postgres::PostgresOptions::default().connect_timeout(Duration::from_secs(1));
    /// # let _ = options;
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one statement may take, measured on the client (`tokio::time::timeout`)
    /// from preparing it to its result. A write cut off this way is
    /// [`StoreError::Indeterminate`](crate::StoreError::Indeterminate) (it was sent and may
    /// still commit), a read [`StoreError::Unavailable`](crate::StoreError::Unavailable); the
    /// store then sends the server a cancel request and closes that connection.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let options = optimist::postgres::PostgresOptions::default().statement_timeout(Duration::from_secs(2));
    /// # let _ = options;
    /// ```
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// The `application_name` of the store's connections, shown in `pg_stat_activity`
    /// (overrides one given in the URL).
    ///
    /// ```
    /// let options = optimist::postgres::PostgresOptions::default().application_name("billing");
    /// # let _ = options;
    /// ```
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Whether the first operation creates the table and its sequence when they are missing
    /// (default `true`). With `false`, call
    /// [`PostgresStore::migrate`](super::PostgresStore::migrate) yourself (for example from a
    /// deployment step); operations on a missing table fail with
    /// [`StoreError::Backend`](crate::StoreError::Backend).
    ///
    /// ```
    /// let options = optimist::postgres::PostgresOptions::default().create_schema(false);
    /// # let _ = options;
    /// ```
    pub fn create_schema(mut self, create: bool) -> Self {
        self.create_schema = create;
        self
    }

    /// How many times a multi-key commit runs when PostgreSQL aborts its transaction with a
    /// deadlock (`40P01`) or a serialization failure (`40001`) before anything was committed
    /// (at least 1; default 3). The last such error is returned as
    /// [`StoreError::Backend`](crate::StoreError::Backend). The store's own operations never
    /// deadlock each other (they lock in one order); other clients of the table can.
    ///
    /// ```
    /// let options = optimist::postgres::PostgresOptions::default().commit_attempts(5);
    /// # let _ = options;
    /// ```
    pub fn commit_attempts(mut self, attempts: u32) -> Self {
        self.commit_attempts = attempts.max(1);
        self
    }

    /// The table name set with [`table`](Self::table) (not yet validated).
    ///
    /// ```
    /// assert_eq!(optimist::postgres::PostgresOptions::default().table_name(), "optimist_kv");
    /// ```
    pub fn table_name(&self) -> &str {
        &self.table
    }
}
