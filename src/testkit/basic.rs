//! Reads and writes under every expectation.

use super::KitValue;
use crate::{ConflictKind, Expect, StoreError, Version, VersionedStore};

/// Asserts that `result` is a conflict of `kind` on `key`, expecting `expected`, with
/// current version `current`.
#[track_caller]
pub(super) fn assert_conflict<T: std::fmt::Debug>(
    what: &str,
    result: Result<T, StoreError>,
    kind: ConflictKind,
    key: &str,
    expected: &Expect,
    current: Option<Version>,
) {
    match result {
        Err(StoreError::Conflict(c)) => {
            assert_eq!(c.kind(), kind, "{what}: conflict kind ({c})");
            assert_eq!(c.key(), key, "{what}: conflict key");
            assert_eq!(c.expected(), expected, "{what}: conflict expectation");
            assert_eq!(c.current(), current, "{what}: conflict's current version");
            assert_eq!(
                c.current_etag(),
                current.map(Version::etag),
                "{what}: conflict's current ETag"
            );
        }
        other => panic!("{what}: expected a {kind:?} conflict, got {other:?}"),
    }
}

/// Asserts the stored value and version of `key`.
pub(super) async fn assert_stored<V: KitValue, S: VersionedStore<V> + ?Sized>(
    what: &str,
    store: &S,
    key: &str,
    expected: Option<(u64, Version)>,
) {
    let got = store
        .get(key)
        .await
        .unwrap_or_else(|e| panic!("{what}: get failed: {e}"));
    let got = got.map(|v| (v.value.counter(), v.version));
    assert_eq!(got, expected, "{what}: stored (value, version) of {key:?}");
    let head = store
        .head(key)
        .await
        .unwrap_or_else(|e| panic!("{what}: head failed: {e}"));
    assert_eq!(
        head.map(|m| m.version),
        expected.map(|e| e.1),
        "{what}: head agrees with get"
    );
}

/// Get of a missing key, unconditional put, overwrite, get, delete, get again.
pub async fn get_put_delete<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let key = format!("{prefix}k");
    assert_stored::<V, S>("missing key", store, &key, None).await;
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
    let v1 = store
        .put(&key, V::from_counter(1), Expect::Any)
        .await
        .expect("unconditional create")
        .version;
    let read = store.get(&key).await.expect("get").expect("just written");
    assert_eq!((read.value.counter(), read.version), (1, v1));
    assert!(
        read.last_modified >= before,
        "last_modified is the write's time"
    );
    let v2 = store
        .put(&key, V::from_counter(2), Expect::Any)
        .await
        .expect("unconditional overwrite")
        .version;
    assert!(v2 > v1, "a new write's version is greater ({v2} > {v1})");
    assert_stored::<V, S>("after overwrite", store, &key, Some((2, v2))).await;
    assert_eq!(
        store.delete(&key, Expect::Any).await.expect("delete"),
        Some(v2)
    );
    assert_stored::<V, S>("after delete", store, &key, None).await;
    assert_eq!(
        store
            .delete(&key, Expect::Any)
            .await
            .expect("unconditional delete of a missing key"),
        None
    );
}

/// Put under `Absent`, `Exists`, `Version`, `OneOf` (including the empty list), passing and failing.
pub async fn put_expectations<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let key = format!("{prefix}k");
    let exists = Expect::Exists;
    assert_conflict(
        "Exists on a missing key",
        store.put(&key, V::from_counter(0), exists.clone()).await,
        ConflictKind::Missing,
        &key,
        &exists,
        None,
    );
    let v1 = store
        .put(&key, V::from_counter(1), Expect::Absent)
        .await
        .expect("Absent on a missing key")
        .version;
    let v2 = store
        .put(&key, V::from_counter(2), Expect::Exists)
        .await
        .expect("Exists on an existing key")
        .version;
    let v3 = store
        .put(&key, V::from_counter(3), Expect::Version(v2))
        .await
        .expect("Version(current)")
        .version;
    let list = Expect::OneOf(vec![v1, v3]);
    let v4 = store
        .put(&key, V::from_counter(4), list)
        .await
        .expect("OneOf containing the current version")
        .version;
    assert!(
        v1 < v2 && v2 < v3 && v3 < v4,
        "versions increase: {v1} {v2} {v3} {v4}"
    );
    let stale_list = Expect::OneOf(vec![v1, v2, v3]);
    assert_conflict(
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
        "OneOf([]) never passes",
        store.put(&key, V::from_counter(9), empty.clone()).await,
        ConflictKind::Stale,
        &key,
        &empty,
        Some(v4),
    );
    assert_stored::<V, S>("after refused puts", store, &key, Some((4, v4))).await;
    let missing = format!("{prefix}missing");
    let pinned = Expect::Version(v4);
    assert_conflict(
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
        "OneOf([]) on a missing key",
        store.put(&missing, V::from_counter(1), empty.clone()).await,
        ConflictKind::Missing,
        &missing,
        &empty,
        None,
    );
    assert_stored::<V, S>("refused creates", store, &missing, None).await;
}

/// Delete under every expectation, passing and failing.
pub async fn delete_expectations<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let key = format!("{prefix}k");
    let exists = Expect::Exists;
    assert_conflict(
        "delete Exists of a missing key",
        store.delete(&key, exists.clone()).await,
        ConflictKind::Missing,
        &key,
        &exists,
        None,
    );
    assert_eq!(
        store
            .delete(&key, Expect::Absent)
            .await
            .expect("delete Absent of a missing key"),
        None
    );
    let v1 = store
        .put(&key, V::from_counter(1), Expect::Absent)
        .await
        .expect("create")
        .version;
    let absent = Expect::Absent;
    assert_conflict(
        "delete Absent of an existing key",
        store.delete(&key, absent.clone()).await,
        ConflictKind::AlreadyExists,
        &key,
        &absent,
        Some(v1),
    );
    let v2 = store
        .put(&key, V::from_counter(2), Expect::Version(v1))
        .await
        .expect("update")
        .version;
    let stale = Expect::Version(v1);
    assert_conflict(
        "delete with a stale version",
        store.delete(&key, stale.clone()).await,
        ConflictKind::Stale,
        &key,
        &stale,
        Some(v2),
    );
    assert_stored::<V, S>("after a refused delete", store, &key, Some((2, v2))).await;
    assert_eq!(
        store
            .delete(&key, Expect::Version(v2))
            .await
            .expect("delete with the current version"),
        Some(v2)
    );
    assert_stored::<V, S>("after delete", store, &key, None).await;
    let v3 = store
        .put(&key, V::from_counter(3), Expect::Absent)
        .await
        .expect("re-create")
        .version;
    assert_eq!(
        store
            .delete(&key, Expect::OneOf(vec![v1, v3]))
            .await
            .expect("delete OneOf"),
        Some(v3)
    );
    let v4 = store
        .put(&key, V::from_counter(4), Expect::Absent)
        .await
        .expect("re-create")
        .version;
    assert_eq!(
        store
            .delete(&key, Expect::Exists)
            .await
            .expect("delete Exists"),
        Some(v4)
    );
}

/// Create-only twice: the second is `AlreadyExists` with the first's version, and changes nothing.
pub async fn create_only_twice<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    prefix: &str,
) {
    let key = format!("{prefix}k");
    let v1 = store
        .put(&key, V::from_counter(1), Expect::Absent)
        .await
        .expect("first create")
        .version;
    let absent = Expect::Absent;
    assert_conflict(
        "second create",
        store.put(&key, V::from_counter(2), absent.clone()).await,
        ConflictKind::AlreadyExists,
        &key,
        &absent,
        Some(v1),
    );
    assert_stored::<V, S>("after the refused create", store, &key, Some((1, v1))).await;
}
