//! The writer thread: one per store, owning the writer connection. Writes queue to it; it
//! takes every write waiting in the queue (up to a bound) and applies them in one
//! `BEGIN IMMEDIATE` transaction (group commit), each still its own compare-and-swap with its
//! own outcome, answered only once `COMMIT` has returned.
//!
//! Within a batch, the writes run one after the other in queue order, each seeing the ones
//! before it, exactly as if each had its own transaction; a refused write changes nothing, so
//! it never fails the batch. A multi-key commit runs inside a `SAVEPOINT`, so one that fails
//! midway is undone alone. If anything goes wrong for the batch as a whole (`BEGIN` fails,
//! SQLite rolls the transaction back itself, `COMMIT` fails but leaves nothing stored, a write
//! panics), nothing of it is kept and every write of it is run again in a transaction of its
//! own, so each gets its own outcome and its own error. Only a `COMMIT` whose outcome is
//! unknown answers the batch's writes `Indeterminate` (refused ones: `Unavailable`, as they
//! wrote nothing but were judged against writes that may not have happened).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender};
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::conn::{Connections, clamp_timeout, open_connection, rollback, transaction};
use super::error::{SqliteError, classify};
use crate::StoreError;

/// The most writes one transaction takes.
const MAX_BATCH_WRITES: usize = 64;
/// The most keys one transaction takes (a write of one key counts one, a commit its keys);
/// a single larger commit still runs, alone.
const MAX_BATCH_KEYS: usize = 256;

/// The body of a write: runs on the writer connection inside a transaction; may run twice
/// (again in a transaction of its own when its batch was given up), so it is `Fn`.
pub(super) type Body<T> =
    dyn Fn(&Connection, &Connections, &str) -> Result<T, StoreError> + Send + 'static;

/// One queued write, of any result type.
pub(super) trait Job: Send {
    /// The keys it writes or checks, for the batch bound.
    fn weight(&self) -> usize;
    /// When it was queued.
    fn queued(&self) -> Instant;
    /// Runs it inside the batch's transaction, keeping its outcome.
    fn run(&mut self, conn: &Connection, conns: &Connections);
    /// Whether the kept outcome is a success (it wrote, or checked, something).
    fn succeeded(&self) -> bool;
    /// Answers the caller with the kept outcome (its batch committed), or with `error`.
    fn answer(self: Box<Self>, error: Option<StoreError>);
    /// Runs it in a transaction of its own and answers the caller.
    fn solo(self: Box<Self>, conns: &Connections, slot: &mut Option<Connection>);
    /// The key an `Indeterminate` answer names.
    fn key(&self) -> &str;
}

/// A queued write returning `T`.
pub(super) struct Write<T> {
    key: String,
    weight: usize,
    queued: Instant,
    body: Box<Body<T>>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> Write<T> {
    /// A write of `weight` keys named `key` (for `Indeterminate`), and where its answer comes.
    pub(super) fn new(
        key: &str,
        weight: usize,
        body: Box<Body<T>>,
    ) -> (Self, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        let write = Write {
            key: key.to_owned(),
            weight,
            queued: Instant::now(),
            body,
            outcome: None,
            reply,
        };
        (write, answer)
    }
}

impl<T: Send + 'static> Job for Write<T> {
    fn weight(&self) -> usize {
        self.weight
    }

    fn queued(&self) -> Instant {
        self.queued
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
        if waited >= timeout {
            return self.answer(Some(SqliteError::WriterBusy { timeout }.into()));
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
            transaction(conn, conns, key, timeout - waited, |c, cs| body(c, cs, key))
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

/// Starts the writer thread of a store on `conn`; it ends, closing the connection, once every
/// sender is dropped and the queue is empty.
pub(super) fn spawn(
    conns: Arc<Connections>,
    conn: Connection,
) -> std::io::Result<Sender<Box<dyn Job>>> {
    let (queue, jobs) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("optimist-sqlite-writer".to_owned())
        .spawn(move || serve(&conns, Some(conn), &jobs))?;
    Ok(queue)
}

fn serve(conns: &Connections, mut slot: Option<Connection>, jobs: &Receiver<Box<dyn Job>>) {
    while let Ok(first) = jobs.recv() {
        let mut weight = first.weight();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH_WRITES && weight < MAX_BATCH_KEYS {
            match jobs.try_recv() {
                Ok(job) => {
                    weight += job.weight();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        apply(conns, &mut slot, batch);
    }
}

/// Applies `batch` in one transaction, or, when that fails as a whole, each write alone.
fn apply(conns: &Connections, slot: &mut Option<Connection>, batch: Vec<Box<dyn Job>>) {
    let timeout = conns.settings.busy_timeout;
    // Writes that waited past the busy timeout give up: nothing was sent.
    let (late, batch): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .partition(|job| job.queued().elapsed() >= timeout);
    for job in late {
        job.answer(Some(SqliteError::WriterBusy { timeout }.into()));
    }
    let usable = slot.as_ref().is_some_and(Connection::is_autocommit);
    if batch.len() <= 1 || !usable {
        return alone(conns, slot, batch);
    }
    let conn = slot.as_ref().expect("checked above");
    let oldest = batch.iter().map(|j| j.queued()).min().expect("two writes");
    let lock_wait = clamp_timeout(timeout.saturating_sub(oldest.elapsed()));
    let begun = conn
        .busy_timeout(lock_wait)
        .and_then(|()| conn.prepare_cached("BEGIN IMMEDIATE")?.execute([]));
    if begun.is_err() {
        // Each write meets the lock (or the error) again on its own, and reports it.
        return alone(conns, slot, batch);
    }
    let mut batch = batch;
    for job in &mut batch {
        if !run_one(conn, conns, job.as_mut()) {
            rollback(conn);
            return alone(conns, slot, batch);
        }
    }
    match conn
        .prepare_cached("COMMIT")
        .and_then(|mut s| s.execute([]))
    {
        Ok(_) => {
            for job in batch {
                job.answer(None);
            }
        }
        // Still in the transaction (e.g. SQLITE_BUSY): nothing is stored yet.
        Err(_) if !conn.is_autocommit() => {
            rollback(conn);
            alone(conns, slot, batch);
        }
        // SQLite ended the transaction itself after an I/O error: stored or not, unknown.
        Err(e) => {
            for job in batch {
                let source = SqliteError::Commit {
                    source: duplicate(&e),
                };
                let error = if job.succeeded() {
                    StoreError::Indeterminate {
                        key: job.key().to_owned(),
                        source: source.into(),
                    }
                } else {
                    StoreError::Unavailable {
                        source: source.into(),
                    }
                };
                job.answer(Some(error));
            }
        }
    }
}

/// Runs one write of a batch, a multi-key one inside a savepoint. `false`: the transaction
/// can no longer be trusted (SQLite rolled it back, a savepoint statement failed, the write
/// panicked) and the batch must be given up.
fn run_one(conn: &Connection, conns: &Connections, job: &mut dyn Job) -> bool {
    let savepoint = job.weight() > 1;
    let exec = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map_err(|e| classify(e, conns.settings.busy_timeout))
    };
    if savepoint && exec("SAVEPOINT optimist_write").is_err() {
        return false;
    }
    if catch_unwind(AssertUnwindSafe(|| job.run(conn, conns))).is_err() {
        return false;
    }
    if conn.is_autocommit() {
        return false;
    }
    if savepoint {
        if !job.succeeded() && exec("ROLLBACK TO optimist_write").is_err() {
            return false;
        }
        if exec("RELEASE optimist_write").is_err() {
            return false;
        }
    }
    true
}

/// Runs each write in a transaction of its own.
fn alone(conns: &Connections, slot: &mut Option<Connection>, batch: Vec<Box<dyn Job>>) {
    for job in batch {
        job.solo(conns, slot);
    }
}

/// A copy of a driver error, one per write it is reported to.
fn duplicate(e: &rusqlite::Error) -> rusqlite::Error {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            rusqlite::Error::SqliteFailure(*code, message.clone())
        }
        other => rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(other.to_string()),
        ),
    }
}
