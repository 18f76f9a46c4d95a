//! [`SqliteOptions`]: table, busy timeout, reader connections and durability.

use std::time::Duration;

/// How [`SqliteStore::open`](super::SqliteStore::open) sets up the store: the table name,
/// the busy timeout, the number of reader connections, and how often commits are synced.
///
/// | option | default | what it sets |
/// |---|---|---|
/// | [`table`](Self::table) | `optimist` | the table (its counter table is `<name>_counter`) |
/// | [`busy_timeout`](Self::busy_timeout) | 5 s | waiting for the write lock or a free connection |
/// | [`max_readers`](Self::max_readers) | 4 | reader connections open at once |
/// | [`full_sync`](Self::full_sync) | `false` | `synchronous=FULL` instead of `NORMAL` |
///
/// ```
/// use std::time::Duration;
/// use optimist::sqlite::SqliteOptions;
///
/// let options = SqliteOptions::default()
///     .table("documents")
///     .busy_timeout(Duration::from_secs(2))
///     .max_readers(8);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    pub(super) table: String,
    pub(super) busy_timeout: Duration,
    pub(super) max_readers: usize,
    pub(super) full_sync: bool,
}

impl Default for SqliteOptions {
    /// Table `optimist`, busy timeout 5 s, 4 reader connections, `synchronous=NORMAL`.
    fn default() -> Self {
        Self {
            table: "optimist".to_owned(),
            busy_timeout: Duration::from_secs(5),
            max_readers: 4,
            full_sync: false,
        }
    }
}

impl SqliteOptions {
    /// The table holding the keys (its counter table is `<name>_counter`). It must match
    /// `^[A-Za-z_][A-Za-z0-9_]{0,62}$` and not start with `sqlite_`; otherwise
    /// [`SqliteStore::open`](super::SqliteStore::open) fails with
    /// [`SqliteError::InvalidTableName`](super::SqliteError::InvalidTableName). Default:
    /// `optimist`.
    ///
    /// ```
    /// let options = optimist::sqlite::SqliteOptions::default().table("sessions");
    /// # let _ = options;
    /// ```
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// How long an operation waits for a lock or a free connection before it gives up with
    /// [`StoreError::Unavailable`](crate::StoreError::Unavailable) (nothing written). For a
    /// write it bounds the wait for this store's writer connection and for the database's
    /// write lock together. Default: 5 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let options = optimist::sqlite::SqliteOptions::default().busy_timeout(Duration::from_millis(500));
    /// # let _ = options;
    /// ```
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The most reader connections the store keeps open (at least 1), opened as needed.
    /// Default: 4.
    ///
    /// ```
    /// let options = optimist::sqlite::SqliteOptions::default().max_readers(2);
    /// # let _ = options;
    /// ```
    pub fn max_readers(mut self, n: usize) -> Self {
        self.max_readers = n.max(1);
        self
    }

    /// Whether every commit is synced to disk (`synchronous=FULL`) rather than only at
    /// checkpoints (`synchronous=NORMAL`, the default).
    ///
    /// With `NORMAL` in WAL mode a committed write survives a crash of the process, but the
    /// last commits before a power loss or operating-system crash may be lost, together
    /// with their counter increments, so a version a client already saw could be handed out
    /// again for other content. `FULL` closes that gap at the cost of an `fsync` per write.
    /// Default: `false`.
    ///
    /// ```
    /// let options = optimist::sqlite::SqliteOptions::default().full_sync(true);
    /// # let _ = options;
    /// ```
    pub fn full_sync(mut self, on: bool) -> Self {
        self.full_sync = on;
        self
    }
}
