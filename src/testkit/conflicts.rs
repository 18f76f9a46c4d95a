//! Conflicts: stale writes, the three kinds, the current ETag, and no ABA.

use super::KitValue;
use super::basic::{assert_conflict, assert_stored};
use crate::{ConflictKind, Expect, VersionedStore};

/// A write that read an old version loses to the one that wrote in between.
pub async fn stale_put<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let key = format!("{prefix}k");
    let v1 = store
        .put(&key, V::from_counter(1), Expect::Absent)
        .await
        .expect("create")
        .version;
    // Two clients read v1; the first writes, the second is stale.
    let v2 = store
        .put(&key, V::from_counter(2), Expect::Version(v1))
        .await
        .expect("first writer")
        .version;
    let stale = Expect::Version(v1);
    assert_conflict(
        "second writer",
        store.put(&key, V::from_counter(3), stale.clone()).await,
        ConflictKind::Stale,
        &key,
        &stale,
        Some(v2),
    );
    assert_stored::<V, S>("the first writer's value stays", store, &key, Some((2, v2))).await;
}

/// Missing, stale and already-exists are told apart on the same key.
pub async fn conflict_kinds_told_apart<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let key = format!("{prefix}k");
    let v1 = store
        .put(&key, V::from_counter(1), Expect::Absent)
        .await
        .expect("create")
        .version;
    let v2 = store
        .put(&key, V::from_counter(2), Expect::Version(v1))
        .await
        .expect("update")
        .version;
    let kinds = [
        (Expect::Absent, ConflictKind::AlreadyExists),
        (Expect::Version(v1), ConflictKind::Stale),
    ];
    for (expect, kind) in kinds {
        assert_conflict(
            "on an existing key",
            store.put(&key, V::from_counter(0), expect.clone()).await,
            kind,
            &key,
            &expect,
            Some(v2),
        );
    }
    store
        .delete(&key, Expect::Version(v2))
        .await
        .expect("delete");
    for expect in [
        Expect::Version(v2),
        Expect::Exists,
        Expect::OneOf(vec![v1, v2]),
    ] {
        assert_conflict(
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
    let key = format!("{prefix}k");
    let v1 = store
        .put(&key, V::from_counter(1), Expect::Absent)
        .await
        .expect("create")
        .version;
    let v2 = store
        .put(&key, V::from_counter(2), Expect::Any)
        .await
        .expect("update")
        .version;
    let err = store
        .put(&key, V::from_counter(3), Expect::Version(v1))
        .await
        .expect_err("stale");
    let conflict = err.as_conflict().expect("a conflict");
    let etag = conflict.current_etag().expect("the key exists");
    assert_eq!(etag, v2.etag());
    let retried = crate::Version::from_etag(&etag).expect("the ETag parses back");
    let v3 = store
        .put(&key, V::from_counter(3), Expect::Version(retried))
        .await
        .expect("a retry with the current ETag succeeds")
        .version;
    assert_stored::<V, S>("after the retry", store, &key, Some((3, v3))).await;
}

/// Delete and re-create: no version of the old incarnation matches the new one.
pub async fn no_aba<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let key = format!("{prefix}k");
    let mut seen = Vec::new();
    for round in 0..5 {
        let created = store
            .put(&key, V::from_counter(round), Expect::Absent)
            .await
            .expect("create")
            .version;
        let updated = store
            .put(&key, V::from_counter(round), Expect::Version(created))
            .await
            .expect("update")
            .version;
        for &old in &seen {
            assert!(
                updated > old && created > old,
                "a re-created key's versions exceed all of its earlier ones"
            );
            let stale = Expect::Version(old);
            assert_conflict(
                "an old incarnation's version",
                store.put(&key, V::from_counter(99), stale.clone()).await,
                ConflictKind::Stale,
                &key,
                &stale,
                Some(updated),
            );
            assert_conflict(
                "an old incarnation's version on delete",
                store.delete(&key, stale.clone()).await,
                ConflictKind::Stale,
                &key,
                &stale,
                Some(updated),
            );
        }
        seen.extend([created, updated]);
        store
            .delete(&key, Expect::Version(updated))
            .await
            .expect("delete");
    }
}
