//! The PostgreSQL backend (feature `postgres`): a [`VersionedStore`] shared by many service
//! instances, on `tokio-postgres` with a `deadpool-postgres` connection pool.
//!
//! ```no_run
//! use optimist::postgres::{PostgresOptions, PostgresStore};
//! use optimist::{Expect, VersionedStore};
//!
//! # async fn demo() -> Result<(), optimist::StoreError> {
//! let store = PostgresStore::connect(
//!     "postgres://postgres@127.0.0.1:5432/app",
//!     PostgresOptions::default().table("users"),
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
//! One table per store (named by [`PostgresOptions::table`], default `optimist_kv`) and one
//! sequence named after it (`{table}_version_seq`, see [`PostgresStore::sequence`]):
//!
//! ```sql
//! CREATE SEQUENCE IF NOT EXISTS "{table}_version_seq" AS BIGINT MINVALUE 1 START WITH 1 CACHE 1 NO CYCLE;
//! CREATE TABLE IF NOT EXISTS "{table}" (
//!     key      TEXT COLLATE "C" NOT NULL PRIMARY KEY,
//!     version  BIGINT NOT NULL CHECK (version > 0),
//!     data     BYTEA NOT NULL,      -- the value as serde_json bytes
//!     modified TIMESTAMPTZ NOT NULL -- clock_timestamp() of the server at the write
//! );
//! ```
//!
//! They are created by [`PostgresStore::migrate`], or by the first operation of a store
//! unless [`PostgresOptions::create_schema`] is `false`. Creation runs in a transaction
//! holding `pg_advisory_xact_lock` on the table's name, so several processes starting at
//! once do not race on `CREATE ... IF NOT EXISTS` (which is not safe against concurrent
//! creation by itself). An existing table is used as it is; its columns are not checked.
//!
//! - **Values** are stored as `BYTEA` holding the `serde_json` encoding, not as `JSONB`: the
//!   bytes come back exactly as written (JSONB reorders keys, drops duplicates, rejects
//!   `\u0000` in strings and costs a parse on every write), and the store never queries
//!   inside values. Use your own columns or a view if you need SQL access to them.
//! - **Keys** are `TEXT` compared byte-wise (`COLLATE "C"`). PostgreSQL text cannot hold NUL,
//!   and a B-tree entry is limited to about 2.7 KB, so a key containing `'\0'` or longer
//!   than [`MAX_KEY_LEN`] bytes is [`StoreError::InvalidKey`] (nothing is sent).
//! - **Versions** come from the sequence (`nextval`), shared by all keys of the table and
//!   never reset, so a version is never reused for a key, also after delete and re-create or
//!   a restart. The sequence is not `OWNED BY` the table: dropping the table alone keeps it.
//!   It has `CACHE 1`, since per-session cached ranges would hand out numbers out of order.
//! - **`last_modified`** is the server's `clock_timestamp()` when the row was written
//!   (microsecond precision).
//!
//! # Compare-and-swap
//!
//! Every single-key write is one statement, so the compare and the write are one atomic
//! step on the server (`$1` key, `$2` data, `$3` the expected versions as `BIGINT[]`). Each
//! write that draws a version starts with the key's advisory lock, written `L` below:
//! `WITH l AS (SELECT pg_advisory_xact_lock(1869640819, hashtext($1)))`, the class being
//! `"opts"` in ASCII; the statement selects `FROM l`, so the lock is taken before
//! `nextval` runs, and it is held until the transaction ends.
//!
//! | expectation | statement |
//! |---|---|
//! | `Any` | `L INSERT ... SELECT $1, nextval(seq), $2, clock_timestamp() FROM l ON CONFLICT (key) DO UPDATE SET version = nextval(seq), data = EXCLUDED.data, modified = clock_timestamp() RETURNING version, modified` |
//! | `Absent` | `L INSERT ... SELECT ... FROM l ON CONFLICT (key) DO NOTHING RETURNING version, modified` |
//! | `Exists` | `L UPDATE ... SET version = nextval(seq), ... FROM l WHERE key = $1 RETURNING version, modified` |
//! | `Version`, `OneOf` | `L UPDATE ... FROM l WHERE key = $1 AND version = ANY($3) RETURNING version, modified` (an empty list matches nothing) |
//!
//! Deletes are `DELETE ... WHERE key = $1 [AND version = ANY($2)] RETURNING version`; they
//! draw no version and take only the row lock. `delete` with `Expect::Absent` deletes
//! nothing by definition and only reads the version.
//!
//! **A key's versions increase in commit order**, also across delete and re-create. Every
//! write that draws a version holds the key's advisory lock from before `nextval` until
//! it commits, so the writes of a key that draw versions follow each other: each draws
//! after the previous one committed, hence a larger number. (Without the lock an
//! `INSERT ... VALUES (nextval(..))` drew its version, then waited on a concurrent change
//! of the same key, and could commit a version lower than one committed and deleted
//! meanwhile; the history checker of the conformance kit found it.) Two keys whose
//! `hashtext` collides share a lock, which only serializes them.
//!
//! **Conflicts.** When the statement returns no row, nothing was written. The version a
//! [`Conflict`] then carries is read right after, by a second statement on the same
//! connection: it is a **hint** that may already be outdated by the time it is returned. If
//! the version read would have satisfied the expectation (the key changed again in between,
//! e.g. it was deleted after a refused create-only insert), the write is retried, at most
//! four times in all; after that the conflict is returned with the version last read.
//! `Exists` needs no read: its refusal means the key was absent.
//!
//! # Multi-key commits
//!
//! [`VersionedStore::commit`] runs one `READ COMMITTED` transaction of four statements
//! (`$1` the commit's keys as `TEXT[]`):
//!
//! 1. `SELECT pg_advisory_xact_lock(1869640819, h) FROM (SELECT DISTINCT hashtext(k) AS h
//!    FROM unnest($1) AS k) AS s ORDER BY h`: the advisory locks of every key, puts,
//!    deletes and checks alike, in ascending hash order (PostgreSQL evaluates a volatile
//!    output expression after the sort). Since every version-drawing write takes the same
//!    lock, no other writer can create one of these keys from now on.
//! 2. `SELECT key, version FROM t WHERE key = ANY($1) ORDER BY key FOR UPDATE`: the rows
//!    that exist, locked in key order, so no delete or update can change them either. The
//!    versions read here are exact, not hints.
//! 3. Every expectation is checked against those versions. If any fails, the transaction
//!    rolls back and the error is [`StoreError::CommitConflict`] naming **every** failed
//!    key, in commit order, with its current version.
//! 4. One statement applies every write: `WITH del AS (DELETE ... WHERE key = ANY(..)),
//!    upd AS (UPDATE ... SET version = nextval(seq), ... FROM unnest(keys, data) ...),
//!    ins AS (INSERT ... SELECT k, nextval(seq), d, clock_timestamp() FROM unnest(keys,
//!    data)) SELECT ... FROM upd UNION ALL SELECT ... FROM ins`; each written key gets its
//!    own new version from the sequence, drawn under its locks. Then `COMMIT`.
//!
//! Every commit takes its advisory locks in one global order (the hash) before any row
//! lock, and single-key operations hold at most one lock while they wait, so overlapping
//! commits queue instead of deadlocking. Should PostgreSQL still abort one with a
//! deadlock (`40P01`, possible with other clients locking the table's rows) or a
//! serialization failure (`40001`), the whole transaction is run again, at most
//! [`commit_attempts`](PostgresOptions::commit_attempts) times in all (3 by default), then
//! reported as [`StoreError::Backend`]; it is never half applied. Readers see
//! a commit all at once: each statement reads a snapshot, and a commit becomes visible to
//! snapshots atomically.
//!
//! A commit names at most [`MAX_COMMIT_KEYS`] keys ([`VersionedStore::capabilities`] says
//! so too). Until `COMMIT` is sent, a lost connection or a timeout rolls the transaction
//! back (the server aborts a transaction whose connection is gone): the commit is
//! [`StoreError::Unavailable`], nothing was written. Once `COMMIT` was sent, losing the
//! connection or the answer is [`StoreError::Indeterminate`] (its `key` is the commit's
//! first key): the whole commit applied or none of it did.
//!
//! # Listing
//!
//! [`VersionedStore::list`] is one range scan of the primary key, which orders by bytes
//! (`COLLATE "C"`): `SELECT key, version, modified[, data] FROM t WHERE key >= $prefix [AND
//! key < $upper] ORDER BY key LIMIT $limit`, with `key > $after` instead of the first bound
//! when the cursor sorts at or after the prefix. `$upper` is the prefix with its last
//! character replaced by the next code point, the smallest string above every key that
//! starts with the prefix; no `LIKE` is involved, so `%`, `_` and `\` in a prefix are
//! plain characters. The scan reads at most `limit` rows of the index, whatever the table
//! holds. Each page is one statement, hence one snapshot.
//!
//! # Errors and timeouts
//!
//! | what happened | error |
//! |---|---|
//! | no free connection within [`wait_timeout`](PostgresOptions::wait_timeout), server unreachable, connect timeout, connection found closed before sending | [`StoreError::Unavailable`] (nothing was sent) |
//! | the connection broke (closed, I/O error, session terminated) or the client-side [`statement_timeout`](PostgresOptions::statement_timeout) passed **after a write was sent** | [`StoreError::Indeterminate`] (the write may or may not have happened) |
//! | the same during a read | [`StoreError::Unavailable`] |
//! | the server refused a statement (SQL error, missing table, ...) | [`StoreError::Backend`] |
//! | key with NUL or longer than [`MAX_KEY_LEN`] | [`StoreError::InvalidKey`] |
//! | value not encodable / decodable as JSON | [`StoreError::Codec`] |
//!
//! The source of each is a [`PostgresError`]. After a timeout, a broken connection, or when
//! the caller drops an operation's future midway, the connection is closed rather than
//! returned to the pool, and a cancel request is sent for the statement that may still be
//! running; it can still commit before the cancel arrives, which is why the outcome is
//! reported as unknown.
//!
//! Connections are plain TCP (`NoTls`); use a local socket, a private network or a TLS
//! proxy. The store needs a tokio runtime (with the time driver).

mod commit;
mod conn;
mod error;
mod list;
mod options;
mod schema;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

pub use error::PostgresError;
pub use options::PostgresOptions;

use conn::{Cause, Conn, Fail};
use error::{backend, indeterminate, pool_error};
use schema::{LOCK_CLASS, LOCK_SQL, Sql, sequence_name, validate_table};

use crate::{
    Applied, Capabilities, Commit, Conflict, Expect, ListPage, ListRequest, Meta, StoreError,
    Version, Versioned, VersionedStore,
};

/// The longest key, in bytes (UTF-8), the PostgreSQL backend stores; longer keys are
/// [`StoreError::InvalidKey`]. PostgreSQL's B-tree index entries are limited to about
/// 2.7 KB.
pub const MAX_KEY_LEN: usize = 2048;

/// The most keys one [`Commit`] may name on this backend; more is
/// [`StoreError::InvalidCommit`]. A commit holds one advisory lock per key until it ends,
/// and advisory locks share PostgreSQL's lock table (`max_locks_per_transaction` x
/// `max_connections` slots, 6,400 with the defaults) with every other client: 128 keys on
/// each of 16 pooled connections stay well inside it.
pub const MAX_COMMIT_KEYS: usize = 128;

/// How many times a refused write is tried when the version read after the refusal would
/// have satisfied its expectation (the key changed in between).
const CAS_ATTEMPTS: u32 = 4;

/// A [`VersionedStore`] in a PostgreSQL table, shared by every process that uses the same
/// table. Cheap to clone (the pool is shared).
///
/// See the [module documentation](self) for the schema, the statements and the errors.
///
/// ```no_run
/// use std::time::Duration;
/// use optimist::postgres::{PostgresOptions, PostgresStore};
/// use optimist::{Expect, StoreError, VersionedStore};
///
/// # async fn demo() -> Result<(), StoreError> {
/// let store = PostgresStore::connect(
///     "postgres://app@db.internal/app?application_name=users-api",
///     PostgresOptions::default()
///         .table("users")
///         .max_size(32)
///         .statement_timeout(Duration::from_secs(2)),
/// )
/// .await?;
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
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    options: PostgresOptions,
    sequence: String,
    sql: Sql,
    schema_ready: AtomicBool,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("table", &self.inner.options.table)
            .field("sequence", &self.inner.sequence)
            .field("pool", &self.inner.pool.status())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// A store on the server at `url` (`postgres://user[:password]@host[:port]/database`
    /// with optional `?application_name=...` and other libpq parameters, or the key=value
    /// form), using the table of `options`.
    ///
    /// This validates the URL and the table name and builds the pool; it opens no
    /// connection. Connections are opened on demand; the schema is created by the first
    /// operation (unless [`PostgresOptions::create_schema`] is `false`) or by
    /// [`migrate`](Self::migrate), which also is the way to check the server at start-up.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] with [`PostgresError::InvalidTableName`] or
    /// [`PostgresError::Url`].
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), optimist::StoreError> {
    /// use optimist::postgres::{PostgresOptions, PostgresStore};
    /// let store = PostgresStore::connect("postgres://postgres@127.0.0.1:5432/test", PostgresOptions::default()).await?;
    /// store.migrate().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, options: PostgresOptions) -> Result<Self, StoreError> {
        validate_table(&options.table).map_err(backend)?;
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| backend(PostgresError::Url(e)))?;
        config.connect_timeout(options.connect_timeout);
        if let Some(name) = &options.application_name {
            config.application_name(name);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.max_size)
            .wait_timeout(Some(options.wait_timeout))
            .create_timeout(Some(options.connect_timeout))
            .recycle_timeout(Some(options.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| backend(PostgresError::BuildPool(e)))?;
        let sequence = sequence_name(&options.table);
        let sql = Sql::new(&options.table, &sequence);
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                options,
                sequence,
                sql,
                schema_ready: AtomicBool::new(false),
            }),
        })
    }

    /// Creates the table and its sequence if they do not exist (idempotent, safe to run
    /// from several processes at once: it holds a transaction-level advisory lock on the
    /// table's name). See the [module documentation](self#schema) for the schema.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the server cannot be reached or does not answer
    /// within the statement timeout, [`StoreError::Backend`] when it refuses (for example
    /// for lack of privileges).
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::postgres::PostgresStore) -> Result<(), optimist::StoreError> {
    /// store.migrate().await?;
    /// store.migrate().await?; // a no-op the second time
    /// # Ok(())
    /// # }
    /// ```
    pub async fn migrate(&self) -> Result<(), StoreError> {
        self.locked_ddl(&self.inner.sql.create).await?;
        self.inner.schema_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Drops the table **and its sequence**, for tests and teardown. Afterwards versions
    /// start again at 1, so ETags handed out before could match new data: never use this on
    /// data clients still hold versions of. Statements this store cached are forgotten;
    /// other store objects on the same table must not be used afterwards.
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::postgres::PostgresStore) -> Result<(), optimist::StoreError> {
    /// store.drop_schema().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn drop_schema(&self) -> Result<(), StoreError> {
        self.inner.schema_ready.store(false, Ordering::Release);
        self.locked_ddl(&self.inner.sql.drop).await?;
        self.inner.pool.manager().statement_caches.clear();
        Ok(())
    }

    /// The table's name.
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::postgres::PostgresStore) {
    /// println!("keys live in {}", store.table());
    /// # }
    /// ```
    pub fn table(&self) -> &str {
        &self.inner.options.table
    }

    /// The sequence's name: `{table}_version_seq`, or for table names longer than 51 bytes
    /// a 42-byte prefix of the name, a hash of it and the same suffix (63 bytes at most).
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::postgres::PostgresStore) {
    /// assert_eq!(store.sequence(), format!("{}_version_seq", store.table()));
    /// # }
    /// ```
    pub fn sequence(&self) -> &str {
        &self.inner.sequence
    }

    /// The options the store was built with.
    ///
    /// ```no_run
    /// # async fn demo(store: optimist::postgres::PostgresStore) {
    /// println!("statement timeout: {:?}", store.options());
    /// # }
    /// ```
    pub fn options(&self) -> &PostgresOptions {
        &self.inner.options
    }

    /// Runs `ddl` in a transaction holding the table's advisory lock, on a connection of its
    /// own, within the statement timeout. Its errors are those of a read: it is idempotent.
    async fn locked_ddl(&self, ddl: &str) -> Result<(), StoreError> {
        let timeout = self.inner.options.statement_timeout;
        let table = self.inner.options.table.as_str();
        let mut conn = self.checkout().await?;
        conn.busy();
        let run = async {
            let tx = conn.client_mut().transaction().await?;
            tx.execute(LOCK_SQL, &[&LOCK_CLASS, &table]).await?;
            tx.batch_execute(ddl).await?;
            tx.commit().await
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(Ok(())) => {
                conn.idle();
                Ok(())
            }
            Ok(Err(e)) => Err(Fail::Sent(conn.failed(e)).read_error()),
            Err(_) => {
                conn.discard();
                Err(Fail::Sent(Cause::Timeout(timeout)).read_error())
            }
        }
    }

    /// A pooled connection, within the pool's wait and connect timeouts.
    async fn checkout(&self) -> Result<Conn, StoreError> {
        let o = &self.inner.options;
        let obj = self
            .inner
            .pool
            .get()
            .await
            .map_err(|e| pool_error(e, o.wait_timeout, o.connect_timeout, o.max_size))?;
        Ok(Conn::new(obj, o.connect_timeout))
    }

    /// A connection for an operation, creating the schema first if this store has not yet.
    async fn conn(&self) -> Result<Conn, StoreError> {
        if self.inner.options.create_schema && !self.inner.schema_ready.load(Ordering::Acquire) {
            self.migrate().await?;
        }
        self.checkout().await
    }

    /// Runs a read statement on `conn`.
    async fn read(&self, conn: &mut Conn, sql: &str, key: &str) -> Result<Option<Row>, StoreError> {
        conn.query_opt(sql, &[&key], self.inner.options.statement_timeout)
            .await
            .map_err(Fail::read_error)
    }

    /// The current version of `key`, read on `conn`: the hint a conflict carries.
    async fn current_version(
        &self,
        conn: &mut Conn,
        key: &str,
    ) -> Result<Option<Version>, StoreError> {
        let row = self.read(conn, &self.inner.sql.head, key).await?;
        row.map(|row| version_at(&row, 0))
            .transpose()
            .map_err(backend)
    }

    async fn put_bytes(
        &self,
        key: &str,
        data: Vec<u8>,
        expect: Expect,
    ) -> Result<Meta, StoreError> {
        let sql = &self.inner.sql;
        let timeout = self.inner.options.statement_timeout;
        let versions = expected_versions(&expect);
        let key_data: [&(dyn ToSql + Sync); 2] = [&key, &data];
        let key_data_versions: [&(dyn ToSql + Sync); 3] = [&key, &data, &versions];
        let (statement, params): (&str, &[&(dyn ToSql + Sync)]) = match expect {
            Expect::Any => (&sql.upsert, &key_data),
            Expect::Absent => (&sql.insert, &key_data),
            Expect::Exists => (&sql.update_exists, &key_data),
            Expect::Version(_) | Expect::OneOf(_) => (&sql.update_versions, &key_data_versions),
        };
        let mut conn = self.conn().await?;
        let mut attempt = 1;
        loop {
            let row = conn
                .query_opt(statement, params, timeout)
                .await
                .map_err(|f| f.write_error(key))?;
            if let Some(row) = row {
                // Written: an unreadable version or time is reported as an unknown outcome.
                return version_at(&row, 0)
                    .and_then(|version| {
                        Ok(Meta {
                            version,
                            last_modified: modified_at(&row, 1)?,
                        })
                    })
                    .map_err(|e| indeterminate(key, e));
            }
            let current = match expect {
                Expect::Any => return Err(backend(PostgresError::NoRow)),
                Expect::Exists => None,
                _ => self.current_version(&mut conn, key).await?,
            };
            if !expect.admits(current) || attempt == CAS_ATTEMPTS {
                return Err(Conflict::new(key, expect, current).into());
            }
            attempt += 1;
        }
    }

    async fn delete_key(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        let sql = &self.inner.sql;
        let timeout = self.inner.options.statement_timeout;
        let mut conn = self.conn().await?;
        if expect == Expect::Absent {
            // Deletes nothing whatever the state: one read decides.
            return match self.current_version(&mut conn, key).await? {
                None => Ok(None),
                current => Err(Conflict::new(key, expect, current).into()),
            };
        }
        let versions = expected_versions(&expect);
        let key_only: [&(dyn ToSql + Sync); 1] = [&key];
        let key_versions: [&(dyn ToSql + Sync); 2] = [&key, &versions];
        let (statement, params): (&str, &[&(dyn ToSql + Sync)]) = match expect {
            Expect::Version(_) | Expect::OneOf(_) => (&sql.delete_versions, &key_versions),
            _ => (&sql.delete_any, &key_only),
        };
        let mut attempt = 1;
        loop {
            let row = conn
                .query_opt(statement, params, timeout)
                .await
                .map_err(|f| f.write_error(key))?;
            if let Some(row) = row {
                return version_at(&row, 0)
                    .map(Some)
                    .map_err(|e| indeterminate(key, e));
            }
            let current = match expect {
                Expect::Any => return Ok(None),
                Expect::Exists => None,
                _ => self.current_version(&mut conn, key).await?,
            };
            if !expect.admits(current) || attempt == CAS_ATTEMPTS {
                return Err(Conflict::new(key, expect, current).into());
            }
            attempt += 1;
        }
    }
}

/// Rejects keys PostgreSQL text cannot hold or the index cannot take.
fn check_key(key: &str) -> Result<(), StoreError> {
    if key.contains('\0') {
        return Err(StoreError::InvalidKey {
            reason: "PostgreSQL text cannot hold the NUL character".to_owned(),
        });
    }
    if key.len() > MAX_KEY_LEN {
        return Err(StoreError::InvalidKey {
            reason: format!(
                "the key is {} bytes long; the PostgreSQL backend stores keys of at most {MAX_KEY_LEN} bytes",
                key.len()
            ),
        });
    }
    Ok(())
}

/// The versions an expectation names, as `BIGINT`s; a version above `i64::MAX` cannot be
/// stored, so it can never match and is left out.
fn expected_versions(expect: &Expect) -> Vec<i64> {
    expect
        .versions()
        .iter()
        .filter_map(|v| i64::try_from(v.get()).ok())
        .collect()
}

fn version_at(row: &Row, idx: usize) -> Result<Version, PostgresError> {
    let raw: i64 = row.try_get(idx).map_err(PostgresError::Column)?;
    u64::try_from(raw)
        .ok()
        .and_then(Version::new)
        .ok_or(PostgresError::BadVersion(raw))
}

fn modified_at(row: &Row, idx: usize) -> Result<SystemTime, PostgresError> {
    row.try_get(idx).map_err(PostgresError::Column)
}

impl<V> VersionedStore<V> for PostgresStore
where
    V: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    async fn get(&self, key: &str) -> Result<Option<Versioned<V>>, StoreError> {
        check_key(key)?;
        let mut conn = self.conn().await?;
        let Some(row) = self.read(&mut conn, &self.inner.sql.get, key).await? else {
            return Ok(None);
        };
        drop(conn);
        let meta = Meta {
            version: version_at(&row, 0).map_err(backend)?,
            last_modified: modified_at(&row, 2).map_err(backend)?,
        };
        let data: &[u8] = row
            .try_get(1)
            .map_err(|e| backend(PostgresError::Column(e)))?;
        crate::codec::decode(key, meta, data).map(Some)
    }

    async fn head(&self, key: &str) -> Result<Option<Meta>, StoreError> {
        check_key(key)?;
        let mut conn = self.conn().await?;
        let Some(row) = self.read(&mut conn, &self.inner.sql.head, key).await? else {
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
        self.put_bytes(key, data, expect).await
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        check_key(key)?;
        self.delete_key(key, expect).await
    }

    async fn commit(&self, commit: Commit<V>) -> Result<Vec<Applied>, StoreError> {
        commit::apply(self, commit).await
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
