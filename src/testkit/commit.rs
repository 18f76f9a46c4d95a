//! Multi-key commits, one at a time: every failed key reported with its current version,
//! nothing written on failure, each written key given a new version, malformed commits
//! refused before anything is written.

use super::KitValue;
use super::assertions::assert_stored;
use super::failure::Check;
use super::rules;
use crate::{Applied, Commit, ConflictKind, Expect, StoreError, Version, VersionedStore};

/// The fewest keys per commit [`commit_semantics`] needs.
pub(super) const KEYS_NEEDED: usize = 6;

/// Asserts that `result` is a [`StoreError::CommitConflict`] naming exactly `expected`
/// (key, kind, current version), in the commit's order.
#[track_caller]
fn assert_refused(
    c: Check,
    what: &str,
    result: Result<Vec<Applied>, StoreError>,
    expected: &[(&str, ConflictKind, &Expect, Option<Version>)],
) {
    let refusal = match result {
        Err(StoreError::CommitConflict(refusal)) => refusal,
        other => c.fail(
            rules::EVERY_CONFLICT,
            format!(
                "{what}: expected a CommitConflict naming {:?}, got {other:?}",
                expected.iter().map(|e| e.0).collect::<Vec<_>>()
            ),
        ),
    };
    let got: Vec<(&str, ConflictKind, &Expect, Option<Version>)> = refusal
        .conflicts()
        .iter()
        .map(|x| (x.key(), x.kind(), x.expected(), x.current()))
        .collect();
    if got.len() == expected.len() {
        for (g, e) in got.iter().zip(expected) {
            if g.0 == e.0 && g.2 == e.2 && g.3 != e.3 {
                c.fail(
                    rules::CONFLICT_CURRENT,
                    format!(
                        "{what}: the conflict on {:?} carries current version {:?}, the key is at \
                         {:?}",
                        e.0, g.3, e.3
                    ),
                );
            }
        }
    }
    c.eq(
        rules::EVERY_CONFLICT,
        &format!("{what}: (key, kind, expectation, current) of each conflict"),
        got,
        expected.to_vec(),
    );
}

/// The result of an applied commit, or a failure naming `rule`.
#[track_caller]
fn applied(
    c: Check,
    what: &str,
    result: Result<Vec<Applied>, StoreError>,
    ops: usize,
) -> Vec<Applied> {
    let applied = c.ok(rules::PASSES, what, result);
    c.eq(
        rules::COMMIT_RESULTS,
        &format!("{what}: the number of results"),
        applied.len(),
        ops,
    );
    applied
}

/// The version an applied put reports.
#[track_caller]
fn put_version(c: Check, what: &str, applied: Applied) -> Version {
    match applied {
        Applied::Put(meta) => meta.version,
        other => c.fail(
            rules::COMMIT_RESULTS,
            format!("{what}: expected Applied::Put, got {other:?}"),
        ),
    }
}

/// Multi-key commit semantics on one store, one commit at a time. Needs a store whose
/// [`capabilities`](VersionedStore::capabilities) support commits of at least 6 keys:
///
/// - malformed commits (no operation, a key named twice, more than `max_commit_keys` keys)
///   are [`StoreError::InvalidCommit`] and write nothing;
/// - a commit with several failing expectations (of every kind) among passing ones is a
///   [`StoreError::CommitConflict`] naming **every** failed key, in the commit's order, each
///   with its kind, expectation and current version, and no other key; nothing is written
///   (not the passing puts, not the delete);
/// - the same commit retried with the current versions applies: one [`Applied`] per
///   operation in order, each written key a new version above its earlier ones (the same
///   version for several keys is allowed: etcd gives one revision to a whole transaction),
///   the delete reporting the version it removed, checks the current versions, and reads
///   agreeing;
/// - pure checks write nothing; versions written by commits are never reused after delete
///   and re-create; `OneOf([])` never passes; unconditional puts and deletes apply.
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// optimist::testkit::commit_semantics::<u64, _>(&MemoryStore::new(), "commit/").await;
/// # });
/// ```
pub async fn commit_semantics<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let c = Check("commit_semantics");
    let max = store.capabilities().max_commit_keys;
    c.ensure(max >= KEYS_NEEDED, rules::UNSUPPORTED, || {
        format!("commit_semantics needs commits of {KEYS_NEEDED} keys; capabilities say {max}")
    });
    let k = |name: &str| format!("{prefix}{name}");
    let (a, b, cc, d, e, f) = (k("a"), k("b"), k("c"), k("d"), k("e"), k("f"));
    let mut created = Vec::new();
    for (key, n) in [(&a, 1), (&b, 2), (&cc, 3)] {
        let put = store.put(key, V::from_counter(n), Expect::Absent).await;
        created.push(c.ok(rules::PASSES, &format!("create {key:?}"), put).version);
    }
    let (va, vb, vc) = (created[0], created[1], created[2]);

    // Malformed commits.
    let invalid = |what: &str, result: Result<Vec<Applied>, StoreError>| match result {
        Err(StoreError::InvalidCommit { .. }) => {}
        other => c.fail(
            rules::INVALID_COMMIT,
            format!("{what}: expected InvalidCommit, got {other:?}"),
        ),
    };
    invalid("an empty commit", store.commit(Commit::new()).await);
    let twice = Commit::new()
        .put(d.clone(), V::from_counter(4), Expect::Absent)
        .check(d.clone(), Expect::Absent);
    invalid("a commit naming a key twice", store.commit(twice).await);
    assert_stored::<V, S>(
        c,
        rules::INVALID_COMMIT,
        "after a key named twice",
        store,
        &d,
        None,
    )
    .await;
    if max < 100_000 {
        let mut many = Commit::new();
        for i in 0..=max {
            many = many.put(
                k(&format!("many/{i}")),
                V::from_counter(i as u64),
                Expect::Any,
            );
        }
        invalid(
            &format!("a commit of {} keys (max_commit_keys {max})", max + 1),
            store.commit(many).await,
        );
        for i in [0, max] {
            let key = k(&format!("many/{i}"));
            assert_stored::<V, S>(
                c,
                rules::INVALID_COMMIT,
                "after too many keys",
                store,
                &key,
                None,
            )
            .await;
        }
    }

    // Several failing expectations among passing ones: every one named, nothing written.
    let (pinned_a, absent, stale_c, exists) = (
        Expect::Version(va),
        Expect::Absent,
        Expect::Version(va),
        Expect::Exists,
    );
    let refused = Commit::new()
        .put(a.clone(), V::from_counter(10), pinned_a.clone())
        .put(b.clone(), V::from_counter(20), absent.clone())
        .delete(cc.clone(), stale_c.clone())
        .check(d.clone(), exists.clone())
        .put(e.clone(), V::from_counter(50), Expect::Absent)
        .check(f.clone(), Expect::Absent);
    assert_refused(
        c,
        "a commit with three failing expectations",
        store.commit(refused).await,
        &[
            (&b, ConflictKind::AlreadyExists, &absent, Some(vb)),
            (&cc, ConflictKind::Stale, &stale_c, Some(vc)),
            (&d, ConflictKind::Missing, &exists, None),
        ],
    );
    let nothing = rules::ALL_OR_NOTHING;
    assert_stored::<V, S>(
        c,
        nothing,
        "a refused commit's passing put",
        store,
        &a,
        Some((1, va)),
    )
    .await;
    assert_stored::<V, S>(
        c,
        nothing,
        "a refused commit's failed put",
        store,
        &b,
        Some((2, vb)),
    )
    .await;
    assert_stored::<V, S>(
        c,
        nothing,
        "a refused commit's delete",
        store,
        &cc,
        Some((3, vc)),
    )
    .await;
    assert_stored::<V, S>(c, nothing, "a refused commit's create", store, &e, None).await;

    // One failure alone, at the end.
    let last_fails = Commit::new()
        .put(a.clone(), V::from_counter(10), pinned_a.clone())
        .put(e.clone(), V::from_counter(50), Expect::Absent)
        .put(f.clone(), V::from_counter(60), Expect::Exists);
    assert_refused(
        c,
        "a commit whose last expectation fails",
        store.commit(last_fails).await,
        &[(&f, ConflictKind::Missing, &exists, None)],
    );
    assert_stored::<V, S>(
        c,
        nothing,
        "a refused commit's first put",
        store,
        &a,
        Some((1, va)),
    )
    .await;
    assert_stored::<V, S>(c, nothing, "a refused commit's second put", store, &e, None).await;

    // Retried with the current versions: applied, in order.
    let retry = Commit::new()
        .put(a.clone(), V::from_counter(11), Expect::Version(va))
        .put(b.clone(), V::from_counter(21), Expect::Version(vb))
        .delete(cc.clone(), Expect::Version(vc))
        .check(d.clone(), Expect::Absent)
        .put(e.clone(), V::from_counter(51), Expect::Absent)
        .check(f.clone(), Expect::Absent);
    let done = applied(
        c,
        "the commit retried with current versions",
        store.commit(retry).await,
        6,
    );
    let na = put_version(c, "result 0 (put a)", done[0]);
    let nb = put_version(c, "result 1 (put b)", done[1]);
    c.eq(
        rules::DELETE_RETURNS,
        "result 2 (delete c)",
        done[2],
        Applied::Deleted(Some(vc)),
    );
    c.eq(
        rules::COMMIT_RESULTS,
        "result 3 (check d)",
        done[3],
        Applied::Checked(None),
    );
    let ne = put_version(c, "result 4 (put e)", done[4]);
    c.eq(
        rules::COMMIT_RESULTS,
        "result 5 (check f)",
        done[5],
        Applied::Checked(None),
    );
    c.ensure(na > va && nb > vb, rules::COMMIT_VERSIONS, || {
        format!("a: {va} -> {na}, b: {vb} -> {nb}: each written key needs a new, greater version")
    });
    let latest = rules::LATEST;
    assert_stored::<V, S>(c, latest, "a after the commit", store, &a, Some((11, na))).await;
    assert_stored::<V, S>(c, latest, "b after the commit", store, &b, Some((21, nb))).await;
    assert_stored::<V, S>(c, latest, "c after the commit", store, &cc, None).await;
    assert_stored::<V, S>(c, latest, "e after the commit", store, &e, Some((51, ne))).await;

    // Pure checks write nothing.
    let checks = Commit::new()
        .check(a.clone(), Expect::Version(na))
        .check(b.clone(), Expect::OneOf(vec![vb, nb]))
        .check(e.clone(), Expect::Exists);
    let done = applied(c, "a commit of checks", store.commit(checks).await, 3);
    c.eq(
        rules::COMMIT_RESULTS,
        "a commit of checks",
        done,
        vec![
            Applied::Checked(Some(na)),
            Applied::Checked(Some(nb)),
            Applied::Checked(Some(ne)),
        ],
    );
    let quiet = rules::CHECKS_WRITE_NOTHING;
    assert_stored::<V, S>(c, quiet, "a after a check", store, &a, Some((11, na))).await;
    assert_stored::<V, S>(c, quiet, "b after a check", store, &b, Some((21, nb))).await;
    let never = Expect::OneOf(Vec::new());
    assert_refused(
        c,
        "a check of OneOf([])",
        store
            .commit(Commit::new().check(a.clone(), never.clone()))
            .await,
        &[(&a, ConflictKind::Stale, &never, Some(na))],
    );

    // Delete and re-create through commits: no version reused.
    let gone = Commit::new()
        .delete(a.clone(), Expect::Version(na))
        .delete(d.clone(), Expect::Any);
    let done = applied(c, "deletes", store.commit(gone).await, 2);
    c.eq(
        rules::DELETE_RETURNS,
        "deletes",
        done,
        vec![Applied::Deleted(Some(na)), Applied::Deleted(None)],
    );
    let again = Commit::new()
        .put(a.clone(), V::from_counter(12), Expect::Absent)
        .put(b.clone(), V::from_counter(22), Expect::Any);
    let done = applied(
        c,
        "re-create and unconditional put",
        store.commit(again).await,
        2,
    );
    let ra = put_version(c, "re-created a", done[0]);
    let rb = put_version(c, "unconditional put of b", done[1]);
    c.ensure(ra > na && rb > nb, rules::NO_REUSE, || {
        format!("a re-created as {ra} after {na}; b rewritten as {rb} after {nb}")
    });
    let old = Expect::Version(na);
    assert_refused(
        c,
        "a check of the deleted incarnation's version",
        store
            .commit(Commit::new().check(a.clone(), old.clone()))
            .await,
        &[(&a, ConflictKind::Stale, &old, Some(ra))],
    );
    assert_stored::<V, S>(
        c,
        latest,
        "a re-created by a commit",
        store,
        &a,
        Some((12, ra)),
    )
    .await;
}
