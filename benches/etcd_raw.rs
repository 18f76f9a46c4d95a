//! The native baseline for `optimist bench --store etcd://...`: the same linearizable read and
//! compare-and-swap transaction (`mod_revision == read`, or `create_revision == 0` for a new
//! key; then put, else read the key), written directly against etcd-client with no serde, no
//! store trait and no fail-over in between. Like the store, it sends everything to the first
//! member named and asks for a leader (`hasleader`). Debian's etcd packages ship no
//! `benchmark` tool, and an `etcdctl txn` loop would measure process start-up.
//!
//! ```text
//! cargo bench --features etcd --bench etcd_raw -- [WORKERS] [SECONDS] [KEYS] [etcd://HOST:PORT,...]
//! ```
//!
//! The URL defaults to `$OPTIMIST_ETCD_URL`. Prints one line per run: workers, successful
//! CAS/s, conflicts. Its keys (under `optimist-native/`) are deleted at the end.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, Txn, TxnOp,
};

const PREFIX: &str = "optimist-native/";

/// One read-modify-CAS increment of `key`. Returns whether the CAS won.
async fn increment(client: &mut Client, key: &str, pad: &[u8]) -> bool {
    let read = client.get(key, None).await.expect("read");
    let (n, compare) = match read.kvs().first() {
        Some(kv) => (
            u64::from_be_bytes(kv.value()[..8].try_into().expect("a counter")),
            Compare::mod_revision(key, CompareOp::Equal, kv.mod_revision()),
        ),
        None => (0, Compare::create_revision(key, CompareOp::Equal, 0)),
    };
    let mut value = (n + 1).to_be_bytes().to_vec();
    value.extend_from_slice(pad);
    let txn = Txn::new()
        .when([compare])
        .and_then([TxnOp::put(key, value, None)])
        .or_else([TxnOp::get(key, Some(GetOptions::new().with_keys_only()))]);
    client.txn(txn).await.expect("txn").succeeded()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let workers: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(1);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let keys: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let url = args
        .get(3)
        .cloned()
        .or_else(|| std::env::var("OPTIMIST_ETCD_URL").ok())
        .expect("an etcd:// URL as the 4th argument or in OPTIMIST_ETCD_URL");
    let first = url
        .strip_prefix("etcd://")
        .and_then(|m| m.split(',').next())
        .expect("etcd://HOST:PORT[,...]")
        .to_owned();
    let options = ConnectOptions::new()
        .with_require_leader(true)
        .with_connect_timeout(Duration::from_secs(2));
    let client = Client::connect([first.as_str()], Some(options))
        .await
        .expect("connect");

    let won = Arc::new(AtomicU64::new(0));
    let lost = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (mut client, won, lost, stop) =
                (client.clone(), won.clone(), lost.clone(), stop.clone());
            tokio::spawn(async move {
                let pad = vec![b'x'; 16];
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ w as u64;
                let mut key = String::new();
                while !stop.load(Ordering::Relaxed) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    key.clear();
                    key.push_str(&format!("{PREFIX}{}", x % keys));
                    if increment(&mut client, &key, &pad).await {
                        won.fetch_add(1, Ordering::Relaxed);
                    } else {
                        lost.fetch_add(1, Ordering::Relaxed);
                    }
                }
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
        "etcd_raw workers={workers} keys={keys} ran {elapsed:.2}s: {:.0} successful CAS/s, {} conflicts",
        won as f64 / elapsed,
        lost.load(Ordering::Relaxed)
    );
    let mut client = client;
    client
        .delete(PREFIX, Some(DeleteOptions::new().with_prefix()))
        .await
        .expect("clean up");
}
