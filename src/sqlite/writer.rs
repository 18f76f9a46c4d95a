//! The writer thread: one per store, owning the writer connection. Writes queue to it; it
//! takes every write waiting in the queue (up to a bound) and applies them in one
//! `BEGIN IMMEDIATE` transaction (group commit), each still its own compare-and-swap with its
//! own outcome, answered only once `COMMIT` has returned. Under light load (at most two
//! operations in flight) and with the connection free, the writing task applies the queue
//! the same way itself ([`Writer::submit`]); it never waits for the file lock nor retries:
//! it gives such writes back to the thread.
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
//!
//! Reads of one key may queue too, while operations are in flight ([`Writer::joins_reads`]):
//! a read runs in the batch after the writes queued before it and is answered, like them,
//! after `COMMIT`; a batch given up, or a `COMMIT` of unknown outcome, runs it again on its
//! own. A read never waits for the file's write lock: before the thread waits for it, the
//! queued reads run on their own and new ones are refused ([`Writer::submit`] gives them
//! back) until the wait is over.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use rusqlite::Connection;

use super::conn::{Connections, begin_read, begin_write, clamp_timeout, rollback};
use super::error::{SqliteError, classify, is_busy};
use super::job::Job;
use super::linger::{self, Linger};
use crate::StoreError;

/// A task applies the queue itself only while at most this many operations are in flight
/// (its own and one other's, typically the other half of a read + write): beyond that the
/// writer thread, busy anyway, takes them in batches while the tasks go on.
const MAX_TASK_IN_FLIGHT: usize = 2;
/// The most batches a task applies in a row before it leaves the queue to the writer
/// thread (its own operation is answered in the first).
const MAX_TASK_ROUNDS: usize = 4;

/// The most writes one transaction takes.
const MAX_BATCH_WRITES: usize = 64;
/// The most keys one transaction takes (a write of one key counts one, a commit its keys);
/// a single larger commit still runs, alone.
const MAX_BATCH_KEYS: usize = 256;

/// The operation queue of one store and its writer connection, shared by the writer thread
/// and the tasks that write (or read while writes are in flight).
pub(super) struct Writer {
    queue: Mutex<Queue>,
    /// Signalled when an operation is queued that nobody applies on the spot, and on close.
    queued: Condvar,
    /// The writer connection (`None` after a failure, until reopened). Whoever holds it
    /// applies the waiting operations: the writer thread, or a task on the spot.
    slot: Mutex<Option<Connection>>,
    /// Whether a writing task may apply writes on its own thread (not with `full_sync`,
    /// whose `COMMIT` waits for the disk).
    inline: bool,
    /// Operations queued or being applied whose callers have not yet seen the answer.
    in_flight: AtomicUsize,
    /// The writes among them: reads join a batch only while there are some, so reads alone
    /// keep the reader connections' parallelism.
    writes_in_flight: AtomicUsize,
    /// Whether the writer thread looked for its next operation after its last batch.
    looking: AtomicBool,
}

/// An operation in flight, counted until dropped (also when its caller stops waiting).
pub(super) struct InFlight<'a> {
    writer: &'a Writer,
    write: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.writer.in_flight.fetch_sub(1, Ordering::Relaxed);
        if self.write {
            self.writer.writes_in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

struct Queue {
    jobs: VecDeque<Box<dyn Job>>,
    /// The store is gone or the writer thread ended: nothing more is queued.
    closed: bool,
    /// The writer thread may wait for the file's write lock (another store or process holds
    /// it): reads do not join, so they never wait for it.
    diverted: bool,
}

/// Who applies a batch: the writer thread waits for the file lock and retries a failed batch
/// write by write; a writing task does neither and gives such a batch back to the thread.
#[derive(Clone, Copy, PartialEq)]
enum By {
    Thread,
    Task,
}

impl Writer {
    /// Counts an operation in flight (from queuing to its caller's seeing the answer), a
    /// write if `write`, until the guard is dropped.
    pub(super) fn enter(&self, write: bool) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if write {
            self.writes_in_flight.fetch_add(1, Ordering::Relaxed);
        }
        InFlight {
            writer: self,
            write,
        }
    }

    /// Queues `job` (counted by [`Writer::enter`]); when at most [`MAX_TASK_IN_FLIGHT`]
    /// operations are in flight and the writer connection is free, applies the queue on
    /// this thread (its own job and any queued meanwhile, one batch; then what was queued
    /// during it, up to [`MAX_TASK_ROUNDS`] batches), otherwise leaves it to the writer
    /// thread. `Err` gives the job back when the writer has stopped, or for a read while
    /// reads are diverted.
    ///
    /// Under light load this skips two thread hand-offs (to the writer and back); under
    /// more the writer thread, busy anyway, takes the operations in batches while the tasks
    /// go on.
    pub(super) fn submit(
        &self,
        conns: &Connections,
        job: Box<dyn Job>,
    ) -> Result<(), Box<dyn Job>> {
        let first = {
            let mut queue = self.queue.lock();
            if queue.closed || (queue.diverted && job.is_read()) {
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
        let mut rounds = 0;
        while self.inline
            && rounds < MAX_TASK_ROUNDS
            && self.in_flight.load(Ordering::Relaxed) <= MAX_TASK_IN_FLIGHT
            && let Some(mut slot) = self.slot.try_lock()
        {
            let batch = self.take();
            let back = if batch.is_empty() {
                Ok(())
            } else {
                apply(conns, self, &mut slot, batch, By::Task)
            };
            drop(slot);
            let mut queue = self.queue.lock();
            let gave_back = back.is_err();
            if let Err(back) = back {
                for job in back.into_iter().rev() {
                    queue.jobs.push_front(job);
                }
            }
            if queue.jobs.is_empty() {
                return Ok(());
            }
            if gave_back {
                break;
            }
            rounds += 1;
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

    /// Whether a read of one key should join the operations in flight rather than run on a
    /// reader connection: writes are in flight, `COMMIT` does not wait for the disk, and
    /// the writer thread's looks for its next operation find one (see [`linger`]; when they
    /// do not, its core is likely taken by others, and reads on reader connections spread
    /// the work over more threads). The batch's transaction holds the pages the read needs
    /// (a reader connection would read those the last write changed back from the file,
    /// under a read lock of its own), so the read costs the writer less than it would cost
    /// a reader.
    pub(super) fn joins_reads(&self) -> bool {
        self.inline
            && self.writes_in_flight.load(Ordering::Relaxed) != 0
            && self.looking.load(Ordering::Relaxed)
    }

    /// Stops reads joining (until [`Writer::undivert`]) and takes the reads queued.
    fn divert_reads(&self) -> Vec<Box<dyn Job>> {
        let mut queue = self.queue.lock();
        queue.diverted = true;
        if !queue.jobs.iter().any(|job| job.is_read()) {
            return Vec::new();
        }
        let mut reads = Vec::new();
        for job in std::mem::take(&mut queue.jobs) {
            if job.is_read() {
                reads.push(job);
            } else {
                queue.jobs.push_back(job);
            }
        }
        reads
    }

    fn undivert(&self) {
        self.queue.lock().diverted = false;
    }

    /// Runs `f`, which may wait for the file's write lock, with reads diverted: those
    /// queued run first, on their own, and new ones go to reader connections meanwhile.
    fn diverted<R>(
        &self,
        conns: &Connections,
        slot: &mut Option<Connection>,
        f: impl FnOnce(&mut Option<Connection>) -> R,
    ) -> R {
        for read in self.divert_reads() {
            read.solo(conns, slot);
        }
        let result = f(slot);
        self.undivert();
        result
    }

    /// Takes the operations waiting, up to the batch bounds.
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
            diverted: false,
        }),
        queued: Condvar::new(),
        inline: !conns.settings.full_sync,
        slot: Mutex::new(Some(conn)),
        in_flight: AtomicUsize::new(0),
        writes_in_flight: AtomicUsize::new(0),
        looking: AtomicBool::new(true),
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
    let mut linger = Linger::default();
    let mut applied = false;
    loop {
        if std::mem::take(&mut applied) {
            let look = linger.should_look();
            writer.looking.store(look, Ordering::Relaxed);
            if look {
                linger.record(linger::look(|| writer.queue.lock().jobs.is_empty()));
            }
        }
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
            let _ = apply(conns, writer, &mut slot, batch, By::Thread);
            applied = true;
        }
    }
}

/// Applies `batch` in one transaction, or, when that fails as a whole, each operation
/// alone. A task (`By::Task`) does not wait for the file lock nor retry: it gives back
/// (`Err`) the operations it has not answered, for the writer thread.
fn apply(
    conns: &Connections,
    writer: &Writer,
    slot: &mut Option<Connection>,
    batch: Vec<Box<dyn Job>>,
    by: By,
) -> Result<(), Vec<Box<dyn Job>>> {
    let timeout = conns.settings.busy_timeout;
    // Writes that waited past the busy timeout give up: nothing was sent. (One clock read
    // for the batch, and no new vectors unless one is late.) Reads never wait for writers.
    let now = Instant::now();
    let late =
        |job: &dyn Job| !job.is_read() && now.saturating_duration_since(job.queued()) >= timeout;
    let mut batch = if batch.iter().any(|job| late(&**job)) {
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
    // The thread retries each operation alone, reads diverted while writes may wait for
    // the lock; a task leaves that to the thread.
    let alone = |slot: &mut Option<Connection>, batch: Vec<Box<dyn Job>>| match by {
        By::Thread => {
            // The reads first: none of the writes is answered yet, so this order is as good
            // as the queue's, and the reads must not wait behind a write waiting for the lock.
            let (reads, writes): (Vec<_>, Vec<_>) =
                batch.into_iter().partition(|job| job.is_read());
            writer.diverted(conns, slot, |slot| {
                alone(conns, slot, reads);
                alone(conns, slot, writes);
            });
            Ok(())
        }
        By::Task => Err(batch),
    };
    if !slot.as_ref().is_some_and(Connection::is_autocommit) {
        return alone(slot, batch);
    }
    let conn = slot.as_ref().expect("checked above");
    let begun = if batch.iter().all(|job| job.is_read()) {
        begin_read(conn, conns)
    } else {
        match begin_write(conn, conns, Duration::ZERO) {
            Err(e) if by == By::Thread && is_busy(&e) => {
                // Another store or process holds the write lock. The reads run now on their
                // own (WAL readers never wait for writers), then the writes wait for it.
                let (reads, writes): (Vec<_>, Vec<_>) =
                    batch.into_iter().partition(|job| job.is_read());
                batch = writes;
                let oldest = batch.iter().map(|j| j.queued()).min().expect("a write");
                let begun = writer.diverted(conns, slot, |slot| {
                    for read in reads {
                        read.solo(conns, slot);
                    }
                    let lock_wait = timeout.saturating_sub(oldest.elapsed());
                    // (None if the connection is gone: then `alone` reopens it for the writes.)
                    slot.as_ref()
                        .filter(|c| c.is_autocommit())
                        .map(|conn| begin_write(conn, conns, lock_wait))
                });
                match begun {
                    Some(Err(e)) if is_busy(&e) => {
                        // The writes waited for the lock as long as they may: nothing sent.
                        for job in batch {
                            job.answer(Some(classify(duplicate(&e), timeout)));
                        }
                        return Ok(());
                    }
                    Some(begun) => begun,
                    None => return alone(slot, batch),
                }
            }
            other => other,
        }
    };
    if begun.is_err() {
        // Each operation meets the error again on its own, and reports it.
        return alone(slot, batch);
    }
    let conn = slot.as_ref().expect("begun on it");
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
            let mut again = Vec::new();
            for job in batch {
                if job.is_read() {
                    // It wrote nothing, but saw writes that may not be stored: read again.
                    again.push(job);
                    continue;
                }
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
            if !again.is_empty() {
                return alone(slot, again);
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

/// Runs each operation on its own (a write in a transaction of its own).
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
