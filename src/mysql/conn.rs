//! One checked-out connection running one statement at a time under the client-side
//! timeout, and what a failure means.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Opts, Params, Row};

use super::error::{MysqlError, backend, indeterminate, is_connection_failure, unavailable};
use crate::StoreError;

/// A pooled connection. While a statement may be running on it or a transaction is open
/// (`busy`), dropping the guard — a timeout, a lost connection, or the caller dropping the
/// operation's future — kills the session on the server (`KILL CONNECTION`, sent on a
/// connection of its own) and closes this one instead of returning it to the pool: the
/// server rolls back what was not committed and releases its locks at once, and the pool
/// never hands out a connection in an unknown state.
pub(crate) struct Conn {
    conn: Option<mysql_async::Conn>,
    busy: bool,
    /// For the killing connection.
    opts: Opts,
    kill_timeout: Duration,
    /// The store's count of checked-out connections (to tell an exhausted pool from a slow
    /// connect).
    in_use: Arc<AtomicUsize>,
}

/// Why a statement failed.
pub(crate) enum Fail {
    /// The server refused it; the connection is healthy, the statement had no effect
    /// (inside a transaction, the transaction is still open unless InnoDB rolled it back).
    Sql(mysql_async::Error),
    /// The connection failed, or no answer came within the statement timeout; the
    /// connection was discarded.
    Lost(MysqlError),
}

impl Fail {
    fn into_source(self) -> MysqlError {
        match self {
            Fail::Sql(e) => MysqlError::Sql(e),
            Fail::Lost(e) => e,
        }
    }

    /// The error of a read: a refused statement is `Backend`, the rest `Unavailable`.
    pub(crate) fn read_error(self) -> StoreError {
        match self {
            Fail::Sql(e) => backend(MysqlError::Sql(e)),
            lost => unavailable(lost.into_source()),
        }
    }

    /// The error of a transaction that ended before its `COMMIT` was sent: the server rolls
    /// back a transaction whose session ends, so nothing was written.
    pub(crate) fn uncommitted_error(self) -> StoreError {
        self.read_error()
    }

    /// The error of a `COMMIT` to `key`'s transaction: whatever happened, it may or may not
    /// have been applied.
    pub(crate) fn commit_error(self, key: &str) -> StoreError {
        indeterminate(key, self.into_source())
    }
}

impl Conn {
    pub(crate) fn new(
        conn: mysql_async::Conn,
        opts: Opts,
        kill_timeout: Duration,
        in_use: Arc<AtomicUsize>,
    ) -> Self {
        in_use.fetch_add(1, Ordering::Relaxed);
        Self {
            conn: Some(conn),
            busy: false,
            opts,
            kill_timeout,
            in_use,
        }
    }

    fn inner(&mut self) -> &mut mysql_async::Conn {
        self.conn
            .as_mut()
            .expect("a connection is used only until it is discarded")
    }

    /// Runs `sql` with `params` (prepared, cached per connection) within `timeout`, and
    /// returns its rows. With `in_transaction`, the connection stays busy afterwards.
    pub(crate) async fn exec(
        &mut self,
        sql: &str,
        params: Params,
        timeout: Duration,
        in_transaction: bool,
    ) -> Result<Vec<Row>, Fail> {
        self.busy = true;
        let run = self.inner().exec::<Row, _, _>(sql, params);
        let result = tokio::time::timeout(timeout, run).await;
        self.settle(result, timeout, in_transaction)
    }

    /// Runs a statement without parameters (`BEGIN`, `COMMIT`, `ROLLBACK`) within `timeout`.
    /// With `in_transaction`, the connection stays busy afterwards.
    pub(crate) async fn query(
        &mut self,
        sql: &'static str,
        timeout: Duration,
        in_transaction: bool,
    ) -> Result<(), Fail> {
        self.busy = true;
        let run = self.inner().query_drop(sql);
        let result = tokio::time::timeout(timeout, run).await;
        self.settle(result, timeout, in_transaction)
    }

    fn settle<T>(
        &mut self,
        result: Result<mysql_async::Result<T>, tokio::time::error::Elapsed>,
        timeout: Duration,
        in_transaction: bool,
    ) -> Result<T, Fail> {
        match result {
            Ok(Ok(value)) => {
                self.busy = in_transaction;
                Ok(value)
            }
            Ok(Err(e)) if !is_connection_failure(&e) => {
                self.busy = in_transaction;
                Err(Fail::Sql(e))
            }
            Ok(Err(e)) => {
                self.discard();
                Err(Fail::Lost(MysqlError::ConnectionLost(e)))
            }
            Err(_) => {
                self.discard();
                Err(Fail::Lost(MysqlError::Timeout(timeout)))
            }
        }
    }

    /// The transaction ended (committed or rolled back): the connection may go back to the
    /// pool.
    pub(crate) fn idle(&mut self) {
        self.busy = false;
    }

    /// Closes the connection instead of returning it to the pool; if a statement or a
    /// transaction may still be open on it, kills its session on the server first.
    pub(crate) fn discard(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        let busy = std::mem::take(&mut self.busy);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // dropping the connection closes its socket
        };
        let (opts, bound) = (self.opts.clone(), self.kill_timeout);
        runtime.spawn(async move {
            if busy {
                let id = conn.id();
                // Best effort: the outcome is reported as unknown or not applied anyway.
                let _ = tokio::time::timeout(bound, async move {
                    let mut killer = mysql_async::Conn::new(opts).await?;
                    killer.query_drop(format!("KILL CONNECTION {id}")).await?;
                    killer.disconnect().await
                })
                .await;
            }
            // Marks it disconnected, so the pool discards it instead of reusing it.
            let _ = tokio::time::timeout(bound, conn.disconnect()).await;
        });
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if self.busy {
            self.discard();
        }
        self.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}
