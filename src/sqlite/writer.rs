//! The writer thread: one per store, owning the writer connection. Writes queue to it; it
//! takes every write waiting in the queue (up to a bound) and applies them in one
//! `BEGIN IMMEDIATE` transaction (group commit), each still its own compare-and-swap with its
//! own outcome, answered only once `COMMIT` has returned. A write alone in flight, with the
//! connection free, is applied the same way by the writing task itself ([`Writer::submit`]),
//! which never waits for the file lock nor retries: it gives such writes back to the thread.
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

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::conn::{
    Connections, begin_write, clamp_timeout, open_connection, rollback, transaction,
};
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

/// The write queue of one store and its writer connection, shared by the writer thread and
/// the tasks that write.
pub(super) struct Writer {
    queue: Mutex<Queue>,
    /// Signalled when a write is queued that nobody applies on the spot, and on close.
    queued: Condvar,
    /// The writer connection (`None` after a failure, until reopened). Whoever holds it
    /// applies the waiting writes: the writer thread, or a writing task on the spot.
    slot: Mutex<Option<Connection>>,
    /// Whether a writing task may apply writes on its own thread (not with `full_sync`,
    /// whose `COMMIT` waits for the disk).
    inline: bool,
    /// Writes queued or being applied whose callers have not yet seen the answer.
    in_flight: AtomicUsize,
}

/// A write in flight, counted until dropped (also when its caller stops waiting).
pub(super) struct InFlight<'a>(&'a Writer);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Queue {
    jobs: VecDeque<Box<dyn Job>>,
    /// The store is gone or the writer thread ended: nothing more is queued.
    closed: bool,
}

/// Who applies a batch: the writer thread waits for the file lock and retries a failed batch
/// write by write; a writing task does neither and gives such a batch back to the thread.
#[derive(Clone, Copy, PartialEq)]
enum By {
    Thread,
    Task,
}

impl Writer {
    /// Counts a write in flight (from queuing to its caller's seeing the answer) until the
    /// guard is dropped.
    pub(super) fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Queues `job` (counted by [`Writer::enter`]); when it is the only write in flight and
    /// the writer connection is free, applies it on this thread (with any write queued
    /// meanwhile, one batch), otherwise leaves it to the writer thread. `Err` gives the job
    /// back when the writer has stopped.
    ///
    /// A write alone so skips two thread hand-offs (to the writer and back); under load the
    /// writer thread, busy anyway, takes the writes in batches while the tasks go on.
    pub(super) fn submit(
        &self,
        conns: &Connections,
        job: Box<dyn Job>,
    ) -> Result<(), Box<dyn Job>> {
        let first = {
            let mut queue = self.queue.lock();
            if queue.closed {
                return Err(job);
            }
            queue.jobs.push_back(job);
            queue.jobs.len() == 1
        };
        if !first {
            // The write that made the queue non-empty left it to someone who will look at
            // it again: the task applying it, or the writer thread, woken for it.
            return Ok(());
        }
        if self.inline
            && self.in_flight.load(Ordering::Relaxed) == 1
            && let Some(mut slot) = self.slot.try_lock()
        {
            let batch = self.take();
            let back = if batch.is_empty() {
                Ok(())
            } else {
                apply(conns, &mut slot, batch, By::Task)
            };
            drop(slot);
            let mut queue = self.queue.lock();
            if let Err(back) = back {
                for job in back.into_iter().rev() {
                    queue.jobs.push_front(job);
                }
            }
            if queue.jobs.is_empty() {
                return Ok(());
            }
        }
        // Whoever holds the connection looks at the queue again after letting it go, but may
        // be a task that returns, or a task gave writes back: the writer thread takes them.
        self.queued.notify_one();
        Ok(())
    }

    /// Runs the read `f` on the writer connection on this thread when no write is in flight
    /// and the connection is free, or gives `f` back. A reader connection would first
    /// reload the pages the last write changed (SQLite drops a connection's page cache when
    /// another connection wrote); the writer connection's cache holds them.
    ///
    /// The connection gets the store's busy timeout back first (a task's batch sets it to
    /// zero), so the read waits for a lock as on a reader connection.
    pub(super) fn read_idle<T, F>(
        &self,
        conns: &Connections,
        f: F,
    ) -> Result<Result<T, StoreError>, F>
    where
        F: FnOnce(&Connection, &Connections) -> Result<T, StoreError>,
    {
        if self.in_flight.load(Ordering::Relaxed) != 0 {
            return Err(f);
        }
        let Some(slot) = self.slot.try_lock() else {
            return Err(f);
        };
        let Some(conn) = slot.as_ref().filter(|c| c.is_autocommit()) else {
            return Err(f);
        };
        if let Err(e) = conn.busy_timeout(clamp_timeout(conns.settings.busy_timeout)) {
            return Ok(Err(classify(e, conns.settings.busy_timeout)));
        }
        Ok(f(conn, conns))
    }

    /// Takes the writes waiting, up to the batch bounds.
    fn take(&self) -> Vec<Box<dyn Job>> {
        let mut queue = self.queue.lock();
        let mut batch = Vec::new();
        let mut weight = 0;
        while batch.len() < MAX_BATCH_WRITES && weight < MAX_BATCH_KEYS {
            let Some(job) = queue.jobs.pop_front() else {
                break;
            };
            weight += job.weight();
            batch.push(job);
        }
        batch
    }

    /// Ends the writer thread once the queue is empty (the store is dropped).
    pub(super) fn close(&self) {
        self.queue.lock().closed = true;
        self.queued.notify_one();
    }
}

/// Starts the writer thread of a store on `conn`; it ends, closing the connection, once
/// [`Writer::close`] was called and the queue is empty.
pub(super) fn spawn(conns: Arc<Connections>, conn: Connection) -> std::io::Result<Arc<Writer>> {
    let writer = Arc::new(Writer {
        queue: Mutex::new(Queue {
            jobs: VecDeque::new(),
            closed: false,
        }),
        queued: Condvar::new(),
        inline: !conns.settings.full_sync,
        slot: Mutex::new(Some(conn)),
        in_flight: AtomicUsize::new(0),
    });
    let shared = Arc::clone(&writer);
    std::thread::Builder::new()
        .name("optimist-sqlite-writer".to_owned())
        .spawn(move || serve(&conns, &shared))?;
    Ok(writer)
}

/// Marks the writer closed when its thread ends, also by a panic, and drops what is queued
/// (each caller then learns the writer stopped).
struct Stopped<'a>(&'a Writer);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        let jobs = {
            let mut queue = self.0.queue.lock();
            queue.closed = true;
            std::mem::take(&mut queue.jobs)
        };
        drop(jobs);
        drop(self.0.slot.lock().take());
    }
}

fn serve(conns: &Connections, writer: &Writer) {
    let _stopped = Stopped(writer);
    loop {
        {
            let mut queue = writer.queue.lock();
            while queue.jobs.is_empty() {
                if queue.closed {
                    return;
                }
                writer.queued.wait(&mut queue);
            }
        }
        let mut slot = writer.slot.lock();
        let batch = writer.take();
        if !batch.is_empty() {
            let _ = apply(conns, &mut slot, batch, By::Thread);
        }
    }
}

/// Applies `batch` in one transaction, or, when that fails as a whole, each write alone.
/// A task (`By::Task`) does not wait for the file lock nor retry: it gives back (`Err`) the
/// writes it has not answered, for the writer thread.
fn apply(
    conns: &Connections,
    slot: &mut Option<Connection>,
    batch: Vec<Box<dyn Job>>,
    by: By,
) -> Result<(), Vec<Box<dyn Job>>> {
    let timeout = conns.settings.busy_timeout;
    // Writes that waited past the busy timeout give up: nothing was sent. (One clock read
    // for the batch, and no new vectors unless one is late.)
    let now = Instant::now();
    let late = |job: &dyn Job| now.saturating_duration_since(job.queued()) >= timeout;
    let batch = if batch.iter().any(|job| late(&**job)) {
        let (late, batch): (Vec<_>, Vec<_>) = batch.into_iter().partition(|job| late(&**job));
        for job in late {
            job.answer(Some(SqliteError::WriterBusy { timeout }.into()));
        }
        batch
    } else {
        batch
    };
    if batch.is_empty() {
        return Ok(());
    }
    // The thread retries each write alone; a task leaves that to the thread.
    let alone = |slot: &mut Option<Connection>, batch: Vec<Box<dyn Job>>| match by {
        By::Thread => {
            alone(conns, slot, batch);
            Ok(())
        }
        By::Task => Err(batch),
    };
    let usable = slot.as_ref().is_some_and(Connection::is_autocommit);
    if (batch.len() <= 1 && by == By::Thread) || !usable {
        return alone(slot, batch);
    }
    let conn = slot.as_ref().expect("checked above");
    let lock_wait = match by {
        By::Thread => {
            let oldest = batch.iter().map(|j| j.queued()).min().expect("a write");
            timeout.saturating_sub(oldest.elapsed())
        }
        By::Task => Duration::ZERO,
    };
    if begin_write(conn, conns, lock_wait).is_err() {
        // Each write meets the lock (or the error) again on its own, and reports it.
        return alone(slot, batch);
    }
    let mut batch = batch;
    for job in &mut batch {
        if !run_one(conn, conns, job.as_mut()) {
            rollback(conn);
            return alone(slot, batch);
        }
    }
    // The counter once for the whole batch; a failure gives the batch up like any other.
    if conns.counter.flush(conn, &conns.sql).is_err() || conn.is_autocommit() {
        rollback(conn);
        return alone(slot, batch);
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
            return alone(slot, batch);
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
    Ok(())
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
