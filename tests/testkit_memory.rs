//! The conformance kit on the memory store, through static and dynamic dispatch and for
//! several value types.
#![cfg(feature = "testkit")]

use std::sync::Arc;

use optimist::testkit::{increment_race, run_all, unique_prefix};
use optimist::{MemoryStore, SharedStore};

#[test]
fn memory_store_passes_the_kit_for_u64() {
    futures_executor::block_on(run_all::<u64, _>(
        &Arc::new(MemoryStore::new()),
        &unique_prefix("memory"),
    ));
}

#[test]
fn memory_store_passes_the_kit_for_strings_and_json() {
    futures_executor::block_on(async {
        run_all::<String, _>(&Arc::new(MemoryStore::new()), "s/").await;
        run_all::<serde_json::Value, _>(&Arc::new(MemoryStore::new()), "j/").await;
        run_all::<Vec<u8>, _>(&Arc::new(MemoryStore::with_shards(1)), "b/").await;
    });
}

#[test]
fn shared_dyn_store_passes_the_kit() {
    let store: SharedStore<u64> = Arc::new(MemoryStore::new());
    futures_executor::block_on(run_all::<u64, _>(&Arc::new(store), "dyn/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_race_on_a_multithreaded_runtime() {
    let store = Arc::new(MemoryStore::<u64>::new());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            increment_race::<u64, _>(&store, &format!("t{t}/"), 8, 50, 3).await
        }));
    }
    for task in tasks {
        let report = task.await.unwrap();
        assert_eq!(report.increments, 400);
        assert!(report.attempts >= 400);
    }
}
