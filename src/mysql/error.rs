//! [`MysqlError`]: the sources this backend puts into [`StoreError`], and how a driver
//! error is classified.

use std::time::Duration;

use crate::StoreError;

/// What went wrong in the MariaDB backend: the `source` of the [`StoreError`] it returns.
///
/// Match on the [`StoreError`] variant to decide what to do; downcast its source to this
/// type for the details.
///
/// ```
/// use optimist::StoreError;
/// use optimist::mysql::{MysqlError, MysqlOptions, MysqlStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let options = MysqlOptions::default().table("no-dashes");
/// let opened = MysqlStore::connect("mysql://localhost/db", options).await;
/// let Err(StoreError::Backend { source }) = opened else {
///     panic!("a bad table name is rejected");
/// };
/// assert!(matches!(
///     source.downcast_ref::<MysqlError>(),
///     Some(MysqlError::InvalidTableName { .. })
/// ));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MysqlError {
    /// The table name is not `^[A-Za-z_][A-Za-z0-9_]{0,51}$`.
    #[error(
        "invalid table name {name:?}: use 1 to 52 ASCII letters, digits and underscores, \
         not starting with a digit"
    )]
    InvalidTableName {
        /// The name given.
        name: String,
    },
    /// The connection URL could not be parsed.
    #[error("invalid MariaDB connection URL: {0}")]
    Url(#[source] mysql_async::UrlError),
    /// All connections were busy for the whole wait timeout.
    #[error("no MariaDB connection free within {wait:?} (pool of {max_size} exhausted)")]
    PoolExhausted {
        /// The wait timeout.
        wait: Duration,
        /// The pool's size.
        max_size: usize,
    },
    /// Opening a connection took longer than the connect timeout.
    #[error("connecting to MariaDB took longer than {0:?}")]
    ConnectTimeout(Duration),
    /// A new connection could not be opened (refused, unreachable, authentication failed).
    #[error("cannot connect to MariaDB: {0}")]
    Connect(#[source] mysql_async::Error),
    /// No answer within the client-side statement timeout.
    #[error("no answer from MariaDB within {0:?} (client-side statement timeout)")]
    Timeout(Duration),
    /// The connection failed while a statement was sent or awaited (closed, I/O error,
    /// killed by an administrator, server shutting down).
    #[error("MariaDB connection lost: {0}")]
    ConnectionLost(#[source] mysql_async::Error),
    /// The server refused the statement (an SQL error); the connection is fine.
    #[error("MariaDB refused the statement: {0}")]
    Sql(#[source] mysql_async::Error),
    /// A row held something this store never writes (a column of another type, a version
    /// below 1, a time out of range).
    #[error("unexpected row in the MariaDB table: {0}")]
    BadRow(String),
}

/// Server errors that end the session: 1053 (server shutdown), 1927 (connection killed),
/// 4031 (disconnected for inactivity), 1040/1203 (too many connections).
const SESSION_ENDING: [u16; 5] = [1053, 1927, 4031, 1040, 1203];

/// Whether the connection is gone or in an unknown state after `e`, as opposed to the
/// server having refused one statement on a healthy connection.
pub(crate) fn is_connection_failure(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Server(s) => SESSION_ENDING.contains(&s.code),
        mysql_async::Error::Driver(mysql_async::DriverError::StmtParamsMismatch { .. })
        | mysql_async::Error::Driver(mysql_async::DriverError::FromValue { .. })
        | mysql_async::Error::Driver(mysql_async::DriverError::FromRow { .. }) => false,
        _ => true,
    }
}

/// The server's error code, if `e` is a server error.
pub(crate) fn server_code(e: &mysql_async::Error) -> Option<u16> {
    match e {
        mysql_async::Error::Server(s) => Some(s.code),
        _ => None,
    }
}

/// InnoDB chose this transaction as a deadlock victim and rolled it back whole.
pub(crate) const ER_LOCK_DEADLOCK: u16 = 1213;

pub(crate) fn unavailable(source: MysqlError) -> StoreError {
    StoreError::Unavailable {
        source: Box::new(source),
    }
}

pub(crate) fn backend(source: MysqlError) -> StoreError {
    StoreError::Backend {
        source: Box::new(source),
    }
}

pub(crate) fn indeterminate(key: &str, source: MysqlError) -> StoreError {
    StoreError::Indeterminate {
        key: key.to_owned(),
        source: Box::new(source),
    }
}
