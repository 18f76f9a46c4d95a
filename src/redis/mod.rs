//! The Redis backend (feature `redis`): [`RedisStore`], shared by many service instances.
//!
//! Every key is a hash `{prefix}:k:{key}` with the fields `v` (version), `d` (the value as
//! JSON bytes) and `m` (last modified, server time in milliseconds). Versions come from one
//! store-wide counter `{prefix}:version`, incremented by the write itself and never reset,
//! so a version is never reused for a key, also after delete and re-create.
//!
//! Writes are Lua scripts (sent with `EVALSHA`, loaded again on `NOSCRIPT`, sent whole with
//! `EVAL` should the script cache be flushed once more in between) that read the current
//! version, check the [`Expect`], and write — one atomic step on the server. A
//! refused write returns the version the script found, so a conflict's current version is
//! exact, not a hint. Reads are a single `HMGET`; [`VersionedStore::head`] does not fetch the
//! value. Keys are binary-safe: any string is stored as it is, nothing is interpolated into
//! script text. The connection is a [`ConnectionManager`] (one multiplexed connection that
//! reconnects); the backend never uses `WATCH`/`MULTI` on it.
//!
//! Failures: a refused connection is [`StoreError::Unavailable`]; a dropped connection or a
//! response timeout once a write was sent is [`StoreError::Indeterminate`] (the write may
//! have happened: re-read); a read failing that way is `Unavailable`; a script error is
//! [`StoreError::Backend`]. The backend targets a single Redis server (or a primary), not
//! Redis Cluster. Versions stay below 2^53 (Lua numbers are doubles; the script refuses to
//! go beyond). Needs a tokio runtime.
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

mod errors;
mod options;
mod scripts;

use std::fmt;
use std::time::{Duration, UNIX_EPOCH};

use ::redis::Client;
use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};

use self::errors::{MalformedError, connect_error, read_error, write_error};
pub use self::options::RedisOptions;
use self::scripts::CasScript;
use crate::{Conflict, Expect, Meta, StoreError, Version, Versioned, VersionedStore};

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
    conn: ConnectionManager,
    prefix: String,
    /// `{prefix}:k:`, to which the key's bytes are appended.
    key_prefix: Vec<u8>,
    /// `{prefix}:version`.
    counter_key: Vec<u8>,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects to the server at `url` (e.g. `redis://127.0.0.1:6379`, `rediss://...`,
    /// `redis://user:password@host:6379/2`; add `?protocol=resp3` to have the connection
    /// replaced as soon as the server drops it).
    ///
    /// An unparsable URL is [`StoreError::Backend`]; a server that cannot be reached within
    /// the [connection timeout](RedisOptions::connection_timeout) is
    /// [`StoreError::Unavailable`]. Must be called within a tokio runtime.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use optimist::redis::{RedisOptions, RedisStore};
    ///
    /// # async fn demo() -> Result<(), optimist::StoreError> {
    /// let options = RedisOptions::default().prefix("orders").response_timeout(Duration::from_secs(2));
    /// let store = RedisStore::connect("redis://127.0.0.1:6379", options).await?;
    /// assert_eq!(store.prefix(), "orders");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, options: RedisOptions) -> Result<Self, StoreError> {
        let client = Client::open(url).map_err(StoreError::backend)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(options.response_timeout)
            .set_connection_timeout(options.connection_timeout)
            .set_number_of_retries(options.reconnect_retries)
            // backon semantics: the first retry waits 1-2 s, the delay then doubles up to 2 s
            // (plus jitter).
            .set_factor(2)
            .set_max_delay(2_000);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(connect_error)?;
        let prefix = options.prefix;
        let key_prefix = format!("{prefix}:k:").into_bytes();
        let counter_key = format!("{prefix}:version").into_bytes();
        Ok(Self {
            conn,
            prefix,
            key_prefix,
            counter_key,
        })
    }

    /// The key prefix this store was opened with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A clone of the managed connection, to run other commands on the same server (for
    /// example `CLIENT ID` to find this store's connection in `CLIENT LIST`).
    ///
    /// ```no_run
    /// # async fn demo(store: &optimist::redis::RedisStore) -> redis::RedisResult<()> {
    /// let id: i64 = redis::cmd("CLIENT").arg("ID").query_async(&mut store.connection_manager()).await?;
    /// # let _ = id;
    /// # Ok(())
    /// # }
    /// ```
    pub fn connection_manager(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// The Redis key holding `key`: `{prefix}:k:{key}`, bytes as they are.
    fn data_key(&self, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.key_prefix.len() + key.len());
        k.extend_from_slice(&self.key_prefix);
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// Runs a CAS script on `key` and returns its reply: `[flag]` or `[flag, version]`.
    /// `data` is the value for `put.lua` (which also gets the counter key), `None` for
    /// `delete.lua`.
    async fn run_script(
        &self,
        script: &CasScript,
        key: &str,
        data: Option<&[u8]>,
        expect: &Expect,
    ) -> Result<Vec<u64>, StoreError> {
        let data_key = self.data_key(key);
        let versions: Vec<String> = expect
            .versions()
            .iter()
            .map(|v| v.get().to_string())
            .collect();
        let mut keys: Vec<&[u8]> = vec![&data_key];
        let mut args: Vec<&[u8]> = Vec::with_capacity(2 + versions.len());
        args.push(scripts::mode(expect).as_bytes());
        if let Some(data) = data {
            keys.push(&self.counter_key);
            args.push(data);
        }
        args.extend(versions.iter().map(|v| v.as_bytes()));
        let mut conn = self.conn.clone();
        script
            .invoke(&mut conn, &keys, &args)
            .await
            .map_err(|e| write_error(key, e))
    }

    async fn put_bytes(
        &self,
        key: &str,
        data: Vec<u8>,
        expect: Expect,
    ) -> Result<Meta, StoreError> {
        let reply = self
            .run_script(&scripts::PUT, key, Some(&data), &expect)
            .await?;
        match reply[..] {
            [1, v, ms] => match Version::new(v) {
                Some(version) => Ok(Meta {
                    version,
                    last_modified: UNIX_EPOCH + Duration::from_millis(ms),
                }),
                None => Err(malformed_reply("put", key, &reply)),
            },
            [0] => Err(Conflict::new(key, expect, None).into()),
            [0, v] => match Version::new(v) {
                Some(current) => Err(Conflict::new(key, expect, Some(current)).into()),
                None => Err(malformed_reply("put", key, &reply)),
            },
            _ => Err(malformed_reply("put", key, &reply)),
        }
    }

    async fn delete_key(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        let reply = self
            .run_script(&scripts::DELETE, key, None, &expect)
            .await?;
        match reply[..] {
            [1] => Ok(None),
            [1, v] => Version::new(v)
                .map(Some)
                .ok_or_else(|| malformed_reply("delete", key, &reply)),
            [0] => Err(Conflict::new(key, expect, None).into()),
            [0, v] => match Version::new(v) {
                Some(current) => Err(Conflict::new(key, expect, Some(current)).into()),
                None => Err(malformed_reply("delete", key, &reply)),
            },
            _ => Err(malformed_reply("delete", key, &reply)),
        }
    }

    /// `HMGET key v m`, without the value.
    async fn read_meta(&self, key: &str) -> Result<Option<Meta>, StoreError> {
        let mut conn = self.conn.clone();
        let (v, m): (Option<u64>, Option<u64>) = ::redis::cmd("HMGET")
            .arg(self.data_key(key))
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
            .arg(self.data_key(key))
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

fn malformed_reply(script: &'static str, key: &str, reply: &[u64]) -> StoreError {
    MalformedError::Reply {
        script,
        key: key.to_owned(),
        reply: reply.to_vec(),
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
}
