//! The Redis backend (feature `redis`): [`RedisStore`], shared by many service instances, on
//! a single server or on a Redis Cluster.
//!
//! ```no_run
//! use optimist::redis::{RedisOptions, RedisStore};
//! use optimist::{Expect, StoreError, Versioned, VersionedStore};
//!
//! # async fn demo() -> Result<(), StoreError> {
//! let store = RedisStore::connect("redis://127.0.0.1:6379", RedisOptions::default().prefix("users")).await?;
//! let v1 = store.put("ann", serde_json::json!({ "mail": "ann@example.com" }), Expect::Absent).await?.version;
//! let read: Versioned<serde_json::Value> = store.get("ann").await?.expect("just written");
//! assert_eq!(read.version, v1);
//! store.put("ann", serde_json::json!({ "mail": "ann@example.org" }), Expect::Version(v1)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Keys
//!
//! | Redis key | type | holds |
//! | --- | --- | --- |
//! | `{prefix}:k:{key}` | hash | `v` version, `d` value (JSON bytes), `m` modified (ms) |
//! | `{prefix}:version` | string | the version counter: incremented by every put, never reset |
//! | `{prefix}:index` | sorted set | the listing index: every data hash's name, score 0 |
//!
//! Keys are binary-safe: any string is stored as it is, nothing is interpolated into script
//! text. In cluster mode the counter and the index exist once per hash slot (see below).
//!
//! # Writes: one script
//!
//! Every write — [`put`](VersionedStore::put), [`delete`](VersionedStore::delete) and a
//! multi-key [`commit`](VersionedStore::commit) — is one run of one Lua script,
//! `commit.lua` (sent with `EVALSHA`; on `NOSCRIPT` sent whole with `EVAL`, which caches it
//! again). It reads the version of every key named, checks every [`Expect`], and then either
//! writes everything (each put key gets its own new version from the counter, the index
//! gains created keys and loses deleted ones) or writes nothing and returns every failed
//! key with the version it found — one atomic step on the server, so a conflict's current
//! version is exact, not a hint, and no reader sees half of a commit. The backend never uses
//! `WATCH`/`MULTI`. Versions are never reused for a key, also after delete and re-create:
//! they come from a counter that only grows. Versions stay below 2^53 (Lua numbers are
//! doubles; the script refuses to go beyond).
//!
//! # Multi-key commits
//!
//! A commit names at most [`MAX_COMMIT_KEYS`] keys (the script runs with the server blocked
//! for everyone else, so it is kept short; [`VersionedStore::capabilities`] says so too). A
//! refused commit is [`StoreError::CommitConflict`] listing every failed key, in the
//! commit's order, with its current version.
//!
//! # Listing
//!
//! [`list`](VersionedStore::list) reads the index with `ZRANGEBYLEX` between `[{prefix}:k:{p}`
//! (or `({prefix}:k:{after}` for a cursor) and the prefix's byte successor, `LIMIT` the page
//! size, so a page costs O(log n + page) and nothing else is loaded; members at one score
//! sort by their bytes, so keys list in byte order, and a prefix holding glob characters
//! (`*`, `?`, `[`) means just those bytes. Then each listed key is read with one `HMGET`
//! (one pipeline for the page): each entry is a consistent read of its key; a key deleted
//! between the two reads is left out. Keys written by a version of this crate before the
//! index existed are listed once they are written again.
//!
//! # Redis Cluster
//!
//! Connect with `redis+cluster://host:port[,host:port...]` (`rediss+cluster://` for TLS; user
//! and password as in `redis://`): the nodes are seeds, the client learns the slot map and
//! follows redirects. A script may only touch keys of one hash slot, so there:
//!
//! - **Each key's data and its version counter share one slot.** Each slot has its own
//!   counter `{prefix}:version:{T}` and index `{prefix}:index:{T}`, where `T` is a short tag
//!   that hashes to that slot; a key always hashes to the same slot, so its versions come
//!   from one counter that only grows. The prefix may not hold `{` or `}`.
//! - **A multi-key commit must name keys of one slot.** Users choose hash tags: keys holding
//!   the same `{...}` (the bytes between the first `{` and the next `}`) share a slot, e.g.
//!   `{user:ann}:doc` and `{user:ann}:email`. A commit across slots is refused with
//!   [`StoreError::InvalidCommit`] naming the keys and their slots, before anything is sent
//!   — never a partial write. Single-key operations work on any key.
//! - **Or one slot for the whole store**: with [`RedisOptions::hash_tag`] every key of the
//!   store lives under `{prefix}:{{tag}}:k:`, so any keys may share a commit and any prefix
//!   may be listed, at the price of keeping the whole store on one master (the cluster then
//!   gives failover, not spread). `optimist serve` does this on a cluster, as its user and
//!   email-index entries change together.
//! - **Listing works within one hash tag**: a prefix that fixes a tag (`{users}:`, or
//!   `{users}:a`) is listed from that slot's index; any other prefix answers
//!   [`StoreError::Unsupported`] (a listing across slots would have to read every slot).
//!   [`capabilities`](VersionedStore::capabilities) lists listing, with this rule.
//! - **Resent writes apply once.** The cluster client resends a request after a dropped
//!   connection, a redirect or `TRYAGAIN` ([`RedisOptions::cluster_retries`]); each write
//!   therefore carries a write id, and the script that applies it keeps a marker
//!   `{prefix}:w:{T}:{id}` holding its reply for 10 minutes: a resend of a write that already
//!   applied answers that reply instead of being refused by its own write. Because the error
//!   the client finally returns says nothing about earlier attempts, any failed write but a
//!   script error is [`StoreError::Indeterminate`] in cluster mode.
//! - **Failover.** Redis replicates asynchronously: a failover can drop writes the old master
//!   had acknowledged (Redis documents this; `WAIT` narrows the window but does not close
//!   it). A promoted replica's counter may then be behind versions already handed out, so
//!   in cluster mode no version is drawn below the server clock in milliseconds times 1000:
//!   a version handed out before the failover is not handed out again as long as the
//!   failover took longer than the clocks of the masters differ (and the counter did not run
//!   more than 1000 versions per millisecond ahead of the clock). Versions there look like
//!   `1760000000000001`.
//!
//! # Failures
//!
//! A refused connection is [`StoreError::Unavailable`]; a dropped connection or a response
//! timeout once a write was sent is [`StoreError::Indeterminate`] (the write may have
//! happened: re-read); a read failing that way is `Unavailable`; a script error is
//! [`StoreError::Backend`]. On a single server the connection is a [`ConnectionManager`]
//! (one multiplexed connection that reconnects, never resending a request). Needs a tokio
//! runtime.

mod commit;
mod conn;
mod error;
mod keys;
mod list;
mod options;
mod scripts;
mod slot;
mod write;

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use ::redis::aio::ConnectionManager;
use ::redis::cluster_async::ClusterConnection;

use self::conn::Conn;
use self::error::{MalformedError, read_error};
use self::keys::Layout;
pub use self::options::RedisOptions;
use self::write::{Kind, Outcome, Prepared};
use crate::{
    Applied, Capabilities, Commit, Conflict, Expect, ListPage, ListRequest, Meta, StoreError,
    Version, Versioned, VersionedStore,
};

/// The most keys one commit may name on Redis.
pub const MAX_COMMIT_KEYS: usize = 128;

/// A [`VersionedStore`] in Redis: values as JSON in a hash per key, CAS by Lua script.
///
/// One store holds values of any serde type (`VersionedStore<V>` for every `V`); where the
/// call does not tell (`delete`, `head`), name the type: `VersionedStore::<T>::delete(&store,
/// ..)`, or use it as a [`SharedStore<T>`](crate::SharedStore).
///
/// Cloning is cheap and clones share the connection. Several processes (or several
/// `RedisStore`s) with the same [prefix](RedisOptions::prefix) share one store.
///
/// ```no_run
/// use optimist::redis::{RedisOptions, RedisStore};
/// use optimist::{ConflictKind, Expect, StoreError, VersionedStore};
///
/// # async fn demo() -> Result<(), StoreError> {
/// let store = RedisStore::connect("redis://127.0.0.1:6379", RedisOptions::default()).await?;
/// let v1 = store.put("counter", 1u64, Expect::Absent).await?.version;
/// let err = store.put("counter", 5u64, Expect::Absent).await.unwrap_err();
/// let conflict = err.as_conflict().expect("a conflict");
/// assert_eq!(conflict.kind(), ConflictKind::AlreadyExists);
/// assert_eq!(conflict.current(), Some(v1)); // exact: read by the script that refused
/// // `delete` and `head` do not mention the value type: name it.
/// assert_eq!(VersionedStore::<u64>::delete(&store, "counter", Expect::Version(v1)).await?, Some(v1));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisStore {
    conn: Conn,
    layout: Layout,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.layout.prefix())
            .field("cluster", &self.layout.is_cluster())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the server at `url` (e.g. `redis://127.0.0.1:6379`, `rediss://...`,
    /// `redis://user:password@host:6379/2`; add `?protocol=resp3` to have the connection
    /// replaced as soon as the server drops it), or to a Redis Cluster through its seed
    /// nodes: `redis+cluster://host:port[,host:port...]` (see the [module
    /// documentation](self#redis-cluster)).
    ///
    /// An unparsable URL, or a cluster prefix holding a brace, is [`StoreError::Backend`]; a
    /// server that cannot be reached within the [connection
    /// timeout](RedisOptions::connection_timeout) is [`StoreError::Unavailable`]. Must be
    /// called within a tokio runtime.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use optimist::redis::{RedisOptions, RedisStore};
    ///
    /// # async fn demo() -> Result<(), optimist::StoreError> {
    /// let options = RedisOptions::default().prefix("orders").response_timeout(Duration::from_secs(2));
    /// let store = RedisStore::connect("redis://127.0.0.1:6379", options.clone()).await?;
    /// assert_eq!(store.prefix(), "orders");
    /// let seeds = "redis+cluster://127.0.0.1:30001,127.0.0.1:30002";
    /// let cluster = RedisStore::connect(seeds, options).await?;
    /// assert!(cluster.is_cluster());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let cluster = conn::cluster_nodes(url).is_some();
        let layout = Layout::new(options.prefix.clone(), cluster, options.hash_tag.clone())?;
        let conn = conn::open(url, &options).await?;
        Ok(Self { conn, layout })
    }

    /// The key prefix this store was opened with.
    pub fn prefix(&self) -> &str {
        self.layout.prefix()
    }

    /// Whether this store is connected to a Redis Cluster (`redis+cluster://`).
    pub fn is_cluster(&self) -> bool {
        self.layout.is_cluster()
    }

    /// A clone of the managed connection to a single server, to run other commands on it
    /// (for example `CLIENT ID` to find this store's connection in `CLIENT LIST`); `None`
    /// in cluster mode (see [`cluster_connection`](Self::cluster_connection)).
    ///
    /// ```no_run
    /// # async fn demo(store: &optimist::redis::RedisStore) -> redis::RedisResult<()> {
    /// let mut conn = store.connection_manager().expect("a single server");
    /// let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut conn).await?;
    /// # let _ = id;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection_manager(&self) -> Option<ConnectionManager> {
        match &self.conn {
            Conn::Single(c) => Some(c.clone()),
            Conn::Cluster(_) => None,
        }
    }

    /// A clone of the cluster connection, to run other commands on the cluster; `None` on a
    /// single server.
    ///
    /// ```no_run
    /// # async fn demo(store: &optimist::redis::RedisStore) -> redis::RedisResult<()> {
    /// if let Some(mut conn) = store.cluster_connection() {
    ///     let info: String = redis::cmd("CLUSTER").arg("INFO").query_async(&mut conn).await?;
    ///     assert!(info.contains("cluster_state"));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn cluster_connection(&self) -> Option<ClusterConnection> {
        match &self.conn {
            Conn::Single(_) => None,
            Conn::Cluster(c) => Some(c.clone()),
        }
    }

    /// Runs one single-key operation through the commit script.
    async fn write_one(
        &self,
        key: &str,
        kind: Kind,
        data: Option<Vec<u8>>,
        expect: Expect,
    ) -> Result<(u64, Option<Version>), StoreError> {
        let op = Prepared {
            key: key.to_owned(),
            kind,
            expect,
            data,
        };
        match write::run(self, std::slice::from_ref(&op)).await? {
            Outcome::Applied { ms, versions } => Ok((ms, versions[0])),
            Outcome::Refused(failed) => Err(Conflict::new(key, op.expect, failed[0].1).into()),
        }
    }

    async fn put_bytes(
        &self,
        key: &str,
        data: Vec<u8>,
        expect: Expect,
    ) -> Result<Meta, StoreError> {
        let (ms, version) = self.write_one(key, Kind::Put, Some(data), expect).await?;
        let version = version.ok_or_else(|| {
            StoreError::backend(format!("the commit script gave no version for {key:?}"))
        })?;
        Ok(Meta {
            version,
            last_modified: UNIX_EPOCH + Duration::from_millis(ms),
        })
    }

    async fn delete_key(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        Ok(self.write_one(key, Kind::Delete, None, expect).await?.1)
    }

    /// `HMGET key v m`, without the value.
    async fn read_meta(&self, key: &str) -> Result<Option<Meta>, StoreError> {
        let mut conn = self.conn.clone();
        let (v, m): (Option<u64>, Option<u64>) = ::redis::cmd("HMGET")
            .arg(self.layout.data_key(key))
            .arg("v")
            .arg("m")
            .query_async(&mut conn)
            .await
            .map_err(read_error)?;
        meta(key, v, m)
    }

    /// `HMGET key v m d`: one atomic read of the whole entry.
    async fn read_entry(&self, key: &str) -> Result<Option<(Meta, Vec<u8>)>, StoreError> {
        let mut conn = self.conn.clone();
        let (v, m, d): (Option<u64>, Option<u64>, Option<Vec<u8>>) = ::redis::cmd("HMGET")
            .arg(self.layout.data_key(key))
            .arg("v")
            .arg("m")
            .arg("d")
            .query_async(&mut conn)
            .await
            .map_err(read_error)?;
        let Some(meta) = meta(key, v, m)? else {
            return Ok(None);
        };
        let data = d.ok_or_else(|| malformed_entry(key, "d"))?;
        Ok(Some((meta, data)))
    }
}

/// The metadata from the fields `v` and `m`; `None` when the key is absent.
fn meta(key: &str, v: Option<u64>, m: Option<u64>) -> Result<Option<Meta>, StoreError> {
    let Some(v) = v else {
        return Ok(None);
    };
    let version = Version::new(v).ok_or_else(|| malformed_entry(key, "v"))?;
    let ms = m.ok_or_else(|| malformed_entry(key, "m"))?;
    Ok(Some(Meta {
        version,
        last_modified: UNIX_EPOCH + Duration::from_millis(ms),
    }))
}

fn malformed_entry(key: &str, field: &'static str) -> StoreError {
    MalformedError::Entry {
        key: key.to_owned(),
        field,
    }
    .into()
}

impl<V> VersionedStore<V> for RedisStore
where
    V: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    async fn get(&self, key: &str) -> Result<Option<Versioned<V>>, StoreError> {
        let Some((meta, data)) = self.read_entry(key).await? else {
            return Ok(None);
        };
        crate::codec::decode(key, meta, &data).map(Some)
    }

    async fn head(&self, key: &str) -> Result<Option<Meta>, StoreError> {
        self.read_meta(key).await
    }

    async fn put(&self, key: &str, value: V, expect: Expect) -> Result<Meta, StoreError> {
        let data = crate::codec::encode(key, &value)?;
        drop(value);
        self.put_bytes(key, data, expect).await
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        self.delete_key(key, expect).await
    }

    async fn commit(&self, commit: Commit<V>) -> Result<Vec<Applied>, StoreError> {
        commit::apply(self, commit).await
    }

    async fn list(&self, request: ListRequest) -> Result<ListPage<V>, StoreError> {
        list::page(self, &request).await
    }

    /// Commits of up to [`MAX_COMMIT_KEYS`] keys, and listing; in cluster mode both within
    /// one hash slot (see the [module documentation](self#redis-cluster)).
    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with_commit(MAX_COMMIT_KEYS)
            .with_list()
    }
}
