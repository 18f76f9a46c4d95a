//! The Redis backend against a real server: set `OPTIMIST_REDIS_URL` (e.g.
//! `redis://127.0.0.1:6379`). Unset, every test that needs the server skips loudly; set and
//! unreachable, they fail.
//!
//! Every test uses its own key prefix and deletes its keys at the end (SCAN + DEL by prefix,
//! also when it panics). The tests that block the whole server with a busy Lua script
//! (`DEBUG SLEEP` is disabled on Redis 7 by default) take a lock so they do not overlap.
#![cfg(all(feature = "redis", feature = "testkit"))]

mod common;

use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use common::proxy::Proxy;
use optimist::redis::{RedisOptions, RedisStore};
use optimist::{
    ConflictKind, Expect, Meta, RetryPolicy, SharedStore, StoreError, Version, Versioned,
    VersionedStore, testkit, update_with,
};

/// Serializes the tests that stall the server, so one's stall does not blur another's.
static SERVER_STALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Busy-waits inside the server for `ARGV[1]` microseconds: nothing else runs meanwhile.
const BUSY_LUA: &str = "local t0 = redis.call('TIME') \
    local s = t0[1] * 1000000 + t0[2] \
    repeat local t = redis.call('TIME') until (t[1] * 1000000 + t[2]) - s >= tonumber(ARGV[1]) \
    return 1";

/// A test's server URL and key prefix; deletes every key under the prefix when dropped.
struct Fixture {
    url: String,
    prefix: String,
}

impl Fixture {
    /// `None` (and a loud SKIPPED line) when `OPTIMIST_REDIS_URL` is unset.
    fn new(base: &str) -> Option<Self> {
        let url = common::env_url("OPTIMIST_REDIS_URL")?;
        Some(Self {
            url,
            prefix: common::unique_name(base),
        })
    }

    fn options(&self) -> RedisOptions {
        RedisOptions::default().prefix(self.prefix.clone())
    }

    async fn store(&self) -> RedisStore {
        self.store_with(self.options()).await
    }

    async fn store_with(&self, options: RedisOptions) -> RedisStore {
        RedisStore::connect(&self.url, options)
            .await
            .unwrap_or_else(|e| panic!("OPTIMIST_REDIS_URL={} is set but: {e}", self.url))
    }

    /// A plain connection of its own, for admin commands.
    async fn admin(&self) -> redis::aio::MultiplexedConnection {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(10));
        redis::Client::open(self.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("admin connection")
    }

    /// Starts a busy script that stalls the whole server for `duration`; returns once the
    /// script has been sent.
    async fn stall_server(&self, duration: Duration) -> tokio::task::JoinHandle<()> {
        let mut conn = self.admin().await;
        let micros = duration.as_micros() as u64;
        let task = tokio::spawn(async move {
            let _: i64 = redis::cmd("EVAL")
                .arg(BUSY_LUA)
                .arg(0)
                .arg(micros)
                .query_async(&mut conn)
                .await
                .expect("busy script");
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        task
    }

    /// The Redis keys under this fixture's prefix.
    fn keys(&self) -> Vec<Vec<u8>> {
        let mut conn = redis::Client::open(self.url.as_str())
            .and_then(|c| c.get_connection())
            .expect("cleanup connection");
        let pattern = format!("{}:*", glob_escape(&self.prefix));
        let mut cursor = 0u64;
        let mut keys = Vec::new();
        loop {
            let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
                .expect("SCAN");
            keys.extend(batch);
            if next == 0 {
                return keys;
            }
            cursor = next;
        }
    }

    /// Deletes every key under the prefix (never FLUSHALL: the server is shared); returns
    /// how many there were.
    fn cleanup(&self) -> usize {
        let keys = self.keys();
        if !keys.is_empty() {
            let mut conn = redis::Client::open(self.url.as_str())
                .and_then(|c| c.get_connection())
                .expect("cleanup connection");
            for chunk in keys.chunks(500) {
                let _: i64 = redis::cmd("DEL").arg(chunk).query(&mut conn).expect("DEL");
            }
        }
        keys.len()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.cleanup();
    }
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `url` with one more query parameter.
fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

fn conflict(result: Result<impl std::fmt::Debug, StoreError>) -> optimist::Conflict {
    match result {
        Err(StoreError::Conflict(c)) => c,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

async fn get_u64(store: &RedisStore, key: &str) -> Option<Versioned<u64>> {
    store.get(key).await.expect("read")
}

async fn client_id(store: &RedisStore) -> i64 {
    redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut store.connection_manager().expect("a single server"))
        .await
        .expect("CLIENT ID")
}

// ---------------------------------------------------------------------------------------------
// Conformance

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn passes_the_testkit_for_several_value_types() {
    let Some(fx) = Fixture::new("redis_kit") else {
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

    // Everything lives under the prefix, and cleanup removes it all.
    assert!(fx.cleanup() > 0, "the kit wrote keys under the prefix");
    assert!(fx.keys().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn passes_the_testkit_over_resp3() {
    let Some(fx) = Fixture::new("redis_kit3") else {
        return;
    };
    let store = RedisStore::connect(&with_param(&fx.url, "protocol=resp3"), fx.options())
        .await
        .expect("RESP3 connection");
    testkit::run_all::<u64, _>(&Arc::new(store), "resp3/").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn two_store_objects_on_one_prefix_race_to_exactly_200() {
    let Some(fx) = Fixture::new("redis_race") else {
        return;
    };
    let stores = [Arc::new(fx.store().await), Arc::new(fx.store().await)];
    let policy =
        RetryPolicy::new(10_000).backoff(Duration::from_micros(100), Duration::from_millis(5));
    let mut tasks = Vec::new();
    for t in 0..8 {
        let store = Arc::clone(&stores[t % 2]);
        let policy = policy.clone();
        tasks.push(tokio::spawn(async move {
            let mut written = Vec::new();
            for _ in 0..25 {
                let mut value = 0;
                let updated = update_with(
                    &*store,
                    "counter",
                    &policy,
                    |current: Option<&Versioned<u64>>| {
                        value = current.map_or(0, |c| c.value) + 1;
                        Ok::<_, Infallible>(value)
                    },
                )
                .await
                .expect("increment");
                written.push((updated.meta.version, value));
            }
            written
        }));
    }
    let mut writes = Vec::new();
    for task in tasks {
        writes.extend(task.await.unwrap());
    }
    writes.sort();
    let values: Vec<u64> = writes.iter().map(|w| w.1).collect();
    assert_eq!(
        values,
        (1..=200).collect::<Vec<_>>(),
        "versions order the writes into the chain 1..=200"
    );
    for store in &stores {
        let stored = get_u64(store, "counter").await.expect("counter");
        assert_eq!(
            (stored.value, stored.version),
            (200, writes.last().unwrap().0)
        );
    }

    // The kit's own race (8 workers x 25 increments over 2 keys) on one of them.
    let report = testkit::increment_race::<u64, _>(&stores[0], "kit-race/", 8, 25, 2).await;
    assert_eq!(report.increments, 200);
}

#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn a_second_store_object_sees_the_data_and_never_reuses_versions() {
    let Some(fx) = Fixture::new("redis_aba") else {
        return;
    };
    let first = fx.store().await;
    let v1 = first
        .put("doc", "first".to_string(), Expect::Absent)
        .await
        .unwrap()
        .version;
    assert_eq!(
        VersionedStore::<String>::delete(&first, "doc", Expect::Version(v1))
            .await
            .unwrap(),
        Some(v1)
    );
    drop(first);

    // A new store object ("after a restart"): same prefix, same counter.
    let second = fx.store().await;
    assert!(
        VersionedStore::<String>::get(&second, "doc")
            .await
            .unwrap()
            .is_none()
    );
    let v2 = second
        .put("doc", "second".to_string(), Expect::Absent)
        .await
        .unwrap()
        .version;
    assert!(
        v2 > v1,
        "re-created key got {v2}, after {v1}: a version was reused"
    );
    let c = conflict(
        second
            .put("doc", "stale".to_string(), Expect::Version(v1))
            .await
            .map(|m| m.version),
    );
    assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v2)));
    let c = conflict(VersionedStore::<String>::delete(&second, "doc", Expect::Version(v1)).await);
    assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v2)));

    // A third one sees what the second wrote.
    let third = fx.store().await;
    let read: Versioned<String> = third.get("doc").await.unwrap().unwrap();
    assert_eq!((read.value.as_str(), read.version), ("second", v2));

    // Versions are store-wide: other keys never get one already handed out.
    let mut seen = HashSet::from([v1, v2]);
    for i in 0..20 {
        let store = if i % 2 == 0 { &second } else { &third };
        let v = store
            .put(&format!("other-{i}"), i, Expect::Any)
            .await
            .unwrap()
            .version;
        assert!(seen.insert(v), "version {v} handed out twice");
    }
}

// ---------------------------------------------------------------------------------------------
// Keys, values, metadata

#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn binary_safe_keys_do_not_collide() {
    let Some(fx) = Fixture::new("redis_keys") else {
        return;
    };
    let store = fx.store().await;
    let keys = [
        "",
        "nul\0inside",
        "version",
        ":version",
        "k:",
        ":k:x",
        "*",
        "[a-z]?",
        "{tag}",
        "line\r\nbreak",
        "🦀 crab",
        "'; return redis.call('FLUSHALL') --",
    ];
    let mut versions = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        versions.push(
            store
                .put(key, i as u64, Expect::Absent)
                .await
                .unwrap_or_else(|e| panic!("{key:?}: {e}"))
                .version,
        );
    }
    for (i, key) in keys.iter().enumerate() {
        let read = get_u64(&store, key)
            .await
            .unwrap_or_else(|| panic!("{key:?} missing"));
        assert_eq!(
            (read.value, read.version),
            (i as u64, versions[i]),
            "{key:?}"
        );
    }
    // The Redis key is exactly prefix:k: followed by the key's bytes.
    let mut admin = fx.admin().await;
    let exact = [fx.prefix.as_bytes(), b":k:", "nul\0inside".as_bytes()].concat();
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&exact)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(exists, 1);
    let stored_keys = fx.keys();
    assert_eq!(
        stored_keys.len(),
        keys.len() + 2,
        "one hash per key plus the counter and the listing index"
    );
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(
            VersionedStore::<u64>::delete(&store, key, Expect::Version(versions[i]))
                .await
                .unwrap(),
            Some(versions[i])
        );
    }
    assert_eq!(
        fx.keys(),
        vec![format!("{}:version", fx.prefix).into_bytes()],
        "only the counter is left (Redis drops the emptied index)"
    );
}

#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn head_reads_metadata_without_decoding_the_value() {
    let Some(fx) = Fixture::new("redis_head") else {
        return;
    };
    let store = fx.store().await;
    let before = SystemTime::now();
    let v = store
        .put("s", "not a number".to_string(), Expect::Absent)
        .await
        .unwrap()
        .version;
    let meta: Meta = VersionedStore::<u64>::head(&store, "s")
        .await
        .unwrap()
        .expect("head");
    assert_eq!(meta.version, v);
    // The server's clock, at millisecond precision: close to ours.
    let skew = meta
        .last_modified
        .duration_since(before)
        .unwrap_or_else(|e| e.duration());
    assert!(
        skew < Duration::from_secs(5),
        "last_modified {:?} vs {before:?}",
        meta.last_modified
    );
    // The value does not decode as u64: get says so, head never looked at it.
    match VersionedStore::<u64>::get(&store, "s").await {
        Err(StoreError::Codec { key, .. }) => assert_eq!(key, "s"),
        other => panic!("expected a codec error, got {other:?}"),
    }
    assert!(
        VersionedStore::<u64>::head(&store, "missing")
            .await
            .unwrap()
            .is_none()
    );

    // last_modified moves forward with each write.
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .put("s", "again".to_string(), Expect::Version(v))
        .await
        .unwrap();
    let later = VersionedStore::<String>::head(&store, "s")
        .await
        .unwrap()
        .unwrap();
    assert!(later.last_modified > meta.last_modified);
}

#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn expectations_and_exact_current_versions() {
    let Some(fx) = Fixture::new("redis_expect") else {
        return;
    };
    let store = fx.store().await;
    // An empty list never matches, present or absent.
    let c = conflict(
        store
            .put("k", 1u64, Expect::OneOf(vec![]))
            .await
            .map(|m| m.version),
    );
    assert_eq!((c.kind(), c.current()), (ConflictKind::Missing, None));
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let c = conflict(
        store
            .put("k", 2u64, Expect::OneOf(vec![]))
            .await
            .map(|m| m.version),
    );
    assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v1)));
    let c = conflict(VersionedStore::<u64>::delete(&store, "k", Expect::OneOf(vec![])).await);
    assert_eq!(c.current(), Some(v1));
    // One of several.
    let other = Version::new(v1.get() + 1000).unwrap();
    let v2 = store
        .put("k", 2u64, Expect::OneOf(vec![other, v1]))
        .await
        .unwrap()
        .version;
    assert!(v2 > v1);
    let c = conflict(
        store
            .put("k", 3u64, Expect::OneOf(vec![other, v1]))
            .await
            .map(|m| m.version),
    );
    assert_eq!((c.kind(), c.current()), (ConflictKind::Stale, Some(v2)));
    // Exists / Absent on delete.
    let c = conflict(VersionedStore::<u64>::delete(&store, "k", Expect::Absent).await);
    assert_eq!(
        (c.kind(), c.current()),
        (ConflictKind::AlreadyExists, Some(v2))
    );
    assert_eq!(
        VersionedStore::<u64>::delete(&store, "k", Expect::Exists)
            .await
            .unwrap(),
        Some(v2)
    );
    assert_eq!(
        VersionedStore::<u64>::delete(&store, "k", Expect::Absent)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        VersionedStore::<u64>::delete(&store, "k", Expect::Any)
            .await
            .unwrap(),
        None
    );
    let c = conflict(VersionedStore::<u64>::delete(&store, "k", Expect::Exists).await);
    assert_eq!((c.kind(), c.current()), (ConflictKind::Missing, None));
}

/// SCRIPT FLUSH empties the server's script cache (it deletes no data; clients reload on
/// NOSCRIPT): the scripts are reloaded, also when the cache is flushed again and again while
/// writes are running (a second NOSCRIPT right after the reload falls back to EVAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn the_scripts_survive_script_flush() {
    let Some(fx) = Fixture::new("redis_noscript") else {
        return;
    };
    let store = fx.store().await;
    let mut admin = fx.admin().await;
    let flush = |mut admin: redis::aio::MultiplexedConnection| async move {
        let _: () = redis::cmd("SCRIPT")
            .arg("FLUSH")
            .query_async(&mut admin)
            .await
            .expect("SCRIPT FLUSH");
    };
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    flush(admin.clone()).await;
    let v2 = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .unwrap()
        .version;
    flush(admin.clone()).await;
    assert_eq!(
        VersionedStore::<u64>::delete(&store, "k", Expect::Version(v2))
            .await
            .unwrap(),
        Some(v2)
    );

    // Flushing continuously while 100 CAS writes run: every one of them succeeds.
    let done = Arc::new(AtomicBool::new(false));
    let flusher = tokio::spawn({
        let done = Arc::clone(&done);
        let admin = admin.clone();
        async move {
            let mut flushes = 0u32;
            while !done.load(Ordering::SeqCst) {
                flush(admin.clone()).await;
                flushes += 1;
            }
            flushes
        }
    });
    let mut current = None;
    for i in 0..100u64 {
        let v = store
            .put("hammer", i, Expect::from(current))
            .await
            .unwrap_or_else(|e| panic!("write {i} under SCRIPT FLUSH: {e}"))
            .version;
        current = Some(v);
    }
    done.store(true, Ordering::SeqCst);
    let flushes = flusher.await.unwrap();
    let _: () = redis::cmd("PING").query_async(&mut admin).await.unwrap();
    eprintln!("100 writes succeeded during {flushes} SCRIPT FLUSHes");
}

#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn foreign_data_under_a_key_is_a_backend_error() {
    let Some(fx) = Fixture::new("redis_foreign") else {
        return;
    };
    let store = fx.store().await;
    let mut admin = fx.admin().await;
    let key = [fx.prefix.as_bytes(), b":k:plain-string"].concat();
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("x")
        .query_async(&mut admin)
        .await
        .unwrap();
    // WRONGTYPE inside the script: a script error, not a conflict or an outage.
    match store.put("plain-string", 1u64, Expect::Any).await {
        Err(StoreError::Backend { .. }) => {}
        other => panic!("expected a backend error, got {other:?}"),
    }
    match VersionedStore::<u64>::get(&store, "plain-string").await {
        Err(StoreError::Backend { .. }) => {}
        other => panic!("expected a backend error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Connection failures

#[tokio::test]
async fn unreachable_server_is_unavailable_quickly() {
    // Needs no server: nothing listens on port 1.
    let started = Instant::now();
    let err = RedisStore::connect("redis://127.0.0.1:1", RedisOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    eprintln!("unreachable: {err} ({:?})", started.elapsed());

    // A host that never answers (or whose network is unreachable) is bounded by the
    // connection timeout.
    let started = Instant::now();
    let options = RedisOptions::default().connection_timeout(Duration::from_millis(300));
    let err = RedisStore::connect("redis://10.255.255.1:6379", options)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_invalid_url_is_rejected() {
    for url in [
        "not a url",
        "http://127.0.0.1:6379",
        "redis://127.0.0.1:6379/not-a-db",
    ] {
        match RedisStore::connect(url, RedisOptions::default()).await {
            Err(StoreError::Backend { source }) => eprintln!("{url:?}: {source}"),
            other => panic!("{url:?}: expected a backend error, got {other:?}"),
        }
    }
}

/// The connection is cut (CLIENT KILL) while a CAS is in flight: the server is stalled by a
/// busy script, the CAS is queued behind it, and the kill is queued too. Whichever runs
/// first, the client only sees its connection drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn connection_killed_during_a_cas_is_indeterminate_and_the_store_recovers() {
    let Some(fx) = Fixture::new("redis_fault") else {
        return;
    };
    let _stall = SERVER_STALL.lock().await;
    let store = fx.store().await;
    let observer = fx.store().await;
    let key = "fault";
    // Also loads the script, so the CAS below is a single EVALSHA.
    let mut current = store.put(key, 0u64, Expect::Absent).await.unwrap().version;
    let mut current_value = 0;
    let mut outcomes = Vec::new();
    for round in 1..=4u64 {
        let id = client_id(&store).await;
        let mut killer = fx.admin().await;
        let stall = fx.stall_server(Duration::from_millis(500)).await;
        let start_cas = || {
            tokio::spawn({
                let store = store.clone();
                let expect = Expect::Version(current);
                async move { store.put(key, round, expect).await.map(|m| m.version) }
            })
        };
        let start_kill = move || {
            tokio::spawn(async move {
                let killed: i64 = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("ID")
                    .arg(id)
                    .query_async(&mut killer)
                    .await
                    .expect("CLIENT KILL");
                killed
            })
        };
        // Both wait behind the stall. Odd rounds send the CAS first, even rounds the kill
        // first; the server tends to serve them in that order, so both outcomes (applied
        // before the cut / never run) get exercised.
        let (cas, kill) = if round % 2 == 1 {
            let cas = start_cas();
            tokio::time::sleep(Duration::from_millis(50)).await;
            (cas, start_kill())
        } else {
            let kill = start_kill();
            tokio::time::sleep(Duration::from_millis(50)).await;
            (start_cas(), kill)
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            kill.await.unwrap(),
            1,
            "the store's connection was found and killed"
        );
        stall.await.unwrap();
        let result = cas.await.unwrap();

        let stored = get_u64(&observer, key).await.expect("the key exists");
        let outcome = match &result {
            Err(StoreError::Indeterminate { key: k, .. }) => {
                assert_eq!(k, key);
                if stored.value == round {
                    "indeterminate (the write had been applied)"
                } else {
                    assert_eq!((stored.value, stored.version), (current_value, current));
                    "indeterminate (the write was not applied)"
                }
            }
            Ok(v) => {
                assert_eq!(
                    (stored.value, stored.version),
                    (round, *v),
                    "a success that was not stored"
                );
                "success"
            }
            other => panic!("round {round}: expected Indeterminate, got {other:?}"),
        };
        outcomes.push(outcome);

        // The store recovers: the next operation works (on a new connection).
        current = store
            .put(key, 100 + round, Expect::Version(stored.version))
            .await
            .unwrap_or_else(|e| panic!("round {round}: the store did not recover: {e}"))
            .version;
        current_value = 100 + round;
        assert_ne!(client_id(&store).await, id, "a new connection");
    }
    eprintln!("fault outcomes: {outcomes:?}");
}

/// The store's connection is killed while idle: the next operations fail cleanly or work,
/// and the store is usable again right after.
#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn connection_killed_while_idle_then_the_store_recovers() {
    let Some(fx) = Fixture::new("redis_idle_kill") else {
        return;
    };
    let store = fx.store().await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
    let mut admin = fx.admin().await;

    // A write first: the connection died before it was sent, but the client cannot know.
    let id = client_id(&store).await;
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let write = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .map(|m| m.version);
    let now = get_u64(&store, "k").await.expect("exists");
    match write {
        Ok(v) => assert_eq!((now.value, now.version), (2, v)),
        Err(StoreError::Indeterminate { .. }) => assert!(now.value == 1 || now.value == 2),
        other => panic!("expected success or Indeterminate, got {other:?}"),
    }
    eprintln!("write after an idle kill: {write:?}");

    // A read first: Unavailable or a correct answer, then it works.
    let id = client_id(&store).await;
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    match VersionedStore::<u64>::head(&store, "k").await {
        Ok(meta) => assert_eq!(meta.map(|m| m.version), Some(now.version)),
        Err(StoreError::Unavailable { .. }) => {}
        other => panic!("expected a read or Unavailable, got {other:?}"),
    }
    let v = store
        .put("k", 3u64, Expect::Version(now.version))
        .await
        .expect("recovered")
        .version;
    assert_eq!(get_u64(&store, "k").await.unwrap().version, v);

    // Over RESP3 the connection manager hears of the drop at once and reconnects in the
    // background: a write a little later goes through on the new connection.
    let store3 = RedisStore::connect(&with_param(&fx.url, "protocol=resp3"), fx.options())
        .await
        .expect("RESP3 connection");
    let id = client_id(&store3).await;
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("ID")
        .arg(id)
        .query_async(&mut admin)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v4 = store3
        .put("k", 4u64, Expect::Version(v))
        .await
        .expect("RESP3: reconnected before the next write")
        .version;
    assert_ne!(client_id(&store3).await, id);
    assert_eq!(get_u64(&store, "k").await.unwrap().version, v4);
}

/// A client-side response timeout on a stalled server: a write is Indeterminate (it was
/// sent, and here the server does apply it later), a read is Unavailable, and the store
/// works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn response_timeout_is_indeterminate_for_a_write_and_the_store_works_afterwards() {
    let Some(fx) = Fixture::new("redis_timeout") else {
        return;
    };
    let _stall = SERVER_STALL.lock().await;
    let store = fx
        .store_with(fx.options().response_timeout(Duration::from_millis(150)))
        .await;
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;

    let stall = fx.stall_server(Duration::from_millis(800)).await;
    let started = Instant::now();
    let write = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .map(|m| m.version);
    let waited = started.elapsed();
    match &write {
        Err(StoreError::Indeterminate { key, .. }) => assert_eq!(key, "k"),
        other => panic!("expected Indeterminate, got {other:?}"),
    }
    assert!(
        waited < Duration::from_millis(600),
        "the timeout fired after {waited:?}"
    );
    match VersionedStore::<u64>::get(&store, "k").await {
        Err(StoreError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable for a read, got {other:?}"),
    }
    stall.await.unwrap();

    // The server ran the queued write once it was free; whatever happened, the state is one
    // of the two, and the store answers again on the same connection.
    let now = get_u64(&store, "k").await.expect("exists");
    assert!(
        (now.value, now.version) == (1, v1) || (now.value == 2 && now.version > v1),
        "unexpected state {now:?}"
    );
    eprintln!(
        "after the timeout the key holds {} (version {})",
        now.value, now.version
    );
    let v3 = store
        .put("k", 3u64, Expect::Version(now.version))
        .await
        .expect("works afterwards")
        .version;
    assert!(v3 > now.version);
}

/// The server goes away and comes back (a TCP proxy in front of it is stopped and started):
/// while it is gone, operations fail fast with Unavailable (a refused reconnect means nothing
/// was sent), never a hang; then the store works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn server_gone_is_unavailable_and_the_store_reconnects() {
    let Some(fx) = Fixture::new("redis_proxy") else {
        return;
    };
    let info = redis::Client::open(fx.url.as_str())
        .unwrap()
        .get_connection_info()
        .clone();
    let target: SocketAddr = match &info.addr {
        redis::ConnectionAddr::Tcp(host, port) => {
            format!("{host}:{port}").parse().expect("an IP address")
        }
        other => {
            eprintln!("SKIPPED: the proxy test needs a plain TCP URL, not {other:?}");
            return;
        }
    };
    let proxy = Proxy::start(target, 0);
    let port = proxy.port();
    let url = format!("redis://127.0.0.1:{port}/{}", info.redis.db);
    assert!(
        info.redis.password.is_none(),
        "the proxy test builds its URL without credentials"
    );
    let options = fx.options().connection_timeout(Duration::from_millis(500));
    let store = RedisStore::connect(&url, options).await.unwrap();
    let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;

    proxy.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The first write after the drop: the client cannot tell whether it was sent.
    let first = store
        .put("k", 2u64, Expect::Version(v1))
        .await
        .map(|m| m.version);
    assert!(
        matches!(
            first,
            Err(StoreError::Indeterminate { .. } | StoreError::Unavailable { .. })
        ),
        "{first:?}"
    );
    // Then reconnects are refused: Unavailable for writes and reads, fast.
    for _ in 0..3 {
        let started = Instant::now();
        let write = store
            .put("k", 3u64, Expect::Version(v1))
            .await
            .map(|m| m.version);
        assert!(
            matches!(write, Err(StoreError::Unavailable { .. })),
            "{write:?}"
        );
        let read = VersionedStore::<u64>::get(&store, "k").await;
        assert!(
            matches!(read, Err(StoreError::Unavailable { .. })),
            "{read:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    let proxy = Proxy::start(target, port);
    let mut recovered = None;
    for _ in 0..20 {
        match VersionedStore::<u64>::get(&store, "k").await {
            Ok(found) => {
                recovered = found;
                break;
            }
            Err(StoreError::Unavailable { .. }) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let now = recovered.expect("the store reconnected");
    // Nothing reached the server while the proxy was down.
    assert_eq!((now.value, now.version), (1, v1));
    store
        .put("k", 4u64, Expect::Version(v1))
        .await
        .expect("writes work again");
    proxy.stop();
}

// ---------------------------------------------------------------------------------------------
// Commits and listing (single server)

#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn commits_and_listing_on_a_single_server() {
    let Some(fx) = Fixture::new("redis_commit") else {
        return;
    };
    let store = fx.store().await;
    let caps = VersionedStore::<u64>::capabilities(&store);
    assert_eq!(caps.max_commit_keys, optimist::redis::MAX_COMMIT_KEYS);
    assert!(caps.list);
    commits_and_listing(&store, "").await;
}

/// The script answers a resend of an applied write (same write id) with that write's reply,
/// not with a conflict against it, and writes nothing more; without a write id it runs again.
#[tokio::test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn a_resent_write_answers_its_first_reply() {
    let Some(fx) = Fixture::new("redis_resend") else {
        return;
    };
    let mut admin = fx.admin().await;
    let p = &fx.prefix;
    let keys = [
        format!("{p}:k:doc"),
        format!("{p}:version"),
        format!("{p}:index"),
        format!("{p}:w:id-1"),
    ];
    let script = include_str!("../src/redis/commit.lua");
    let run = |wid: &'static str| {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(&keys[..]);
        // One create-only put of "1".
        cmd.arg(1)
            .arg(wid)
            .arg(0)
            .arg("p")
            .arg("absent")
            .arg(0)
            .arg("1");
        cmd
    };
    let first: Vec<u64> = run("id-1").query_async(&mut admin).await.unwrap();
    assert_eq!(first[0], 1, "applied: {first:?}");
    let again: Vec<u64> = run("id-1").query_async(&mut admin).await.unwrap();
    assert_eq!(again, first, "the resend answers the first reply");
    let counter: u64 = redis::cmd("GET")
        .arg(&keys[1])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(counter, first[2], "the resend drew no version");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&keys[3])
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 600_000, "the marker expires: {ttl}");
    // Without a write id (a single server: the client never resends) the script runs again,
    // and the create-only put is refused with the current version.
    let fresh: Vec<u64> = run("").query_async(&mut admin).await.unwrap();
    assert_eq!(fresh, vec![0, 1, first[2]]);
}

/// What both modes share: all-or-nothing commits naming every failed key, checks, deletes,
/// and listing under a prefix (`tag` is a hash tag in cluster mode, so the keys share a slot).
async fn commits_and_listing(store: &RedisStore, tag: &str) {
    let k = |name: &str| format!("{tag}{name}");
    let (user, email) = (k("user:ann"), k("email:ann@example.com"));
    let applied = store
        .commit(
            optimist::Commit::new()
                .put(&user, 1u64, Expect::Absent)
                .put(&email, 2u64, Expect::Absent)
                .check(k("email:other"), Expect::Absent),
        )
        .await
        .expect("commit");
    let (vu, ve) = match applied[..] {
        [
            optimist::Applied::Put(u),
            optimist::Applied::Put(e),
            optimist::Applied::Checked(None),
        ] => (u.version, e.version),
        ref other => panic!("{other:?}"),
    };
    assert_ne!(vu, ve, "each written key gets its own version");
    assert_eq!(get_u64(store, &user).await.map(|r| r.version), Some(vu));

    // Two failed expectations: both named with their current versions, nothing written.
    let err = store
        .commit(
            optimist::Commit::new()
                .put(&user, 9u64, Expect::Absent)
                .put(k("new"), 9u64, Expect::Absent)
                .delete(&email, Expect::Version(vu)),
        )
        .await
        .unwrap_err();
    let refused = err.as_commit_conflict().expect("a commit conflict");
    assert_eq!(refused.conflicts().len(), 2, "{refused}");
    assert_eq!(refused.get(&user).unwrap().current(), Some(vu));
    assert_eq!(refused.get(&email).unwrap().current(), Some(ve));
    assert!(get_u64(store, &k("new")).await.is_none(), "nothing written");
    assert_eq!(get_u64(store, &user).await.unwrap().value, 1);

    // A delete and a put together; the deleted key's version is never handed out again.
    let applied = store
        .commit(
            optimist::Commit::new()
                .delete(&email, Expect::Version(ve))
                .put(&user, 3u64, Expect::Version(vu)),
        )
        .await
        .unwrap();
    assert_eq!(applied[0], optimist::Applied::Deleted(Some(ve)));
    let recreated = store.put(&email, 4u64, Expect::Absent).await.unwrap();
    assert!(recreated.version > ve);

    // Listing: byte order, pages, values, glob characters taken literally.
    for name in ["l/b", "l/a", "l/*", "l/[x]", "l/é", "l/c?", "m/a"] {
        store.put(&k(name), 7u64, Expect::Any).await.unwrap();
    }
    let mut listed = Vec::new();
    let mut request = optimist::ListRequest::prefix(k("l/")).limit(2);
    loop {
        let page: optimist::ListPage<u64> = store.list(request.clone()).await.unwrap();
        assert!(page.entries.len() <= 2);
        listed.extend(page.entries.iter().map(|e| e.key.clone()));
        match page.next {
            Some(next) => request = request.after(next),
            None => break,
        }
    }
    let mut expected: Vec<String> = ["l/b", "l/a", "l/*", "l/[x]", "l/é", "l/c?"]
        .iter()
        .map(|n| k(n))
        .collect();
    expected.sort();
    assert_eq!(listed, expected);
    let globbed: optimist::ListPage<u64> = store
        .list(optimist::ListRequest::prefix(k("l/[")).with_values())
        .await
        .unwrap();
    assert_eq!(globbed.entries.len(), 1);
    assert_eq!(globbed.entries[0].key, k("l/[x]"));
    assert_eq!(globbed.entries[0].value, Some(7));
    let star: optimist::ListPage<u64> = store
        .list(optimist::ListRequest::prefix(k("l/*")))
        .await
        .unwrap();
    assert_eq!(star.entries.len(), 1, "'*' is just a byte");
    // A deleted key leaves the index.
    VersionedStore::<u64>::delete(store, &k("l/a"), Expect::Exists)
        .await
        .unwrap();
    let page: optimist::ListPage<u64> = store
        .list(optimist::ListRequest::prefix(k("l/")))
        .await
        .unwrap();
    assert!(!page.entries.iter().any(|e| e.key == k("l/a")));
    assert_eq!(page.entries.len(), 5);
}

// ---------------------------------------------------------------------------------------------
// Redis Cluster (`OPTIMIST_REDIS_CLUSTER_URL`, e.g. from `.ci/redis-cluster.sh`)

/// A cluster test's store under its own prefix; its keys are deleted from every master when
/// dropped. Holds the shared cluster lock (the failover test takes it exclusively).
struct ClusterFixture {
    url: String,
    prefix: String,
    _lock: common::redis_cluster::ClusterLock,
}

impl ClusterFixture {
    fn new(base: &str) -> Option<Self> {
        let url = common::env_url(common::redis_cluster::VAR)?;
        Some(Self {
            url,
            prefix: common::unique_name(base),
            _lock: common::redis_cluster::ClusterLock::shared(),
        })
    }

    async fn store(&self) -> RedisStore {
        RedisStore::connect(
            &self.url,
            RedisOptions::default().prefix(self.prefix.clone()),
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{}={} is set but: {e}",
                common::redis_cluster::VAR,
                self.url
            )
        })
    }
}

impl Drop for ClusterFixture {
    fn drop(&mut self) {
        let (url, prefix) = (self.url.clone(), self.prefix.clone());
        // A runtime of its own: drop runs inside the test's runtime, which cannot block.
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(common::redis_cluster::cleanup(&url, &prefix))
        })
        .join()
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(optimist_redis_cluster_url),
    ignore = "OPTIMIST_REDIS_CLUSTER_URL is not set"
)]
async fn cluster_passes_the_testkit_within_a_hash_tag() {
    let Some(fx) = ClusterFixture::new("redis_ckit") else {
        return;
    };
    let store = fx.store().await;
    assert!(store.is_cluster());
    let caps = VersionedStore::<u64>::capabilities(&store);
    assert!(caps.supports_commit() && caps.list);
    // Every key of the kit holds the tag: one slot, so commits and listing apply.
    let report = testkit::Kit::new(&store)
        .prefix("{kit}/")
        .run::<u64>()
        .await;
    assert!(report.checks.iter().any(|c| c.name.contains("commit")));
    testkit::run_all::<serde_json::Value, _>(&store, "{json}/").await;
    assert!(
        common::redis_cluster::cleanup(&fx.url, &fx.prefix).await > 0,
        "the kit wrote keys under the prefix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(optimist_redis_cluster_url),
    ignore = "OPTIMIST_REDIS_CLUSTER_URL is not set"
)]
async fn cluster_commits_and_lists_within_a_slot_and_refuses_across_slots() {
    let Some(fx) = ClusterFixture::new("redis_cslot") else {
        return;
    };
    let store = fx.store().await;
    commits_and_listing(&store, "{ann}").await;

    // Keys spread over the cluster: single-key writes work on every one, and the data hash
    // and its counter share the key's slot.
    let mut slots = HashSet::new();
    for i in 0..24 {
        let key = format!("spread-{i}");
        let meta = store.put(&key, i, Expect::Absent).await.unwrap();
        let data_key = format!("{}:k:{key}", fx.prefix);
        slots.insert(common::redis_cluster::keyslot(&fx.url, data_key.as_bytes()).await);
        // Versions in cluster mode are drawn at or above the clock (ms * 1000).
        let floor = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
            * 1000;
        assert!(meta.version.get() + 60_000_000 > floor, "{}", meta.version);
        let deleted = VersionedStore::<u64>::delete(&store, &key, Expect::Version(meta.version));
        assert_eq!(deleted.await.unwrap(), Some(meta.version));
        let again = store.put(&key, i, Expect::Absent).await.unwrap();
        assert!(
            again.version > meta.version,
            "no version reused after delete"
        );
    }
    assert!(slots.len() > 10, "keys spread over slots: {slots:?}");
    let masters = common::redis_cluster::masters(&fx.url).await;
    assert_eq!(masters.len(), 3, "{masters:?}");

    // Across slots: refused before anything is sent, naming the keys.
    let err = store
        .commit(
            optimist::Commit::new()
                .put("{a}x", 1u64, Expect::Absent)
                .put("{b}x", 1u64, Expect::Absent),
        )
        .await
        .unwrap_err();
    match &err {
        StoreError::InvalidCommit { reason } => {
            assert!(
                reason.contains("\"{b}x\"") && reason.contains("hash tag"),
                "{reason}"
            )
        }
        other => panic!("expected InvalidCommit, got {other:?}"),
    }
    assert!(
        get_u64(&store, "{a}x").await.is_none(),
        "never a partial write"
    );

    // Listing needs a prefix fixing a hash tag.
    for prefix in ["", "spread-", "{ann", "{}x"] {
        let r: Result<optimist::ListPage<u64>, _> =
            store.list(optimist::ListRequest::prefix(prefix)).await;
        let refused = matches!(
            r,
            Err(StoreError::Unsupported { operation }) if operation.contains("hash tag")
        );
        assert!(refused, "{prefix:?}");
    }

    // A prefix holding a brace cannot name cluster keys.
    let err = RedisStore::connect(&fx.url, RedisOptions::default().prefix("a{b}"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}
