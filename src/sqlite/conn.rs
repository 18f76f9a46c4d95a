//! The connections of one store: the writer connection, used by the store's writer thread
//! or a task writing alone (see [`writer`](super::writer)), and a small pool of reader
//! connections. All of it is blocking: a read runs on the calling thread when the writer
//! connection or a reader is idle, else on tokio's blocking threads.
//!
//! Why this shape: SQLite admits one writer at a time per database file anyway, so one
//! writer connection per store loses nothing, and queuing this store's writes for one thread
//! is cheaper and fairer than letting several connections poll the file lock through
//! SQLite's busy handler, which sleeps up to 100 ms between tries. Writers of *other* stores
//! or processes on the same file still meet at the file lock, where `BEGIN IMMEDIATE` waits
//! up to the busy timeout. Readers get connections of their own: in WAL mode a reader sees
//! the last committed snapshot without waiting for a writer. A read of one key made while
//! this store's writes are in flight joins their batch on the writer connection instead
//! (see [`writer`](super::writer)), but never waits for the file's write lock.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, OpenFlags};

use super::counter::TxCounter;
use super::error::{SqliteError, classify, is_busy};
use super::schema::Sql;
use crate::StoreError;

/// Prepared statements kept per connection: a writer uses eighteen (its seven statements,
/// the four listings when it serves a read, `BEGIN IMMEDIATE`, `BEGIN`, `COMMIT`,
/// `ROLLBACK` and the three savepoint statements), a reader six.
const STATEMENT_CACHE: usize = 20;

/// SQLite takes the busy timeout in milliseconds as a C `int`.
pub(super) fn clamp_timeout(d: Duration) -> Duration {
    d.min(Duration::from_millis(i32::MAX as u64))
}

/// What the connections of one store are opened with.
#[derive(Debug)]
pub(super) struct Settings {
    /// The database file.
    pub path: PathBuf,
    /// How long to wait for a lock or a free connection.
    pub busy_timeout: Duration,
    /// `synchronous=FULL` instead of `NORMAL` on the writer.
    pub full_sync: bool,
    /// The most reader connections open at once (at least 1).
    pub max_readers: usize,
}

/// Opens one connection and sets it up; `writer` also switches the file to WAL
/// (persistent) and creates the schema.
pub(super) fn open_connection(
    set: &Settings,
    sql: &Sql,
    writer: bool,
) -> Result<Connection, SqliteError> {
    let (path, busy_timeout) = (set.path.as_path(), set.busy_timeout);
    let open_err = |source| SqliteError::Open {
        path: path.to_owned(),
        source,
    };
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(open_err)?;
    conn.busy_timeout(clamp_timeout(busy_timeout))
        .map_err(open_err)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if writer {
        let mode =
            enable_wal(&conn, busy_timeout).map_err(|e| busy_or_open(e, path, busy_timeout))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::NoWal {
                path: path.to_owned(),
                mode,
            });
        }
        let sync = if set.full_sync { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)
            .map_err(open_err)?;
        // One transaction, so two stores opening a new file at once cannot interleave.
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {} COMMIT;", sql.create))
            .map_err(|e| {
                let _ = conn.execute_batch("ROLLBACK");
                busy_or_open(e, path, busy_timeout)
            })?;
    } else {
        // Readers only read; this makes any stray write fail instead of taking the lock.
        conn.pragma_update(None, "query_only", true)
            .map_err(open_err)?;
    }
    sql.check(&conn, writer)
        .map_err(|e| busy_or_open(e, path, busy_timeout))?;
    Ok(conn)
}

/// Switches the file to WAL (a persistent setting, so only the first opener changes it)
/// and returns the journal mode SQLite reports.
///
/// The switch takes an exclusive lock *without* SQLite's busy handler, so when several
/// connections open a new file at once it can fail with `SQLITE_BUSY` at once; it is tried
/// again, briefly, until the busy timeout has passed.
fn enable_wal(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<String> {
    let deadline = Instant::now() + busy_timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        if mode.eq_ignore_ascii_case("wal") {
            return Ok(mode);
        }
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(e) if is_busy(&e) && Instant::now() + pause < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result,
        }
    }
}

fn busy_or_open(e: rusqlite::Error, path: &Path, timeout: Duration) -> SqliteError {
    if is_busy(&e) {
        SqliteError::Busy { timeout, source: e }
    } else {
        SqliteError::Open {
            path: path.to_owned(),
            source: e,
        }
    }
}

/// Everything one store holds: its settings, its statements, and its connections.
pub(super) struct Connections {
    pub settings: Settings,
    pub sql: Sql,
    /// The counter of the write transaction open on the writer connection.
    pub counter: TxCounter,
    readers: Mutex<Readers>,
    reader_freed: Condvar,
}

struct Readers {
    idle: Vec<Connection>,
    /// Connections open, idle or checked out.
    open: usize,
}

impl Connections {
    /// Opens the writer (creating the file and schema), returned for the writer thread, and
    /// one reader.
    pub fn open(settings: Settings, sql: Sql) -> Result<(Self, Connection), SqliteError> {
        let writer = open_connection(&settings, &sql, true)?;
        let reader = open_connection(&settings, &sql, false)?;
        let conns = Connections {
            settings,
            sql,
            counter: TxCounter::default(),
            readers: Mutex::new(Readers {
                idle: vec![reader],
                open: 1,
            }),
            reader_freed: Condvar::new(),
        };
        Ok((conns, writer))
    }

    /// Runs `f` on a reader connection, waiting at most the busy timeout for one to be free.
    pub fn read<T>(
        &self,
        f: impl FnOnce(&Connection, &Connections) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let deadline = Instant::now() + self.settings.busy_timeout;
        let conn = self.checkout(deadline)?;
        let guard = ReaderGuard {
            conns: self,
            conn: Some(conn),
        };
        f(guard.conn.as_ref().expect("set above"), self)
    }

    /// Runs `f` on an idle reader connection on this thread, or gives `f` back when none is
    /// idle (all are checked out, or none is open yet beyond the first).
    pub fn read_idle<T, F>(&self, f: F) -> Result<Result<T, StoreError>, F>
    where
        F: FnOnce(&Connection, &Connections) -> Result<T, StoreError>,
    {
        let Some(conn) = self.readers.lock().idle.pop() else {
            return Err(f);
        };
        let guard = ReaderGuard {
            conns: self,
            conn: Some(conn),
        };
        Ok(f(guard.conn.as_ref().expect("set above"), self))
    }

    fn checkout(&self, deadline: Instant) -> Result<Connection, StoreError> {
        let mut readers = self.readers.lock();
        loop {
            if let Some(conn) = readers.idle.pop() {
                return Ok(conn);
            }
            if readers.open < self.settings.max_readers {
                readers.open += 1;
                drop(readers);
                return open_connection(&self.settings, &self.sql, false).map_err(|e| {
                    self.readers.lock().open -= 1;
                    self.reader_freed.notify_one();
                    e.into()
                });
            }
            if Instant::now() >= deadline {
                return Err(SqliteError::ReadersBusy {
                    max: self.settings.max_readers,
                    timeout: self.settings.busy_timeout,
                }
                .into());
            }
            self.reader_freed.wait_until(&mut readers, deadline);
        }
    }
}

/// Opens a write transaction on the writer connection `conn`: `BEGIN IMMEDIATE`, waiting at
/// most `lock_wait` for the file's write lock, with the transaction's version counter
/// starting afresh (see [`TxCounter`]).
pub(super) fn begin_write(
    conn: &Connection,
    conns: &Connections,
    lock_wait: Duration,
) -> rusqlite::Result<()> {
    begin(conn, conns, "BEGIN IMMEDIATE", lock_wait)
}

/// Opens a read transaction (a plain `BEGIN`, which takes no write lock) on the writer
/// connection `conn`, for a batch of reads only: they share one snapshot.
pub(super) fn begin_read(conn: &Connection, conns: &Connections) -> rusqlite::Result<()> {
    begin(conn, conns, "BEGIN", conns.settings.busy_timeout)
}

/// Runs `statement` (a `BEGIN`) waiting at most `lock_wait` for a lock, the transaction's
/// version counter starting afresh.
fn begin(
    conn: &Connection,
    conns: &Connections,
    statement: &str,
    lock_wait: Duration,
) -> rusqlite::Result<()> {
    conn.busy_timeout(clamp_timeout(lock_wait))?;
    conn.prepare_cached(statement)?.execute([])?;
    conns.counter.begin();
    Ok(())
}

/// Runs `f` inside `BEGIN IMMEDIATE` ... `COMMIT` on the writer connection `conn`: the write
/// lock is taken before `f` reads anything, so what `f` reads cannot change before it
/// writes. `f`'s error (a conflict) rolls back. `key` names the write for `Indeterminate`.
/// `lock_wait` is what is left of the busy timeout after waiting in the writer's queue.
pub(super) fn transaction<T>(
    conn: &Connection,
    conns: &Connections,
    key: &str,
    lock_wait: Duration,
    f: impl FnOnce(&Connection, &Connections) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    if let Err(e) = begin_write(conn, conns, lock_wait) {
        return Err(classify(e, conns.settings.busy_timeout));
    }
    let value = match f(conn, conns).and_then(|value| {
        conns
            .counter
            .flush(conn, &conns.sql)
            .map_err(|e| classify(e, conns.settings.busy_timeout))?;
        Ok(value)
    }) {
        Ok(value) => value,
        Err(e) => {
            rollback(conn);
            return Err(e);
        }
    };
    match conn
        .prepare_cached("COMMIT")
        .and_then(|mut s| s.execute([]))
    {
        Ok(_) => Ok(value),
        // Still in the transaction (e.g. SQLITE_BUSY): nothing is stored yet.
        Err(e) if !conn.is_autocommit() => {
            rollback(conn);
            Err(classify(e, conns.settings.busy_timeout))
        }
        // SQLite ended the transaction itself after an I/O error: stored or not, unknown.
        Err(source) => Err(StoreError::Indeterminate {
            key: key.to_owned(),
            source: SqliteError::Commit { source }.into(),
        }),
    }
}

pub(super) fn rollback(conn: &Connection) {
    if !conn.is_autocommit() {
        // A failure leaves the transaction open, which the caller detects and handles by
        // dropping the connection.
        let _ = conn
            .prepare_cached("ROLLBACK")
            .and_then(|mut s| s.execute([]));
    }
}

/// Returns a reader connection to the pool, also when the read panicked.
struct ReaderGuard<'a> {
    conns: &'a Connections,
    conn: Option<Connection>,
}

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        let conn = self.conn.take();
        let reusable =
            !std::thread::panicking() && conn.as_ref().is_some_and(|c| c.is_autocommit());
        let mut readers = self.conns.readers.lock();
        let closed = if reusable {
            readers.idle.extend(conn);
            None
        } else {
            readers.open -= 1;
            conn
        };
        drop(readers);
        self.conns.reader_freed.notify_one();
        drop(closed);
    }
}
