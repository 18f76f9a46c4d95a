//! The kit's history check: many small histories, each run by workers on OS threads.

use super::{History, HistoryReport, MAX_OPS_PER_KEY};
use crate::VersionedStore;
use crate::testkit::threads::Driver;
use crate::testkit::watchdog::{PATIENCE, Progress, Watchdog, Watched};
use crate::testkit::{KitValue, rules};
use std::sync::Arc;

/// Runs `workers` concurrent workers, each on its own OS thread, doing `ops_per_worker`
/// random reads and writes in all on `keys` keys under `prefix`, as a series of small
/// histories (fresh keys each, at most [`MAX_OPS_PER_KEY`] operations per key), and checks
/// each (see [`History::check`]); panics with the offending history if one is not
/// linearizable. When the store supports multi-key commits
/// ([`capabilities`](VersionedStore::capabilities)) and `keys >= 2`, the workers also issue
/// commits of up to 3 keys, and each history is checked as a whole.
///
/// Call it from outside any runtime or from a multi-threaded tokio runtime (see
/// [`Kit`](crate::testkit::Kit) for how the kit drives a store's futures from its threads).
///
/// ```
/// use optimist::MemoryStore;
/// use optimist::testkit::linearizable_history;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::<u64>::new();
/// let report = linearizable_history::<u64, _>(&store, "lin/", 3, 16, 2).await;
/// assert!(report.ops > 0 && report.commits > 0);
/// # });
/// ```
pub async fn linearizable_history<V, S>(
    store: &S,
    prefix: &str,
    workers: usize,
    ops_per_worker: usize,
    keys: usize,
) -> HistoryReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("linearizable_history");
    let progress = Progress::new("linearizable_history");
    let _watchdog = Watchdog::start(Arc::clone(&progress), PATIENCE);
    let store = Watched::new(store, progress);
    histories::<V, _>(&driver, &store, prefix, workers, ops_per_worker, keys)
}

/// [`linearizable_history`] with the driver chosen by the caller.
pub(in crate::testkit) fn histories<V, S>(
    driver: &Driver,
    store: &S,
    prefix: &str,
    workers: usize,
    ops_per_worker: usize,
    keys: usize,
) -> HistoryReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    assert!(
        workers > 0 && keys > 0,
        "linearizable_history: at least one worker and one key"
    );
    let caps = store.capabilities();
    let commit_keys = if caps.supports_commit() && keys >= 2 {
        caps.max_commit_keys.min(3)
    } else {
        0
    };
    let per_round = keys * MAX_OPS_PER_KEY;
    let rounds = (workers * ops_per_worker).div_ceil(per_round).max(1);
    let per_worker = ops_per_worker.div_ceil(rounds);
    let mut report = HistoryReport::default();
    for round in 0..rounds {
        let history = History::new(&format!("{prefix}r{round}/"), keys).with_commits(commit_keys);
        driver.run("history", workers, |w| {
            let history = &history;
            async move {
                if w.sync() {
                    history.run_worker::<V, S>(store, w.index, per_worker).await;
                }
            }
        });
        match history.check() {
            Ok(r) => report.merge(&r),
            Err(violation) => {
                let rule = if violation.rule.contains("(rule: ") {
                    String::new()
                } else {
                    format!(" (rule: {})", rules::LINEARIZABLE)
                };
                panic!(
                    "optimist testkit, linearizable_history: the history of key {:?} is not \
                     linearizable: {}{rule}\noperations ([invoked..returned] on one logical \
                     clock; `?`: outcome unknown):\n{}",
                    violation.key, violation.rule, violation.history
                )
            }
        }
    }
    report
}
