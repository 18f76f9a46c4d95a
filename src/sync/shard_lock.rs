//! The memory store's shard lock: `parking_lot`'s mutex protocol, with an unlock that is a
//! plain store when nobody waits.
//!
//! A lock and an unlock that are both atomic read-modify-writes (`lock cmpxchg` on x86) cost
//! about 3 ns each uncontended, and a read-then-CAS round of the store takes two of each:
//! about a quarter of a whole round on one hot key (a loop with a plain-store unlock did the
//! same `Mutex<HashMap>` round in 19.7 ns instead of 25.7 ns). So the unlock here reads the
//! lock word and, when no waiter is parked, releases with a plain `Release` store.
//!
//! The price is a wake-up that can be missed. A waiter may mark itself parked between the
//! holder's read and its store, and go to sleep before the store lands: the store then clears
//! the mark and wakes nobody. So a parked waiter never sleeps longer than [`RECHECK`] before
//! it looks at the lock again. Mutual exclusion does not depend on any of this (the lock is
//! only ever taken by a compare-and-swap from an unlocked state); only a waiter that meets
//! that window (two instructions, or a time slice if the holder is preempted between them)
//! waits up to [`RECHECK`] longer than it had to.
//!
//! The recheck has a cost when a lock is held for longer than [`RECHECK`] (a preempted
//! holder): a waiter that wakes to look goes back to the end of the queue, so waits are less
//! evenly spread than with `parking_lot` (a review's stress test, 8 threads each holding the
//! lock 300 us: p99 wait 12-14 ms against 3-5 ms, max 19-25 ms against 11-16 ms). The store's
//! critical sections are a hash probe and a copy, far below it.
//!
//! Waiters first back off (a few rounds of spin-loop hints, growing, reading the lock word
//! between them; see [`BACKOFF_FIRST`]), then spin and yield as `parking_lot` does
//! ([`parking_lot_core::SpinWait`]), then park in `parking_lot_core`'s queue; an unlock that sees the parked mark wakes one of them
//! the way `parking_lot`'s own unlock does: usually the woken thread competes for the lock
//! (which keeps a hot lock's throughput), and when `parking_lot_core` asks for fairness (about
//! every 0.5 ms) the lock is handed to it still held, and every park has a deadline, so no
//! parked thread waits forever.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use parking_lot::lock_api;
use parking_lot_core::{
    DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN, ParkResult, SpinWait, UnparkResult, UnparkToken,
};

/// A mutex over `T` with the shard lock.
pub(crate) type Mutex<T> = lock_api::Mutex<RawShardLock, T>;
/// The guard of [`Mutex`].
pub(crate) type MutexGuard<'a, T> = lock_api::MutexGuard<'a, RawShardLock, T>;

/// The lock word's bit that says the lock is held.
const LOCKED: u8 = 1;
/// The lock word's bit that says a thread may be parked on this lock.
const PARKED: u8 = 2;

/// A waiter that finds the lock held first backs off for `BACKOFF_FIRST << n` spin-loop hints
/// in rounds `n = 1 ..= BACKOFF_ROUNDS` (16, 32, 64), reading the lock word between rounds,
/// before `parking_lot`'s own spin-and-yield. A thread whose read of a hot key is followed at
/// once by its write then usually finds the lock free for the write instead of losing it and
/// its cache lines to the waiter in between (one hot key, pure CAS, 2 threads: 0.89-1.32x of
/// `Mutex<HashMap>` -> 1.54-1.77x, conflicts 3.2% -> 1.8%, p99 unchanged).
const BACKOFF_FIRST: u32 = 8;
/// See [`BACKOFF_FIRST`].
const BACKOFF_ROUNDS: u32 = 3;

/// The token an unlock hands a woken waiter when it passes the lock on, still held.
const HANDOFF: UnparkToken = UnparkToken(1);

/// The longest a parked waiter sleeps before it looks at the lock again, in case the unlock
/// that should have woken it missed it (see the module docs).
const RECHECK: Duration = Duration::from_micros(200);

/// The raw lock: one byte.
pub(crate) struct RawShardLock {
    state: AtomicU8,
}

// SAFETY: the lock is held from a successful compare-and-swap that sets LOCKED on a state
// without it (in `lock`, `try_lock`, `lock_slow`) until `unlock` clears it, and LOCKED is
// cleared only by the holder's `unlock`; other threads only ever add PARKED to a held lock.
unsafe impl lock_api::RawMutex for RawShardLock {
    #[allow(clippy::declare_interior_mutable_const)]
    const INIT: Self = Self {
        state: AtomicU8::new(0),
    };

    type GuardMarker = lock_api::GuardNoSend;

    #[inline]
    fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_slow();
        }
    }

    #[inline]
    fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
        false
    }

    #[inline]
    unsafe fn unlock(&self) {
        if self.state.load(Ordering::Relaxed) == LOCKED {
            self.state.store(0, Ordering::Release);
        } else {
            self.unlock_slow();
        }
    }

    #[inline]
    fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & LOCKED != 0
    }
}

impl RawShardLock {
    /// The key of this lock in `parking_lot_core`'s table of parked threads.
    fn addr(&self) -> usize {
        self as *const Self as usize
    }

    #[cold]
    #[inline(never)]
    fn lock_slow(&self) {
        let mut spin = SpinWait::new();
        let mut backoff = 0;
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                match self.state.compare_exchange_weak(
                    state,
                    state | LOCKED,
                    Ordering::Acquire,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return,
                    Err(now) => state = now,
                }
                continue;
            }
            if state & PARKED == 0 {
                if backoff < BACKOFF_ROUNDS {
                    backoff += 1;
                    for _ in 0..(BACKOFF_FIRST << backoff) {
                        std::hint::spin_loop();
                    }
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                if spin.spin() {
                    state = self.state.load(Ordering::Relaxed);
                    continue;
                }
                if let Err(now) = self.state.compare_exchange_weak(
                    state,
                    state | PARKED,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    state = now;
                    continue;
                }
            }
            let validate = || self.state.load(Ordering::Relaxed) == LOCKED | PARKED;
            // SAFETY: the key is this lock's address, which no other kind of waiter uses;
            // `validate` and the callbacks do not panic or call into parking_lot_core.
            let parked = unsafe {
                parking_lot_core::park(
                    self.addr(),
                    validate,
                    || {},
                    // As parking_lot does: the last waiter to give up clears the mark (under
                    // the queue's lock, keeping LOCKED), so the next unlock takes the fast path.
                    |_, was_last_thread| {
                        if was_last_thread {
                            self.state.fetch_and(!PARKED, Ordering::Relaxed);
                        }
                    },
                    DEFAULT_PARK_TOKEN,
                    Some(Instant::now() + RECHECK),
                )
            };
            if parked == ParkResult::Unparked(HANDOFF) {
                // The unlocking thread passed the lock on without releasing it.
                return;
            }
            spin.reset();
            state = self.state.load(Ordering::Relaxed);
        }
    }

    #[cold]
    #[inline(never)]
    fn unlock_slow(&self) {
        let callback = |result: UnparkResult| {
            // Now and then (`be_fair`, about every 0.5 ms) parking_lot_core asks for fairness,
            // so a parked thread cannot be overtaken forever: pass it the lock still held.
            if result.unparked_threads != 0 && result.be_fair {
                if !result.have_more_threads {
                    self.state.store(LOCKED, Ordering::Relaxed);
                }
                return HANDOFF;
            }
            // Otherwise release, keeping the parked mark while others may still sleep here;
            // the woken thread competes for the lock like any other.
            let rest = if result.have_more_threads { PARKED } else { 0 };
            self.state.store(rest, Ordering::Release);
            DEFAULT_UNPARK_TOKEN
        };
        // SAFETY: the key is this lock's address; the callback does not panic or call into
        // parking_lot_core.
        unsafe {
            parking_lot_core::unpark_one(self.addr(), callback);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Mutex;
    use std::time::Duration;

    #[test]
    fn excludes_under_contention_with_more_threads_than_cores() {
        // A read-modify-write that is not atomic by itself: any overlap loses increments.
        let counter = Mutex::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..100_000 {
                        let mut c = counter.lock();
                        let v = *c;
                        std::hint::black_box(&v);
                        *c = v + 1;
                    }
                });
            }
        });
        assert_eq!(counter.into_inner(), 800_000);
    }

    #[test]
    fn parked_waiters_all_get_the_lock() {
        // The holder keeps the lock long enough for every waiter to park, then lets go; each
        // waiter must get through (woken, or after its recheck), in whatever order.
        let lock = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            let held = lock.lock();
            let waiters: Vec<_> = (0..6)
                .map(|i| {
                    let lock = &lock;
                    s.spawn(move || lock.lock().push(i))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(50));
            assert!(held.is_empty());
            drop(held);
            for w in waiters {
                w.join().unwrap();
            }
        });
        let mut got = lock.into_inner();
        got.sort_unstable();
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn try_lock_fails_while_held_and_succeeds_after() {
        let lock = Mutex::new(());
        let g = lock.lock();
        assert!(lock.try_lock().is_none());
        assert!(lock.is_locked());
        drop(g);
        assert!(lock.try_lock().is_some());
        assert!(!lock.is_locked());
    }
}
