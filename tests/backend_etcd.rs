//! The etcd backend against a real cluster: set `OPTIMIST_ETCD_URL` (e.g.
//! `etcd://127.0.0.1:23791,127.0.0.1:23792,127.0.0.1:23793`, the 3-member cluster
//! `.ci/etcd-cluster.sh start` runs). Unset, every test that needs the cluster skips loudly;
//! set and unreachable, they fail.
//!
//! Every test uses its own key prefix and deletes its keys at the end (also when it panics).
#![cfg(all(feature = "etcd", feature = "testkit"))]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::etcd::{Cleanup, endpoints_of, raw_client, raw_entries};
use optimist::etcd::{EtcdError, EtcdOptions, EtcdStore};
use optimist::testkit::{self, History, HistoryReport};
use optimist::{
    Applied, Commit, ConflictKind, Expect, ListRequest, SharedStore, StoreError, Version,
    Versioned, VersionedStore,
};

/// A test's cluster endpoints and key prefix; deletes every key under the prefix when dropped.
struct Fixture {
    url: String,
    endpoints: Vec<String>,
    prefix: String,
    _cleanup: Cleanup,
}

impl Fixture {
    /// `None` (and a loud SKIPPED line) when `OPTIMIST_ETCD_URL` is unset.
    fn new(base: &str) -> Option<Self> {
        let url = common::env_url("OPTIMIST_ETCD_URL")?;
        let endpoints = endpoints_of(&url);
        let prefix = format!("{}/", common::unique_name(base));
        let cleanup = Cleanup::prefix(&endpoints, &prefix);
        Some(Self {
            url,
            endpoints,
            prefix,
            _cleanup: cleanup,
        })
    }

    fn options(&self) -> EtcdOptions {
        EtcdOptions::default().prefix(self.prefix.clone())
    }

    async fn store(&self) -> EtcdStore {
        self.store_at(&self.url, self.options()).await
    }

    async fn store_at(&self, url: &str, options: EtcdOptions) -> EtcdStore {
        EtcdStore::connect(url, options)
            .await
            .unwrap_or_else(|e| panic!("OPTIMIST_ETCD_URL={} is set but: {e}", self.url))
    }

    /// The raw etcd entries under this fixture's prefix: (key, mod_revision, value).
    async fn raw(&self) -> Vec<(Vec<u8>, i64, Vec<u8>)> {
        raw_entries(&self.endpoints, self.prefix.as_bytes()).await
    }
}

fn v(n: i64) -> Version {
    Version::new(n as u64).unwrap()
}

fn conflict<T: std::fmt::Debug>(result: Result<T, StoreError>) -> optimist::Conflict {
    match result {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn get_u64(store: &EtcdStore, key: &str) -> Option<Versioned<u64>> {
    store.get(key).await.expect("read")
}

// --- conformance ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn passes_the_testkit_for_several_value_types() {
    let Some(fx) = Fixture::new("etcd_kit") else {
        return;
    };
    let store = Arc::new(fx.store().await);
    testkit::run_all::<u64, _>(&store, "u64/").await;
    testkit::run_all::<serde_json::Value, _>(&store, "json/").await;
    testkit::run_all::<String, _>(&store, "string/").await;
    testkit::run_all::<Vec<u8>, _>(&store, "bytes/").await;

    // Chosen at run time, through the object-safe trait.
    let shared: SharedStore<u64> = Arc::new(fx.store().await);
    testkit::run_all::<u64, _>(&Arc::new(shared), "dyn/").await;

    // Everything lives under the prefix.
    let raw = fx.raw().await;
    assert!(!raw.is_empty(), "the kit left keys under the prefix");
    assert!(
        raw.iter()
            .all(|(k, _, _)| k.starts_with(fx.prefix.as_bytes()))
    );
}

/// Histories whose workers each talk to a different member first: reads through one member
/// never go behind writes acknowledged through another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn histories_through_different_members_are_linearizable() {
    let Some(fx) = Fixture::new("etcd_hist") else {
        return;
    };
    let mut stores = Vec::new();
    for i in 0..fx.endpoints.len() {
        // Member i first, then the others.
        let mut order = fx.endpoints.clone();
        order.rotate_left(i);
        let store = fx
            .store_at(&format!("etcd://{}", order.join(",")), fx.options())
            .await;
        assert_eq!(store.preferred_endpoint(), fx.endpoints[i]);
        stores.push(store);
    }
    let mut report = HistoryReport::default();
    for round in 0..12 {
        let history = History::new(&format!("r{round}/"), 1 + round % 2);
        let workers = (0..4).map(|w| {
            let store = &stores[w % stores.len()];
            history.run_worker::<u64, _>(store, w, 6)
        });
        futures_util::future::join_all(workers).await;
        report.merge(
            &history
                .check()
                .unwrap_or_else(|v| panic!("round {round}: {v}")),
        );
    }
    eprintln!("etcd histories across members: {report:?}");
    assert_eq!((report.left_out, report.maybe_applied), (0, 0));
    assert!(report.writes > 0 && report.reads > 0 && report.conflicts > 0);
    assert!(report.concurrent > 0, "no two operations overlapped");
}

// --- versions are mod_revision ----------------------------------------------------------------

#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn versions_are_mod_revisions_never_reused_after_delete_and_re_create() {
    let Some(fx) = Fixture::new("etcd_rev") else {
        return;
    };
    let store = fx.store().await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let v2 = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .unwrap()
        .version;
    let raw = fx.raw().await;
    assert_eq!(raw.len(), 1);
    assert_eq!(raw[0].0, format!("{}k", fx.prefix).into_bytes());
    assert_eq!(v(raw[0].1), v2, "the version is the key's mod_revision");

    // Delete and re-create: etcd's per-key `version` starts again at 1, ours does not.
    assert_eq!(
        VersionedStore::<u64>::delete(&store, "k", Expect::Version(v2))
            .await
            .unwrap(),
        Some(v2)
    );
    let v3 = store.put("k", 3u64, Expect::Absent).await.unwrap().version;
    assert!(v3 > v2 && v2 > v1, "{v1} {v2} {v3}");
    let mut client = raw_client(&fx.endpoints).await;
    let reply = client.get(format!("{}k", fx.prefix), None).await.unwrap();
    assert_eq!(reply.kvs()[0].version(), 1, "etcd's own version restarted");
    assert_eq!(v(reply.kvs()[0].mod_revision()), v3);

    // The stale versions of the first incarnation never match again.
    for old in [v1, v2] {
        let c = conflict(store.put("k", 9u64, Expect::Version(old)).await);
        assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v3)));
    }
}

#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn conflicts_carry_the_exact_current_revision() {
    let Some(fx) = Fixture::new("etcd_conflict") else {
        return;
    };
    let store = fx.store().await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let c = conflict(store.put("k", 2u64, Expect::Absent).await);
    assert_eq!(
        (c.kind(), c.current()),
        (ConflictKind::AlreadyExists, Some(v1))
    );
    let c = conflict(store.put("absent", 2u64, Expect::Exists).await);
    assert_eq!((c.kind(), c.current()), (ConflictKind::Missing, None));
    let c = conflict(VersionedStore::<u64>::delete(&store, "absent", Expect::Version(v1)).await);
    assert_eq!((c.kind(), c.current()), (ConflictKind::Missing, None));
    // A version etcd cannot even hold never matches, and says what is there.
    let huge = Version::new(u64::MAX).unwrap();
    let c = conflict(store.put("k", 3u64, Expect::Version(huge)).await);
    assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v1)));
    // Nothing of the refused writes was stored.
    let read = get_u64(&store, "k").await.unwrap();
    assert_eq!((read.value, read.version), (1, v1));
    assert!(get_u64(&store, "absent").await.is_none());
}

/// `OneOf` is pinned to one candidate per transaction: a current version in the middle of
/// the list needs a second attempt, and must still win exactly once.
#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn one_of_matches_any_listed_version_and_only_those() {
    let Some(fx) = Fixture::new("etcd_oneof") else {
        return;
    };
    let store = fx.store().await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let later = Version::new(v1.get() + 1_000_000).unwrap();
    let huge = Version::new(u64::MAX).unwrap();
    // The first pin is the largest candidate etcd can hold (later), then v1 after the miss.
    let v2 = store
        .put("k", 2u64, Expect::OneOf(vec![v1, later, huge]))
        .await
        .expect("v1 is among the candidates")
        .version;
    assert!(v2 > v1);
    let c = conflict(store.put("k", 3u64, Expect::OneOf(vec![v1, later])).await);
    assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v2)));
    let c = conflict(store.put("k", 3u64, Expect::OneOf(vec![])).await);
    assert_eq!(c.current(), Some(v2));
    let c = conflict(store.put("gone", 3u64, Expect::OneOf(vec![v1, v2])).await);
    assert_eq!((c.kind(), c.current()), (ConflictKind::Missing, None));
    assert_eq!(
        VersionedStore::<u64>::delete(&store, "k", Expect::OneOf(vec![v1, v2, later]))
            .await
            .unwrap(),
        Some(v2)
    );
    assert!(get_u64(&store, "k").await.is_none());
}

/// Last-Modified travels with the value: put returns exactly what reads see, taken from the
/// writer's clock to the millisecond.
#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn last_modified_is_stored_with_the_value_and_exact() {
    let Some(fx) = Fixture::new("etcd_time") else {
        return;
    };
    let store = fx.store().await;
    let before = SystemTime::now();
    let meta = store.put("k", 1u64, Expect::Absent).await.unwrap();
    let after = SystemTime::now();
    let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).unwrap().as_millis();
    assert!(ms(before) <= ms(meta.last_modified) && ms(meta.last_modified) <= ms(after));
    assert_eq!(
        meta.last_modified
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
            % 1_000_000,
        0
    );
    let read = get_u64(&store, "k").await.unwrap();
    assert_eq!(
        (read.version, read.last_modified),
        (meta.version, meta.last_modified)
    );
    let head = VersionedStore::<u64>::head(&store, "k")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head, meta);
    let listed = VersionedStore::<u64>::list(&store, ListRequest::prefix(""))
        .await
        .unwrap();
    assert_eq!(listed.entries[0].meta, meta);
    // The stored bytes: format 1, the milliseconds, the JSON.
    let raw = fx.raw().await;
    let value = &raw[0].2;
    assert_eq!(value[0], 1);
    assert_eq!(
        u64::from_be_bytes(value[1..9].try_into().unwrap()) as u128,
        ms(meta.last_modified)
    );
    assert_eq!(&value[9..], b"1");
}

// --- multi-key commits ------------------------------------------------------------------------

#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn commits_apply_all_or_nothing_and_name_every_failed_key() {
    let Some(fx) = Fixture::new("etcd_commit") else {
        return;
    };
    let store = fx.store().await;
    let caps = VersionedStore::<u64>::capabilities(&store);
    assert_eq!((caps.max_commit_keys, caps.list), (128, true));

    let applied = store
        .commit(
            Commit::new()
                .put("user:ann", 1u64, Expect::Absent)
                .put("email:ann", 2u64, Expect::Absent)
                .check("email:bob", Expect::Absent),
        )
        .await
        .unwrap();
    let [Applied::Put(a), Applied::Put(b), Applied::Checked(None)] = applied[..] else {
        panic!("{applied:?}");
    };
    assert_eq!(a.version, b.version, "one transaction, one revision");
    assert_eq!(a.last_modified, b.last_modified);

    let bob = store
        .put("user:bob", 3u64, Expect::Absent)
        .await
        .unwrap()
        .version;
    // Three expectations fail, one holds: nothing is written, all three are named in order.
    let refused = store
        .commit(
            Commit::new()
                .put("email:ann", 9u64, Expect::Absent)
                .delete("user:bob", Expect::Version(a.version))
                .put("new", 9u64, Expect::Absent)
                .check("user:ann", Expect::OneOf(vec![bob])),
        )
        .await;
    let Err(StoreError::CommitConflict(c)) = refused else {
        panic!("{refused:?}");
    };
    let found: Vec<_> = c
        .conflicts()
        .iter()
        .map(|c| (c.key(), c.kind(), c.current()))
        .collect();
    assert_eq!(
        found,
        [
            ("email:ann", ConflictKind::AlreadyExists, Some(b.version)),
            ("user:bob", ConflictKind::Stale, Some(bob)),
            ("user:ann", ConflictKind::Stale, Some(a.version)),
        ]
    );
    assert!(get_u64(&store, "new").await.is_none());
    assert_eq!(get_u64(&store, "user:bob").await.unwrap().version, bob);

    // A delete, a put and a pinned check together.
    let applied = store
        .commit(
            Commit::new()
                .delete("user:bob", Expect::Version(bob))
                .put("email:ann", 4u64, Expect::OneOf(vec![a.version, b.version]))
                .check("user:ann", Expect::Exists),
        )
        .await
        .unwrap();
    let [
        Applied::Deleted(Some(d)),
        Applied::Put(p),
        Applied::Checked(Some(ck)),
    ] = applied[..]
    else {
        panic!("{applied:?}");
    };
    assert_eq!((d, ck), (bob, a.version));
    assert!(p.version > bob);
    assert!(get_u64(&store, "user:bob").await.is_none());
    assert_eq!(get_u64(&store, "email:ann").await.unwrap().value, 4);
}

/// etcd's `--max-txn-ops` (128 by default): a commit of that many keys goes through in one
/// transaction; one more is refused before anything is sent; and a store told a higher limit
/// than the server's gets the server's refusal, with nothing written.
#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn commits_up_to_max_txn_ops_and_no_more() {
    let Some(fx) = Fixture::new("etcd_maxops") else {
        return;
    };
    let store = fx.store().await;
    let full = (0..128).fold(Commit::new(), |c, i| {
        c.put(format!("k{i:03}"), i, Expect::Absent)
    });
    let applied = store
        .commit(full)
        .await
        .expect("128 keys in one transaction");
    assert_eq!(applied.len(), 128);
    let over = (0..129).fold(Commit::new(), |c, i| {
        c.put(format!("o{i:03}"), i, Expect::Any)
    });
    assert!(matches!(
        store.commit(over.clone()).await,
        Err(StoreError::InvalidCommit { .. })
    ));
    let lying = fx.store_at(&fx.url, fx.options().max_txn_ops(200)).await;
    match lying.commit(over).await {
        Err(StoreError::Backend { source }) => {
            let e = source.downcast_ref::<EtcdError>().expect("an EtcdError");
            assert!(matches!(e, EtcdError::Refused { .. }), "{e}");
            assert!(e.to_string().contains("too many operations"), "{e}");
        }
        other => panic!("expected the server's refusal, got {other:?}"),
    }
    assert_eq!(
        fx.raw().await.len(),
        128,
        "nothing of the refused commits was written"
    );
}

// --- listing ----------------------------------------------------------------------------------

#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn listing_pages_by_key_bytes_after_the_cursor() {
    let Some(fx) = Fixture::new("etcd_list") else {
        return;
    };
    let store = fx.store().await;
    // Neighbours of the prefix must not show up; NUL and 0x7f sort as bytes.
    let keys = [
        "u:", "u:a", "u:a\0", "u:a\0b", "u:b", "u:\u{7f}", "u:é", "u:🦀",
    ];
    for (i, key) in keys.iter().chain(&["u", "u;", "t:z", "v:a"]).enumerate() {
        store.put(key, i as u64, Expect::Absent).await.unwrap();
    }
    let other = fx
        .store_at(
            &fx.url,
            EtcdOptions::default().prefix(format!("{}u:zz/", fx.prefix)),
        )
        .await;
    other.put("hidden", 0u64, Expect::Absent).await.unwrap();

    let mut walked = Vec::new();
    let mut request = ListRequest::prefix("u:").limit(3).with_values();
    loop {
        let page = VersionedStore::<u64>::list(&store, request.clone())
            .await
            .unwrap();
        assert!(page.entries.len() <= 3);
        for e in &page.entries {
            let read = get_u64(&store, &e.key).await.unwrap();
            assert_eq!((e.meta.version, e.value), (read.version, Some(read.value)));
        }
        walked.extend(page.entries.into_iter().map(|e| e.key));
        match page.next {
            Some(next) => request = request.after(next),
            None => break,
        }
    }
    let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    expected.push("u:zz/hidden".into()); // the other store's key is under this prefix too
    expected.sort();
    assert_eq!(walked, expected);

    // Without values; a cursor outside the prefix; a cursor past it.
    let page = VersionedStore::<u64>::list(&store, ListRequest::prefix("u:").after("a").limit(2))
        .await
        .unwrap();
    assert_eq!(
        page.entries
            .iter()
            .map(|e| e.key.as_str())
            .collect::<Vec<_>>(),
        ["u:", "u:a"]
    );
    assert!(page.entries.iter().all(|e| e.value.is_none()));
    let page = VersionedStore::<u64>::list(&store, ListRequest::prefix("u:").after("u;"))
        .await
        .unwrap();
    assert!(page.entries.is_empty() && page.next.is_none());
    let page = VersionedStore::<u64>::list(&store, ListRequest::prefix("u:a\0"))
        .await
        .unwrap();
    assert_eq!(
        page.entries
            .iter()
            .map(|e| e.key.as_str())
            .collect::<Vec<_>>(),
        ["u:a\0", "u:a\0b"]
    );
}

// --- failures ---------------------------------------------------------------------------------

#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn bad_urls_and_options_are_refused_and_unreachable_clusters_unavailable() {
    let Some(fx) = Fixture::new("etcd_connect") else {
        return;
    };
    for url in [
        "http://127.0.0.1:23791",
        "etcd://",
        "etcd://127.0.0.1",
        "etcd://a:1/x",
    ] {
        match EtcdStore::connect(url, fx.options()).await {
            Err(StoreError::Backend { source }) => assert!(
                matches!(source.downcast_ref(), Some(EtcdError::InvalidUrl { .. })),
                "{url}: {source}"
            ),
            other => panic!("{url}: {other:?}"),
        }
    }
    let short = fx
        .options()
        .keep_alive(Duration::from_secs(1), Duration::from_secs(1));
    match EtcdStore::connect(&fx.url, short).await {
        Err(StoreError::Backend { source }) => assert!(
            matches!(
                source.downcast_ref(),
                Some(EtcdError::KeepAliveTooShort { .. })
            ),
            "{source}"
        ),
        other => panic!("{other:?}"),
    }
    // Nothing listens on port 1.
    let dead = EtcdStore::connect(
        "etcd://127.0.0.1:1",
        fx.options().failover_timeout(Duration::from_millis(200)),
    )
    .await;
    match dead {
        Err(StoreError::Unavailable { source }) => assert!(
            matches!(source.downcast_ref(), Some(EtcdError::Connect { .. })),
            "{source}"
        ),
        other => panic!("{other:?}"),
    }
    // Keep-alive at the minimum is accepted and works.
    let pings = fx
        .options()
        .keep_alive(Duration::from_secs(5), Duration::from_secs(5));
    let store = fx.store_at(&fx.url, pings).await;
    store.put("k", 1u64, Expect::Absent).await.unwrap();
}

/// A member named in the URL that is not there: requests go through the others, and the
/// store prefers a member that answers from then on.
#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn a_dead_member_in_the_url_is_skipped() {
    let Some(fx) = Fixture::new("etcd_dead_member") else {
        return;
    };
    let mut members = vec!["127.0.0.1:1".to_owned()];
    members.extend(fx.endpoints.iter().cloned());
    let url = format!("etcd://{}", members.join(","));
    let store = fx.store_at(&url, fx.options()).await;
    assert_ne!(store.preferred_endpoint(), "127.0.0.1:1");
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    for i in 0..20u64 {
        store
            .put("k", i, Expect::Any)
            .await
            .expect("through the live members");
    }
    assert!(get_u64(&store, "k").await.unwrap().version > v1);
}

#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn foreign_values_and_oversized_writes_are_errors_that_lose_nothing() {
    let Some(fx) = Fixture::new("etcd_foreign") else {
        return;
    };
    let store = fx.store().await;
    let mut client = raw_client(&fx.endpoints).await;
    client
        .put(format!("{}foreign", fx.prefix), "plain text", None)
        .await
        .unwrap();
    for result in [
        VersionedStore::<u64>::get(&store, "foreign")
            .await
            .map(|_| ()),
        VersionedStore::<u64>::list(&store, ListRequest::prefix(""))
            .await
            .map(|_| ()),
    ] {
        match result {
            Err(StoreError::Backend { source }) => assert!(
                matches!(
                    source.downcast_ref(),
                    Some(EtcdError::MalformedEntry { .. })
                ),
                "{source}"
            ),
            other => panic!("{other:?}"),
        }
    }

    // 2 MiB is over etcd's --max-request-bytes (1.5 MiB): refused, nothing written.
    let v1 = store
        .put("big", "small".to_string(), Expect::Absent)
        .await
        .unwrap()
        .version;
    let big = "x".repeat(2 << 20);
    match store.put("big", big, Expect::Version(v1)).await {
        Err(StoreError::Backend { source }) => assert!(
            matches!(source.downcast_ref(), Some(EtcdError::Refused { .. })),
            "{source}"
        ),
        other => panic!("{other:?}"),
    }
    let read: Versioned<String> = store.get("big").await.unwrap().unwrap();
    assert_eq!((read.value.as_str(), read.version), ("small", v1));
}

#[tokio::test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
async fn the_empty_key_needs_a_prefix() {
    let Some(fx) = Fixture::new("etcd_empty") else {
        return;
    };
    let store = fx.store().await;
    let v1 = store.put("", 1u64, Expect::Absent).await.unwrap().version;
    assert_eq!(get_u64(&store, "").await.unwrap().version, v1);
    let bare = fx.store_at(&fx.url, fx.options().prefix("")).await;
    assert!(matches!(
        bare.put("", 1u64, Expect::Any).await,
        Err(StoreError::InvalidKey { .. })
    ));
}
