//! Two `optimist serve` processes on one shared store guard each other's updates: 8 clients
//! split across both x 25 GET + `If-Match` PUT increments end at exactly 200.
//!
//! Runs against PostgreSQL, Redis, Redis Cluster, etcd and MariaDB when `OPTIMIST_PG_URL` /
//! `OPTIMIST_REDIS_URL` / `OPTIMIST_REDIS_CLUSTER_URL` / `OPTIMIST_ETCD_URL` /
//! `OPTIMIST_MYSQL_URL` are set (as `.ci/run` does); says loudly that it skipped otherwise.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;

const CLIENTS: u64 = 8;
const INCREMENTS: u64 = 25;

fn env_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            say_skipped(&format!(
                "{var} is not set, so the two-process test did not run against it"
            ));
            None
        }
    }
}

fn two_servers_share(store: &str) {
    let a = Arc::new(Server::start_with(&["--store", store]));
    let b = Arc::new(Server::start_with(&["--store", store]));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let username = format!("shared-{}-{nanos}", std::process::id());
    // Created through one process, visible through the other.
    let etag = create(&a, &json!({"username": username, "count": 0}));
    let (_, etag_b) = fetch(&b, &username);
    assert_eq!(etag, etag_b, "both processes see the same version");
    // A create through the other process is a duplicate.
    b.request("POST", "/api/users")
        .json(&json!({"username": username}))
        .send()
        .conflict(409, &etag);

    let retries = increment_race(
        &[Arc::clone(&a), Arc::clone(&b)],
        &username,
        CLIENTS,
        INCREMENTS,
    );
    for server in [&a, &b] {
        let (doc, _) = fetch(server, &username);
        assert_eq!(
            doc["count"],
            CLIENTS * INCREMENTS,
            "lost or duplicated increments"
        );
    }
    println!(
        "{store}: {CLIENTS} clients over 2 processes x {INCREMENTS}: 200 reached, {retries} retries after 412"
    );
    // Clean up through the other process, with the current ETag.
    let (_, current) = fetch(&b, &username);
    a.request("DELETE", &user_path(&username))
        .header("If-Match", &current)
        .send()
        .assert_status(204);
}

#[test]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
fn two_processes_share_postgres() {
    if let Some(url) = env_url("OPTIMIST_PG_URL") {
        two_servers_share(&url);
    }
}

#[test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
fn two_processes_share_redis() {
    if let Some(url) = env_url("OPTIMIST_REDIS_URL") {
        two_servers_share(&url);
    }
}

#[test]
#[cfg_attr(
    not(optimist_redis_cluster_url),
    ignore = "OPTIMIST_REDIS_CLUSTER_URL is not set"
)]
fn two_processes_share_redis_cluster() {
    if let Some(url) = env_url("OPTIMIST_REDIS_CLUSTER_URL") {
        two_servers_share(&url);
    }
}

#[test]
#[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
fn two_processes_share_etcd() {
    if let Some(url) = env_url("OPTIMIST_ETCD_URL") {
        two_servers_share(&url);
    }
}

#[test]
#[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
fn two_processes_share_mariadb() {
    if let Some(url) = env_url("OPTIMIST_MYSQL_URL") {
        two_servers_share(&url);
    }
}

#[test]
fn two_processes_share_sqlite() {
    let path =
        std::env::temp_dir().join(format!("optimist-serve-shared-{}.db", std::process::id()));
    let spec = format!("sqlite:{}", path.display());
    two_servers_share(&spec);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
