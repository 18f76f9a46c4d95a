//! One checked-out connection running one statement at a time under the client-side
//! timeout, and what a failure means for reads and for writes.

use std::time::Duration;

use deadpool_postgres::Object;
use tokio::time::{Instant, timeout_at};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

use super::error::{PostgresError, backend, indeterminate, is_connection_failure, unavailable};
use crate::StoreError;

/// A pooled connection. While a statement may be in flight on it (`busy`), dropping the
/// guard — the statement timed out, the connection failed, or the caller dropped the
/// operation's future — closes the connection instead of returning it to the pool, and
/// sends the server a cancel request, so the pool never hands out a connection that is
/// still busy and the abandoned statement stops as soon as possible.
pub(crate) struct Conn {
    obj: Option<Object>,
    busy: bool,
    /// Inside `BEGIN ... COMMIT/ROLLBACK`: the connection stays busy between statements, so
    /// a transaction left open is never returned to the pool.
    in_transaction: bool,
    cancel_timeout: Duration,
}

/// Why a statement failed.
pub(crate) enum Fail {
    /// Before the statement itself was sent (while preparing it): nothing was written.
    NotSent(Cause),
    /// After the statement was sent: a write may have happened.
    Sent(Cause),
}

pub(crate) enum Cause {
    /// The server refused it; the connection is healthy, the statement had no effect.
    Sql(tokio_postgres::Error),
    /// The connection failed or was found closed.
    Lost(PostgresError),
    /// No answer within the client-side statement timeout.
    Timeout(Duration),
}

impl Cause {
    pub(crate) fn into_source(self) -> PostgresError {
        match self {
            Cause::Sql(e) => PostgresError::Sql(e),
            Cause::Lost(e) => e,
            Cause::Timeout(d) => PostgresError::Timeout(d),
        }
    }
}

impl Fail {
    /// The error of a read: a refused statement is `Backend`, the rest `Unavailable`.
    pub(crate) fn read_error(self) -> StoreError {
        match self {
            Fail::NotSent(Cause::Sql(e)) | Fail::Sent(Cause::Sql(e)) => {
                backend(PostgresError::Sql(e))
            }
            Fail::NotSent(c) | Fail::Sent(c) => unavailable(c.into_source()),
        }
    }

    /// The error of a write to `key`: once the statement was sent, a lost connection or a
    /// timeout is `Indeterminate`; a statement the server refused had no effect (`Backend`).
    pub(crate) fn write_error(self, key: &str) -> StoreError {
        match self {
            Fail::NotSent(Cause::Sql(e)) | Fail::Sent(Cause::Sql(e)) => {
                backend(PostgresError::Sql(e))
            }
            Fail::NotSent(c) => unavailable(c.into_source()),
            Fail::Sent(c) => indeterminate(key, c.into_source()),
        }
    }
}

impl Conn {
    pub(crate) fn new(obj: Object, cancel_timeout: Duration) -> Self {
        Self {
            obj: Some(obj),
            busy: false,
            in_transaction: false,
            cancel_timeout,
        }
    }

    fn client(&self) -> &Object {
        self.obj
            .as_ref()
            .expect("a connection is used only until it is discarded")
    }

    pub(crate) fn client_mut(&mut self) -> &mut Object {
        self.obj
            .as_mut()
            .expect("a connection is used only until it is discarded")
    }

    /// Marks the connection busy: from now on until [`Conn::idle`], dropping the guard
    /// discards the connection.
    pub(crate) fn busy(&mut self) {
        self.busy = true;
    }

    /// Marks the connection idle again: the statement has completed (or the server refused
    /// it), so the connection can go back to the pool — unless a transaction is open on it.
    pub(crate) fn idle(&mut self) {
        self.busy = self.in_transaction;
    }

    /// Prepares `sql` (cached per connection) and runs it with `params` within `timeout`,
    /// returning its single row if any.
    pub(crate) async fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        timeout: Duration,
    ) -> Result<Option<Row>, Fail> {
        let mut rows = self.query(sql, params, timeout).await?;
        Ok(rows.pop())
    }

    /// Runs a statement without parameters and without preparing it (`BEGIN`, `COMMIT`,
    /// `ROLLBACK`) within `timeout`.
    pub(crate) async fn simple(&mut self, sql: &str, timeout: Duration) -> Result<(), Fail> {
        if self.client().is_closed() {
            self.discard();
            return Err(Fail::NotSent(Cause::Lost(PostgresError::ConnectionClosed)));
        }
        self.busy();
        match tokio::time::timeout(timeout, self.client().batch_execute(sql)).await {
            Ok(Ok(())) => {
                self.idle();
                Ok(())
            }
            Ok(Err(e)) => Err(Fail::Sent(self.failed(e))),
            Err(_) => {
                self.discard();
                Err(Fail::Sent(Cause::Timeout(timeout)))
            }
        }
    }

    /// Opens a transaction: until [`Conn::end_transaction`], the connection counts as busy
    /// (dropping the guard closes it, which makes the server roll the transaction back).
    pub(crate) async fn begin(&mut self, timeout: Duration) -> Result<(), Fail> {
        self.in_transaction = true;
        self.simple("BEGIN", timeout).await
    }

    /// The transaction ended (committed or rolled back): the connection may go back to the
    /// pool.
    pub(crate) fn end_transaction(&mut self) {
        self.in_transaction = false;
        self.busy = false;
    }

    /// Prepares `sql` (cached per connection) and runs it with `params` within `timeout`,
    /// returning its rows.
    pub(crate) async fn query(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        timeout: Duration,
    ) -> Result<Vec<Row>, Fail> {
        let deadline = Instant::now() + timeout;
        if self.client().is_closed() {
            self.discard();
            return Err(Fail::NotSent(Cause::Lost(PostgresError::ConnectionClosed)));
        }
        self.busy();
        let prepared = timeout_at(deadline, self.client().prepare_cached(sql)).await;
        let statement = match prepared {
            Ok(Ok(statement)) => statement,
            Ok(Err(e)) => return Err(Fail::NotSent(self.failed(e))),
            Err(_) => {
                self.discard();
                return Err(Fail::NotSent(Cause::Timeout(timeout)));
            }
        };
        match timeout_at(deadline, self.client().query(&statement, params)).await {
            Ok(Ok(rows)) => {
                self.idle();
                Ok(rows)
            }
            Ok(Err(e)) => Err(Fail::Sent(self.failed(e))),
            Err(_) => {
                self.discard();
                Err(Fail::Sent(Cause::Timeout(timeout)))
            }
        }
    }

    /// Classifies a driver error, discarding the connection unless the server merely
    /// refused the statement.
    pub(crate) fn failed(&mut self, e: tokio_postgres::Error) -> Cause {
        if is_connection_failure(&e) {
            self.discard();
            Cause::Lost(PostgresError::ConnectionLost(e))
        } else {
            self.idle();
            Cause::Sql(e)
        }
    }

    /// Closes the connection instead of returning it to the pool; if a statement may still
    /// be running on it, asks the server (on a separate connection) to cancel it.
    pub(crate) fn discard(&mut self) {
        self.in_transaction = false;
        let Some(obj) = self.obj.take() else { return };
        let client = Object::take(obj);
        if std::mem::take(&mut self.busy) && !client.is_closed() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let token = client.cancel_token();
                let bound = self.cancel_timeout;
                runtime.spawn(async move {
                    // Best effort: the statement's outcome is reported as unknown anyway.
                    let _ = tokio::time::timeout(bound, token.cancel_query(NoTls)).await;
                });
            }
        }
        drop(client);
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.busy {
            self.discard();
        }
    }
}
