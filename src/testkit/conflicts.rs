//! Conflicts: stale writes, the three kinds, the current ETag, and no ABA.

use super::KitValue;
use super::assertions::{assert_conflict, assert_stored};
use super::failure::Check;
use super::rules;
use crate::{ConflictKind, Expect, StoreError, VersionedStore};

/// A write that read an old version loses to the one that wrote in between.
pub async fn stale_put<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let c = Check("stale_put");
    let key = format!("{prefix}k");
    let put = store.put(&key, V::from_counter(1), Expect::Absent).await;
    let v1 = c.ok(rules::PASSES, "create", put).version;
    // Two clients read v1; the first writes, the second is stale.
    let put = store
        .put(&key, V::from_counter(2), Expect::Version(v1))
        .await;
    let v2 = c.ok(rules::PASSES, "first writer", put).version;
    let stale = Expect::Version(v1);
    assert_conflict(
        c,
        "second writer",
        store.put(&key, V::from_counter(3), stale.clone()).await,
        ConflictKind::Stale,
        &key,
        &stale,
        Some(v2),
    );
    assert_stored::<V, S>(
        c,
        rules::REFUSED_NOTHING,
        "the first writer's value stays",
        store,
        &key,
        Some((2, v2)),
    )
    .await;
}

/// Missing, stale and already-exists are told apart on the same key.
pub async fn conflict_kinds_told_apart<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let c = Check("conflict_kinds_told_apart");
    let key = format!("{prefix}k");
    let put = store.put(&key, V::from_counter(1), Expect::Absent).await;
    let v1 = c.ok(rules::PASSES, "create", put).version;
    let put = store
        .put(&key, V::from_counter(2), Expect::Version(v1))
        .await;
    let v2 = c.ok(rules::PASSES, "update", put).version;
    let kinds = [
        (Expect::Absent, ConflictKind::AlreadyExists),
        (Expect::Version(v1), ConflictKind::Stale),
    ];
    for (expect, kind) in kinds {
        assert_conflict(
            c,
            "on an existing key",
            store.put(&key, V::from_counter(0), expect.clone()).await,
            kind,
            &key,
            &expect,
            Some(v2),
        );
    }
    let removed = store.delete(&key, Expect::Version(v2)).await;
    c.ok(rules::PASSES, "delete", removed);
    for expect in [
        Expect::Version(v2),
        Expect::Exists,
        Expect::OneOf(vec![v1, v2]),
    ] {
        assert_conflict(
            c,
            "on a deleted key",
            store.put(&key, V::from_counter(0), expect.clone()).await,
            ConflictKind::Missing,
            &key,
            &expect,
            None,
        );
    }
}

/// The conflict carries the key's current version as a strong ETag that a client can send
/// back in `If-Match`.
pub async fn conflict_carries_current_etag<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let c = Check("conflict_carries_current_etag");
    let key = format!("{prefix}k");
    let put = store.put(&key, V::from_counter(1), Expect::Absent).await;
    let v1 = c.ok(rules::PASSES, "create", put).version;
    let put = store.put(&key, V::from_counter(2), Expect::Any).await;
    let v2 = c.ok(rules::PASSES, "update", put).version;
    let refused = store
        .put(&key, V::from_counter(3), Expect::Version(v1))
        .await;
    let etag = match &refused {
        Err(StoreError::Conflict(conflict)) => conflict.current_etag(),
        other => c.fail(rules::REFUSED, format!("a stale put answered {other:?}")),
    };
    c.eq(
        rules::CONFLICT_CURRENT,
        "the conflict's ETag",
        etag.clone(),
        Some(v2.etag()),
    );
    let retried = etag.as_deref().and_then(crate::Version::from_etag);
    let retried = retried.unwrap_or_else(|| {
        c.fail(
            rules::CONFLICT_CURRENT,
            format!("ETag {etag:?} does not parse back"),
        )
    });
    let put = store
        .put(&key, V::from_counter(3), Expect::Version(retried))
        .await;
    let v3 = c
        .ok(rules::PASSES, "a retry with the current ETag", put)
        .version;
    assert_stored::<V, S>(
        c,
        rules::LATEST,
        "after the retry",
        store,
        &key,
        Some((3, v3)),
    )
    .await;
}

/// Delete and re-create: no version of the old incarnation matches the new one.
pub async fn no_aba<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let c = Check("no_aba");
    let key = format!("{prefix}k");
    let mut seen = Vec::new();
    for round in 0..5 {
        let put = store
            .put(&key, V::from_counter(round), Expect::Absent)
            .await;
        let created = c.ok(rules::PASSES, "create", put).version;
        let put = store
            .put(&key, V::from_counter(round), Expect::Version(created))
            .await;
        let updated = c.ok(rules::PASSES, "update", put).version;
        for &old in &seen {
            c.ensure(updated > old && created > old, rules::NO_REUSE, || {
                format!(
                    "incarnation {round} got versions {created} and {updated}, but an earlier \
                     incarnation had {old}"
                )
            });
            let stale = Expect::Version(old);
            assert_conflict(
                c,
                "an old incarnation's version",
                store.put(&key, V::from_counter(99), stale.clone()).await,
                ConflictKind::Stale,
                &key,
                &stale,
                Some(updated),
            );
            assert_conflict(
                c,
                "an old incarnation's version on delete",
                store.delete(&key, stale.clone()).await,
                ConflictKind::Stale,
                &key,
                &stale,
                Some(updated),
            );
        }
        seen.extend([created, updated]);
        let removed = store.delete(&key, Expect::Version(updated)).await;
        c.ok(rules::PASSES, "delete", removed);
    }
}
