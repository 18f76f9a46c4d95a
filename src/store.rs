//! The versioned store trait, and its run-time-chosen (`dyn`) form.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::{
    Applied, Capabilities, Commit, Expect, ListPage, ListRequest, Meta, StoreError, Version,
    Versioned,
};

/// A boxed, `Send` future, as returned by [`DynVersionedStore`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A key-value store in which every write is a compare-and-swap on the key's version.
///
/// Each operation is atomic per key: the backend compares the current state with the
/// [`Expect`] and writes **in one step** (a shard lock, a conditional `UPDATE`, a Lua
/// script), never "read, compare in Rust, then write".
///
/// The trait is generic over the value type so one backend can hold many types: the memory
/// store keeps `V` as it is, byte-oriented backends encode it with serde.
///
/// Use it with static dispatch (`S: VersionedStore<V>`) or choose the backend at run time
/// as a [`SharedStore<V>`] (`Arc<dyn DynVersionedStore<V>>`), which implements this trait
/// too. Futures are `Send`, so handlers can be spawned on a multi-threaded executor; the
/// memory store's futures are ready at once and never block.
///
/// # What an implementation must guarantee
///
/// The conformance kit (`optimist::testkit`, feature `testkit`) checks each of these; run it
/// against your backend.
///
/// 1. **One atomic step.** `put`, `delete` and `commit` check their expectations and write
///    in one step inside the backend; two concurrent writers expecting the same version
///    never both succeed. A refused write changes nothing.
/// 2. **Versions are never reused for a key**, not after delete and re-create, not after a
///    restart: each successful write returns a version greater than every version the key
///    had before. (A store-wide counter or sequence does it.)
/// 3. **Conflicts are typed and current.** A refused expectation is
///    [`StoreError::Conflict`] (single key) or [`StoreError::CommitConflict`] (listing
///    every failed key) carrying the current version, `None` when absent.
/// 4. **Unknown outcomes are said.** A write whose outcome is unknown (connection lost after
///    sending) is [`StoreError::Indeterminate`], never a success or a conflict; nothing sent
///    is [`StoreError::Unavailable`].
/// 5. **Reads are consistent per key** and never go back in time after an acknowledged
///    write (linearizable per key).
/// 6. **Optional operations are honest.** `commit` and `list` either work as documented or
///    answer [`StoreError::Unsupported`], as [`capabilities`](Self::capabilities) says; a
///    multi-key commit is never faked with a sequence of single-key writes.
/// 7. **Values round-trip exactly**, and any `&str` key the backend accepts round-trips; a
///    key it cannot store is [`StoreError::InvalidKey`] with nothing written.
///
/// ```
/// use optimist::{Expect, MemoryStore, StoreError, VersionedStore};
///
/// async fn rename<S: VersionedStore<String>>(store: &S) -> Result<(), StoreError> {
///     let v1 = store.put("user:1", "ann".to_string(), Expect::Absent).await?.version;
///     let read = store.get("user:1").await?.expect("just written");
///     assert_eq!(read.version, v1);
///     // Only succeeds if nobody wrote in between.
///     store.put("user:1", "anne".to_string(), Expect::Version(read.version)).await?;
///     // The old version is now stale.
///     let err = store.put("user:1", "x".to_string(), Expect::Version(v1)).await.unwrap_err();
///     assert!(err.as_conflict().is_some());
///     Ok(())
/// }
/// # futures_executor::block_on(rename(&MemoryStore::new())).unwrap();
/// ```
pub trait VersionedStore<V>: Send + Sync {
    /// The value, version and last-modified time of `key`, or `None` when absent.
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Versioned<V>>, StoreError>> + Send;

    /// The version and last-modified time of `key` without its value, or `None` when absent.
    ///
    /// The default reads the whole value; backends override it when they can do better.
    fn head(&self, key: &str) -> impl Future<Output = Result<Option<Meta>, StoreError>> + Send {
        async move { Ok(self.get(key).await?.map(|v| v.meta())) }
    }

    /// Writes `value` under `key` if the current state satisfies `expect`, atomically, and
    /// returns the new version and last-modified time (what a response's `ETag` and
    /// `Last-Modified` need, without a second read). On a failed expectation nothing is
    /// written and the error is [`StoreError::Conflict`] carrying the current version.
    fn put(
        &self,
        key: &str,
        value: V,
        expect: Expect,
    ) -> impl Future<Output = Result<Meta, StoreError>> + Send;

    /// Removes `key` if the current state satisfies `expect`, atomically, and returns the
    /// version removed (`None` when there was nothing to remove and `expect` allowed that).
    fn delete(
        &self,
        key: &str,
        expect: Expect,
    ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send;

    /// Applies every operation of `commit` **all or nothing, in one atomic step**, and
    /// returns what each did, in the commit's order; see [`Commit`].
    ///
    /// Fails with [`StoreError::CommitConflict`] (every failed key with its current version,
    /// nothing written), [`StoreError::InvalidCommit`] (malformed, or more keys than
    /// [`Capabilities::max_commit_keys`]; nothing sent), `Indeterminate` or `Unavailable`.
    ///
    /// The default answers [`StoreError::Unsupported`]: a backend that cannot apply several
    /// keys atomically must not pretend to.
    fn commit(
        &self,
        commit: Commit<V>,
    ) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send {
        drop(commit);
        async {
            Err(StoreError::Unsupported {
                operation: "multi-key commits",
            })
        }
    }

    /// One page of the keys under a prefix, ascending by their bytes, with their metadata and
    /// optionally their values; see [`ListRequest`] and [`ListPage`] (which says what is
    /// consistent). A backend never loads its whole key space to answer.
    ///
    /// The default answers [`StoreError::Unsupported`].
    fn list(
        &self,
        request: ListRequest,
    ) -> impl Future<Output = Result<ListPage<V>, StoreError>> + Send {
        drop(request);
        async {
            Err(StoreError::Unsupported {
                operation: "listing",
            })
        }
    }

    /// The optional operations this store supports. The default: none.
    ///
    /// ```
    /// use optimist::{MemoryStore, VersionedStore};
    /// let caps = VersionedStore::<u8>::capabilities(&MemoryStore::<u8>::new());
    /// # let _ = caps;
    /// ```
    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
    }
}

/// The object-safe form of [`VersionedStore`], for choosing a backend at run time.
///
/// Every `VersionedStore<V>` implements it; `Arc<dyn DynVersionedStore<V>>` (see
/// [`SharedStore`]) implements `VersionedStore<V>` in turn, so generic code accepts both.
///
/// ```
/// use std::sync::Arc;
/// use optimist::{Expect, MemoryStore, SharedStore, VersionedStore};
///
/// let store: SharedStore<u64> = Arc::new(MemoryStore::new());
/// # futures_executor::block_on(async {
/// let v = store.put("k", 1, Expect::Absent).await.unwrap().version;
/// assert_eq!(store.get("k").await.unwrap().unwrap().version, v);
/// # });
/// ```
pub trait DynVersionedStore<V>: Send + Sync {
    /// See [`VersionedStore::get`].
    fn get_dyn<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned<V>>, StoreError>>;
    /// See [`VersionedStore::head`].
    fn head_dyn<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Meta>, StoreError>>;
    /// See [`VersionedStore::put`].
    fn put_dyn<'a>(
        &'a self,
        key: &'a str,
        value: V,
        expect: Expect,
    ) -> BoxFuture<'a, Result<Meta, StoreError>>;
    /// See [`VersionedStore::delete`].
    fn delete_dyn<'a>(
        &'a self,
        key: &'a str,
        expect: Expect,
    ) -> BoxFuture<'a, Result<Option<Version>, StoreError>>;
    /// See [`VersionedStore::commit`].
    fn commit_dyn(&self, commit: Commit<V>) -> BoxFuture<'_, Result<Vec<Applied>, StoreError>>;
    /// See [`VersionedStore::list`].
    fn list_dyn(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage<V>, StoreError>>;
    /// See [`VersionedStore::capabilities`].
    fn capabilities_dyn(&self) -> Capabilities;
}

/// A store chosen at run time and shared between tasks.
pub type SharedStore<V> = Arc<dyn DynVersionedStore<V>>;

impl<V, S> DynVersionedStore<V> for S
where
    S: VersionedStore<V>,
    V: Send + 'static,
{
    fn get_dyn<'a>(
        &'a self,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Versioned<V>>, StoreError>> {
        Box::pin(self.get(key))
    }
    fn head_dyn<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Meta>, StoreError>> {
        Box::pin(self.head(key))
    }
    fn put_dyn<'a>(
        &'a self,
        key: &'a str,
        value: V,
        expect: Expect,
    ) -> BoxFuture<'a, Result<Meta, StoreError>> {
        Box::pin(self.put(key, value, expect))
    }
    fn delete_dyn<'a>(
        &'a self,
        key: &'a str,
        expect: Expect,
    ) -> BoxFuture<'a, Result<Option<Version>, StoreError>> {
        Box::pin(self.delete(key, expect))
    }
    fn commit_dyn(&self, commit: Commit<V>) -> BoxFuture<'_, Result<Vec<Applied>, StoreError>> {
        Box::pin(self.commit(commit))
    }
    fn list_dyn(&self, request: ListRequest) -> BoxFuture<'_, Result<ListPage<V>, StoreError>> {
        Box::pin(self.list(request))
    }
    fn capabilities_dyn(&self) -> Capabilities {
        self.capabilities()
    }
}

impl<V: Send + 'static> VersionedStore<V> for dyn DynVersionedStore<V> + '_ {
    async fn get(&self, key: &str) -> Result<Option<Versioned<V>>, StoreError> {
        self.get_dyn(key).await
    }
    async fn head(&self, key: &str) -> Result<Option<Meta>, StoreError> {
        self.head_dyn(key).await
    }
    async fn put(&self, key: &str, value: V, expect: Expect) -> Result<Meta, StoreError> {
        self.put_dyn(key, value, expect).await
    }
    async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        self.delete_dyn(key, expect).await
    }
    async fn commit(&self, commit: Commit<V>) -> Result<Vec<Applied>, StoreError> {
        self.commit_dyn(commit).await
    }
    async fn list(&self, request: ListRequest) -> Result<ListPage<V>, StoreError> {
        self.list_dyn(request).await
    }
    fn capabilities(&self) -> Capabilities {
        self.capabilities_dyn()
    }
}

macro_rules! forward_store {
    ($($ptr:ty),*) => {$(
        impl<V, S: VersionedStore<V> + ?Sized> VersionedStore<V> for $ptr {
            fn get(
                &self,
                key: &str,
            ) -> impl Future<Output = Result<Option<Versioned<V>>, StoreError>> + Send {
                (**self).get(key)
            }
            fn head(
                &self,
                key: &str,
            ) -> impl Future<Output = Result<Option<Meta>, StoreError>> + Send {
                (**self).head(key)
            }
            fn put(
                &self,
                key: &str,
                value: V,
                expect: Expect,
            ) -> impl Future<Output = Result<Meta, StoreError>> + Send {
                (**self).put(key, value, expect)
            }
            fn delete(
                &self,
                key: &str,
                expect: Expect,
            ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send {
                (**self).delete(key, expect)
            }
            fn commit(
                &self,
                commit: Commit<V>,
            ) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send {
                (**self).commit(commit)
            }
            fn list(
                &self,
                request: ListRequest,
            ) -> impl Future<Output = Result<ListPage<V>, StoreError>> + Send {
                (**self).list(request)
            }
            fn capabilities(&self) -> Capabilities {
                (**self).capabilities()
            }
        }
    )*};
}

forward_store!(Arc<S>, Box<S>, &S);
