//! [`PostgresError`]: the sources this backend puts into [`StoreError`], and how a driver
//! error is classified.

use std::fmt;
use std::time::Duration;

use deadpool_postgres::{PoolError, TimeoutType};
use tokio_postgres::error::{DbError, Severity};

use crate::StoreError;

/// What went wrong in the PostgreSQL backend: the `source` of the [`StoreError`] it returns.
///
/// Match on the [`StoreError`] variant to decide what to do; downcast its source to this
/// type for the details.
///
/// ```
/// use optimist::StoreError;
/// use optimist::postgres::{PostgresError, PostgresOptions, PostgresStore};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let options = PostgresOptions::default().table("no-dashes");
/// let Err(StoreError::Backend { source }) = PostgresStore::connect("postgres://localhost/db", options).await else {
///     panic!("a bad table name is rejected");
/// };
/// assert!(matches!(
///     source.downcast_ref::<PostgresError>(),
///     Some(PostgresError::InvalidTableName { .. })
/// ));
/// # });
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PostgresError {
    /// The table name is not `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
    #[error(
        "invalid table name {name:?}: use 1 to 63 ASCII letters, digits and underscores, \
         not starting with a digit"
    )]
    InvalidTableName {
        /// The name given.
        name: String,
    },
    /// The connection URL could not be parsed.
    #[error("invalid PostgreSQL connection URL: {}", describe(.0))]
    Url(#[source] tokio_postgres::Error),
    /// The connection pool could not be built.
    #[error("could not build the PostgreSQL connection pool: {0}")]
    BuildPool(#[source] deadpool_postgres::BuildError),
    /// All connections were busy for the whole wait timeout.
    #[error("no PostgreSQL connection free within {wait:?} (pool of {max_size} exhausted)")]
    PoolExhausted {
        /// The wait timeout.
        wait: Duration,
        /// The pool's size.
        max_size: usize,
    },
    /// Opening a connection took longer than the connect timeout.
    #[error("connecting to PostgreSQL took longer than {0:?}")]
    ConnectTimeout(Duration),
    /// A new connection could not be opened (refused, unreachable, authentication failed).
    #[error("cannot connect to PostgreSQL: {}", describe(.0))]
    Connect(#[source] tokio_postgres::Error),
    /// The pool failed otherwise (closed, or a hook failed).
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[source] PoolError),
    /// No answer within the client-side statement timeout.
    #[error("no answer from PostgreSQL within {0:?} (client-side statement timeout)")]
    Timeout(Duration),
    /// The connection was found closed before a statement was sent.
    #[error("the PostgreSQL connection was closed before the statement was sent")]
    ConnectionClosed,
    /// The connection failed while a statement was being prepared or run (closed by the
    /// server, an I/O error, the session terminated by an administrator, ...).
    #[error("PostgreSQL connection lost: {}", describe(.0))]
    ConnectionLost(#[source] tokio_postgres::Error),
    /// The server refused the statement (an SQL error); the connection is fine.
    #[error("PostgreSQL refused the statement: {}", describe(.0))]
    Sql(#[source] tokio_postgres::Error),
    /// A column of a row could not be read as the type this store writes.
    #[error("unexpected column in the PostgreSQL table: {}", describe(.0))]
    Column(#[source] tokio_postgres::Error),
    /// A row held a version this store never writes (below 1).
    #[error("unexpected version {0} in the PostgreSQL table (versions start at 1)")]
    BadVersion(i64),
    /// An upsert returned no row, which PostgreSQL never does.
    #[error("PostgreSQL returned no row for an upsert")]
    NoRow,
}

/// The driver's error with its cause: `tokio_postgres::Error`'s `Display` omits the server's
/// message, which is what one needs to read.
fn describe(e: &tokio_postgres::Error) -> impl fmt::Display + '_ {
    struct Describe<'a>(&'a tokio_postgres::Error);
    impl fmt::Display for Describe<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match (self.0.as_db_error(), std::error::Error::source(self.0)) {
                (Some(db), _) => write!(
                    f,
                    "{} {}: {}",
                    db.severity(),
                    db.code().code(),
                    db.message()
                ),
                (None, Some(cause)) => write!(f, "{}: {cause}", self.0),
                (None, None) => write!(f, "{}", self.0),
            }
        }
    }
    Describe(e)
}

/// Whether the connection is gone or in an unknown state after `e` (as opposed to the
/// server having refused one statement on a healthy connection).
///
/// Errors without a server message (I/O, closed, protocol) count as lost, and so do server
/// messages that end the session or say the outcome is unknown: severity FATAL or PANIC,
/// class 08 (connection exception), class 57 (operator intervention: terminated, shutting
/// down, cancelled) and 40003 (statement completion unknown).
pub(crate) fn is_connection_failure(e: &tokio_postgres::Error) -> bool {
    match e.as_db_error() {
        None => true,
        Some(db) => db_error_ends_session(db),
    }
}

fn db_error_ends_session(db: &DbError) -> bool {
    let code = db.code().code();
    matches!(
        db.parsed_severity(),
        Some(Severity::Fatal | Severity::Panic)
    ) || code.starts_with("08")
        || code.starts_with("57")
        || code == "40003"
}

/// The [`StoreError::Unavailable`] for a failed pool checkout.
pub(crate) fn pool_error(
    e: PoolError,
    wait: Duration,
    connect: Duration,
    max_size: usize,
) -> StoreError {
    let source = match e {
        PoolError::Timeout(TimeoutType::Wait) => PostgresError::PoolExhausted { wait, max_size },
        PoolError::Timeout(TimeoutType::Create | TimeoutType::Recycle) => {
            PostgresError::ConnectTimeout(connect)
        }
        PoolError::Backend(e) => PostgresError::Connect(e),
        other => PostgresError::Pool(other),
    };
    unavailable(source)
}

pub(crate) fn unavailable(source: PostgresError) -> StoreError {
    StoreError::Unavailable {
        source: Box::new(source),
    }
}

pub(crate) fn backend(source: PostgresError) -> StoreError {
    StoreError::Backend {
        source: Box::new(source),
    }
}

pub(crate) fn indeterminate(key: &str, source: PostgresError) -> StoreError {
    StoreError::Indeterminate {
        key: key.to_owned(),
        source: Box::new(source),
    }
}
