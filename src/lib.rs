#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod capabilities;
mod clock;
#[cfg(any(
    feature = "sqlite",
    feature = "postgres",
    feature = "redis",
    feature = "etcd",
    feature = "mysql"
))]
mod codec;
mod commit;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod encoded;
mod error;
mod expect;
mod list;
mod memory;
mod retry;
mod store;
mod sync;
mod version;

#[cfg(feature = "etcd")]
pub mod etcd;
pub mod http;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(feature = "redis")]
pub mod redis;
#[cfg(feature = "sqlite")]
pub mod sqlite;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use capabilities::Capabilities;
pub use commit::{Applied, Commit, CommitConflict, Op};
pub use error::{BoxError, Conflict, ConflictKind, StoreError};
pub use expect::Expect;
pub use list::{ListPage, ListRequest, Listed};
pub use memory::MemoryStore;
pub use retry::{RetryPolicy, Sleep, UpdateError, Updated, update_with};
pub use store::{BoxFuture, DynVersionedStore, SharedStore, VersionedStore};
pub use version::{Meta, ParseVersionError, Version, Versioned};
