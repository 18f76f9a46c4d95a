//! The backend conformance kit (feature `testkit`): public async checks that any
//! [`VersionedStore`] must pass, shaped like `object_store::integration`.
//!
//! Each check takes the store and a key prefix, uses only keys under that prefix, and panics
//! with a message naming the broken rule. [`run_all`] runs them all; run it from your
//! backend's tests with a prefix of its own ([`unique_prefix`]) so runs never collide.
//!
//! A custom backend proving itself:
//!
//! ```
//! use std::future::Future;
//! use parking_lot::Mutex;
//! use optimist::{Conflict, Expect, Meta, StoreError, Version, Versioned, VersionedStore};
//!
//! /// A deliberately simple backend: one mutex over a map, a global version counter.
//! #[derive(Default)]
//! struct OneLockStore {
//!     inner: Mutex<(u64, std::collections::HashMap<String, Versioned<u64>>)>,
//! }
//!
//! impl VersionedStore<u64> for OneLockStore {
//!     fn get(&self, key: &str) -> impl Future<Output = Result<Option<Versioned<u64>>, StoreError>> + Send {
//!         let found = self.inner.lock().1.get(key).cloned();
//!         async move { Ok(found) }
//!     }
//!     fn put(&self, key: &str, value: u64, expect: Expect) -> impl Future<Output = Result<Meta, StoreError>> + Send {
//!         let mut g = self.inner.lock();
//!         let current = g.1.get(key).map(|v| v.version);
//!         let result = if expect.admits(current) {
//!             g.0 += 1;
//!             let version = Version::new(g.0).unwrap();
//!             let last_modified = std::time::SystemTime::now();
//!             g.1.insert(key.to_owned(), Versioned { value, version, last_modified });
//!             Ok(Meta { version, last_modified })
//!         } else {
//!             Err(Conflict::new(key, expect, current).into())
//!         };
//!         async move { result }
//!     }
//!     fn delete(&self, key: &str, expect: Expect) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send {
//!         let mut g = self.inner.lock();
//!         let current = g.1.get(key).map(|v| v.version);
//!         let result = if expect.admits(current) {
//!             Ok(g.1.remove(key).map(|v| v.version))
//!         } else {
//!             Err(Conflict::new(key, expect, current).into())
//!         };
//!         async move { result }
//!     }
//! }
//!
//! # futures_executor::block_on(async {
//! let store = std::sync::Arc::new(OneLockStore::default());
//! optimist::testkit::run_all::<u64, _>(&store, &optimist::testkit::unique_prefix("one-lock")).await;
//! # });
//! ```

mod basic;
mod conflicts;
mod history;
mod keys;
mod race;

pub use basic::{create_only_twice, delete_expectations, get_put_delete, put_expectations};
pub use conflicts::{conflict_carries_current_etag, conflict_kinds_told_apart, no_aba, stale_put};
pub use history::{
    History, HistoryReport, HistoryViolation, MAX_OPS_PER_KEY, linearizable_history,
};
pub use keys::{WEIRD_KEYS, weird_keys};
pub use race::{RaceReport, increment_race};

use std::fmt::Debug;
use std::sync::Arc;

use crate::VersionedStore;

/// A value type the kit can write and read back: built from a counter, read as one.
pub trait KitValue: Clone + Debug + PartialEq + Send + Sync + 'static {
    /// The value standing for counter `n`.
    fn from_counter(n: u64) -> Self;
    /// The counter this value stands for.
    fn counter(&self) -> u64;
}

impl KitValue for u64 {
    fn from_counter(n: u64) -> Self {
        n
    }
    fn counter(&self) -> u64 {
        *self
    }
}

impl KitValue for i64 {
    fn from_counter(n: u64) -> Self {
        n as i64
    }
    fn counter(&self) -> u64 {
        *self as u64
    }
}

impl KitValue for String {
    fn from_counter(n: u64) -> Self {
        n.to_string()
    }
    fn counter(&self) -> u64 {
        self.parse().expect("a counter written by the kit")
    }
}

impl KitValue for Vec<u8> {
    fn from_counter(n: u64) -> Self {
        n.to_be_bytes().to_vec()
    }
    fn counter(&self) -> u64 {
        u64::from_be_bytes(
            self.as_slice()
                .try_into()
                .expect("8 bytes written by the kit"),
        )
    }
}

impl KitValue for serde_json::Value {
    fn from_counter(n: u64) -> Self {
        serde_json::json!({ "n": n })
    }
    fn counter(&self) -> u64 {
        self["n"].as_u64().expect("a counter written by the kit")
    }
}

/// A key prefix no other run shares: `name`, the process id and the time.
///
/// ```
/// let a = optimist::testkit::unique_prefix("pg");
/// assert!(a.starts_with("pg-"));
/// ```
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{name}-{}-{nanos}/", std::process::id())
}

/// Runs every check of the kit, each under its own part of `prefix`, including an increment
/// race of 4 workers x 25 increments and a linearizability check of 4 workers x 24 random
/// operations on 2 keys ([`linearizable_history`]).
pub async fn run_all<V, S>(store: &Arc<S>, prefix: &str)
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized + 'static,
{
    let store_ref: &S = store;
    get_put_delete::<V, S>(store_ref, &format!("{prefix}gpd/")).await;
    put_expectations::<V, S>(store_ref, &format!("{prefix}put/")).await;
    delete_expectations::<V, S>(store_ref, &format!("{prefix}del/")).await;
    create_only_twice::<V, S>(store_ref, &format!("{prefix}create/")).await;
    stale_put::<V, S>(store_ref, &format!("{prefix}stale/")).await;
    conflict_kinds_told_apart::<V, S>(store_ref, &format!("{prefix}kinds/")).await;
    conflict_carries_current_etag::<V, S>(store_ref, &format!("{prefix}etag/")).await;
    no_aba::<V, S>(store_ref, &format!("{prefix}aba/")).await;
    weird_keys::<V, S>(store_ref, &format!("{prefix}weird/")).await;
    increment_race::<V, S>(store, &format!("{prefix}race/"), 4, 25, 2).await;
    linearizable_history::<V, S>(store, &format!("{prefix}history/"), 4, 24, 2).await;
}
