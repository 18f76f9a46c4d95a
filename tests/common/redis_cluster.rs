//! Helpers for the tests against the Redis Cluster of `.ci/redis-cluster.sh`
//! (`OPTIMIST_REDIS_CLUSTER_URL`): its nodes, which master owns a slot, deleting a test's
//! keys from every master, and a lock between test processes (nextest runs each test in its
//! own process) so the failover test never kills a master under another test.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

pub const VAR: &str = "OPTIMIST_REDIS_CLUSTER_URL";

/// The `host:port` of every node named in a `redis+cluster://` URL.
pub fn nodes(url: &str) -> Vec<String> {
    let rest = url
        .strip_prefix("redis+cluster://")
        .expect("a redis+cluster:// URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    rest[..end].split(',').map(str::to_owned).collect()
}

/// A plain connection to one node.
pub async fn node(addr: &str) -> redis::RedisResult<MultiplexedConnection> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Duration::from_secs(2))
        .set_response_timeout(Duration::from_secs(5));
    redis::Client::open(format!("redis://{addr}"))?
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

/// The nodes that answer and are masters.
pub async fn masters(url: &str) -> Vec<String> {
    let mut out = Vec::new();
    for addr in nodes(url) {
        let Ok(mut conn) = node(&addr).await else {
            continue;
        };
        let role: redis::RedisResult<Vec<redis::Value>> =
            redis::cmd("ROLE").query_async(&mut conn).await;
        if let Ok(role) = role {
            if matches!(role.first(), Some(redis::Value::BulkString(r)) if r == b"master") {
                out.push(addr);
            }
        }
    }
    out
}

/// The master owning `slot`, asked of any node that answers.
pub async fn master_of(url: &str, slot: u16) -> Option<String> {
    for addr in nodes(url) {
        let Ok(mut conn) = node(&addr).await else {
            continue;
        };
        let Ok(ranges): redis::RedisResult<Vec<Vec<redis::Value>>> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut conn)
            .await
        else {
            continue;
        };
        // Each range: start, end, the master [host, port, id, ...], then its replicas.
        for range in ranges {
            let (Some(lo), Some(hi), Some(master)) = (range.first(), range.get(1), range.get(2))
            else {
                continue;
            };
            let lo: u16 = redis::from_redis_value(lo).ok()?;
            let hi: u16 = redis::from_redis_value(hi).ok()?;
            if (lo..=hi).contains(&slot) {
                let master: Vec<redis::Value> = redis::from_redis_value(master).ok()?;
                let host: String = redis::from_redis_value(master.first()?).ok()?;
                let port: u16 = redis::from_redis_value(master.get(1)?).ok()?;
                return Some(format!("{host}:{port}"));
            }
        }
    }
    None
}

/// The slot of `key`, asked of the cluster (`CLUSTER KEYSLOT`).
pub async fn keyslot(url: &str, key: &[u8]) -> u16 {
    let mut conn = node(&nodes(url)[0]).await.expect("a node");
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut conn)
        .await
        .expect("CLUSTER KEYSLOT")
}

/// Deletes every key under `prefix:` on every master; returns how many there were.
pub async fn cleanup(url: &str, prefix: &str) -> usize {
    let mut deleted = 0;
    for addr in masters(url).await {
        let Ok(mut conn) = node(&addr).await else {
            continue;
        };
        let mut cursor = 0u64;
        loop {
            let Ok((next, keys)): redis::RedisResult<(u64, Vec<Vec<u8>>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{prefix}:*"))
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut conn)
                .await
            else {
                break;
            };
            for key in keys {
                // One at a time: the keys of one node may still be in different slots.
                let n: i64 = redis::cmd("DEL")
                    .arg(&key)
                    .query_async(&mut conn)
                    .await
                    .unwrap_or(0);
                deleted += n as usize;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    deleted
}

/// Runs `.ci/redis-cluster.sh` with `args`.
pub fn script(args: &[&str]) {
    let status = std::process::Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/redis-cluster.sh"))
        .args(args)
        .status()
        .expect("run .ci/redis-cluster.sh");
    assert!(status.success(), ".ci/redis-cluster.sh {args:?} failed");
}

/// A lock on the cluster shared by the test processes: shared for tests that only use it,
/// exclusive for the test that kills a node. Released when dropped.
pub struct ClusterLock(File);

impl ClusterLock {
    fn take(operation: libc::c_int) -> Self {
        let path = std::env::temp_dir().join("optimist-redis-cluster.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .expect("open the cluster lock file");
        // SAFETY: flock on a file descriptor this File owns.
        let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
        assert_eq!(rc, 0, "flock {path:?}");
        Self(file)
    }

    /// For a test that uses the cluster as it is.
    pub fn shared() -> Self {
        Self::take(libc::LOCK_SH)
    }

    /// For a test that kills a node.
    pub fn exclusive() -> Self {
        Self::take(libc::LOCK_EX)
    }
}
