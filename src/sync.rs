//! The lock the memory store is built on, swappable for model checking.
//!
//! Normally `parking_lot::RwLock`. Built with `RUSTFLAGS="--cfg optimist_shuttle"` it is a
//! thin wrapper over [shuttle](https://docs.rs/shuttle)'s `RwLock` with the same
//! `read()` / `write()` shape, so `tests/shuttle.rs` can explore the store's interleavings
//! deterministically. The memory store has no hand-written atomics (versions come from a
//! per-shard counter under the shard's write lock), so the lock is the only thing to swap.

#[cfg(not(optimist_shuttle))]
pub(crate) use parking_lot::RwLock;

#[cfg(optimist_shuttle)]
pub(crate) use shuttle_lock::RwLock;

#[cfg(optimist_shuttle)]
mod shuttle_lock {
    /// `shuttle::sync::RwLock` with `parking_lot`'s non-poisoning `read()` / `write()`.
    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(shuttle::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(shuttle::sync::RwLock::new(value))
        }

        pub(crate) fn read(&self) -> shuttle::sync::RwLockReadGuard<'_, T> {
            self.0
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }

        pub(crate) fn write(&self) -> shuttle::sync::RwLockWriteGuard<'_, T> {
            self.0
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}
