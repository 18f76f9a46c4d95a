//! Assertions the checks share: a refusal is the right conflict, a key holds what was
//! written.

use super::KitValue;
use super::failure::Check;
use super::rules;
use crate::{ConflictKind, Expect, StoreError, Version, VersionedStore};

/// Asserts that `result` is a conflict of `kind` on `key`, expecting `expected`, with
/// current version `current`.
#[track_caller]
pub(super) fn assert_conflict<T: std::fmt::Debug>(
    check: Check,
    what: &str,
    result: Result<T, StoreError>,
    kind: ConflictKind,
    key: &str,
    expected: &Expect,
    current: Option<Version>,
) {
    match result {
        Err(StoreError::Conflict(c)) => {
            check.eq(
                rules::CONFLICT_CURRENT,
                &format!("{what}: the conflict's current version ({c})"),
                c.current(),
                current,
            );
            check.eq(
                rules::CONFLICT_KIND,
                &format!("{what}: the conflict's kind ({c})"),
                c.kind(),
                kind,
            );
            check.eq(
                rules::CONFLICT_ECHO,
                &format!("{what}: the conflict's key"),
                c.key(),
                key,
            );
            check.eq(
                rules::CONFLICT_ECHO,
                &format!("{what}: the conflict's expectation"),
                c.expected(),
                expected,
            );
            check.eq(
                rules::CONFLICT_CURRENT,
                &format!("{what}: the conflict's current ETag"),
                c.current_etag(),
                current.map(Version::etag),
            );
        }
        other => check.fail(
            rules::REFUSED,
            format!(
                "{what}: expected a {kind:?} conflict on {key:?} (current version {current:?}), \
                 got {other:?}"
            ),
        ),
    }
}

/// Asserts the stored value and version of `key` (`None`: absent), through `get` and `head`.
pub(super) async fn assert_stored<V: KitValue, S: VersionedStore<V> + ?Sized>(
    check: Check,
    rule: &str,
    what: &str,
    store: &S,
    key: &str,
    expected: Option<(u64, Version)>,
) {
    let got = check.ok(
        rules::LATEST,
        &format!("{what}: get {key:?}"),
        store.get(key).await,
    );
    let got = got.map(|v| (v.value.counter(), v.version));
    check.eq(
        rule,
        &format!("{what}: (value, version) of {key:?}"),
        got,
        expected,
    );
    let head = check.ok(
        rules::HEAD,
        &format!("{what}: head {key:?}"),
        store.head(key).await,
    );
    check.eq(
        rules::HEAD,
        &format!("{what}: head's version of {key:?}"),
        head.map(|m| m.version),
        expected.map(|e| e.1),
    );
}
