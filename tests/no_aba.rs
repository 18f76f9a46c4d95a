//! No ABA: a version (and its ETag) from a deleted incarnation of a key never matches a
//! later incarnation, neither in the store API nor through HTTP preconditions.

use std::collections::HashSet;

use http::{HeaderMap, HeaderValue, Method};
use optimist::http::{
    Expected, Origin, Preconditions, Problem, Rejection, WriteCondition, conflict_from_response,
};
use optimist::{ConflictKind, Expect, MemoryStore, StoreError, Version};

/// The conflict in `err`, or a panic naming what came instead.
fn conflict(err: StoreError) -> optimist::Conflict {
    match err {
        StoreError::Conflict(c) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[test]
fn old_version_does_not_match_a_recreated_key() {
    let store = MemoryStore::<String>::new();
    let v1 = store
        .put_sync("doc", "first".into(), Expect::Absent)
        .unwrap()
        .version;
    assert_eq!(
        store.delete_sync("doc", Expect::Version(v1)).unwrap(),
        Some(v1)
    );

    // While absent: the old version is refused as Missing.
    let c = conflict(
        store
            .put_sync("doc", "x".into(), Expect::Version(v1))
            .unwrap_err(),
    );
    assert_eq!(
        (c.kind(), c.current(), c.expected()),
        (ConflictKind::Missing, None, &Expect::Version(v1))
    );

    let v2 = store
        .put_sync("doc", "second".into(), Expect::Absent)
        .unwrap()
        .version;
    assert!(v2 > v1, "re-created version {v2} is not after {v1}");

    // A write or delete holding the old version must fail, carrying the new current one.
    for expect in [Expect::Version(v1), Expect::OneOf(vec![v1])] {
        let c = conflict(
            store
                .put_sync("doc", "lost update".into(), expect.clone())
                .unwrap_err(),
        );
        assert_eq!(c.kind(), ConflictKind::Stale);
        assert_eq!(c.key(), "doc");
        assert_eq!(c.expected(), &expect);
        assert_eq!(c.current(), Some(v2));
        assert_eq!(c.current_etag(), Some(v2.etag()));

        let c = conflict(store.delete_sync("doc", expect.clone()).unwrap_err());
        assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v2)));
    }
    let read = store.get_sync("doc").unwrap();
    assert_eq!((read.version, read.value.as_str()), (v2, "second"));

    // The current version works, and the old one still does not afterwards.
    let v3 = store
        .put_sync("doc", "third".into(), Expect::OneOf(vec![v1, v2]))
        .unwrap()
        .version;
    assert!(v3 > v2);
    assert!(
        store
            .put_sync("doc", "x".into(), Expect::Version(v2))
            .is_err()
    );
    assert!(
        store
            .put_sync("doc", "x".into(), Expect::Version(v1))
            .is_err()
    );
}

#[test]
fn a_version_of_one_key_never_matches_another() {
    // Versions are unique store-wide, so an ETag of resource A can't be replayed on B.
    for shards in [1, 2, 16, 256] {
        let store = MemoryStore::<u32>::with_shards(shards);
        let mut versions = Vec::new();
        for i in 0..64 {
            versions.push(
                store
                    .put_sync(&format!("k{i}"), i, Expect::Absent)
                    .unwrap()
                    .version,
            );
        }
        let distinct: HashSet<_> = versions.iter().collect();
        assert_eq!(distinct.len(), versions.len(), "{shards} shards");
        for (i, v) in versions.iter().enumerate() {
            let other = format!("k{}", (i + 1) % versions.len());
            let c = conflict(store.put_sync(&other, 0, Expect::Version(*v)).unwrap_err());
            assert_eq!(c.kind(), ConflictKind::Stale, "{shards} shards");
        }
    }
}

fn if_match(value: &str) -> Preconditions {
    let mut headers = HeaderMap::new();
    headers.insert("if-match", HeaderValue::from_str(value).unwrap());
    Preconditions::from_headers(&headers).unwrap()
}

/// Puts `value` conditioned by `pre`, the way a handler does when the headers alone say
/// what to check.
fn conditional_put(
    store: &MemoryStore<String>,
    key: &str,
    value: &str,
    pre: &Preconditions,
) -> Result<Version, StoreError> {
    let WriteCondition::Enforce(expect) = pre.write_condition() else {
        panic!("If-Match alone is enforced by the store: {pre:?}");
    };
    store.put_sync(key, value.into(), expect).map(|m| m.version)
}

#[test]
fn if_match_with_an_etag_of_a_deleted_incarnation_is_412() {
    let store = MemoryStore::<String>::new();
    let v1 = store
        .put_sync("doc", "first".into(), Expect::Absent)
        .unwrap()
        .version;
    let old_etag = v1.etag();
    store.delete_sync("doc", Expect::Any).unwrap();
    let v2 = store
        .put_sync("doc", "second".into(), Expect::Absent)
        .unwrap()
        .version;

    let pre = if_match(&old_etag);
    assert_eq!(
        pre.write_condition(),
        WriteCondition::Enforce(Expect::Version(v1))
    );
    let err = conditional_put(&store, "doc", "lost update", &pre).unwrap_err();
    let rejection = Rejection::from_store_error(err, &Method::PUT, Origin::Header);
    assert_eq!(rejection.status(), 412);
    assert_eq!(rejection.current_version(), Some(v2));

    let response = rejection.into_http_response();
    assert_eq!(response.status(), 412);
    assert_eq!(response.headers()["etag"], v2.etag().as_str());
    let problem = Problem::from_response(&response).unwrap();
    assert_eq!(problem.status, 412);
    assert_eq!(problem.key.as_deref(), Some("doc"));
    assert_eq!(problem.conflict, Some(ConflictKind::Stale));
    assert_eq!(problem.expected, Some(Expected::from(Expect::Version(v1))));
    assert_eq!(problem.current_etag, Some(v2.etag()));
    // A client can turn the response back into the conflict and retry with the new ETag.
    let back = conflict_from_response(&response).unwrap();
    assert_eq!(back.current_version(), Some(v2));

    // Nothing was written.
    let read = store.get_sync("doc").unwrap();
    assert_eq!((read.version, read.value.as_str()), (v2, "second"));

    // The old tag next to tags that are not ours still fails; a weak tag of the current
    // version never matches If-Match (strong comparison).
    for value in [
        format!("{old_etag}, \"not-ours\""),
        format!("W/{}", v2.etag()),
        format!("W/{}, {old_etag}", v2.etag()),
    ] {
        let err = conditional_put(&store, "doc", "x", &if_match(&value)).unwrap_err();
        let rejection = Rejection::from_store_error(err, &Method::PUT, Origin::Header);
        assert_eq!(rejection.status(), 412, "If-Match: {value}");
        assert_eq!(rejection.current_version(), Some(v2), "If-Match: {value}");
    }

    // DELETE with the old ETag: 412 while the new incarnation exists ...
    let expect = match if_match(&old_etag).write_condition() {
        WriteCondition::Enforce(e) => e,
        other => panic!("{other:?}"),
    };
    let err = store.delete_sync("doc", expect.clone()).unwrap_err();
    assert_eq!(
        Rejection::from_store_error(err, &Method::DELETE, Origin::Header).status(),
        412
    );
    // ... and the current ETag works (positive control).
    let v3 = conditional_put(&store, "doc", "third", &if_match(&v2.etag())).unwrap();
    assert!(v3 > v2);
    assert_eq!(
        store.delete_sync("doc", Expect::Version(v3)).unwrap(),
        Some(v3)
    );
    // Once it is gone again, DELETE with the old ETag is 404, PUT is 412 without an ETag.
    let err = store.delete_sync("doc", expect.clone()).unwrap_err();
    assert_eq!(
        Rejection::from_store_error(err, &Method::DELETE, Origin::Header).status(),
        404
    );
    let err = conditional_put(&store, "doc", "x", &if_match(&old_etag)).unwrap_err();
    let response =
        Rejection::from_store_error(err, &Method::PUT, Origin::Header).into_http_response();
    assert_eq!(response.status(), 412);
    assert!(!response.headers().contains_key("etag"));
    assert!(store.get_sync("doc").is_none());
}

#[test]
fn a_thousand_delete_recreate_cycles_never_reuse_a_version() {
    for shards in [1, 16] {
        let store = MemoryStore::<u32>::with_shards(shards);
        let mut all: Vec<Version> = Vec::new();
        let mut previous_incarnation: Option<Version> = None;
        for cycle in 0..1_000u32 {
            let created = store
                .put_sync("cycled", cycle, Expect::Absent)
                .unwrap()
                .version;
            // The last version of the previous incarnation is refused by this one.
            if let Some(old) = previous_incarnation {
                let c = conflict(
                    store
                        .put_sync("cycled", 0, Expect::Version(old))
                        .unwrap_err(),
                );
                assert_eq!(
                    (c.kind(), c.current()),
                    (ConflictKind::Stale, Some(created))
                );
            }
            let updated = store
                .put_sync("cycled", cycle + 1, Expect::Version(created))
                .unwrap()
                .version;
            assert_eq!(
                store
                    .delete_sync("cycled", Expect::Version(updated))
                    .unwrap(),
                Some(updated)
            );
            assert!(store.get_sync("cycled").is_none());
            all.extend([created, updated]);
            previous_incarnation = Some(updated);
        }
        assert_eq!(all.len(), 2_000);
        assert!(
            all.windows(2).all(|w| w[0] < w[1]),
            "{shards} shards: versions do not strictly increase across cycles"
        );

        // No version of any earlier incarnation matches the next one.
        let last = store.put_sync("cycled", 0, Expect::Absent).unwrap().version;
        assert!(last > *all.last().unwrap());
        let c = conflict(
            store
                .put_sync("cycled", 1, Expect::OneOf(all.clone()))
                .unwrap_err(),
        );
        assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(last)));
        // No ETag of them either.
        let tags: Vec<String> = all.iter().map(|v| v.etag()).collect();
        let pre = if_match(&tags.join(", "));
        let err = match pre.write_condition() {
            WriteCondition::Enforce(e) => store.put_sync("cycled", 1, e).unwrap_err(),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            Rejection::from_store_error(err, &Method::PUT, Origin::Header).status(),
            412
        );
        assert_eq!(store.get_sync("cycled").unwrap().value, 0);
    }
}
