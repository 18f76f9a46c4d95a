//! The etcd backend (feature `etcd`): [`EtcdStore`], a [`VersionedStore`] on a replicated etcd
//! cluster (v3 API, etcd 3.4 or later) through `etcd-client`.
//!
//! ```no_run
//! use optimist::etcd::{EtcdOptions, EtcdStore};
//! use optimist::{Expect, VersionedStore};
//!
//! # async fn demo() -> Result<(), optimist::StoreError> {
//! let store = EtcdStore::connect(
//!     "etcd://10.0.0.1:2379,10.0.0.2:2379,10.0.0.3:2379",
//!     EtcdOptions::default().prefix("users/"),
//! )
//! .await?;
//! let v1 = store.put("ann", "ann@example.com".to_string(), Expect::Absent).await?.version;
//! store.put("ann", "ann@example.org".to_string(), Expect::Version(v1)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layout
//!
//! - **Keys**: `key` is the etcd key `{prefix}{key}` ([`EtcdOptions::prefix`], default
//!   `optimist/`), its UTF-8 bytes as they are.
//! - **Values**: the etcd value is a 9-byte header — format byte `0x01`, then the write's time
//!   in milliseconds since the Unix epoch as a big-endian `u64` — followed by the value's
//!   `serde_json` bytes. etcd keeps no time with a key, so `last_modified` is the **writing
//!   client's clock**, read just before the write is sent, to the millisecond: exactly what
//!   `put` returns and every later read sees. Writers whose clocks disagree may make a key's
//!   time go backwards; the version never does.
//! - **Versions** are etcd's `mod_revision`: the store-wide revision of the transaction that
//!   last wrote the key. Revisions only grow and are never reused, also after delete and
//!   re-create, a restart or a leader change, so a version is never reused for a key. (etcd's
//!   per-key `version` restarts at 1 after a delete and is not used.) Keys written by one
//!   commit share its revision. Compacting the cluster's history does not touch them.
//!
//! # Compare-and-swap
//!
//! Every write is **one etcd transaction** — a compare on the key's revision, then the write,
//! else a read of the key — so the check and the write are one atomic step on the cluster,
//! and a refused write's [`Conflict`] carries the current version read by that same step
//! (exact, not a hint):
//!
//! ```text
//! Txn(compare: [mod_revision(key) == v])        -- Absent: create_revision == 0
//!    .success([put(key, header ++ json)])        --   delete: delete(key, prev_kv)
//!    .failure([get(key, keys_only)])
//! ```
//!
//! `Exists` is `create_revision > 0`, `Any` has no compare. `OneOf` — "one of these
//! revisions", which etcd's ANDed compares cannot say in one compare — pins each key to one
//! candidate and, when only a pin missed, sends the transaction again pinned to the revision
//! the failure branch read; every attempt is a whole compare-and-swap, and it ends after at
//! most one attempt per candidate (revisions only grow).
//!
//! A [`Commit`] is one transaction of all its compares, all its writes (a check reads the
//! key's revision) and, on failure, a read of every key, so every failed key is reported with
//! its current version as of one step. etcd limits the compares and the operations per branch
//! of a transaction (`--max-txn-ops`, default 128): [`EtcdOptions::max_txn_ops`] must match it,
//! [`capabilities`](VersionedStore::capabilities) reports it as `max_commit_keys`, and a larger
//! commit is [`StoreError::InvalidCommit`] with nothing sent. A whole request must also fit
//! etcd's `--max-request-bytes` (default 1.5 MiB); a larger one is refused by the server
//! ([`StoreError::Backend`], nothing written).
//!
//! # Reads and listing
//!
//! Reads are linearizable range reads (etcd's default: served through the leader's read
//! index), so a read never goes back behind an acknowledged write. [`VersionedStore::head`]
//! reads the value too, since the time lives in it. [`VersionedStore::list`] is one range read
//! from `{prefix}{list prefix}` (or just after the cursor: the cursor's key followed by NUL) to
//! the end of the list prefix, with etcd's `limit`, keys ascending by their bytes; the page is
//! one consistent snapshot of its range.
//!
//! # Failures and fail-over
//!
//! The store opens one connection per member and sends each request to one preferred member
//! (etcd-client's own balancer keeps choosing dead members). Requests ask for a leader
//! (`hasleader`), so a member without one refuses at once instead of waiting. When a request
//! fails, the next member becomes preferred, and:
//!
//! - a request that **certainly did nothing** — the member could not be reached, it had no
//!   leader, it was too busy — is sent to the next member, again and again within
//!   [`EtcdOptions::failover_timeout`] (a pause after each round of members); then it is
//!   [`StoreError::Unavailable`];
//! - a **write** that may have been applied — a timeout ([`EtcdOptions::request_timeout`]),
//!   a connection lost after sending, `etcdserver: request timed out`, `leader changed` — is
//!   [`StoreError::Indeterminate`] and is not sent again: re-read;
//! - a **read** that timed out or was cut off is read again from the next member;
//! - a request the cluster refuses as it is (too large, permission denied, space exceeded) is
//!   [`StoreError::Backend`].
//!
//! HTTP/2 keep-alive pings are off by default and never sent on an idle connection: etcd 3.4
//! answers pings on an idle connection, or more often than `--grpc-keepalive-min-time` (5 s),
//! with `GOAWAY too_many_pings`; see [`EtcdOptions::keep_alive`]. The error details are an
//! [`EtcdError`] in the [`StoreError`]'s source.
//!
//! Not supported: TLS and etcd authentication. Building needs `protoc` (etcd-client compiles
//! etcd's protobuf definitions): `apt-get install protobuf-compiler` on Debian. Needs a tokio
//! runtime.

mod entry;
mod error;
mod members;
mod options;
mod range;
mod txn;
mod url;

use std::fmt;
use std::sync::Arc;

use etcd_client::GetOptions;

pub use self::error::EtcdError;
use self::members::Members;
pub use self::options::{DEFAULT_MAX_TXN_OPS, EtcdOptions, MIN_KEEP_ALIVE_INTERVAL};
use self::txn::{Reply, Step, Write};
use crate::{
    Applied, Capabilities, Commit, CommitConflict, Conflict, Expect, ListPage, ListRequest, Listed,
    Meta, Op, StoreError, Version, Versioned, VersionedStore,
};

/// A [`VersionedStore`] in an etcd cluster: values as JSON with their write time, CAS by
/// transaction on `mod_revision`; see the [module documentation](self).
///
/// One store holds values of any serde type (`VersionedStore<V>` for every `V`); where the call
/// does not tell (`delete`, `head`), name the type: `VersionedStore::<T>::delete(&store, ..)`,
/// or use it as a [`SharedStore<T>`](crate::SharedStore).
///
/// Cloning is cheap and clones share the connections. Several processes (or several
/// `EtcdStore`s) with the same [prefix](EtcdOptions::prefix) share one store.
///
/// ```no_run
/// use optimist::etcd::{EtcdOptions, EtcdStore};
/// use optimist::{ConflictKind, Expect, VersionedStore};
///
/// # async fn demo() -> Result<(), optimist::StoreError> {
/// let store = EtcdStore::connect("etcd://127.0.0.1:2379", EtcdOptions::default()).await?;
/// let v1 = store.put("counter", 1u64, Expect::Absent).await?.version;
/// let err = store.put("counter", 5u64, Expect::Absent).await.unwrap_err();
/// let conflict = err.as_conflict().expect("a conflict");
/// assert_eq!(conflict.kind(), ConflictKind::AlreadyExists);
/// assert_eq!(conflict.current(), Some(v1)); // exact: read by the refusing transaction
/// assert_eq!(VersionedStore::<u64>::delete(&store, "counter", Expect::Version(v1)).await?, Some(v1));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct EtcdStore {
    inner: Arc<Inner>,
}

struct Inner {
    members: Members,
    endpoints: Vec<String>,
    prefix: String,
    max_txn_ops: usize,
}

impl fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoints", &self.inner.endpoints)
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connects to the cluster whose members `url` names, `etcd://host:port[,host:port...]`
    /// (the members' client URLs, plain HTTP), and checks that it answers: one linearizable
    /// read, which needs a leader, through any member within the
    /// [fail-over timeout](EtcdOptions::failover_timeout).
    ///
    /// A malformed URL or unusable options are [`StoreError::Backend`] (with an
    /// [`EtcdError`]); a cluster that cannot be reached, or has no leader, is
    /// [`StoreError::Unavailable`]. Must be called within a tokio runtime.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use optimist::etcd::{EtcdOptions, EtcdStore};
    ///
    /// # async fn demo() -> Result<(), optimist::StoreError> {
    /// let options = EtcdOptions::default().prefix("orders/").request_timeout(Duration::from_secs(2));
    /// let store = EtcdStore::connect("etcd://127.0.0.1:2379,127.0.0.1:22379", options).await?;
    /// assert_eq!(store.endpoints(), ["127.0.0.1:2379", "127.0.0.1:22379"]);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str, options: EtcdOptions) -> Result<Self, StoreError> {
        let endpoints = url::parse(url)?;
        if options.max_txn_ops == 0 {
            return Err(EtcdError::InvalidOptions("max_txn_ops must be at least 1".into()).into());
        }
        match options.keep_alive {
            Some((interval, _)) if interval < MIN_KEEP_ALIVE_INTERVAL => {
                return Err(EtcdError::KeepAliveTooShort { interval }.into());
            }
            _ => {}
        }
        let members = Members::new(&endpoints, &options).await?;
        let store = Self {
            inner: Arc::new(Inner {
                members,
                endpoints,
                prefix: options.prefix,
                max_txn_ops: options.max_txn_ops,
            }),
        };
        let probe = store.inner.prefix.as_bytes().to_vec();
        store
            .inner
            .members
            .read(|mut kv| {
                let key = if probe.is_empty() {
                    vec![0]
                } else {
                    probe.clone()
                };
                async move {
                    kv.get(key, Some(GetOptions::new().with_count_only().with_limit(1)))
                        .await
                }
            })
            .await?;
        Ok(store)
    }

    /// The key prefix this store was opened with.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The members' endpoints (`host:port`), in the order the URL named them.
    pub fn endpoints(&self) -> &[String] {
        &self.inner.endpoints
    }

    /// The member requests go to now; it changes when a request to it fails.
    pub fn preferred_endpoint(&self) -> &str {
        self.inner.members.preferred_endpoint()
    }

    /// The etcd key of `key`.
    fn etcd_key(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        if key.is_empty() && self.inner.prefix.is_empty() {
            return Err(StoreError::InvalidKey {
                reason: "etcd has no empty key: use a non-empty prefix to store the key \"\""
                    .to_owned(),
            });
        }
        let mut k = Vec::with_capacity(self.inner.prefix.len() + key.len());
        k.extend_from_slice(self.inner.prefix.as_bytes());
        k.extend_from_slice(key.as_bytes());
        Ok(k)
    }

    /// One linearizable read of `key`: its metadata and JSON bytes.
    async fn read_entry(&self, key: &str) -> Result<Option<(Meta, Vec<u8>)>, StoreError> {
        let etcd_key = self.etcd_key(key)?;
        let mut reply = self
            .inner
            .members
            .read(|mut kv| {
                let etcd_key = etcd_key.clone();
                async move { kv.get(etcd_key, None).await }
            })
            .await?;
        let Some(kv) = reply.take_kvs().into_iter().next() else {
            return Ok(None);
        };
        entry_of(kv.key(), kv.mod_revision(), kv.value()).map(Some)
    }

    /// Applies `steps` in one transaction (again while only `OneOf` pins miss): what each
    /// did, or every failed expectation.
    async fn apply(
        &self,
        mut steps: Vec<Step>,
    ) -> Result<Result<Vec<Applied>, Vec<Conflict>>, StoreError> {
        let first = steps.first().map_or_else(String::new, |s| s.key.clone());
        for _ in 0..txn::max_attempts(&steps) {
            let ms = entry::now_ms();
            for step in &mut steps {
                if let Write::Put(value) = &mut step.write {
                    entry::stamp(value, ms);
                }
            }
            let request = txn::build(&steps);
            let reply = self
                .inner
                .members
                .write(&first, |mut kv| {
                    let request = request.clone();
                    async move { kv.txn(request).await }
                })
                .await?;
            match txn::interpret(&mut steps, ms, &reply)? {
                Reply::Applied(applied) => return Ok(Ok(applied)),
                Reply::Refused(conflicts) => return Ok(Err(conflicts)),
                Reply::Repinned => continue,
            }
        }
        Err(EtcdError::UnexpectedReply {
            key: first,
            reason: "a OneOf pin kept missing after every candidate was tried",
        }
        .into())
    }

    /// One write or removal of `key`, alone.
    async fn apply_one(
        &self,
        key: &str,
        write: Write,
        expect: Expect,
    ) -> Result<Applied, StoreError> {
        let step = Step::new(key.to_owned(), self.etcd_key(key)?, write, expect);
        match self.apply(vec![step]).await? {
            Ok(mut applied) if applied.len() == 1 => Ok(applied.remove(0)),
            Ok(_) => Err(EtcdError::UnexpectedReply {
                key: key.to_owned(),
                reason: "not one result for one operation",
            }
            .into()),
            Err(mut conflicts) if conflicts.len() == 1 => Err(conflicts.remove(0).into()),
            Err(_) => Err(EtcdError::UnexpectedReply {
                key: key.to_owned(),
                reason: "not one conflict for one operation",
            }
            .into()),
        }
    }

    /// One page of a listing; values decoded when asked for.
    async fn list_page<V: serde::de::DeserializeOwned>(
        &self,
        request: ListRequest,
    ) -> Result<ListPage<V>, StoreError> {
        let Some((start, end)) = range::of(self.inner.prefix.as_bytes(), &request) else {
            return Ok(ListPage::from_entries(Vec::new(), &request));
        };
        let limit = i64::try_from(request.limit_value()).unwrap_or(i64::MAX);
        let mut reply = self
            .inner
            .members
            .read(|mut kv| {
                let (start, end) = (start.clone(), end.clone());
                async move {
                    kv.get(
                        start,
                        Some(GetOptions::new().with_range(end).with_limit(limit)),
                    )
                    .await
                }
            })
            .await?;
        let prefix_len = self.inner.prefix.len();
        let mut entries = Vec::new();
        for kv in reply.take_kvs() {
            let key = kv
                .key()
                .get(prefix_len..)
                .and_then(|k| std::str::from_utf8(k).ok())
                .ok_or_else(|| EtcdError::MalformedEntry {
                    key: String::from_utf8_lossy(kv.key()).into_owned(),
                    reason: "the key is not UTF-8",
                })?
                .to_owned();
            let (meta, data) = entry_of(kv.key(), kv.mod_revision(), kv.value())?;
            let value = if request.wants_values() {
                Some(crate::codec::decode::<V>(&key, meta, &data)?.value)
            } else {
                None
            };
            entries.push(Listed { key, meta, value });
        }
        Ok(ListPage::from_entries(entries, &request))
    }
}

/// The metadata and JSON bytes of the etcd entry `etcd_key` at `mod_revision` holding
/// `value`.
fn entry_of(
    etcd_key: &[u8],
    mod_revision: i64,
    value: &[u8],
) -> Result<(Meta, Vec<u8>), StoreError> {
    let version = u64::try_from(mod_revision)
        .ok()
        .and_then(Version::new)
        .ok_or_else(|| EtcdError::MalformedEntry {
            key: String::from_utf8_lossy(etcd_key).into_owned(),
            reason: "no revision",
        })?;
    let (ms, data) = entry::decode(etcd_key, value)?;
    Ok((
        Meta {
            version,
            last_modified: entry::time_of(ms),
        },
        data.to_vec(),
    ))
}

/// A write step for `op`, its value encoded (the time is stamped when it is sent).
fn step_of<V: serde::Serialize>(store: &EtcdStore, op: Op<V>) -> Result<Step, StoreError> {
    let (key, write, expect) = match op {
        Op::Put { key, value, expect } => {
            let data = crate::codec::encode(&key, &value)?;
            (key, Write::Put(entry::encode(0, &data)), expect)
        }
        Op::Delete { key, expect } => (key, Write::Delete, expect),
        Op::Check { key, expect } => (key, Write::Check, expect),
    };
    let etcd_key = store.etcd_key(&key)?;
    Ok(Step::new(key, etcd_key, write, expect))
}

impl<V> VersionedStore<V> for EtcdStore
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
        Ok(self.read_entry(key).await?.map(|(meta, _)| meta))
    }

    async fn put(&self, key: &str, value: V, expect: Expect) -> Result<Meta, StoreError> {
        let data = crate::codec::encode(key, &value)?;
        drop(value);
        match self
            .apply_one(key, Write::Put(entry::encode(0, &data)), expect)
            .await?
        {
            Applied::Put(meta) => Ok(meta),
            _ => Err(EtcdError::UnexpectedReply {
                key: key.to_owned(),
                reason: "a put that did not write",
            }
            .into()),
        }
    }

    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        match self.apply_one(key, Write::Delete, expect).await? {
            Applied::Deleted(removed) => Ok(removed),
            _ => Err(EtcdError::UnexpectedReply {
                key: key.to_owned(),
                reason: "a delete that did not delete",
            }
            .into()),
        }
    }

    async fn commit(&self, commit: Commit<V>) -> Result<Vec<Applied>, StoreError> {
        commit.validate(self.inner.max_txn_ops)?;
        let steps = commit
            .into_ops()
            .into_iter()
            .map(|op| step_of(self, op))
            .collect::<Result<Vec<_>, _>>()?;
        match self.apply(steps).await? {
            Ok(applied) => Ok(applied),
            Err(conflicts) => Err(CommitConflict::new(conflicts).into()),
        }
    }

    async fn list(&self, request: ListRequest) -> Result<ListPage<V>, StoreError> {
        self.list_page(request).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
            .with_commit(self.inner.max_txn_ops)
            .with_list()
    }
}
