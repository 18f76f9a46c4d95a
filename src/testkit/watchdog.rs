//! The last resort against a store that hangs the kit: every operation is counted, and when
//! operations are pending but none finishes for too long the process is aborted with a
//! message, so the test fails instead of hanging.
//!
//! A worker blocked inside a future's `poll` (a synchronous lock taken in a bad order)
//! cannot be interrupted or timed out, and the kit's scoped threads must be joined before
//! a check returns, so aborting is the only way to end such a run. Checks that can time an
//! operation out themselves (the deadlock check) report a normal failure first.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::{
    Applied, Capabilities, Commit, Expect, ListPage, ListRequest, Meta, StoreError, Version,
    Versioned, VersionedStore,
};

/// How long the standalone concurrent checks wait for any operation to finish before they
/// abort (the [`Kit`](super::Kit) uses twice its deadlock bound).
pub(super) const PATIENCE: Duration = Duration::from_secs(40);

/// Counts finished and pending operations, and names the check running.
#[derive(Debug)]
pub(super) struct Progress {
    ops: AtomicU64,
    pending: AtomicU64,
    check: Mutex<&'static str>,
}

impl Progress {
    /// Progress of `check`.
    pub(super) fn new(check: &'static str) -> Arc<Self> {
        Arc::new(Self {
            ops: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            check: Mutex::new(check),
        })
    }

    /// Names the check now running.
    pub(super) fn now_in(&self, check: &'static str) {
        *self.check.lock() = check;
    }
}

/// A store whose finished operations count as progress; otherwise it is the store.
pub(super) struct Watched<'a, S: ?Sized> {
    store: &'a S,
    progress: Arc<Progress>,
}

impl<'a, S: ?Sized> Watched<'a, S> {
    pub(super) fn new(store: &'a S, progress: Arc<Progress>) -> Self {
        Self { store, progress }
    }

    async fn counted<T>(&self, op: impl Future<Output = T>) -> T {
        let _pending = Pending::new(&self.progress);
        op.await
    }
}

/// One operation under way: pending while alive, finished when dropped (also when the
/// operation's future is dropped before it finished, as a timed-out commit is).
struct Pending<'p>(&'p Progress);

impl<'p> Pending<'p> {
    fn new(progress: &'p Progress) -> Self {
        progress.pending.fetch_add(1, SeqCst);
        Self(progress)
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.0.ops.fetch_add(1, SeqCst);
        self.0.pending.fetch_sub(1, SeqCst);
    }
}

impl<V, S: VersionedStore<V> + ?Sized> VersionedStore<V> for Watched<'_, S> {
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Versioned<V>>, StoreError>> + Send {
        self.counted(self.store.get(key))
    }
    fn head(&self, key: &str) -> impl Future<Output = Result<Option<Meta>, StoreError>> + Send {
        self.counted(self.store.head(key))
    }
    fn put(
        &self,
        key: &str,
        value: V,
        expect: Expect,
    ) -> impl Future<Output = Result<Meta, StoreError>> + Send {
        self.counted(self.store.put(key, value, expect))
    }
    fn delete(
        &self,
        key: &str,
        expect: Expect,
    ) -> impl Future<Output = Result<Option<Version>, StoreError>> + Send {
        self.counted(self.store.delete(key, expect))
    }
    fn commit(
        &self,
        commit: Commit<V>,
    ) -> impl Future<Output = Result<Vec<Applied>, StoreError>> + Send {
        self.counted(self.store.commit(commit))
    }
    fn list(
        &self,
        request: ListRequest,
    ) -> impl Future<Output = Result<ListPage<V>, StoreError>> + Send {
        self.counted(self.store.list(request))
    }
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }
}

/// A thread watching a [`Progress`]: when operations are pending and none finished for
/// `patience`, it prints which check was running and aborts the process. Stops when dropped.
pub(super) struct Watchdog {
    stop: Option<mpsc::Sender<()>>,
}

impl Watchdog {
    pub(super) fn start(progress: Arc<Progress>, patience: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("kit-watchdog".to_owned())
            .spawn(move || {
                let mut last = progress.ops.load(SeqCst);
                loop {
                    match stopped.recv_timeout(patience) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let now = progress.ops.load(SeqCst);
                    // Stuck: operations are pending and none finished (time the kit spends
                    // between operations, checking what it saw, does not count).
                    if now == last && progress.pending.load(SeqCst) > 0 {
                        let check = *progress.check.lock();
                        eprintln!(
                            "optimist testkit, {check}: no store operation finished for \
                             {patience:?} (after {now} had): the workers are blocked inside \
                             the store (rule: {}). A thread blocked inside a future's poll \
                             cannot be stopped, so the kit aborts the process.",
                            super::rules::FINISHES
                        );
                        std::process::abort();
                    }
                    last = now;
                }
            })
            .expect("optimist testkit: cannot start the watchdog thread");
        Self { stop: Some(stop) }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
