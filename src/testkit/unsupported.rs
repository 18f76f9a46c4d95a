//! Optional operations a store says it lacks are refused honestly.

use super::KitValue;
use super::assertions::assert_stored;
use super::failure::Check;
use super::rules;
use crate::{Commit, Expect, ListRequest, StoreError, VersionedStore};

/// For each optional operation the store's [`capabilities`](VersionedStore::capabilities)
/// do not list, checks that it answers [`StoreError::Unsupported`] and writes nothing (a
/// multi-key commit must never be faked with single-key writes, nor silently dropped).
/// Operations the store does support are left to their own checks.
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// // The memory store supports everything: nothing to refuse.
/// optimist::testkit::unsupported_is_refused::<u64, _>(&MemoryStore::new(), "opt/").await;
/// # });
/// ```
pub async fn unsupported_is_refused<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let c = Check("unsupported_is_refused");
    let caps = store.capabilities();
    c.eq(
        rules::UNSUPPORTED,
        "capabilities asked twice",
        store.capabilities(),
        caps,
    );
    if !caps.supports_commit() {
        let key = format!("{prefix}commit");
        let commit = Commit::new()
            .put(key.clone(), V::from_counter(1), Expect::Absent)
            .check(format!("{prefix}other"), Expect::Absent);
        match store.commit(commit).await {
            Err(StoreError::Unsupported { .. }) => {}
            other => c.fail(
                rules::UNSUPPORTED,
                format!("capabilities list no multi-key commits, but commit answered {other:?}"),
            ),
        }
        let what = "the key of a commit answered Unsupported";
        assert_stored::<V, S>(c, rules::UNSUPPORTED, what, store, &key, None).await;
    }
    if !caps.list {
        match store.list(ListRequest::prefix(prefix)).await {
            Err(StoreError::Unsupported { .. }) => {}
            other => c.fail(
                rules::UNSUPPORTED,
                format!("capabilities list no listing, but list answered {other:?}"),
            ),
        }
    }
}
