//! Listing while other threads write: every key that exists, unchanged, during the whole
//! walk appears exactly once, in order, with its version.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use std::sync::Arc;

use super::KitValue;
use super::failure::Check;
use super::list::walk;
use super::rng::{Rng, fresh_seed};
use super::rules;
use super::threads::Driver;
use super::watchdog::{PATIENCE, Progress, Watchdog, Watched};
use crate::{Expect, ListRequest, Version, VersionedStore};

/// `workers` workers on OS threads: two walk the listing of a prefix again and again (page
/// sizes 3 to 9, with and without values) while the others create, update and delete
/// "churn" keys interleaved with a set of "stable" keys that nobody touches. Every walk must
/// list each stable key exactly once with its version and value, be strictly ascending by
/// bytes across pages (so no key repeats, churn keys included), stay under the prefix and
/// after each cursor, respect the limit, and follow `next` as documented. `ops` scales the
/// number of writes and walks.
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let walks = optimist::testkit::list_during_writes::<u64, _>(&store, "lw/", 4, 20).await;
/// assert!(walks > 0);
/// # });
/// ```
pub async fn list_during_writes<V, S>(store: &S, prefix: &str, workers: usize, ops: usize) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("list_during_writes");
    let progress = Progress::new("list_during_writes");
    let _watchdog = Watchdog::start(Arc::clone(&progress), PATIENCE);
    let store = Watched::new(store, progress);
    listing_race::<V, _>(&driver, &store, prefix, workers, ops).await
}

/// [`list_during_writes`] with the driver chosen by the caller; returns the walks made.
pub(super) async fn listing_race<V, S>(
    driver: &Driver,
    store: &S,
    prefix: &str,
    workers: usize,
    ops: usize,
) -> u64
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let c = Check("list_during_writes");
    assert!(
        workers >= 3,
        "list_during_writes: at least three workers (two walk)"
    );
    let under = format!("{prefix}w/");
    let stable_count = 40;
    let mut stable: BTreeMap<String, (Version, u64)> = BTreeMap::new();
    for i in 0..stable_count {
        let key = format!("{under}s{i:02}");
        let put = store.put(&key, V::from_counter(i), Expect::Absent).await;
        let v = c.ok(rules::PASSES, &format!("create {key:?}"), put).version;
        stable.insert(key, (v, i));
    }
    // Churn keys sort right before, right after and between the stable ones.
    let churn: Vec<String> = (0..stable_count)
        .flat_map(|i| {
            [
                format!("{under}s{i:02}"),
                format!("{under}s{i:02}x"),
                format!("{under}r{i:02}"),
            ]
        })
        .filter(|k| !stable.contains_key(k))
        .chain([under.clone(), format!("{under}~")])
        .collect();
    let writing_done = AtomicBool::new(false);
    let walkers = 2;
    let seed = fresh_seed();
    let results = driver.run("list_during_writes", workers, |w| {
        let (stable, churn, under, writing_done) = (&stable, &churn, &under, &writing_done);
        async move {
            let mut rng = Rng::new(seed ^ (w.index as u64 + 1));
            if !w.sync() {
                return Ok(0u64);
            }
            if w.index >= walkers {
                for i in 0..ops * 4 {
                    let key = &churn[rng.below(churn.len() as u64) as usize];
                    let value = V::from_counter(i as u64);
                    let _ = match rng.below(3) {
                        0 => store.put(key, value, Expect::Absent).await.map(|_| ()),
                        1 => store.put(key, value, Expect::Any).await.map(|_| ()),
                        _ => store.delete(key, Expect::Any).await.map(|_| ()),
                    };
                }
                writing_done.store(true, Ordering::SeqCst);
                return Ok(0);
            }
            let mut walks = 0u64;
            // Walk at least a few times, and until the writers are done.
            while walks < 3 || (!writing_done.load(Ordering::SeqCst) && walks < ops as u64) {
                let limit = 3 + rng.below(7) as usize;
                let mut request = ListRequest::prefix(under.clone()).limit(limit);
                if walks % 2 == 1 {
                    request = request.with_values();
                }
                let entries = walk::<V, S>(store, request).await?;
                let what = format!("walk {walks} of worker {} (limit {limit})", w.index);
                let mut found = 0;
                for entry in &entries {
                    let Some(&(version, value)) = stable.get(&entry.key) else {
                        continue;
                    };
                    found += 1;
                    if entry.meta.version != version {
                        return Err((
                            rules::LIST_ENTRY,
                            format!(
                                "{what}: {:?} listed at version {}, it holds {version}",
                                entry.key, entry.meta.version
                            ),
                        ));
                    }
                    if let Some(v) = &entry.value {
                        if v.counter() != value {
                            return Err((
                                rules::LIST_ENTRY,
                                format!("{what}: {:?} listed with value {v:?}", entry.key),
                            ));
                        }
                    }
                }
                if found != stable.len() {
                    let missing: Vec<&String> = stable
                        .keys()
                        .filter(|k| !entries.iter().any(|e| &e.key == *k))
                        .collect();
                    return Err((
                        rules::LIST_COMPLETE,
                        format!(
                            "{what}: {found} of {} untouched keys listed; missing {missing:?}",
                            stable.len()
                        ),
                    ));
                }
                walks += 1;
            }
            Ok(walks)
        }
    });
    let mut walks = 0;
    for result in results {
        walks += result.unwrap_or_else(|(rule, what)| c.fail(rule, what));
    }
    walks
}
