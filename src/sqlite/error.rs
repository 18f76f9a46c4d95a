//! What can go wrong in the SQLite backend, and how it maps onto [`StoreError`].

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::ErrorCode;

use crate::StoreError;

/// The source of a [`StoreError`] raised by the SQLite backend.
///
/// [`StoreError::Unavailable`] carries [`SqliteError::Busy`], [`SqliteError::WriterBusy`],
/// [`SqliteError::ReadersBusy`], [`SqliteError::WriterStopped`] (nothing sent) or
/// [`SqliteError::Commit`] (a refused write whose batch's `COMMIT` failed);
/// [`StoreError::Indeterminate`] carries [`SqliteError::Commit`] or
/// [`SqliteError::WriterStopped`]; everything else is [`StoreError::Backend`]. Reach it with [`std::error::Error::source`] and
/// `downcast_ref::<SqliteError>()`.
///
/// ```
/// use optimist::StoreError;
/// use optimist::sqlite::SqliteError;
///
/// fn is_busy(err: &StoreError) -> bool {
///     matches!(err, StoreError::Unavailable { source }
///         if matches!(source.downcast_ref::<SqliteError>(), Some(SqliteError::Busy { .. })))
/// }
/// # let _ = is_busy;
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The configured table name is not a plain SQL identifier.
    #[error(
        "invalid table name {name:?}: it must match ^[A-Za-z_][A-Za-z0-9_]{{0,62}}$ and must not start with \"sqlite_\""
    )]
    InvalidTableName {
        /// The name given.
        name: String,
    },
    /// The database path cannot be used (empty, or `:memory:`, which would give every pooled
    /// connection a database of its own).
    #[error("invalid SQLite database path {path:?}: {reason}")]
    InvalidPath {
        /// The path given.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The directory that should hold the database file does not exist.
    #[error("cannot open SQLite database {path:?}: its directory {dir:?} does not exist")]
    MissingDirectory {
        /// The database path.
        path: PathBuf,
        /// Its parent directory.
        dir: PathBuf,
    },
    /// SQLite could not open (or set up) the database file.
    #[error("cannot open SQLite database {path:?}: {source}")]
    Open {
        /// The database path.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The database refused write-ahead logging (for example on a file system without
    /// shared memory); the store needs it for concurrent readers.
    #[error("SQLite database {path:?} stayed in journal mode {mode:?}; WAL is required")]
    NoWal {
        /// The database path.
        path: PathBuf,
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The database stayed locked (`SQLITE_BUSY`) longer than the busy timeout; nothing was
    /// written.
    #[error("SQLite database locked for longer than the busy timeout of {timeout:?}: {source}")]
    Busy {
        /// The configured busy timeout.
        timeout: Duration,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// This store's writer connection stayed in use by other writes longer than the busy
    /// timeout; nothing was sent.
    #[error("no SQLite writer connection free within the busy timeout of {timeout:?}")]
    WriterBusy {
        /// The configured busy timeout.
        timeout: Duration,
    },
    /// Every reader connection of the pool stayed in use longer than the busy timeout.
    #[error("none of the {max} SQLite reader connections free within {timeout:?}")]
    ReadersBusy {
        /// The size of the reader pool.
        max: usize,
        /// The configured busy timeout.
        timeout: Duration,
    },
    /// `COMMIT` failed in a way that leaves unknown whether the write is stored.
    #[error("SQLite COMMIT failed, the write may or may not be stored: {source}")]
    Commit {
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// A column held something this store never writes (a version below 1, a time out of
    /// range): the table was changed by someone else.
    #[error("SQLite table holds an invalid {column} value {value}")]
    BadColumn {
        /// The column.
        column: &'static str,
        /// The value found.
        value: i64,
    },
    /// The store was used outside a tokio runtime, which it needs to run SQLite off the
    /// async executor.
    #[error("the SQLite store needs a tokio runtime (it runs SQLite with spawn_blocking)")]
    NoRuntime,
    /// The blocking task running the operation panicked or was cancelled (runtime shut
    /// down).
    #[error("the SQLite task did not finish: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The store's writer thread could not be started.
    #[error("cannot start the SQLite writer thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The store's writer thread stopped before answering a write (it panicked).
    #[error("the SQLite writer thread stopped")]
    WriterStopped,
    /// A write panicked on the writer thread; its transaction was rolled back.
    #[error("a SQLite write panicked; it was rolled back")]
    WriterPanicked,
    /// Any other SQLite error (I/O, corruption, full disk, a table of another shape).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl From<SqliteError> for StoreError {
    fn from(e: SqliteError) -> Self {
        match e {
            SqliteError::Busy { .. }
            | SqliteError::WriterBusy { .. }
            | SqliteError::ReadersBusy { .. } => StoreError::Unavailable { source: e.into() },
            other => StoreError::Backend {
                source: other.into(),
            },
        }
    }
}

/// Whether SQLite gave up waiting for a lock.
pub(super) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// A driver error of a statement that wrote nothing: busy is `Unavailable`, the rest `Backend`.
pub(super) fn classify(e: rusqlite::Error, timeout: Duration) -> StoreError {
    if is_busy(&e) {
        SqliteError::Busy { timeout, source: e }.into()
    } else {
        SqliteError::Sqlite(e).into()
    }
}
