//! The native baseline for `optimist bench --store mysql://...`: the same read and the same
//! write transaction as the MariaDB backend (`BEGIN`; lock the row with `INSERT ... ON
//! DUPLICATE KEY UPDATE ... RETURNING`; compare the version; `REPLACE ... NEXTVAL ...
//! RETURNING`; `COMMIT`), written directly against `mysql_async`: no serde, no store trait,
//! no pool checkout per operation (one connection per worker). A lost compare re-reads
//! and tries again, as `update_with` does.
//!
//! ```text
//! OPTIMIST_MYSQL_URL=mysql://root@127.0.0.1:3306/test \
//!   cargo bench --features mysql --bench mysql_raw -- [WORKERS] [SECONDS] [KEYS]
//! ```
//!
//! Prints one line per run: workers, successful CAS/s, conflicts. Uses its own table and
//! sequence (`optimist_mysql_native`, `optimist_mysql_native_version_seq`), dropped at
//! the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row, Value};

const TABLE: &str = "optimist_mysql_native";

/// One increment of `key` by read + compare-and-swap, retried until it wins; returns the
/// number of lost compares.
async fn increment(conn: &mut Conn, key: &str, pad: &str) -> u64 {
    let mut lost = 0;
    loop {
        let read: Option<(u64, Value, Vec<u8>)> = conn
            .exec_first(
                format!("SELECT version, modified, data FROM {TABLE} WHERE `key` = ?"),
                (key,),
            )
            .await
            .unwrap();
        let n = read.as_ref().map_or(0, |(_, _, d)| {
            let v: serde_json::Value = serde_json::from_slice(d).unwrap();
            v["n"].as_u64().unwrap()
        });
        let data = format!("{{\"n\":{},\"pad\":\"{pad}\"}}", n + 1);
        conn.query_drop("BEGIN").await.unwrap();
        let locked: Vec<Row> = conn
            .exec(
                format!(
                    "INSERT INTO {TABLE} (`key`, version, modified, data) \
                     VALUES (?, 0, UTC_TIMESTAMP(6), '') \
                     ON DUPLICATE KEY UPDATE version = version RETURNING `key`, version"
                ),
                (key,),
            )
            .await
            .unwrap();
        // 0: the key was absent (the placeholder row just inserted).
        let current: u64 = locked[0].get(1).unwrap();
        if Some(current).filter(|v| *v != 0) != read.map(|(v, _, _)| v) {
            conn.query_drop("ROLLBACK").await.unwrap();
            lost += 1;
            continue;
        }
        let _: Vec<Row> = conn
            .exec(
                format!(
                    "REPLACE INTO {TABLE} (`key`, version, modified, data) \
                     VALUES (?, NEXTVAL({TABLE}_version_seq), UTC_TIMESTAMP(6), ?) \
                     RETURNING `key`, version, modified"
                ),
                (key, Value::Bytes(data.into_bytes())),
            )
            .await
            .unwrap();
        conn.query_drop("COMMIT").await.unwrap();
        return lost;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let workers: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let keys: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let url = std::env::var("OPTIMIST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".to_owned());
    let opts: Opts = OptsBuilder::from_opts(Opts::from_url(&url).expect("a MariaDB URL"))
        .setup(vec![
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        ])
        .into();
    let mut admin = Conn::new(opts.clone()).await.expect("connect");
    for sql in [
        format!("DROP TABLE IF EXISTS {TABLE}"),
        format!("DROP SEQUENCE IF EXISTS {TABLE}_version_seq"),
        format!(
            "CREATE SEQUENCE {TABLE}_version_seq START WITH 1 MINVALUE 1 INCREMENT BY 1 \
             CACHE 1000 NOCYCLE"
        ),
        format!(
            "CREATE TABLE {TABLE} (`key` VARBINARY(3072) NOT NULL PRIMARY KEY, \
             version BIGINT UNSIGNED NOT NULL, modified DATETIME(6) NOT NULL, \
             data LONGBLOB NOT NULL) ENGINE=InnoDB"
        ),
    ] {
        admin.query_drop(sql).await.expect("schema");
    }

    let won = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (opts, won, lost, stop) = (opts.clone(), won.clone(), lost.clone(), stop.clone());
            tokio::spawn(async move {
                let mut conn = Conn::new(opts).await.expect("connect");
                let pad = "x".repeat(16);
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ w as u64;
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = format!("raw:{}", x % keys);
                    lost.fetch_add(increment(&mut conn, &key, &pad).await, Ordering::Relaxed);
                    won.fetch_add(1, Ordering::Relaxed);
                }
                conn.disconnect().await.ok();
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let won = won.load(Ordering::Relaxed);
    println!(
        "mysql_raw workers={workers} keys={keys} ran {elapsed:.2}s: \
         {:.0} successful CAS/s, {} conflicts",
        won as f64 / elapsed,
        lost.load(Ordering::Relaxed)
    );
    for sql in [
        format!("DROP TABLE IF EXISTS {TABLE}"),
        format!("DROP SEQUENCE IF EXISTS {TABLE}_version_seq"),
    ] {
        admin.query_drop(sql).await.expect("drop");
    }
    admin.disconnect().await.ok();
}
