//! Single-thread micro-benchmarks: `MemoryStore`'s sync operations (a two-key commit too),
//! and parsing plus evaluating the preconditions of a typical request.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use optimist::http::{Preconditions, Validators};
use optimist::{Applied, Commit, Expect, MemoryStore, Meta, Version};

const KEYS: usize = 1_024;

fn prefilled() -> (MemoryStore<u64>, Vec<String>) {
    let store = MemoryStore::new();
    let keys: Vec<String> = (0..KEYS).map(|i| format!("key{i}")).collect();
    for k in &keys {
        store.put_sync(k, 0, Expect::Absent).unwrap();
    }
    (store, keys)
}

fn memory_store(c: &mut Criterion) {
    let (store, keys) = prefilled();
    let key = keys[517].as_str();
    let mut g = c.benchmark_group("memory_store");

    g.bench_function("get_sync_hit", |b| {
        b.iter(|| black_box(store.get_sync(black_box(key))))
    });

    g.bench_function("head_sync_hit", |b| {
        b.iter(|| black_box(store.head_sync(black_box(key))))
    });

    g.bench_function("cas_success", |b| {
        let mut current = store.head_sync(key).unwrap().version;
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            current = store
                .put_sync(black_box(key), n, Expect::Version(current))
                .expect("current version always matches")
                .version;
        })
    });

    g.bench_function("cas_conflict", |b| {
        let stale = store.head_sync(key).unwrap().version;
        store.put_sync(key, 0, Expect::Version(stale)).unwrap();
        b.iter(|| {
            let err = store
                .put_sync(black_box(key), 1, Expect::Version(stale))
                .expect_err("stale version never matches");
            black_box(err)
        })
    });

    g.bench_function("create_delete", |b| {
        let fresh = "fresh-key-not-prefilled";
        b.iter(|| {
            let v = store
                .put_sync(black_box(fresh), 1, Expect::Absent)
                .unwrap()
                .version;
            black_box(
                store
                    .delete_sync(black_box(fresh), Expect::Version(v))
                    .unwrap(),
            )
        })
    });

    // A two-key commit (the versions both still current): both shards locked in index order,
    // both expectations checked, both writes applied.
    g.bench_function("commit_two_keys", |b| {
        let (ka, kb) = (keys[3].as_str(), keys[700].as_str());
        let mut va = store.head_sync(ka).unwrap().version;
        let mut vb = store.head_sync(kb).unwrap().version;
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let done = store
                .commit_sync(
                    Commit::new()
                        .put(black_box(ka), n, Expect::Version(va))
                        .put(black_box(kb), n, Expect::Version(vb)),
                )
                .expect("both versions are current");
            let (Applied::Put(a), Applied::Put(b)) = (done[0], done[1]) else {
                unreachable!("two puts applied")
            };
            (va, vb) = (a.version, b.version);
        })
    });
    g.finish();
}

fn headers(name: &'static str, value: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    // A few ordinary request headers around the precondition, as a server would see.
    h.insert("host", HeaderValue::from_static("api.example.com"));
    h.insert("accept", HeaderValue::from_static("application/json"));
    h.insert("user-agent", HeaderValue::from_static("bench/1.0"));
    h.insert(name, HeaderValue::from_str(value).unwrap());
    h
}

fn preconditions(c: &mut Criterion) {
    let meta = Meta {
        version: Version::new(1_234_567).unwrap(),
        last_modified: SystemTime::now(),
    };
    let ten = (1_234_558..=1_234_567)
        .map(|v| format!("\"{v}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let cases = [
        ("if_match_one", headers("if-match", "\"1234567\"")),
        ("if_match_ten", headers("if-match", &ten)),
        ("if_match_star", headers("if-match", "*")),
        (
            "if_none_match_one_get",
            headers("if-none-match", "\"1234567\""),
        ),
    ];
    let mut g = c.benchmark_group("preconditions");
    for (name, h) in &cases {
        g.bench_function(*name, |b| {
            b.iter(|| {
                let pre = Preconditions::from_headers(black_box(h)).unwrap();
                let current = Validators::from(black_box(&meta));
                let eval = pre.evaluate(&Method::GET, Some(&current));
                let cond = pre.write_condition();
                black_box((eval, cond))
            })
        });
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = memory_store, preconditions
}
criterion_main!(benches);
