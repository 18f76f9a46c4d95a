//! Running a check's workers on OS threads, so that a backend whose futures are ready at once
//! (a synchronous store) interleaves for real, and a tokio-based one keeps its runtime.
//!
//! The kit's entry points are `async fn`s borrowing the store (`&S`), so its workers are
//! scoped threads ([`std::thread::scope`]) joined before the check returns; the calling task
//! blocks meanwhile. How each worker drives the store's futures depends on where the kit was
//! called from:
//!
//! - **outside any tokio runtime** (e.g. `futures_executor::block_on(run_all(..))`): each
//!   worker runs its future with [`futures_executor::block_on`];
//! - **inside a multi-threaded tokio runtime** (`#[tokio::test(flavor = "multi_thread")]`):
//!   the calling task steps out of the runtime with [`tokio::task::block_in_place`] (so the
//!   runtime keeps all its workers for the store's own tasks: connection drivers, timers,
//!   `spawn_blocking`), and each worker runs its future with
//!   [`Handle::block_on`](tokio::runtime::Handle::block_on) on the caller's runtime, so the
//!   store's futures find the reactor, the timers and the blocking pool they were built for;
//! - **inside a current-thread tokio runtime**: the one thread that drives the runtime would
//!   be blocked by the kit, so a tokio-based store could never make progress. The kit
//!   refuses with a message saying what to do instead of hanging.

use std::any::Any;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use parking_lot::{Condvar, Mutex};
use tokio::runtime::{Handle, RuntimeFlavor};

/// How the workers drive the store's futures.
#[derive(Clone, Debug)]
pub(super) enum Driver {
    /// Each worker blocks on its future with `futures_executor`.
    Plain,
    /// Each worker blocks on its future through the caller's multi-threaded runtime.
    Tokio(Handle),
}

impl Driver {
    /// The driver for the calling context; panics inside a current-thread tokio runtime,
    /// naming `check` and saying what to do.
    pub(super) fn detect(check: &str) -> Self {
        match Handle::try_current() {
            Err(_) => Driver::Plain,
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::CurrentThread => panic!(
                "optimist testkit, {check}: the kit runs its concurrent checks on OS threads \
                 and cannot do so inside a current-thread tokio runtime (its only thread \
                 would be blocked, and a tokio-based store could never make progress). \
                 Use #[tokio::test(flavor = \"multi_thread\")] (or a multi-thread Runtime), \
                 call the kit outside any runtime (futures_executor::block_on), or use \
                 Kit::without_threads() to run only the checks that need no threads (which \
                 cannot catch a non-atomic compare-and-write)"
            ),
            Ok(handle) => Driver::Tokio(handle),
        }
    }

    /// Runs `workers` workers, each on its own OS thread, and returns their results in
    /// worker order. Worker `i` gets a [`Worker`] with index `i` and a round barrier shared
    /// by all. A worker that panics releases the others from the barrier (they should stop
    /// when [`Worker::sync`] says so), and its panic is raised again here once every thread
    /// has ended, message intact.
    pub(super) fn run<T, F, Fut>(&self, name: &str, workers: usize, work: F) -> Vec<T>
    where
        T: Send,
        F: Fn(Worker) -> Fut + Sync,
        Fut: Future<Output = T>,
    {
        assert!(workers > 0, "optimist testkit, {name}: at least one worker");
        let gate = Arc::new(Gate::new(workers));
        let work = &work;
        let run = || {
            std::thread::scope(|scope| {
                let handles: Vec<_> = (0..workers)
                    .map(|index| {
                        let driver = self.clone();
                        let gate = Arc::clone(&gate);
                        std::thread::Builder::new()
                            .name(format!("kit-{name}-{index}"))
                            .spawn_scoped(scope, move || {
                                let _abort = AbortOnPanic(Arc::clone(&gate));
                                let future = work(Worker { index, gate });
                                match driver {
                                    Driver::Plain => futures_executor::block_on(future),
                                    Driver::Tokio(handle) => handle.block_on(future),
                                }
                            })
                            .unwrap_or_else(|e| {
                                panic!("optimist testkit, {name}: cannot start a thread: {e}")
                            })
                    })
                    .collect();
                let joined: Vec<Result<T, Box<dyn Any + Send>>> =
                    handles.into_iter().map(|h| h.join()).collect();
                let mut results = Vec::with_capacity(workers);
                for result in joined {
                    match result {
                        Ok(value) => results.push(value),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                results
            })
        };
        match self {
            Driver::Plain => run(),
            Driver::Tokio(_) => tokio::task::block_in_place(run),
        }
    }
}

/// One worker's view of a [`Driver::run`]: its index and the shared round barrier.
pub(super) struct Worker {
    /// This worker's number, `0..workers`.
    pub(super) index: usize,
    gate: Arc<Gate>,
}

impl Worker {
    /// Waits until every worker has called `sync` as often as this one (a reusable barrier,
    /// releasing all at once so that their next operations collide). Returns `false`, at
    /// once, when a worker panicked: stop then.
    pub(super) fn sync(&self) -> bool {
        self.gate.wait()
    }

    /// Whether a worker panicked (the others should stop).
    pub(super) fn aborted(&self) -> bool {
        self.gate.aborted.load(SeqCst)
    }
}

/// A reusable barrier that a panicking worker can break. Waiters spin for a moment before
/// they sleep, so that the workers of a round start within microseconds of each other.
struct Gate {
    workers: usize,
    arrived: AtomicUsize,
    generation: AtomicU64,
    aborted: AtomicBool,
    sleepers: Mutex<()>,
    released: Condvar,
}

/// How often a waiter checks the gate before it sleeps.
const SPINS: u32 = 20_000;

impl Gate {
    fn new(workers: usize) -> Self {
        Self {
            workers,
            arrived: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            aborted: AtomicBool::new(false),
            sleepers: Mutex::new(()),
            released: Condvar::new(),
        }
    }

    fn wait(&self) -> bool {
        if self.aborted.load(SeqCst) {
            return false;
        }
        let generation = self.generation.load(SeqCst);
        if self.arrived.fetch_add(1, SeqCst) + 1 == self.workers {
            self.arrived.store(0, SeqCst);
            self.generation.fetch_add(1, SeqCst);
            let _sleepers = self.sleepers.lock();
            self.released.notify_all();
            return !self.aborted.load(SeqCst);
        }
        let open = || self.generation.load(SeqCst) != generation || self.aborted.load(SeqCst);
        for spin in 0..SPINS {
            if open() {
                return !self.aborted.load(SeqCst);
            }
            if spin % 64 == 63 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        let mut sleepers = self.sleepers.lock();
        while !open() {
            self.released.wait(&mut sleepers);
        }
        !self.aborted.load(SeqCst)
    }

    fn abort(&self) {
        self.aborted.store(true, SeqCst);
        let _sleepers = self.sleepers.lock();
        self.released.notify_all();
    }
}

/// Breaks the gate when its worker's thread unwinds.
struct AbortOnPanic(Arc<Gate>);

impl Drop for AbortOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::Driver;

    #[test]
    fn workers_run_on_distinct_threads_and_rounds_line_up() {
        let round_counts: Vec<AtomicUsize> = (0..5).map(|_| AtomicUsize::new(0)).collect();
        let ids = Driver::Plain.run("t", 4, |w| {
            let round_counts = &round_counts;
            async move {
                for (round, count) in round_counts.iter().enumerate() {
                    assert!(w.sync());
                    // Everyone finished the previous round before anyone starts this one.
                    if round > 0 {
                        assert_eq!(round_counts[round - 1].load(Ordering::SeqCst), 4);
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                }
                (w.index, std::thread::current().id())
            }
        });
        assert_eq!(ids.iter().map(|r| r.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
        let mut threads: Vec<_> = ids.iter().map(|r| format!("{:?}", r.1)).collect();
        threads.sort();
        threads.dedup();
        assert_eq!(threads.len(), 4);
    }

    #[test]
    fn a_panicking_worker_releases_the_others_and_its_message_survives() {
        let caught = std::panic::catch_unwind(|| {
            Driver::Plain.run("t", 3, |w| async move {
                if w.index == 1 {
                    panic!("worker one broke rule X");
                }
                while w.sync() {}
                assert!(w.aborted());
            })
        })
        .unwrap_err();
        let message = caught.downcast_ref::<&str>().copied().unwrap_or_default();
        assert!(message.contains("rule X"), "{message}");
    }

    #[test]
    fn a_current_thread_runtime_is_refused_with_advice() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let caught =
            std::panic::catch_unwind(|| rt.block_on(async { Driver::detect("race") })).unwrap_err();
        let message = caught.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("flavor = \"multi_thread\""), "{message}");
    }
}
