//! Listing, one walk at a time: pages in ascending byte order, bounded by the prefix, the
//! cursor and the limit, with `next` as documented, covering every key exactly once.

use std::collections::BTreeMap;

use super::KitValue;
use super::failure::Check;
use super::rules;
use crate::{Expect, ListRequest, Listed, Version, VersionedStore};

/// A broken listing rule: the rule and what was seen.
pub(super) type Broken = (&'static str, String);

/// Walks every page of `request` (with its limit), checking each page: at most `limit`
/// entries, keys strictly ascending by bytes across the whole walk, all under the prefix
/// and after the cursor, values present exactly when asked for, and `next` the last key of
/// the page (or `None`, ending the walk). Returns the entries of the whole walk.
pub(super) async fn walk<V: KitValue, S: VersionedStore<V> + ?Sized>(
    store: &S,
    request: ListRequest,
) -> Result<Vec<Listed<V>>, Broken> {
    let limit = request.limit_value();
    let prefix = request.prefix_str().to_owned();
    let values = request.wants_values();
    let mut entries: Vec<Listed<V>> = Vec::new();
    let mut next_request = request;
    for page_number in 0.. {
        if page_number > 100_000 {
            return Err((
                rules::LIST_NEXT,
                "the walk did not end after 100000 pages".into(),
            ));
        }
        let after = next_request.after_key().map(str::to_owned);
        let page = store.list(next_request.clone()).await.map_err(|e| {
            (
                rules::LIST_COMPLETE,
                format!("page {page_number} failed: {e}"),
            )
        })?;
        let at =
            |what: String| format!("page {page_number} (after {after:?}, limit {limit}): {what}");
        if page.entries.len() > limit {
            let n = page.entries.len();
            return Err((rules::LIST_LIMIT, at(format!("{n} entries"))));
        }
        for (i, entry) in page.entries.iter().enumerate() {
            if !entry.key.starts_with(&prefix)
                || after
                    .as_deref()
                    .is_some_and(|a| entry.key.as_bytes() <= a.as_bytes())
            {
                return Err((rules::LIST_RANGE, at(format!("listed {:?}", entry.key))));
            }
            let previous = match i {
                0 => entries.last(),
                _ => page.entries.get(i - 1),
            };
            if let Some(previous) = previous {
                if entry.key.as_bytes() <= previous.key.as_bytes() {
                    return Err((
                        rules::LIST_ORDER,
                        at(format!("{:?} came after {:?}", entry.key, previous.key)),
                    ));
                }
            }
            if entry.value.is_some() != values {
                let asked = if values { "asked for" } else { "not asked for" };
                return Err((
                    rules::LIST_ENTRY,
                    at(format!(
                        "values {asked}, but {:?} has {:?}",
                        entry.key, entry.value
                    )),
                ));
            }
        }
        let last = page.entries.last().map(|e| e.key.clone());
        entries.extend(page.entries);
        match page.next {
            None => return Ok(entries),
            Some(next) if Some(&next) == last.as_ref() => next_request = next_request.after(next),
            Some(next) => {
                return Err((
                    rules::LIST_NEXT,
                    at(format!("next is {next:?}, the page's last key is {last:?}")),
                ));
            }
        }
    }
    unreachable!("the loop returns")
}

/// The keys [`list_pages`] writes under its prefix, chosen so that byte order differs from
/// case-insensitive order, from UTF-16 order and from length order.
const LISTED: &[&str] = &[
    "0",
    "9",
    "A",
    "B",
    "Z",
    "_",
    "a",
    "a b",
    "a-",
    "a/",
    "a/b",
    "aa",
    "ab",
    "b",
    "z",
    "~",
    "\u{7f}",
    "é",
    "\u{ff61}",
    "\u{fffd}",
    "\u{10000}",
    "🦀",
];

/// Listing semantics on one store, one walk at a time. Needs a store whose
/// [`capabilities`](VersionedStore::capabilities) support listing.
///
/// Writes keys whose byte order differs from case-insensitive, UTF-16 and length order,
/// 40 numbered keys, neighbours just outside the prefix, and keys that match the prefix as
/// a SQL `LIKE` or glob pattern but not literally; then walks them with limits 1, 3, 7 and
/// the maximum, with and without values, after cursors that are and are not keys, and after
/// changes. Every walk must return exactly the keys under the prefix after the cursor,
/// ascending by bytes, each once, with the version (and value) it holds; every page at most
/// `limit` keys; `next` the page's last key, and `None` only at the end.
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// optimist::testkit::list_pages::<u64, _>(&MemoryStore::new(), "list/").await;
/// # });
/// ```
pub async fn list_pages<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let c = Check("list_pages");
    let under = format!("{prefix}l/");
    let mut expected: BTreeMap<String, (Version, u64)> = BTreeMap::new();
    let names: Vec<String> = LISTED
        .iter()
        .map(|s| (*s).to_owned())
        .chain((0..40).map(|i| format!("n{i:02}")))
        .collect();
    for (i, name) in names.iter().enumerate() {
        let key = format!("{under}{name}");
        let put = store
            .put(&key, V::from_counter(i as u64), Expect::Absent)
            .await;
        let v = c.ok(rules::PASSES, &format!("create {key:?}"), put).version;
        expected.insert(key, (v, i as u64));
    }
    // Neighbours outside the prefix: the prefix without its slash, the next byte, before.
    for outside in [
        format!("{prefix}l"),
        format!("{prefix}l0"),
        format!("{prefix}k~"),
    ] {
        let put = store
            .put(&outside, V::from_counter(0), Expect::Absent)
            .await;
        c.ok(rules::PASSES, &format!("create {outside:?}"), put);
    }
    // A prefix full of pattern characters, and keys that match it only as a pattern.
    let pattern = format!("{prefix}p%_*?[/");
    let literal = format!("{pattern}x");
    for key in [
        literal.clone(),
        format!("{prefix}pXY*?[/x"),
        format!("{prefix}p%_a?[/x"),
        format!("{prefix}p%_*?a/x"),
        format!("{prefix}p%_*?[0x"),
    ] {
        let put = store.put(&key, V::from_counter(7), Expect::Absent).await;
        c.ok(rules::PASSES, &format!("create {key:?}"), put);
    }

    let check_walk = |what: String,
                      got: Vec<Listed<V>>,
                      want: &BTreeMap<String, (Version, u64)>| {
        let got_keys: Vec<&str> = got.iter().map(|e| e.key.as_str()).collect();
        let want_keys: Vec<&str> = want.keys().map(String::as_str).collect();
        if got_keys != want_keys {
            let missing: Vec<&&str> = want_keys.iter().filter(|k| !got_keys.contains(k)).collect();
            let extra: Vec<&&str> = got_keys.iter().filter(|k| !want_keys.contains(k)).collect();
            c.fail(
                rules::LIST_COMPLETE,
                format!(
                    "{what}: {} keys listed, {} expected; missing {missing:?}, not expected \
                     {extra:?}",
                    got_keys.len(),
                    want_keys.len()
                ),
            );
        }
        for entry in &got {
            let (version, value) = want[&entry.key];
            c.eq(
                rules::LIST_ENTRY,
                &format!("{what}: the version listed for {:?}", entry.key),
                entry.meta.version,
                version,
            );
            if let Some(v) = &entry.value {
                c.eq(
                    rules::LIST_ENTRY,
                    &format!("{what}: the value listed for {:?}", entry.key),
                    v.counter(),
                    value,
                );
            }
        }
    };
    let listed = |request: ListRequest| async move {
        walk::<V, S>(store, request)
            .await
            .unwrap_or_else(|(rule, what)| c.fail(rule, what))
    };

    for limit in [1, 3, 7, ListRequest::MAX_LIMIT] {
        for values in [false, true] {
            let mut request = ListRequest::prefix(under.clone()).limit(limit);
            if values {
                request = request.with_values();
            }
            let what = format!("a walk with limit {limit}, values {values}");
            check_walk(what, listed(request).await, &expected);
        }
    }
    // Cursors that are not keys, and one past everything.
    for after in [
        format!("{under}a!"),
        format!("{under}n05"),
        format!("{under}\u{fe00}"),
    ] {
        let want: BTreeMap<_, _> = expected
            .iter()
            .filter(|(k, _)| k.as_bytes() > after.as_bytes())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let request = ListRequest::prefix(under.clone())
            .limit(4)
            .after(after.clone());
        check_walk(
            format!("a walk after {after:?}"),
            listed(request).await,
            &want,
        );
    }
    let past = ListRequest::prefix(under.clone()).after(format!("{under}\u{10ffff}"));
    check_walk(
        "a walk past the last key".into(),
        listed(past).await,
        &BTreeMap::new(),
    );
    let none = ListRequest::prefix(format!("{prefix}nothing/")).limit(2);
    check_walk(
        "a prefix with no key".into(),
        listed(none).await,
        &BTreeMap::new(),
    );
    let mut only = BTreeMap::new();
    let lit = store.get(&literal).await;
    let lit = c.ok(rules::LATEST, "get", lit).map(|l| l.version);
    let lit = lit.unwrap_or_else(|| c.fail(rules::LATEST, format!("{literal:?} reads absent")));
    only.insert(literal.clone(), (lit, 7));
    let request = ListRequest::prefix(pattern.clone()).limit(2);
    check_walk(
        format!("the pattern-like prefix {pattern:?}"),
        listed(request).await,
        &only,
    );

    // Changes show in the next walk.
    let changed = format!("{under}b");
    let (v, _) = expected[&changed];
    let put = store
        .put(&changed, V::from_counter(99), Expect::Version(v))
        .await;
    let nv = c.ok(rules::PASSES, "update", put).version;
    expected.insert(changed, (nv, 99));
    let gone = format!("{under}n10");
    let (v, _) = expected[&gone];
    c.ok(
        rules::PASSES,
        "delete",
        store.delete(&gone, Expect::Version(v)).await,
    );
    expected.remove(&gone);
    let request = ListRequest::prefix(under.clone()).limit(5).with_values();
    check_walk(
        "a walk after an update and a delete".into(),
        listed(request).await,
        &expected,
    );
}
