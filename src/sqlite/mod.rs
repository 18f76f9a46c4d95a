//! The SQLite backend (feature `sqlite`): a durable, embedded [`VersionedStore`].
//!
//! [`SqliteStore::open`] opens (or creates) a database file in WAL mode with
//! `synchronous=NORMAL` and a busy timeout, and creates its schema:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS <table> (key TEXT PRIMARY KEY NOT NULL, version INTEGER NOT NULL,
//!     modified_ms INTEGER NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;
//! CREATE TABLE IF NOT EXISTS <table>_counter (id INTEGER PRIMARY KEY CHECK (id = 1),
//!     next INTEGER NOT NULL);
//! ```
//!
//! # Compare-and-swap
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction: it takes the database's write lock
//! first, then reads the key's current version
//! (`SELECT version FROM <table> WHERE key = ?1`), checks the [`Expect`], takes the next
//! version from the counter, upserts
//! (`INSERT ... ON CONFLICT (key) DO UPDATE SET version = excluded.version, ...`) or deletes
//! the row, and commits. The counter is read at the transaction's first put
//! (`SELECT next FROM <table>_counter WHERE id = 1`), stepped in memory for each put, and
//! written back once before `COMMIT` (`UPDATE <table>_counter SET next = ?1 WHERE id = 1`),
//! inside the same transaction: two statements per transaction however many puts it holds,
//! and not an `UPDATE ... RETURNING` per put, whose row SQLite buffers in a temporary
//! b-tree opened and freed on every run. Nothing can write in between, also from other
//! processes on the same file, and a refused write changes nothing. (A plain `BEGIN` would read under a
//! shared lock and fail with `SQLITE_BUSY` when it then tried to write.) Several queued
//! writes may share one transaction; see [group commit](#threads-and-group-commit).
//!
//! # Multi-key commits
//!
//! [`VersionedStore::commit`] is the same kind of transaction for several keys: after
//! `BEGIN IMMEDIATE` it reads every key's version (puts, deletes and checks alike) with the
//! statement above; these versions are exact, since no other writer can run until the
//! transaction ends. If any expectation fails, it rolls back and the error is
//! [`StoreError::CommitConflict`] naming **every** failed key, in the commit's order, with
//! its current version. Otherwise it writes each key in the commit's order, each put with its
//! own version from the counter (the same counter as single-key writes, so versions stay
//! unique and never reused), each delete with `DELETE FROM <table> WHERE key = ?1`, and
//! commits. A statement that fails midway undoes the whole commit; readers, which see the last
//! committed snapshot, never see part of a commit. There is one write lock per file, so two
//! commits never deadlock: they queue.
//!
//! A commit names at most [`MAX_COMMIT_KEYS`] keys ([`VersionedStore::capabilities`] says so
//! too); an empty commit, a key named twice or too many keys are
//! [`StoreError::InvalidCommit`], refused before anything is sent. A `COMMIT` whose outcome
//! is unknown is [`StoreError::Indeterminate`] naming the commit's first key: the whole
//! commit applied or none of it did.
//!
//! # Listing
//!
//! [`VersionedStore::list`] is one range scan of the primary key per page, on a reader
//! connection: `SELECT key, version, modified_ms[, data] FROM <table> WHERE key >= ?1 AND
//! key < ?2 ORDER BY key LIMIT ?3`, with `key > ?1` (the cursor) instead of `key >= ?1`
//! (the prefix) when the cursor sorts at or after the prefix. `?2` is the prefix's byte
//! successor (its last byte incremented; for the empty prefix the byte 0xFF, above every
//! UTF-8 string), bound as `TEXT`. The key column's `BINARY` collation compares bytes, so
//! pages come in byte order, no `LIKE` is involved (`%`, `_` and `\` in a prefix are plain
//! characters), and the scan reads at most `limit` index entries whatever the table holds.
//! Each page is one statement, hence one snapshot; pages may interleave with writes.
//!
//! # Versions, values and keys
//!
//! **Versions** come from the one-row counter table, in the same transaction as the write,
//! and it is never reset: no version is reused for any key, also after delete and
//! re-create, after closing and reopening the file, and between several stores or
//! processes sharing it. (With the default `synchronous=NORMAL` the last commits before a
//! power loss can be lost with their versions; see [`SqliteOptions::full_sync`].)
//!
//! **Values** are stored as `serde_json` bytes; a value that does not encode or decode is
//! [`StoreError::Codec`]. **Keys** are bound as parameters, never put into SQL, and any
//! string round-trips, including one holding NUL. Only the table name is put into SQL text,
//! and only if it matches `^[A-Za-z_][A-Za-z0-9_]{0,62}$` (and does not start with
//! `sqlite_`, which SQLite reserves).
//!
//! # Threads and group commit
//!
//! Each store has one writer thread owning its writer connection (SQLite admits one writer
//! at a time anyway), and a pool of reader connections; in WAL mode readers see the last
//! committed state without waiting for the writer. The store needs a tokio runtime (any
//! flavour) and its futures are `Send`.
//!
//! **Reads on the calling thread.** A read (`get`, `head`, a `list` page) that finds a
//! reader connection idle runs on the thread polling it, without a hand-off; only when every
//! open reader is busy does it go to tokio's blocking pool (`spawn_blocking`), which may
//! open another reader (up to [`SqliteOptions::max_readers`]). When no write is in flight
//! and the writer connection is free, a read runs on the writer connection instead (still
//! on the calling thread, outside any transaction, so it sees the same last committed
//! state): SQLite drops a connection's page cache whenever another connection has written,
//! so a reader connection would read the pages of the last write back from the file first,
//! while the writer connection's cache holds them. The trade-off: such a read
//! blocks its async worker thread while SQLite runs it, typically a few microseconds for a
//! key lookup (a `list` page reads at most `limit` rows); since WAL readers never wait for
//! writers, it waits for a lock only in rare cases (another process recovering the WAL or
//! changing the journal mode), for at most the busy timeout. Handing every read to another
//! thread and back cost more than the read itself: two thread wake-ups per read.
//!
//! **Group commit.** Writes (puts, deletes, commits) queue for the writer thread, which
//! takes every write waiting (at most 64 writes or 256 keys) and applies them in **one**
//! `BEGIN IMMEDIATE` transaction, in queue order, each with its own compare-and-swap exactly
//! as described above, then commits once and answers each write with its own outcome. A
//! refused write changes nothing and does not fail the others; a multi-key commit runs
//! inside `SAVEPOINT optimist_write` ... `RELEASE optimist_write`, so a commit that fails
//! midway (`ROLLBACK TO optimist_write`) is undone alone. No write is answered before the
//! `COMMIT` that stores it returned, so readers and answers agree. When a batch fails as a
//! whole (`BEGIN` times out, SQLite rolls the transaction back itself after an I/O error,
//! `COMMIT` is refused, a write panics), nothing of it is kept and each of its writes runs
//! again in a transaction of its own, to get its own outcome. A write alone in the queue is
//! such a transaction of its own. With several writers waiting, this spends one
//! transaction and one WAL commit on many writes instead of one each.
//!
//! **Reads of one key join the writes in flight.** While writes are in flight (and
//! `COMMIT` does not wait for the disk: not with [`SqliteOptions::full_sync`]), a `get` or
//! `head` queues behind them instead of taking a reader connection: it runs in their batch,
//! in queue order, on the writer connection, and is answered once the batch has committed,
//! so it sees every write acknowledged before it was made and never one that is not stored
//! (a batch given up runs it again on its own). A reader connection would read the pages the
//! last writes changed back from the file, under a read lock of its own (four `fcntl` calls
//! and a `pread` per page); inside the batch the read costs a lookup in pages already in
//! the writer's cache. A batch of reads only runs in a plain `BEGIN` (no write lock). Reads
//! never wait for the file's write lock: when another store or process holds it, the writer
//! thread runs the queued reads on their own before it waits, and new reads take reader
//! connections until it has the lock. After a batch, the writer thread looks for the next
//! operation for up to 50 us (spinning; it stops looking for a while after two looks that
//! found nothing) before it sleeps, so that a caller coming straight back (a read, then its
//! write) does not pay for waking it. While it does not look (light load, or its core taken
//! by other processes), reads keep to reader connections, which spread the work over more
//! threads. On 2 cores, 8 tasks running read + compare-and-swap: 1.20x of the same loop
//! written directly against rusqlite with 8 threads, against 1.10x with every read on a
//! reader connection (`benches/README.md`).
//!
//! **Writes on the calling thread under light load.** When at most two operations are in
//! flight (this one and, say, another task's read or write) and the writer connection is
//! free, the task writing applies the queue itself, on the thread polling it, in the same
//! kind of batch transaction, instead of handing it to the writer thread and waiting to be
//! woken; operations queued meanwhile join its batch, and it applies what was queued during
//! its batch too, up to 4 batches in a row while no more than two are in flight. It does
//! not wait for the file lock: if `BEGIN IMMEDIATE` finds it taken (another store or process
//! is writing), or the batch fails as a whole, it hands the operations to the writer thread,
//! which waits and retries as above. Not with [`SqliteOptions::full_sync`], whose `COMMIT`
//! waits for the disk: there every write goes to the writer thread. The trade-off is the one
//! of reads: the write blocks its async worker thread for the transaction, typically tens
//! of microseconds (longer when the `COMMIT` runs SQLite's automatic WAL checkpoint, every
//! ~1,000 pages written). Under more load the writer thread, busy anyway, takes the
//! operations in batches and the tasks go on. (Two tasks running read + compare-and-swap:
//! 0.57x of the raw rusqlite loop with two threads when only a write alone was applied on
//! the spot, 0.89x with this rule, in one sitting.)
//!
//! # Errors
//!
//! A lock that stays taken longer than the busy timeout (by another store or process on the
//! same file, or by this store's own writes queued before) is [`StoreError::Unavailable`],
//! and nothing was written. A `COMMIT` that fails in a way that leaves the outcome open is
//! [`StoreError::Indeterminate`] for every write of its batch that would have applied, and
//! [`StoreError::Unavailable`] for those it refused (they wrote nothing, but were judged
//! against writes that may not be stored). I/O errors, corruption, a full
//! disk or a table of another shape are [`StoreError::Backend`]. The source of each is a
//! [`SqliteError`].

mod commit;
mod conn;
mod counter;
mod error;
mod job;
mod linger;
mod list;
mod ops;
mod options;
mod schema;
mod writer;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::SqliteError;
pub use options::SqliteOptions;

use crate::{
    Applied, Capabilities, Commit, Expect, ListPage, ListRequest, Listed, Meta, StoreError,
    Version, Versioned, VersionedStore,
};
use conn::Connections;
use job::Op;
use rusqlite::Connection;
use writer::Writer;

/// The most keys one [`Commit`] may name on this backend; more is
/// [`StoreError::InvalidCommit`], with nothing written. A commit holds the database's write
/// lock, which every writer of the file (every store and process) waits for, from its first
/// read to `COMMIT`; each key costs a read and a write (plus a counter step for a put)
/// inside it, so the bound keeps that wait to a few milliseconds.
///
/// ```
/// use optimist::sqlite::MAX_COMMIT_KEYS;
/// use optimist::{Commit, Expect};
///
/// let too_many = (0..=MAX_COMMIT_KEYS).fold(Commit::new(), |c, i| c.put(format!("k{i}"), i, Expect::Any));
/// assert!(too_many.validate(MAX_COMMIT_KEYS).is_err());
/// ```
pub const MAX_COMMIT_KEYS: usize = 256;

/// A [`VersionedStore`] in an SQLite database file: durable, embedded, safe to share
/// between tasks and between processes using the same file. See the [module
/// documentation](self) for how it works.
///
/// Cloning is cheap (an `Arc`); clones share the connections. The connections close when
/// the last clone is dropped and no operation is running.
///
/// ```
/// use optimist::{ConflictKind, Expect, VersionedStore};
/// use optimist::sqlite::{SqliteOptions, SqliteStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), optimist::StoreError> {
/// let path = std::env::temp_dir().join(format!("optimist-doc-store-{}.db", std::process::id()));
/// let store = SqliteStore::open(&path, SqliteOptions::default()).await?;
///
/// let v1 = store.put("user:1", "ann".to_string(), Expect::Absent).await?.version;
/// let read: optimist::Versioned<String> = store.get("user:1").await?.expect("just written");
/// assert_eq!((read.value.as_str(), read.version), ("ann", v1));
///
/// let v2 = store.put("user:1", "anne".to_string(), Expect::Version(v1)).await?.version;
/// let err = store.put("user:1", "x".to_string(), Expect::Version(v1)).await.unwrap_err();
/// assert_eq!(err.as_conflict().unwrap().kind(), ConflictKind::Stale);
/// assert_eq!(VersionedStore::<String>::delete(&store, "user:1", Expect::Version(v2)).await?, Some(v2));
/// # drop(store);
/// # for suffix in ["", "-wal", "-shm"] {
/// #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
/// # }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    table: String,
    conns: Arc<Connections>,
    /// The write queue and writer connection, shared with the writer thread.
    writer: Arc<Writer>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.writer.close();
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.conns.settings.path)
            .field("table", &self.inner.table)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it and the schema if missing.
    ///
    /// Fails with [`StoreError::Backend`] when the table name is invalid
    /// ([`SqliteError::InvalidTableName`]), the path is empty or `:memory:`, its directory
    /// does not exist ([`SqliteError::MissingDirectory`]), the file is not a database, or
    /// the existing table has another shape; with [`StoreError::Unavailable`] when another
    /// connection keeps the database locked for longer than the busy timeout.
    ///
    /// ```
    /// use optimist::sqlite::{SqliteOptions, SqliteStore};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = SqliteStore::open("/no/such/dir/x.db", SqliteOptions::default()).await.unwrap_err();
    /// assert!(err.to_string().contains("does not exist"), "{err}");
    /// let err = SqliteStore::open("x.db", SqliteOptions::default().table("bad name")).await.unwrap_err();
    /// assert!(err.to_string().contains("invalid table name"), "{err}");
    /// # }
    /// ```
    pub async fn open(path: impl AsRef<Path>, options: SqliteOptions) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let SqliteOptions {
            table,
            busy_timeout,
            max_readers,
            full_sync,
        } = options;
        schema::validate_table(&table)?;
        check_path(&path)?;
        let handle = runtime()?;
        let sql = schema::Sql::new(&table);
        let (conns, writer) = handle
            .spawn_blocking(move || {
                let settings = conn::Settings {
                    path,
                    busy_timeout,
                    full_sync,
                    max_readers: max_readers.max(1),
                };
                Connections::open(settings, sql)
            })
            .await
            .map_err(SqliteError::Task)??;
        let conns = Arc::new(conns);
        let writer = writer::spawn(Arc::clone(&conns), writer).map_err(SqliteError::Thread)?;
        Ok(Self {
            inner: Arc::new(Inner {
                table,
                conns,
                writer,
            }),
        })
    }

    /// The database file's path, as given to [`SqliteStore::open`].
    pub fn path(&self) -> &Path {
        &self.inner.conns.settings.path
    }

    /// The table holding the keys.
    pub fn table(&self) -> &str {
        &self.inner.table
    }

    /// Runs `f` on this thread on the writer connection when no write is in flight and it is
    /// free, else on an idle reader connection, else on the blocking pool (see the [module
    /// documentation](self#threads-and-group-commit)).
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection, &Connections) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let runtime = runtime()?;
        let f = match self.inner.writer.read_idle(&self.inner.conns, f) {
            Ok(result) => return result,
            Err(f) => f,
        };
        let f = match self.inner.conns.read_idle(f) {
            Ok(result) => return result,
            Err(f) => f,
        };
        let inner = Arc::clone(&self.inner);
        runtime
            .spawn_blocking(move || inner.conns.read(f))
            .await
            .map_err(|e| SqliteError::Task(e).into())
            .and_then(|r| r)
    }

    /// Reads one key: while writes are in flight (and `COMMIT` does not wait for the
    /// disk) the read joins their batch on the writer connection, answered once the batch
    /// has committed; otherwise, or when the writer does not take it, as
    /// [`SqliteStore::read`] does (see the [module
    /// documentation](self#threads-and-group-commit)).
    async fn read_key<T: Send + 'static>(
        &self,
        key: &str,
        f: fn(&Connection, &Connections, &str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let writer = &self.inner.writer;
        if writer.joins_reads() {
            let (job, answer) = Op::read(key, Box::new(f));
            let _in_flight = writer.enter(false);
            if writer.submit(&self.inner.conns, Box::new(job)).is_ok()
                && let Ok(result) = answer.await
            {
                return result;
            }
            // Diverted (the writer may wait for the file lock), left unanswered (no usable
            // writer connection), or the writer stopped: a read has no effect, so it runs
            // again as any other read.
        }
        let key = key.to_owned();
        self.read(move |conn, c| f(conn, c, &key)).await
    }

    /// Queues `f` for the writer thread, which runs it inside a write transaction (with
    /// other queued writes: see the [module documentation](self#threads-and-group-commit)) and answers
    /// once the transaction has committed. `weight` is the number of keys it names.
    ///
    /// If the writer thread stopped before answering, whether it wrote is unknown:
    /// `Indeterminate`.
    async fn write<T: Send + 'static>(
        &self,
        key: &str,
        weight: usize,
        f: impl Fn(&Connection, &Connections, &str) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (job, answer) = Op::write(key, weight, Box::new(f));
        let _in_flight = self.inner.writer.enter(true);
        if self
            .inner
            .writer
            .submit(&self.inner.conns, Box::new(job))
            .is_err()
        {
            return Err(StoreError::Unavailable {
                source: SqliteError::WriterStopped.into(),
            });
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Indeterminate {
                key: key.to_owned(),
                source: SqliteError::WriterStopped.into(),
            })
        })
    }
}

/// The current tokio runtime, which runs the blocking SQLite calls.
fn runtime() -> Result<tokio::runtime::Handle, SqliteError> {
    tokio::runtime::Handle::try_current().map_err(|_| SqliteError::NoRuntime)
}

fn check_path(path: &Path) -> Result<(), SqliteError> {
    let invalid = |reason| SqliteError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    if path.as_os_str().is_empty() {
        return Err(invalid("empty (SQLite would use a temporary database)"));
    }
    if path.as_os_str() == ":memory:" {
        return Err(invalid(
            "in-memory databases are not shared between connections; use MemoryStore",
        ));
    }
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            Err(SqliteError::MissingDirectory {
                path: path.to_owned(),
                dir: dir.to_owned(),
            })
        }
        _ => Ok(()),
    }
}

impl<V> VersionedStore<V> for SqliteStore
where
    V: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    async fn get(&self, key: &str) -> Result<Option<Versioned<V>>, StoreError> {
        let Some((meta, data)) = self.read_key(key, ops::get).await? else {
            return Ok(None);
        };
        crate::codec::decode(key, meta, &data).map(Some)
    }

    async fn head(&self, key: &str) -> Result<Option<Meta>, StoreError> {
        self.read_key(key, ops::head).await
    }

    async fn put(&self, key: &str, value: V, expect: Expect) -> Result<Meta, StoreError> {
        let data = crate::codec::encode(key, &value)?;
        drop(value);
        self.write(key, 1, move |conn, c, key| {
            ops::put(conn, c, key, &data, expect.clone())
        })
        .await
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        self.write(key, 1, move |conn, c, key| {
            ops::delete(conn, c, key, expect.clone())
        })
        .await
    }

    async fn commit(&self, commit: Commit<V>) -> Result<Vec<Applied>, StoreError> {
        let ops = commit::prepare(commit, MAX_COMMIT_KEYS)?;
        let first = commit::first_key(&ops).to_owned();
        self.write(&first, ops.len(), move |conn, c, _| {
            commit::apply(conn, c, &ops)
        })
        .await
    }

    async fn list(&self, request: ListRequest) -> Result<ListPage<V>, StoreError> {
        let (rows, request) = self
            .read(move |conn, c| Ok((list::page(conn, c, &request)?, request)))
            .await?;
        let entries = rows
            .into_iter()
            .map(|(key, meta, data)| {
                let value = match data {
                    Some(data) => Some(crate::codec::decode(&key, meta, &data)?.value),
                    None => None,
                };
                Ok(Listed { key, meta, value })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(ListPage::from_entries(entries, &request))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with_commit(MAX_COMMIT_KEYS)
            .with_list()
    }
}
