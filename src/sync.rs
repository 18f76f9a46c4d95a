//! The lock the memory store is built on, swappable for model checking.
//!
//! Normally [`shard_lock::Mutex`]: `parking_lot`'s protocol with an unlock that is a plain
//! store when nobody waits (see that module). Built with `RUSTFLAGS="--cfg optimist_shuttle"` it is a
//! thin wrapper over [shuttle](https://docs.rs/shuttle)'s `Mutex` with the same non-poisoning
//! `lock()`, so `tests/shuttle.rs` can explore the store's interleavings deterministically.
//! The memory store has no hand-written atomics (versions come from a per-shard counter under
//! the shard's lock), so the lock is the only thing to swap.
//!
//! Why a mutex and not a reader-writer lock: the store's critical sections are a hash probe
//! and a copy (tens of nanoseconds), so concurrent readers gain nothing from sharing the lock
//! (each still writes the lock word, and the cache line bounces either way), while a
//! reader-writer lock lets two threads read the same version of a hot key at once and then
//! conflict on the write. `benches/README.md` has the measurements.

#[cfg(not(optimist_shuttle))]
mod shard_lock;

#[cfg(not(optimist_shuttle))]
pub(crate) use shard_lock::{Mutex, MutexGuard};

#[cfg(optimist_shuttle)]
pub(crate) use shuttle_lock::{Mutex, MutexGuard};

#[cfg(optimist_shuttle)]
mod shuttle_lock {
    /// The guard of [`Mutex`].
    pub(crate) type MutexGuard<'a, T> = shuttle::sync::MutexGuard<'a, T>;

    /// `shuttle::sync::Mutex` with `parking_lot`'s non-poisoning `lock()`.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(shuttle::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(shuttle::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> shuttle::sync::MutexGuard<'_, T> {
            self.0
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
        }
    }
}
