//! One queued operation of the [writer](super::writer): a write (put, delete, commit) or a
//! read (`get`, `head`) that joins the writes in flight, with the channel its answer goes to.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::conn::{Connections, clamp_timeout, open_connection, rollback, transaction};
use super::error::{SqliteError, classify};
use crate::StoreError;

/// The body of an operation: runs on the writer connection (a write inside a transaction);
/// may run twice (again on its own when its batch was given up), so it is `Fn`.
pub(super) type Body<T> =
    dyn Fn(&Connection, &Connections, &str) -> Result<T, StoreError> + Send + 'static;

/// One queued operation, of any result type.
pub(super) trait Job: Send {
    /// The keys it writes or checks (a read: one), for the batch bound.
    fn weight(&self) -> usize;
    /// When it was queued.
    fn queued(&self) -> Instant;
    /// Whether it only reads: it writes nothing, so it never waits for the file's write
    /// lock and is never answered `Indeterminate`.
    fn is_read(&self) -> bool;
    /// Runs it inside the batch's transaction, keeping its outcome.
    fn run(&mut self, conn: &Connection, conns: &Connections);
    /// Whether the kept outcome is a success (it wrote, or checked, something).
    fn succeeded(&self) -> bool;
    /// Answers the caller with the kept outcome (its batch committed), or with `error`.
    fn answer(self: Box<Self>, error: Option<StoreError>);
    /// Runs it on its own (a write in a transaction of its own) and answers the caller.
    fn solo(self: Box<Self>, conns: &Connections, slot: &mut Option<Connection>);
    /// The key an `Indeterminate` answer names.
    fn key(&self) -> &str;
}

/// A queued operation returning `T`.
pub(super) struct Op<T> {
    key: String,
    weight: usize,
    read: bool,
    queued: Instant,
    body: Box<Body<T>>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Op<T> {
    /// A write of `weight` keys named `key` (for `Indeterminate`), and where its answer comes.
    pub(super) fn write(
        key: &str,
        weight: usize,
        body: Box<Body<T>>,
    ) -> (Self, oneshot::Receiver<Result<T, StoreError>>) {
        Self::queue(key, weight, false, body)
    }

    /// A read of `key`, run in the batch after the writes queued before it, and where its
    /// answer comes (once the batch has committed).
    pub(super) fn read(
        key: &str,
        body: Box<Body<T>>,
    ) -> (Self, oneshot::Receiver<Result<T, StoreError>>) {
        Self::queue(key, 1, true, body)
    }

    fn queue(
        key: &str,
        weight: usize,
        read: bool,
        body: Box<Body<T>>,
    ) -> (Self, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let job = Op {
            key: key.to_owned(),
            weight,
            read,
            queued: Instant::now(),
            body,
            outcome: None,
            reply,
        };
        (job, answer)
    }
}

impl<T: Send + 'static> Job for Op<T> {
    fn weight(&self) -> usize {
        self.weight
    }

    fn queued(&self) -> Instant {
        self.queued
    }

    fn is_read(&self) -> bool {
        self.read
    }

    fn run(&mut self, conn: &Connection, conns: &Connections) {
        self.outcome = Some((self.body)(conn, conns, &self.key));
    }

    fn succeeded(&self) -> bool {
        matches!(self.outcome, Some(Ok(_)))
    }

    fn answer(self: Box<Self>, error: Option<StoreError>) {
        let result = match (error, self.outcome) {
            (Some(e), _) => Err(e),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(SqliteError::WriterPanicked.into()),
        };
        // The caller may have stopped waiting; the outcome stands either way.
        let _ = self.reply.send(result);
    }

    fn solo(self: Box<Self>, conns: &Connections, slot: &mut Option<Connection>) {
        let timeout = conns.settings.busy_timeout;
        let waited = self.queued.elapsed();
        if waited >= timeout && !self.read {
            return self.answer(Some(SqliteError::WriterBusy { timeout }.into()));
        }
        if self.read && !slot.as_ref().is_some_and(Connection::is_autocommit) {
            // No usable writer connection: reopening one waits for the file's write lock,
            // which a read never does. Unanswered, the read runs on a reader connection.
            return;
        }
        if slot.as_ref().is_some_and(|c| !c.is_autocommit()) {
            // Left inside a transaction: closing rolls it back.
            *slot = None;
        }
        if slot.is_none() {
            match open_connection(&conns.settings, &conns.sql, true) {
                Ok(conn) => *slot = Some(conn),
                Err(e) => return self.answer(Some(e.into())),
            }
        }
        let conn = slot.as_ref().expect("opened above");
        let (key, body) = (&self.key, &self.body);
        let result = catch_unwind(AssertUnwindSafe(|| {
            if self.read {
                // On its own a read takes no write lock: WAL readers never wait for writers.
                conn.busy_timeout(clamp_timeout(timeout))
                    .map_err(|e| classify(e, timeout))
                    .and_then(|()| body(conn, conns, key))
            } else {
                transaction(conn, conns, key, timeout - waited, |c, cs| body(c, cs, key))
            }
        }))
        .unwrap_or_else(|_| {
            rollback(conn);
            Err(SqliteError::WriterPanicked.into())
        });
        if !conn.is_autocommit() {
            // A transaction is still open (a failed ROLLBACK): closing the connection rolls
            // it back; the next write opens a fresh one.
            *slot = None;
        }
        let _ = self.reply.send(result);
    }

    fn key(&self) -> &str {
        &self.key
    }
}
