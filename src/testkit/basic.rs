//! Reads and writes under every expectation.

use super::KitValue;
use super::assertions::{assert_conflict, assert_stored};
use super::failure::Check;
use super::rules;
use crate::{ConflictKind, Expect, VersionedStore};

/// Get of a missing key, unconditional put, overwrite, get, delete, get again.
pub async fn get_put_delete<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let c = Check("get_put_delete");
    let key = format!("{prefix}k");
    assert_stored::<V, S>(c, rules::LATEST, "a missing key", store, &key, None).await;
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
    let put = store.put(&key, V::from_counter(1), Expect::Any).await;
    let v1 = c.ok(rules::PASSES, "unconditional create", put).version;
    let read = c.ok(rules::LATEST, "get", store.get(&key).await);
    let read = read.unwrap_or_else(|| c.fail(rules::LATEST, "a key just written reads absent"));
    c.eq(
        rules::LATEST,
        "(value, version) read after the create",
        (read.value.counter(), read.version),
        (1, v1),
    );
    c.ensure(read.last_modified >= before, rules::LAST_MODIFIED, || {
        format!("last_modified {:?} is before the write", read.last_modified)
    });
    let put = store.put(&key, V::from_counter(2), Expect::Any).await;
    let v2 = c.ok(rules::PASSES, "unconditional overwrite", put).version;
    c.ensure(v2 > v1, rules::VERSIONS_INCREASE, || {
        format!("the overwrite got version {v2}, the create {v1}")
    });
    assert_stored::<V, S>(
        c,
        rules::LATEST,
        "after the overwrite",
        store,
        &key,
        Some((2, v2)),
    )
    .await;
    let removed = c.ok(
        rules::PASSES,
        "delete",
        store.delete(&key, Expect::Any).await,
    );
    c.eq(rules::DELETE_RETURNS, "delete's result", removed, Some(v2));
    assert_stored::<V, S>(c, rules::LATEST, "after delete", store, &key, None).await;
    let removed = store.delete(&key, Expect::Any).await;
    let removed = c.ok(
        rules::PASSES,
        "unconditional delete of a missing key",
        removed,
    );
    c.eq(
        rules::DELETE_RETURNS,
        "unconditional delete of a missing key",
        removed,
        None,
    );
}

/// Put under `Absent`, `Exists`, `Version`, `OneOf` (including the empty list), passing and
/// failing.
pub async fn put_expectations<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let c = Check("put_expectations");
    let key = format!("{prefix}k");
    let exists = Expect::Exists;
    assert_conflict(
        c,
        "Exists on a missing key",
        store.put(&key, V::from_counter(0), exists.clone()).await,
        ConflictKind::Missing,
        &key,
        &exists,
        None,
    );
    let put = store.put(&key, V::from_counter(1), Expect::Absent).await;
    let v1 = c.ok(rules::PASSES, "Absent on a missing key", put).version;
    let put = store.put(&key, V::from_counter(2), Expect::Exists).await;
    let v2 = c
        .ok(rules::PASSES, "Exists on an existing key", put)
        .version;
    let put = store
        .put(&key, V::from_counter(3), Expect::Version(v2))
        .await;
    let v3 = c.ok(rules::PASSES, "Version(current)", put).version;
    let put = store
        .put(&key, V::from_counter(4), Expect::OneOf(vec![v1, v3]))
        .await;
    let v4 = c
        .ok(rules::PASSES, "OneOf containing the current version", put)
        .version;
    c.ensure(
        v1 < v2 && v2 < v3 && v3 < v4,
        rules::VERSIONS_INCREASE,
        || format!("four writes got versions {v1} {v2} {v3} {v4}"),
    );
    let stale_list = Expect::OneOf(vec![v1, v2, v3]);
    assert_conflict(
        c,
        "OneOf without the current version",
        store
            .put(&key, V::from_counter(9), stale_list.clone())
            .await,
        ConflictKind::Stale,
        &key,
        &stale_list,
        Some(v4),
    );
    let empty = Expect::OneOf(Vec::new());
    assert_conflict(
        c,
        "OneOf([]) never passes",
        store.put(&key, V::from_counter(9), empty.clone()).await,
        ConflictKind::Stale,
        &key,
        &empty,
        Some(v4),
    );
    assert_stored::<V, S>(
        c,
        rules::REFUSED_NOTHING,
        "after refused puts",
        store,
        &key,
        Some((4, v4)),
    )
    .await;
    let missing = format!("{prefix}missing");
    let pinned = Expect::Version(v4);
    assert_conflict(
        c,
        "Version on a missing key",
        store
            .put(&missing, V::from_counter(1), pinned.clone())
            .await,
        ConflictKind::Missing,
        &missing,
        &pinned,
        None,
    );
    assert_conflict(
        c,
        "OneOf([]) on a missing key",
        store.put(&missing, V::from_counter(1), empty.clone()).await,
        ConflictKind::Missing,
        &missing,
        &empty,
        None,
    );
    assert_stored::<V, S>(
        c,
        rules::REFUSED_NOTHING,
        "refused creates",
        store,
        &missing,
        None,
    )
    .await;
}

/// Delete under every expectation, passing and failing.
pub async fn delete_expectations<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let c = Check("delete_expectations");
    let key = format!("{prefix}k");
    let exists = Expect::Exists;
    assert_conflict(
        c,
        "delete Exists of a missing key",
        store.delete(&key, exists.clone()).await,
        ConflictKind::Missing,
        &key,
        &exists,
        None,
    );
    let removed = store.delete(&key, Expect::Absent).await;
    let removed = c.ok(rules::PASSES, "delete Absent of a missing key", removed);
    c.eq(
        rules::DELETE_RETURNS,
        "delete Absent of a missing key",
        removed,
        None,
    );
    let put = store.put(&key, V::from_counter(1), Expect::Absent).await;
    let v1 = c.ok(rules::PASSES, "create", put).version;
    let absent = Expect::Absent;
    assert_conflict(
        c,
        "delete Absent of an existing key",
        store.delete(&key, absent.clone()).await,
        ConflictKind::AlreadyExists,
        &key,
        &absent,
        Some(v1),
    );
    let put = store
        .put(&key, V::from_counter(2), Expect::Version(v1))
        .await;
    let v2 = c.ok(rules::PASSES, "update", put).version;
    let stale = Expect::Version(v1);
    assert_conflict(
        c,
        "delete with a stale version",
        store.delete(&key, stale.clone()).await,
        ConflictKind::Stale,
        &key,
        &stale,
        Some(v2),
    );
    assert_stored::<V, S>(
        c,
        rules::REFUSED_NOTHING,
        "after a refused delete",
        store,
        &key,
        Some((2, v2)),
    )
    .await;
    let removed = store.delete(&key, Expect::Version(v2)).await;
    let removed = c.ok(rules::PASSES, "delete with the current version", removed);
    c.eq(
        rules::DELETE_RETURNS,
        "delete with the current version",
        removed,
        Some(v2),
    );
    assert_stored::<V, S>(c, rules::LATEST, "after delete", store, &key, None).await;
    let put = store.put(&key, V::from_counter(3), Expect::Absent).await;
    let v3 = c.ok(rules::PASSES, "re-create", put).version;
    c.ensure(v3 > v2, rules::NO_REUSE, || {
        format!("the key was re-created as version {v3} after it had {v1} and {v2}")
    });
    let removed = store.delete(&key, Expect::OneOf(vec![v1, v3])).await;
    let removed = c.ok(rules::PASSES, "delete OneOf", removed);
    c.eq(rules::DELETE_RETURNS, "delete OneOf", removed, Some(v3));
    let put = store.put(&key, V::from_counter(4), Expect::Absent).await;
    let v4 = c.ok(rules::PASSES, "re-create", put).version;
    let removed = c.ok(
        rules::PASSES,
        "delete Exists",
        store.delete(&key, Expect::Exists).await,
    );
    c.eq(rules::DELETE_RETURNS, "delete Exists", removed, Some(v4));
}

/// Create-only twice: the second is `AlreadyExists` with the first's version, and changes
/// nothing.
pub async fn create_only_twice<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let c = Check("create_only_twice");
    let key = format!("{prefix}k");
    let put = store.put(&key, V::from_counter(1), Expect::Absent).await;
    let v1 = c.ok(rules::PASSES, "first create", put).version;
    let absent = Expect::Absent;
    assert_conflict(
        c,
        "second create",
        store.put(&key, V::from_counter(2), absent.clone()).await,
        ConflictKind::AlreadyExists,
        &key,
        &absent,
        Some(v1),
    );
    assert_stored::<V, S>(
        c,
        rules::REFUSED_NOTHING,
        "after the refused create",
        store,
        &key,
        Some((1, v1)),
    )
    .await;
}
