//! The native baseline for `optimist bench --store sqlite:...`: the same read + `BEGIN
//! IMMEDIATE` compare-and-swap transaction, written directly against rusqlite with no async,
//! no serde and no store trait in between.
//!
//! ```text
//! cargo bench --features sqlite --bench sqlite_raw -- [WORKERS] [SECONDS] [KEYS]
//! ```
//!
//! Prints one line per run: workers, successful CAS/s, conflicts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS raw (key TEXT PRIMARY KEY, version INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS raw_counter (id INTEGER PRIMARY KEY CHECK (id = 1), next INTEGER NOT NULL);
INSERT OR IGNORE INTO raw_counter (id, next) VALUES (1, 0);
"#;

fn open(path: &str) -> Connection {
    let conn = Connection::open(path).expect("open the database");
    conn.pragma_update(None, "journal_mode", "WAL")
        .expect("WAL");
    conn.pragma_update(None, "synchronous", "NORMAL")
        .expect("synchronous");
    conn.busy_timeout(Duration::from_secs(5))
        .expect("busy_timeout");
    conn
}

/// One read-modify-CAS increment: read, then in one IMMEDIATE transaction compare the
/// version, bump the counter and write. Returns whether the CAS won.
fn increment(conn: &Connection, key: &str, pad: &str) -> bool {
    let read: Option<(i64, Vec<u8>)> = conn
        .prepare_cached("SELECT version, data FROM raw WHERE key = ?1")
        .unwrap()
        .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .unwrap();
    let n = read
        .as_ref()
        .map_or(0, |(_, d)| u64::from_be_bytes(d[..8].try_into().unwrap()));
    let mut data = (n + 1).to_be_bytes().to_vec();
    data.extend_from_slice(pad.as_bytes());
    conn.prepare_cached("BEGIN IMMEDIATE")
        .unwrap()
        .execute([])
        .unwrap();
    let current: Option<i64> = conn
        .prepare_cached("SELECT version FROM raw WHERE key = ?1")
        .unwrap()
        .query_row([key], |r| r.get(0))
        .optional()
        .unwrap();
    if current != read.map(|(v, _)| v) {
        conn.prepare_cached("ROLLBACK")
            .unwrap()
            .execute([])
            .unwrap();
        return false;
    }
    // The store's two statements: an `UPDATE ... RETURNING` would buffer its row in a
    // temporary b-tree, which costs more than the update itself.
    conn.prepare_cached("UPDATE raw_counter SET next = next + 1 WHERE id = 1")
        .unwrap()
        .execute([])
        .unwrap();
    let version: i64 = conn
        .prepare_cached("SELECT next FROM raw_counter WHERE id = 1")
        .unwrap()
        .query_row([], |r| r.get(0))
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    conn.prepare_cached(
        "INSERT INTO raw (key, version, modified_ms, data) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (key) DO UPDATE SET version = excluded.version, \
         modified_ms = excluded.modified_ms, data = excluded.data",
    )
    .unwrap()
    .execute(params![key, version, now, data])
    .unwrap();
    conn.prepare_cached("COMMIT").unwrap().execute([]).unwrap();
    true
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let workers: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let keys: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let path = std::env::temp_dir().join(format!("optimist-sqlite-raw-{}.db", std::process::id()));
    let path = path.to_str().expect("a UTF-8 temp path").to_owned();
    open(&path).execute_batch(SCHEMA).expect("schema");

    let won = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let threads: Vec<_> = (0..workers)
        .map(|w| {
            let (path, won, lost, stop) = (path.clone(), won.clone(), lost.clone(), stop.clone());
            std::thread::spawn(move || {
                let conn = open(&path);
                let pad = "x".repeat(16);
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ w as u64;
                let mut key = String::new();
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    key.clear();
                    key.push_str(&format!("raw:{}", x % keys));
                    if increment(&conn, &key, &pad) {
                        won.fetch_add(1, Ordering::Relaxed);
                    } else {
                        lost.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("worker");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let won = won.load(Ordering::Relaxed);
    println!(
        "sqlite_raw workers={workers} keys={keys} ran {elapsed:.2}s: {:.0} successful CAS/s, {} conflicts",
        won as f64 / elapsed,
        lost.load(Ordering::Relaxed)
    );
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{path}{suffix}"));
    }
}
