//! Faults for the Redis backend that `backend_redis.rs` does not inject, through a TCP proxy
//! in front of the server (`tests/common/proxy.rs`): replies lost after a write was carried
//! out, and a server that hangs and then delivers everything late; and, on the server
//! itself, a stall (a busy Lua script: `DEBUG SLEEP` is disabled) with many CAS in flight
//! against the response timeout. Each asserts the store reports `Indeterminate` or a clean
//! error (never a hang, never a wrong answer), that a write whose outcome was unknown was
//! applied at most once, and that the store recovers once the server is back.
//!
//! Long mode: `OPTIMIST_FAULT_ROUNDS=N` repeats each test's fault cycle N times.
//!
//! Needs `OPTIMIST_REDIS_URL`; skips loudly without it. Every test uses its own key prefix
//! and deletes its keys at the end (never FLUSHALL: the server is shared).
#![cfg(all(feature = "redis", feature = "testkit"))]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::proxy::{Mode, proxied};
use optimist::redis::{RedisOptions, RedisStore};
use optimist::{Expect, StoreError, Version, Versioned, VersionedStore};

const VAR: &str = "OPTIMIST_REDIS_URL";

/// One test at a time: the stall test blocks the whole server, which would turn the short
/// response timeouts of the others into failures.
static SERVER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Busy-waits inside the server for `ARGV[1]` microseconds: nothing else runs meanwhile.
const BUSY_LUA: &str = "local t0 = redis.call('TIME') \
    local s = t0[1] * 1000000 + t0[2] \
    repeat local t = redis.call('TIME') until (t[1] * 1000000 + t[2]) - s >= tonumber(ARGV[1]) \
    return 1";

/// A test's key prefix; deletes every key under it when dropped.
struct Keys {
    url: String,
    prefix: String,
}

impl Keys {
    fn new(url: &str, base: &str) -> Self {
        Self {
            url: url.to_owned(),
            prefix: common::unique_name(base),
        }
    }

    fn options(&self) -> RedisOptions {
        RedisOptions::default().prefix(self.prefix.clone())
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        else {
            eprintln!("cleanup: cannot connect to {}", self.url);
            return;
        };
        // The prefix is letters, digits and underscores: no glob character to escape.
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)): Result<(u64, Vec<Vec<u8>>), _> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}:*", self.prefix))
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn)
            else {
                return;
            };
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }
}

async fn connect(url: &str, options: RedisOptions) -> RedisStore {
    RedisStore::connect(url, options)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

async fn get_u64(store: &RedisStore, key: &str) -> Option<(u64, Version)> {
    let read: Option<Versioned<u64>> = store.get(key).await.expect("get");
    read.map(|r| (r.value, r.version))
}

/// Reads `key` until the store answers (the server is back); fails after ~10 s.
async fn read_until_back(store: &RedisStore, key: &str) -> Option<(u64, Version)> {
    for _ in 0..100 {
        match VersionedStore::<u64>::get(store, key).await {
            Ok(read) => return read.map(|r| (r.value, r.version)),
            Err(StoreError::Unavailable { .. }) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(other) => panic!("expected Unavailable until the server is back, got {other:?}"),
        }
    }
    panic!("the store did not recover within ~10 s of the server coming back");
}

/// The server-side id of the store's connection.
async fn client_id(store: &RedisStore) -> i64 {
    redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut store.connection_manager().expect("a single server"))
        .await
        .expect("CLIENT ID")
}

/// After a fault, the connection answers each request with its own reply: writes and reads
/// of 20 distinct keys, interleaved and concurrent, all see exactly what was written (a
/// connection that matched replies to the wrong requests would mix them up).
async fn replies_match_requests(store: &RedisStore) {
    let store = Arc::new(store.clone());
    let tasks: Vec<_> = (0..20u64)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let key = format!("check{i}");
                let v = store.put(&key, 1000 + i, Expect::Any).await?.version;
                let read: Option<Versioned<u64>> = store.get(&key).await?;
                Ok::<_, StoreError>((i, v, read))
            })
        })
        .collect();
    for task in tasks {
        let (i, v, read) = task.await.unwrap().expect("works after the fault");
        let read = read.expect("just written");
        assert_eq!((read.value, read.version), (1000 + i, v), "check{i}");
    }
}

/// Replies are lost: the connection is cut as soon as the server answers. The CAS reached
/// the server and was carried out: Indeterminate, and the stored state is that write's.
/// Meanwhile reads and reconnections fail as Unavailable; then the store reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn lost_replies_make_writes_indeterminate_then_the_store_reconnects() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let _one_at_a_time = SERVER.lock().await;
    for _round in 0..common::proxy::fault_rounds() {
        let Some((proxy, through)) = proxied(&url) else {
            return;
        };
        let keys = Keys::new(&url, "redis_cut");
        let options = keys
            .options()
            .connection_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_secs(2));
        let store = connect(&through, options.clone()).await;
        let direct = connect(&url, options).await;
        let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
        let d = store.put("d", 1u64, Expect::Absent).await.unwrap().version;
        // Load the delete script too: a NOSCRIPT reply would be cut before the script ran.
        let x = store.put("x", 1u64, Expect::Absent).await.unwrap().version;
        VersionedStore::<u64>::delete(&store, "x", Expect::Version(x))
            .await
            .unwrap();

        let mut outcomes = Vec::new();
        for (what, round) in [("put", 0), ("delete", 1)] {
            if round == 1 {
                // The connection manager reconnects first.
                read_until_back(&store, "k").await;
            }
            proxy.set_mode(Mode::CutOnReply);
            let result = match what {
                "put" => store
                    .put("k", 2u64, Expect::Version(v1))
                    .await
                    .map(|m| Some(m.version)),
                _ => VersionedStore::<u64>::delete(&store, "d", Expect::Version(d)).await,
            };
            let read = VersionedStore::<u64>::get(&store, "k").await;
            proxy.set_mode(Mode::Forward);
            assert!(
                matches!(result, Err(StoreError::Indeterminate { .. })),
                "{what}: {result:?}"
            );
            assert!(
                matches!(read, Err(StoreError::Unavailable { .. })),
                "{read:?}"
            );
            outcomes.push(format!("{what}: {}", result.unwrap_err()));
        }
        // Both reached the server: applied (Redis runs a script whole before it replies).
        let k = get_u64(&direct, "k").await.expect("exists");
        assert_eq!(k.0, 2, "the cut CAS was applied");
        assert!(k.1 > v1);
        assert_eq!(
            get_u64(&direct, "d").await,
            None,
            "the cut delete was applied"
        );

        // The store reconnects and answers correctly.
        assert_eq!(read_until_back(&store, "k").await, Some(k));
        let v3 = store
            .put("k", 3u64, Expect::Version(k.1))
            .await
            .unwrap()
            .version;
        assert_eq!(get_u64(&direct, "k").await, Some((3, v3)));
        replies_match_requests(&store).await;
        assert!(proxy.cuts() >= 2);
        eprintln!("lost replies: {outcomes:#?}");
    }
}

/// The server hangs (the proxy holds every byte): a CAS is Indeterminate and a read
/// Unavailable once the response timeout passes, never later. Then everything held is
/// delivered: the CAS is carried out late, once; the late replies do not get mixed up with
/// the answers to later requests on the same connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn hung_server_times_out_and_late_replies_do_not_confuse_the_store() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let _one_at_a_time = SERVER.lock().await;
    for _round in 0..common::proxy::fault_rounds() {
        let Some((proxy, through)) = proxied(&url) else {
            return;
        };
        let keys = Keys::new(&url, "redis_hold");
        let options = keys
            .options()
            .connection_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_millis(300));
        let store = connect(&through, options.clone()).await;
        let direct = connect(&url, options).await;
        let v1 = store.put("k", 1u64, Expect::Absent).await.unwrap().version;
        let connection_before = client_id(&store).await;

        proxy.set_mode(Mode::Hold);
        let write = store
            .put("k", 2u64, Expect::Version(v1))
            .await
            .map(|m| m.version);
        let read = VersionedStore::<u64>::get(&store, "k").await;
        let other = store
            .put("other", 7u64, Expect::Absent)
            .await
            .map(|m| m.version);
        assert!(
            matches!(write, Err(StoreError::Indeterminate { .. })),
            "{write:?}"
        );
        assert!(
            matches!(read, Err(StoreError::Unavailable { .. })),
            "{read:?}"
        );
        assert!(
            matches!(other, Err(StoreError::Indeterminate { .. })),
            "{other:?}"
        );
        // Nothing reached the server yet.
        assert_eq!(get_u64(&direct, "k").await, Some((1, v1)));
        assert_eq!(get_u64(&direct, "other").await, None);

        proxy.set_mode(Mode::Forward);
        // The held requests arrive now, in order, and run; their replies come back to requests
        // that gave up. Whatever the connection does with them, later answers must be right.
        let mut settled = None;
        for _ in 0..100 {
            let k = read_until_back(&store, "k").await.expect("exists");
            let other = VersionedStore::<u64>::get(&store, "other").await;
            if k.0 == 2 && matches!(other, Ok(Some(_))) {
                settled = Some(k);
                break;
            }
            // Before the held CAS ran, the old state; never anything else.
            assert!(k == (1, v1) || k.0 == 2, "{k:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let k = settled.expect("the held writes were delivered and applied");
        assert!(k.1 > v1);
        assert_eq!(get_u64(&direct, "k").await, Some(k));
        assert_eq!(get_u64(&direct, "other").await.map(|o| o.0), Some(7));
        replies_match_requests(&store).await;
        let same = client_id(&store).await == connection_before;
        eprintln!(
            "hung server: the late replies arrived on {} connection",
            if same { "the same" } else { "a replaced" }
        );
        // The late CAS cannot apply twice: its expectation is stale now.
        let v3 = store
            .put("k", 3u64, Expect::Version(k.1))
            .await
            .unwrap()
            .version;
        assert_eq!(get_u64(&direct, "k").await, Some((3, v3)));
    }
}

/// The server stalls (a busy script) with 10 CAS in flight, all expecting the same version:
/// each is Indeterminate after the response timeout; when the server is free it runs them
/// all and exactly one applies (one version was drawn); the store works afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
async fn concurrent_cas_during_a_stall_apply_exactly_once() {
    let Some(url) = common::env_url(VAR) else {
        return;
    };
    let _one_at_a_time = SERVER.lock().await;
    for _round in 0..common::proxy::fault_rounds() {
        let keys = Keys::new(&url, "redis_stall_cas");
        let store = connect(
            &url,
            keys.options().response_timeout(Duration::from_millis(150)),
        )
        .await;
        let v1 = store.put("k", 0u64, Expect::Absent).await.unwrap().version;

        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Duration::from_secs(5))
            .set_response_timeout(Duration::from_secs(10));
        let mut admin = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .expect("admin connection");
        let stall = tokio::spawn(async move {
            let _: i64 = redis::cmd("EVAL")
                .arg(BUSY_LUA)
                .arg(0)
                .arg(800_000)
                .query_async(&mut admin)
                .await
                .expect("busy script");
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let tasks: Vec<_> = (1..=10u64)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .put("k", i, Expect::Version(v1))
                        .await
                        .map(|m| m.version)
                })
            })
            .collect();
        for task in tasks {
            let result = task.await.unwrap();
            assert!(
                matches!(result, Err(StoreError::Indeterminate { .. })),
                "{result:?}"
            );
        }
        stall.await.unwrap();
        // The queued scripts ran in order once the server was free: the first applied, the
        // other nine found a newer version and were refused.
        let mut now = None;
        for _ in 0..100 {
            match VersionedStore::<u64>::get(&store, "k").await {
                Ok(read) => {
                    now = read.map(|r| (r.value, r.version));
                    break;
                }
                Err(StoreError::Unavailable { .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(other) => panic!("{other:?}"),
            }
        }
        let (value, version) = now.expect("exists");
        assert!((1..=10).contains(&value), "{value}");
        assert_eq!(
            version.get(),
            v1.get() + 1,
            "exactly one of the ten drew a version"
        );
        let v = store
            .put("k", 100u64, Expect::Version(version))
            .await
            .unwrap()
            .version;
        assert_eq!(get_u64(&store, "k").await, Some((100, v)));
        eprintln!("stall: 10 CAS Indeterminate, exactly one applied (value {value})");
    }
}
