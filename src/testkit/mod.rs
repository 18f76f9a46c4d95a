//! The backend conformance kit (feature `testkit`): public checks that any
//! [`VersionedStore`] must pass, shaped like `object_store`'s integration suite.
//!
//! Run [`run_all`] (or [`Kit`], for options) from your backend's tests with a key prefix no
//! other run shares ([`unique_prefix`]). Every check uses only keys under its part of the
//! prefix and, when it fails, panics with a message naming the check, the broken rule and
//! the values: `optimist testkit, <check>: <what happened> (rule: <rule>)`.
//!
//! What it checks:
//!
//! - **single-key semantics**, one operation at a time: every [`Expect`](crate::Expect)
//!   passing and failing, conflicts of the right kind carrying the current version, no ABA
//!   after delete and re-create, keys with quotes, newlines, unicode and pattern characters;
//! - **atomicity under real concurrency**: workers on OS threads (see [`Kit`] for how they
//!   drive async stores) released together by a barrier, all writing one key expecting the
//!   same state ([`one_writer_wins`]: exactly one may win), compare-and-swap storms on hot
//!   keys whose successes must form one version chain ([`cas_storm`], [`commit_storm`]:
//!   these catch a compare and a write taken under two lock acquisitions, a window of
//!   nanoseconds, by going on until they have seen real contention), an increment race
//!   ([`increment_race`]), and random histories checked for linearizability
//!   ([`linearizable_history`], commits included);
//! - **multi-key commits** when [`capabilities`](VersionedStore::capabilities) list them:
//!   every failed key reported with its current version and nothing written
//!   ([`commit_semantics`]), transfers between accounts whose total never changes and
//!   whose halves are never seen apart ([`commit_transfers`]), and overlapping commits in
//!   opposite key orders that all finish ([`commits_never_deadlock`]);
//! - **listing** when listed: byte order, cursor, limit, `next`, prefixes full of pattern
//!   characters ([`list_pages`]), and completeness while other threads write
//!   ([`list_during_writes`]);
//! - **honest capabilities**: an optional operation the store lacks answers
//!   [`StoreError::Unsupported`](crate::StoreError::Unsupported) and writes nothing
//!   ([`unsupported_is_refused`]).
//!
//! # Stability
//!
//! Like `object_store`'s integration suite, whose module says its tests "are not a stable
//! part of the public API and breaking changes may be made in patch releases", the kit's
//! **checks are not frozen**: any release, patch releases included, may add checks or
//! tighten existing ones, so a backend that passed may fail after an upgrade (it then has a
//! bug the kit did not catch before; the message names the rule). The entry points
//! [`run_all`] and [`Kit`] keep their signatures within a minor version (new options may be
//! added); the individual check functions, their sizes and the report's details may change
//! in any minor version while the crate is below 1.0.
//!
//! # A custom backend proving itself
//!
//! ```
//! use std::collections::HashMap;
//! use std::time::SystemTime;
//! use parking_lot::Mutex;
//! use optimist::{Conflict, Expect, Meta, StoreError, Version, Versioned, VersionedStore};
//!
//! /// A deliberately simple backend: one mutex over a map, a global version counter.
//! #[derive(Default)]
//! struct OneLockStore {
//!     inner: Mutex<(u64, HashMap<String, Versioned<u64>>)>,
//! }
//!
//! impl VersionedStore<u64> for OneLockStore {
//!     async fn get(&self, key: &str) -> Result<Option<Versioned<u64>>, StoreError> {
//!         Ok(self.inner.lock().1.get(key).cloned())
//!     }
//!
//!     async fn put(&self, key: &str, value: u64, expect: Expect) -> Result<Meta, StoreError> {
//!         // Compare and write under one lock acquisition: one atomic step.
//!         let mut g = self.inner.lock();
//!         let current = g.1.get(key).map(|v| v.version);
//!         if !expect.admits(current) {
//!             return Err(Conflict::new(key, expect, current).into());
//!         }
//!         g.0 += 1;
//!         let (version, last_modified) = (Version::new(g.0).unwrap(), SystemTime::now());
//!         g.1.insert(key.to_owned(), Versioned { value, version, last_modified });
//!         Ok(Meta { version, last_modified })
//!     }
//!
//!     async fn delete(&self, key: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
//!         let mut g = self.inner.lock();
//!         let current = g.1.get(key).map(|v| v.version);
//!         if !expect.admits(current) {
//!             return Err(Conflict::new(key, expect, current).into());
//!         }
//!         Ok(g.1.remove(key).map(|v| v.version))
//!     }
//!     // No commit, no list: the defaults answer Unsupported, and the kit checks they do.
//! }
//!
//! # futures_executor::block_on(async {
//! let store = OneLockStore::default();
//! let prefix = optimist::testkit::unique_prefix("one-lock");
//! let report = optimist::testkit::run_all::<u64, _>(&store, &prefix).await;
//! println!("{report}");
//! # });
//! ```

mod assertions;
mod basic;
mod commit;
mod conflicts;
mod deadlock;
mod exclusive;
mod failure;
mod history;
mod keys;
mod kit;
mod list;
mod list_race;
mod race;
mod report;
mod rng;
mod rules;
mod storm;
mod threads;
mod transfer;
mod unsupported;
mod value;
mod watchdog;

pub use basic::{create_only_twice, delete_expectations, get_put_delete, put_expectations};
pub use commit::commit_semantics;
pub use conflicts::{conflict_carries_current_etag, conflict_kinds_told_apart, no_aba, stale_put};
pub use deadlock::commits_never_deadlock;
pub use exclusive::one_writer_wins;
pub use history::{
    History, HistoryReport, HistoryViolation, MAX_OPS_PER_KEY, linearizable_history,
};
pub use keys::{WEIRD_KEYS, weird_keys};
pub use kit::{Kit, SCALE_VAR};
pub use list::list_pages;
pub use list_race::list_during_writes;
pub use race::{RaceReport, increment_race};
pub use report::{CheckRun, KitReport};
pub use storm::{cas_storm, commit_storm};
pub use transfer::{TransferReport, commit_transfers};
pub use unsupported::unsupported_is_refused;
pub use value::KitValue;

use crate::VersionedStore;

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

/// Runs every check of the kit that applies to `store` under `prefix`, with the default
/// options: `Kit::new(store).prefix(prefix).run::<V>()` (see [`Kit`]). Takes the store the
/// way you hold it: `&store`, `&Arc<Store>`, `&SharedStore<V>`.
///
/// Call it outside any runtime (`futures_executor::block_on`) or inside a multi-threaded
/// tokio runtime; inside a current-thread runtime it panics saying what to do.
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::<u64>::new();
/// optimist::testkit::run_all::<u64, _>(&store, "docs/").await;
/// # });
/// ```
pub async fn run_all<V, S>(store: &S, prefix: &str) -> KitReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    Kit::new(store).prefix(prefix).run::<V>().await
}
