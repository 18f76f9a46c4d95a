//! Multi-key commit and listing checks shared by the database backends' tests (SQLite,
//! PostgreSQL, MariaDB): all or nothing with every failed key named, overlapping commits in
//! opposite key orders, readers that must never see half a commit, and listings compared
//! with the memory store as the model. Each runs its concurrent parts as tokio tasks on a
//! multi-threaded runtime (real threads), and uses only keys under its `prefix`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use optimist::{
    Applied, Commit, Expect, ListRequest, MemoryStore, StoreError, Version, VersionedStore,
};

/// The version of `key`, or `None`.
async fn version_of<S: VersionedStore<u64>>(store: &S, key: &str) -> Option<Version> {
    store.head(key).await.expect("head").map(|m| m.version)
}

/// A refused commit writes nothing and names every failed key, in commit order, with its
/// exact current version; an accepted one applies every operation, each written key at a
/// new version of its own.
pub async fn commit_is_all_or_nothing<S: VersionedStore<u64>>(store: &S, prefix: &str) {
    let k = |name: &str| format!("{prefix}{name}");
    let a = store.put(&k("a"), 1, Expect::Absent).await.unwrap().version;
    let b = store.put(&k("b"), 2, Expect::Absent).await.unwrap().version;
    let c = store.put(&k("c"), 3, Expect::Absent).await.unwrap().version;

    // Five operations, three failing for different reasons.
    let refused = Commit::new()
        .put(k("a"), 10, Expect::Version(a)) // holds
        .put(k("b"), 20, Expect::Absent) // fails: exists
        .put(k("new"), 30, Expect::Absent) // holds
        .delete(k("gone"), Expect::Exists) // fails: missing
        .check(k("c"), Expect::Version(b)); // fails: stale
    let err = store
        .commit(refused)
        .await
        .expect_err("three expectations fail");
    let conflicts = err
        .as_commit_conflict()
        .unwrap_or_else(|| panic!("a refused commit is a CommitConflict, got {err:?}"))
        .conflicts();
    let named: Vec<(String, Option<Version>)> = conflicts
        .iter()
        .map(|c| (c.key().to_owned(), c.current()))
        .collect();
    assert_eq!(
        named,
        [(k("b"), Some(b)), (k("gone"), None), (k("c"), Some(c))],
        "every failed key, in commit order, with its current version"
    );
    assert_eq!(version_of(store, &k("a")).await, Some(a), "nothing written");
    assert_eq!(version_of(store, &k("new")).await, None, "nothing written");
    assert_eq!(store.get(&k("a")).await.unwrap().unwrap().value, 1);

    // The same commit with its expectations fixed applies entirely.
    let applied = store
        .commit(
            Commit::new()
                .put(k("a"), 10, Expect::Version(a))
                .put(k("b"), 20, Expect::Exists)
                .put(k("new"), 30, Expect::Absent)
                .delete(k("c"), Expect::OneOf(vec![b, c]))
                .delete(k("gone"), Expect::Any)
                .check(k("absent"), Expect::Absent),
        )
        .await
        .expect("every expectation holds");
    assert_eq!(applied.len(), 6);
    let mut versions = Vec::new();
    for (i, name) in ["a", "b", "new"].into_iter().enumerate() {
        let Applied::Put(meta) = applied[i] else {
            panic!("{name}: {:?}", applied[i])
        };
        assert_eq!(version_of(store, &k(name)).await, Some(meta.version));
        versions.push(meta.version);
    }
    assert!(
        versions[0] > a && versions[1] > b,
        "new versions are larger"
    );
    versions.sort();
    versions.dedup();
    assert_eq!(
        versions.len(),
        3,
        "each written key has a version of its own"
    );
    assert_eq!(applied[3], Applied::Deleted(Some(c)));
    assert_eq!(applied[4], Applied::Deleted(None));
    assert_eq!(applied[5], Applied::Checked(None));
    assert_eq!(version_of(store, &k("c")).await, None);
    assert_eq!(store.get(&k("new")).await.unwrap().unwrap().value, 30);

    // Malformed commits are refused before anything is sent.
    let twice = Commit::new()
        .put(k("x"), 1, Expect::Any)
        .check(k("x"), Expect::Any);
    assert!(matches!(
        store.commit(twice).await,
        Err(StoreError::InvalidCommit { .. })
    ));
    let max = store.capabilities().max_commit_keys;
    assert!(max >= 2, "commits are supported: {max}");
    let mut too_big = Commit::new();
    for i in 0..=max {
        too_big = too_big.put(k(&format!("big{i}")), 0, Expect::Absent);
    }
    assert!(matches!(
        store.commit(too_big).await,
        Err(StoreError::InvalidCommit { .. })
    ));
    assert_eq!(version_of(store, &k("big0")).await, None);
    let mut largest = Commit::new();
    for i in 0..max {
        largest = largest.put(k(&format!("big{i}")), i as u64, Expect::Absent);
    }
    assert_eq!(store.commit(largest).await.expect("max keys").len(), max);
}

/// Two tasks commit overlapping key sets in opposite orders (and a third writes the same
/// keys one at a time), `rounds` times each: every commit finishes (no deadlock surfaces as
/// an error or a hang) and the counters add up.
pub async fn overlapping_commits_finish<S>(store: &Arc<S>, prefix: &str, rounds: u64)
where
    S: VersionedStore<u64> + 'static,
{
    let keys: Vec<String> = (0..4).map(|i| format!("{prefix}k{i}")).collect();
    for key in &keys {
        store.put(key, 0, Expect::Absent).await.unwrap();
    }
    let worker = |reverse: bool| {
        let (store, mut keys) = (Arc::clone(store), keys.clone());
        if reverse {
            keys.reverse();
        }
        tokio::spawn(async move {
            let mut done = 0u64;
            while done < rounds {
                let mut commit = Commit::new();
                for key in &keys[..3] {
                    let cur = store.get(key).await.unwrap().expect("exists");
                    commit = commit.put(key.clone(), cur.value + 1, Expect::Version(cur.version));
                }
                match store.commit(commit).await {
                    Ok(_) => done += 1,
                    Err(StoreError::CommitConflict(_)) => {}
                    Err(e) => panic!("an overlapping commit failed: {e}"),
                }
            }
        })
    };
    let single = {
        let (store, key) = (Arc::clone(store), keys[1].clone());
        tokio::spawn(async move {
            for _ in 0..rounds {
                store
                    .put(&format!("{key}-side"), 1, Expect::Any)
                    .await
                    .unwrap();
                let _ = store
                    .delete(&format!("{key}-side"), Expect::Any)
                    .await
                    .unwrap();
            }
        })
    };
    for task in [worker(false), worker(true), single] {
        task.await.expect("worker");
    }
    // Keys 1 and 2 are in both sets: every commit incremented them.
    for key in &keys[1..3] {
        let read = store.get(key).await.unwrap().unwrap();
        assert_eq!(
            read.value,
            2 * rounds,
            "{key}: a commit was lost or half applied"
        );
    }
    for key in [&keys[0], &keys[3]] {
        assert_eq!(
            store.get(key).await.unwrap().unwrap().value,
            rounds,
            "{key}"
        );
    }
}

/// Movers transfer units between `keys` with two-key commits while readers list the prefix
/// (one page: one consistent read of every key) and check the total: a reader never sees one
/// side of a transfer without the other. Ends with the same total.
pub async fn readers_never_see_half_a_commit<S>(store: &Arc<S>, prefix: &str, transfers: u64)
where
    S: VersionedStore<u64> + 'static,
{
    const KEYS: u64 = 5;
    const EACH: u64 = 100;
    for i in 0..KEYS {
        store
            .put(&format!("{prefix}{i}"), EACH, Expect::Absent)
            .await
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let movers: Vec<_> = (0..2)
        .map(|m| {
            let store = Arc::clone(store);
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut done = 0;
                let mut n = m;
                while done < transfers {
                    n += 1;
                    let (from, to) = (n % KEYS, (n * 3 + 1) % KEYS);
                    if from == to {
                        continue;
                    }
                    let (fk, tk) = (format!("{prefix}{from}"), format!("{prefix}{to}"));
                    let f = store.get(&fk).await.unwrap().unwrap();
                    let t = store.get(&tk).await.unwrap().unwrap();
                    let moved = f.value.min(7);
                    let commit = Commit::new()
                        .put(fk, f.value - moved, Expect::Version(f.version))
                        .put(tk, t.value + moved, Expect::Version(t.version));
                    match store.commit(commit).await {
                        Ok(_) => done += 1,
                        Err(StoreError::CommitConflict(_)) => {}
                        Err(e) => panic!("transfer: {e}"),
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, stop) = (Arc::clone(store), Arc::clone(&stop));
            let prefix = prefix.to_owned();
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(Ordering::SeqCst) || reads == 0 {
                    let page = store
                        .list(ListRequest::prefix(&prefix).with_values())
                        .await
                        .expect("list");
                    assert_eq!(page.entries.len() as u64, KEYS, "every key listed");
                    let total: u64 = page.entries.iter().map(|e| e.value.unwrap()).sum();
                    assert_eq!(total, KEYS * EACH, "a reader saw half a commit: {page:?}");
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for mover in movers {
        mover.await.expect("mover");
    }
    stop.store(true, Ordering::SeqCst);
    let mut reads = 0;
    for reader in readers {
        reads += reader.await.expect("reader");
    }
    let mut total = 0;
    for i in 0..KEYS {
        total += store
            .get(&format!("{prefix}{i}"))
            .await
            .unwrap()
            .unwrap()
            .value;
    }
    assert_eq!(total, KEYS * EACH);
    eprintln!("{transfers} transfers x 2 movers, {reads} consistent listings");
}

/// Keys chosen to trip a listing: LIKE wildcards and escapes, multi-byte and the largest
/// characters, a key equal to the prefix, neighbours just outside it.
pub fn tricky_keys() -> Vec<String> {
    let tails = [
        "",
        "a",
        "b",
        "%",
        "%x",
        "_",
        "_x",
        "\\",
        "\\%",
        "a%b",
        "é",
        "ée",
        "e\u{301}",
        "日本",
        "\u{7F}",
        "\u{80}",
        "\u{FFFF}",
        "\u{10FFFF}",
        "\u{10FFFF}\u{10FFFF}",
        "zz",
        " ",
        "~",
    ];
    let mut keys = Vec::new();
    for root in ["p/", "p%", "p_", "p\\", "pé", "p\u{10FFFF}"] {
        for tail in tails {
            keys.push(format!("{root}{tail}"));
        }
    }
    keys.extend(["p".into(), "o\u{10FFFF}".into(), "q".into(), "".into()]);
    keys
}

/// Every tricky key written under `prefix` to `store` and to a memory store; listings for
/// many sub-prefixes, cursors and page sizes must match the memory store's exactly, values
/// and versions belonging together, and paging must cover each key once.
pub async fn list_matches_the_model<S: VersionedStore<u64>>(store: &S, prefix: &str) {
    let model = MemoryStore::new();
    let keys = tricky_keys();
    for (i, key) in keys.iter().enumerate() {
        let full = format!("{prefix}{key}");
        store.put(&full, i as u64, Expect::Absent).await.unwrap();
        model.put(&full, i as u64, Expect::Absent).await.unwrap();
    }
    let mut prefixes = vec![prefix.to_owned()];
    for sub in [
        "p",
        "p/",
        "p%",
        "p_",
        "p\\",
        "pé",
        "p\u{10FFFF}",
        "p/%",
        "p/\u{10FFFF}",
        "x",
    ] {
        prefixes.push(format!("{prefix}{sub}"));
    }
    let mut cursors: Vec<Option<String>> = vec![None, Some(String::new())];
    for key in [
        "p/%",
        "p/é",
        "p_",
        "p\u{10FFFF}\u{10FFFF}",
        "q",
        "p/a\0b",
        "o",
    ] {
        cursors.push(Some(format!("{prefix}{key}")));
    }
    for p in &prefixes {
        for after in &cursors {
            for limit in [1, 3, 1000] {
                for values in [false, true] {
                    let mut request = ListRequest::prefix(p).limit(limit);
                    if let Some(after) = after {
                        request = request.after(after);
                    }
                    if values {
                        request = request.with_values();
                    }
                    let ours = store.list(request.clone()).await.expect("list");
                    let want = model.list(request.clone()).await.unwrap();
                    let strip = |page: &optimist::ListPage<u64>| -> Vec<(String, Option<u64>)> {
                        page.entries
                            .iter()
                            .map(|e| (e.key.clone(), e.value))
                            .collect()
                    };
                    assert_eq!(strip(&ours), strip(&want), "{request:?}");
                    assert_eq!(ours.next, want.next, "{request:?}");
                    for e in ours.entries.iter().filter(|_| limit == 3) {
                        let head = store.head(&e.key).await.unwrap().unwrap();
                        assert_eq!(head.version, e.meta.version, "{:?}", e.key);
                    }
                }
            }
        }
    }
    // Paging by two covers each key under the prefix exactly once, in byte order.
    let mut seen = Vec::new();
    let mut request = ListRequest::prefix(prefix).limit(2);
    loop {
        let page = store.list(request.clone()).await.unwrap();
        seen.extend(page.entries.into_iter().map(|e| e.key));
        match page.next {
            Some(next) => request = request.after(next),
            None => break,
        }
    }
    let mut want: Vec<String> = keys.iter().map(|k| format!("{prefix}{k}")).collect();
    want.sort();
    assert_eq!(seen, want);
}
