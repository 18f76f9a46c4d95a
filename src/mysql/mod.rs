//! The MariaDB backend (feature `mysql`): a [`VersionedStore`] shared by many service
//! instances, on `mysql_async` with its connection pool. It needs MariaDB 10.5 or later
//! (sequences, `INSERT`/`REPLACE ... RETURNING`); MySQL has neither, so it is not supported
//! although it speaks the same protocol.
//!
//! ```no_run
//! use optimist::mysql::{MysqlOptions, MysqlStore};
//! use optimist::{Expect, VersionedStore};
//!
//! # async fn demo() -> Result<(), optimist::StoreError> {
//! let store = MysqlStore::connect(
//!     "mysql://app@127.0.0.1:3306/app",
//!     MysqlOptions::default().table("users"),
//! )
//! .await?;
//! store.migrate().await?; // optional: the first operation would create the schema too
//! let v1 = store.put("user:1", "ann".to_string(), Expect::Absent).await?.version;
//! store.put("user:1", "anne".to_string(), Expect::Version(v1)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Schema
//!
//! One table per store (named by [`MysqlOptions::table`], default `optimist_kv`) and one
//! sequence named after it (`{table}_version_seq`, see [`MysqlStore::sequence`]):
//!
//! ```sql
//! CREATE SEQUENCE IF NOT EXISTS `{table}_version_seq`
//!     START WITH 1 MINVALUE 1 INCREMENT BY 1 CACHE 1000 NOCYCLE ENGINE=InnoDB;
//! CREATE TABLE IF NOT EXISTS `{table}` (
//!     `key`    VARBINARY(3072) NOT NULL PRIMARY KEY, -- the key's UTF-8 bytes
//!     version  BIGINT UNSIGNED NOT NULL,             -- from the sequence; 0: see below
//!     modified DATETIME(6) NOT NULL,                 -- UTC_TIMESTAMP(6) of the write
//!     data     LONGBLOB NOT NULL                     -- the value as serde_json bytes
//! ) ENGINE=InnoDB;
//! ```
//!
//! They are created by [`MysqlStore::migrate`], or by the first operation of a store
//! unless [`MysqlOptions::create_schema`] is `false`. An existing table is used as it is.
//!
//! - **Keys** are `VARBINARY`: compared and ordered byte by byte, no collation, no
//!   trailing-space padding, NUL allowed, so every Rust string round-trips exactly. InnoDB
//!   indexes at most 3,072 bytes of a key, so a key longer than [`MAX_KEY_LEN`] bytes is
//!   [`StoreError::InvalidKey`] (nothing is sent).
//! - **Values** are the `serde_json` bytes in a `LONGBLOB`, returned exactly as written. The
//!   server's `max_allowed_packet` (16 MiB by default) bounds a value, and all values of
//!   one commit together; a larger write is refused by the server
//!   ([`StoreError::Backend`]) and nothing is written.
//! - **Versions** come from the sequence (`NEXTVAL`), shared by all keys of the table and
//!   never reset, so a version is never reused for a key, also after delete and re-create
//!   or a restart. MariaDB keeps one cache of 1,000 numbers per sequence for the whole
//!   server (every connection draws from it in order); after a crash it continues above the
//!   cached range, so numbers are skipped, never reused. `drop_schema` drops the sequence.
//! - **`last_modified`** is the server's `UTC_TIMESTAMP(6)` at the write (microseconds).
//!
//! # Writes
//!
//! Every write — `put`, `delete`, and a multi-key [`commit`](VersionedStore::commit) — is
//! one `READ COMMITTED` transaction (the pool sets the isolation level on each connection)
//! of at most four statements:
//!
//! 1. `INSERT INTO t (key, version, modified, data) VALUES (?, 0, UTC_TIMESTAMP(6), ''), ...
//!    ON DUPLICATE KEY UPDATE version = version RETURNING key, version`, one row per key in
//!    ascending byte order. It takes an exclusive lock on every key's row, inserting a
//!    placeholder row (version 0) for each absent key so that absent keys are locked too,
//!    and returns each key's current version (0: absent). The versions are read under the
//!    locks, so they are exact: a conflict carries the true current version, not a hint.
//! 2. Every expectation is checked against them. If any fails, `ROLLBACK` (which also
//!    removes the placeholders) and the error is [`StoreError::Conflict`] for `put` and
//!    `delete`, [`StoreError::CommitConflict`] naming every failed key, in commit order,
//!    for a commit.
//! 3. `REPLACE INTO t VALUES (?, NEXTVAL(seq), UTC_TIMESTAMP(6), ?), ... RETURNING key,
//!    version, modified` for the puts: each gets its own new version, drawn while its row
//!    is locked. `UPDATE ... RETURNING` does not exist in MariaDB 10.11; `REPLACE` always
//!    writes a new version, so "changed rows" versus "matched rows" never matters.
//! 4. `DELETE FROM t WHERE key IN (...)` for the deletes and the placeholders of keys that
//!    were only checked; then `COMMIT`.
//!
//! Placeholders are never committed, so no reader sees them (reads are consistent reads of
//! committed rows; only a `READ UNCOMMITTED` session of another program could).
//!
//! **A key's versions increase in commit order**: its row is locked before `NEXTVAL` and
//! until `COMMIT`, so each write of a key draws after the previous one committed.
//! **No deadlocks among this store's writes**: every transaction locks its rows in one
//! global order (the keys' bytes) and reads take no locks. InnoDB's gap locks on duplicate
//! checks can still make it pick a deadlock victim (error 1213, the whole transaction
//! rolled back); such a transaction runs again after a random wait of up to 2^n ms (n the
//! attempt, so the colliding transactions go one by one), at most
//! [`commit_attempts`](MysqlOptions::commit_attempts) times (3 by default), then the error
//! is [`StoreError::Backend`]. A commit names at most [`MAX_COMMIT_KEYS`] keys.
//!
//! # Listing
//!
//! [`VersionedStore::list`] is one range scan of the primary key: `SELECT key, version,
//! modified[, data] FROM t WHERE key >= ? [AND key < ?] ORDER BY key LIMIT ?` (`key > ?`
//! with the cursor when it sorts at or after the prefix), the upper bound being the
//! prefix's byte successor. No `LIKE`, so `%`, `_` and `\` are plain characters. It reads
//! at most `limit` rows of the index; each page is one statement, hence one consistent
//! snapshot.
//!
//! # Errors and timeouts
//!
//! | what happened | error |
//! |---|---|
//! | no free connection within [`wait_timeout`](MysqlOptions::wait_timeout), server unreachable, connect timeout | [`StoreError::Unavailable`] |
//! | the connection broke or the [`statement_timeout`](MysqlOptions::statement_timeout) passed before `COMMIT` was sent | [`StoreError::Unavailable`]: the server rolls back, nothing was written |
//! | the same while `COMMIT` was in flight | [`StoreError::Indeterminate`] (the whole write applied or none of it) |
//! | the same during a read | [`StoreError::Unavailable`] |
//! | the server refused a statement | [`StoreError::Backend`] |
//! | key longer than [`MAX_KEY_LEN`], bad commit | [`StoreError::InvalidKey`], [`StoreError::InvalidCommit`] |
//! | value not encodable / decodable as JSON | [`StoreError::Codec`] |
//!
//! The source of each is a [`MysqlError`]. After a timeout, a broken connection, or when
//! the caller drops an operation's future midway, the store kills that session on the
//! server (`KILL CONNECTION`, from a connection of its own), which rolls back what it had
//! not committed and releases its locks, and closes the connection instead of returning it
//! to the pool. Connections are plain TCP; the store needs a tokio runtime.

mod commit;
mod conn;
mod error;
mod list;
mod options;
mod row;
mod schema;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mysql_async::{Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, Value};

pub use error::MysqlError;
pub use options::MysqlOptions;

use crate::encoded::EncodedOp as Prepared;
use conn::Conn;
use error::{backend, unavailable};
use row::{bytes_at, modified_at, version_at};
use schema::{Sql, sequence_name, validate_table};

use crate::{
    Applied, Capabilities, Commit, CommitConflict, Expect, ListPage, ListRequest, Meta, StoreError,
    Version, Versioned, VersionedStore,
};

/// The longest key, in bytes (UTF-8), the MariaDB backend stores; longer keys are
/// [`StoreError::InvalidKey`]. InnoDB's largest index key (with the default 16 KiB pages).
pub const MAX_KEY_LEN: usize = 3072;

/// The most keys one [`Commit`] may name on this backend; more is
/// [`StoreError::InvalidCommit`]. It keeps each of a commit's statements within a few
/// hundred placeholders (MariaDB takes 65,535) and its key list under 1 MiB.
pub const MAX_COMMIT_KEYS: usize = 256;

/// How long a pooled connection may stay idle before the pool closes it.
const IDLE_CONNECTION_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// A [`VersionedStore`] in a MariaDB table, shared by every process that uses the same
/// table. Cheap to clone (the pool is shared).
///
/// See the [module documentation](self) for the schema, the statements and the errors.
///
/// ```no_run
/// use optimist::mysql::{MysqlOptions, MysqlStore};
/// use optimist::{Expect, StoreError, VersionedStore};
///
/// # async fn demo() -> Result<(), StoreError> {
/// let url = "mysql://root@127.0.0.1:3306/test";
/// let store = MysqlStore::connect(url, MysqlOptions::default()).await?;
/// match store.put("user:7", serde_json::json!({"name": "Ann"}), Expect::Absent).await {
///     Ok(meta) => println!("created at {}", meta.version),
///     Err(StoreError::Conflict(c)) => println!("exists already at {:?}", c.current_etag()),
///     Err(StoreError::Indeterminate { .. }) => println!("unknown outcome: re-read"),
///     Err(e) => return Err(e),
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MysqlStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// For connections of their own (killing a session).
    opts: Opts,
    options: MysqlOptions,
    sequence: String,
    sql: Sql,
    schema_ready: AtomicBool,
    in_use: Arc<AtomicUsize>,
}

impl fmt::Debug for MysqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MysqlStore")
            .field("table", &self.inner.options.table)
            .field("sequence", &self.inner.sequence)
            .finish_non_exhaustive()
    }
}

impl MysqlStore {
    /// A store on the server at `url` (`mysql://user[:password]@host[:port]/database`, with
    /// `mysql_async`'s URL parameters), using the table of `options`.
    ///
    /// This validates the URL and the table name and builds the pool; it opens no
    /// connection. The schema is created by the first operation (unless
    /// [`MysqlOptions::create_schema`] is `false`) or by [`migrate`](Self::migrate), which
    /// also is the way to check the server at start-up.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with [`MysqlError::InvalidTableName`] or [`MysqlError::Url`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), optimist::StoreError> {
    /// use optimist::mysql::{MysqlOptions, MysqlStore};
    /// let url = "mysql://root@127.0.0.1:3306/test";
    /// let store = MysqlStore::connect(url, MysqlOptions::default()).await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, options: MysqlOptions) -> Result<Self, StoreError> {
        validate_table(&options.table).map_err(backend)?;
        let parsed = Opts::from_url(url).map_err(|e| backend(MysqlError::Url(e)))?;
        let constraints =
            PoolConstraints::new(0, options.max_size).expect("0 <= max_size and max_size >= 1");
        let opts: Opts = OptsBuilder::from_opts(parsed)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    // Keep idle connections (up to max_size) for a minute: with the
                    // driver's default of 0 s above a minimum of 0, every connection
                    // would be closed when returned, and each operation would connect
                    // and prepare its statements anew.
                    .with_inactive_connection_ttl(IDLE_CONNECTION_TTL)
                    // The store leaves no session state behind: a connection that may
                    // hold any (a transaction, a running statement) is killed instead.
                    .with_reset_connection(false),
            )
            .setup(vec![
                "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                "SET SESSION autocommit = 1",
            ])
            .into();
        let pool = Pool::new(opts.clone());
        let sequence = sequence_name(&options.table);
        let sql = Sql::new(&options.table, &sequence);
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                opts,
                options,
                sequence,
                sql,
                schema_ready: AtomicBool::new(false),
                in_use: Arc::new(AtomicUsize::new(0)),
            }),
        })
    }

    /// Creates the sequence and the table if they do not exist (idempotent, safe to run
    /// from several processes at once). See the [module documentation](self#schema).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached or does not answer in
    /// time, [`StoreError::Backend`] when it refuses (for example for lack of privileges).
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::mysql::MysqlStore) -> Result<(), optimist::StoreError> {
    /// store.migrate().await?;
    /// store.migrate().await?; // a no-op the second time
    /// # Ok(())
    /// # }
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.ddl(&self.inner.sql.create).await?;
        self.inner.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Drops the table **and its sequence**, for tests and teardown. Afterwards versions
    /// start again at 1, so ETags handed out before could match new data: never use this on
    /// data clients still hold versions of.
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::mysql::MysqlStore) -> Result<(), optimist::StoreError> {
    /// store.drop_schema().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        self.inner.schema_ready.store(false, Ordering::Release);
        self.ddl(&self.inner.sql.drop).await
    }

    /// The table's name.
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::mysql::MysqlStore) {
    /// println!("keys live in {}", store.table());
    /// # }
    /// ```
    pub fn table(&self) -> &str {
        &self.inner.options.table
    }

    /// The sequence's name: `{table}_version_seq`.
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::mysql::MysqlStore) {
    /// assert_eq!(store.sequence(), format!("{}_version_seq", store.table()));
    /// # }
    /// ```
    pub fn sequence(&self) -> &str {
        &self.inner.sequence
    }

    /// The options the store was built with.
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::mysql::MysqlStore) {
    /// println!("{:?}", store.options());
    /// # }
    /// ```
    pub fn options(&self) -> &MysqlOptions {
        &self.inner.options
    }

    /// Runs DDL statements one by one; their errors are those of a read (they are
    /// idempotent).
    async fn ddl(&self, statements: &[String]) -> Result<(), StoreError> {
        let mut conn = self.checkout().await?;
        for sql in statements {
            conn.exec(
                sql,
                Params::Empty,
                self.inner.options.statement_timeout,
                false,
            )
            .await
            .map_err(|f| f.read_error())?;
        }
        Ok(())
    }

    /// A pooled connection, within the pool's wait or connect timeout.
    async fn checkout(&self) -> Result<Conn, StoreError> {
        let o = &self.inner.options;
        let exhausted = self.inner.in_use.load(Ordering::Relaxed) >= o.max_size;
        let bound = if exhausted {
            o.wait_timeout
        } else {
            o.connect_timeout
        };
        match tokio::time::timeout(bound, self.inner.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(Conn::new(
                conn,
                self.inner.opts.clone(),
                o.connect_timeout,
                Arc::clone(&self.inner.in_use),
            )),
            Ok(Err(e)) => Err(unavailable(MysqlError::Connect(e))),
            Err(_) if exhausted => Err(unavailable(MysqlError::PoolExhausted {
                wait: o.wait_timeout,
                max_size: o.max_size,
            })),
            Err(_) => Err(unavailable(MysqlError::ConnectTimeout(o.connect_timeout))),
        }
    }

    /// A connection for an operation, creating the schema first if this store has not yet.
    async fn conn(&self) -> Result<Conn, StoreError> {
        if self.inner.options.create_schema && !self.inner.schema_ready.load(Ordering::Acquire) {
            self.migrate().await?;
        }
        self.checkout().await
    }

    /// The row of `key` read with `sql` (`get` or `head`).
    async fn read(&self, sql: &str, key: &str) -> Result<Option<mysql_async::Row>, StoreError> {
        check_key(key)?;
        let mut conn = self.conn().await?;
        let params = Params::Positional(vec![Value::Bytes(key.as_bytes().to_vec())]);
        let mut rows = conn
            .exec(sql, params, self.inner.options.statement_timeout, false)
            .await
            .map_err(|f| f.read_error())?;
        Ok(rows.pop())
    }
}

/// Rejects keys the primary key cannot hold.
fn check_key(key: &str) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::InvalidKey {
            reason: format!(
                "the key is {} bytes long; the MariaDB backend stores keys of at most \
                 {MAX_KEY_LEN} bytes",
                key.len()
            ),
        });
    }
    Ok(())
}

/// The single conflict of a one-operation write.
fn single(err: StoreError) -> StoreError {
    match err {
        StoreError::CommitConflict(c) => match <[_; 1]>::try_from(c.into_conflicts()) {
            Ok([conflict]) => StoreError::Conflict(conflict),
            Err(conflicts) => StoreError::CommitConflict(CommitConflict::new(conflicts)),
        },
        other => other,
    }
}

impl<V> VersionedStore<V> for MysqlStore
where
    V: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    async fn get(&self, key: &str) -> Result<Option<Versioned<V>>, StoreError> {
        let Some(row) = self.read(&self.inner.sql.get, key).await? else {
            return Ok(None);
        };
        let meta = Meta {
            version: version_at(&row, 0).map_err(backend)?,
            last_modified: modified_at(&row, 1).map_err(backend)?,
        };
        crate::codec::decode(key, meta, bytes_at(&row, 2).map_err(backend)?).map(Some)
    }

    async fn head(&self, key: &str) -> Result<Option<Meta>, StoreError> {
        let Some(row) = self.read(&self.inner.sql.head, key).await? else {
            return Ok(None);
        };
        Ok(Some(Meta {
            version: version_at(&row, 0).map_err(backend)?,
            last_modified: modified_at(&row, 1).map_err(backend)?,
        }))
    }

    async fn put(&self, key: &str, value: V, expect: Expect) -> Result<Meta, StoreError> {
        check_key(key)?;
        let data = crate::codec::encode(key, &value)?;
        drop(value);
        match commit::apply(self, &[Prepared::put(key, data, expect)]).await {
            Ok(applied) => match applied.as_slice() {
                [Applied::Put(meta)] => Ok(*meta),
                other => unreachable!("one put applied as {other:?}"),
            },
            Err(e) => Err(single(e)),
        }
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        check_key(key)?;
        match commit::apply(self, &[Prepared::delete(key, expect)]).await {
            Ok(applied) => match applied.as_slice() {
                [Applied::Deleted(removed)] => Ok(*removed),
                other => unreachable!("one delete applied as {other:?}"),
            },
            Err(e) => Err(single(e)),
        }
    }

    async fn commit(&self, commit: Commit<V>) -> Result<Vec<Applied>, StoreError> {
        let ops = commit::prepare(commit)?;
        commit::apply(self, &ops).await
    }

    async fn list(&self, request: ListRequest) -> Result<ListPage<V>, StoreError> {
        list::page(self, &request).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with_commit(MAX_COMMIT_KEYS)
            .with_list()
    }
}
