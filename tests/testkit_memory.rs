//! The conformance kit on the memory store: through static and dynamic dispatch, for several
//! value types, held as a plain value, an `Arc` and a `SharedStore`, from outside any runtime
//! and from a multi-threaded tokio runtime. Every check must run (the memory store has every
//! capability) and pass. Prints each run's report (`-- --nocapture`).
#![cfg(feature = "testkit")]

use std::sync::Arc;

use optimist::testkit::{Kit, KitReport, increment_race, run_all, unique_prefix};
use optimist::{MemoryStore, SharedStore};

fn every_check_ran(what: &str, report: &KitReport) {
    eprintln!("{what}: {report}");
    let skipped: Vec<_> = report.checks.iter().filter(|c| c.skipped).collect();
    assert!(skipped.is_empty(), "{what}: skipped {skipped:?}");
    assert_eq!(report.checks.len(), 20, "{what}: {report}");
}

#[test]
fn memory_store_passes_the_kit_for_u64() {
    let store = MemoryStore::new();
    let report = futures_executor::block_on(run_all::<u64, _>(&store, &unique_prefix("memory")));
    every_check_ran("u64", &report);
}

#[test]
fn memory_store_passes_the_kit_for_strings_json_and_bytes() {
    futures_executor::block_on(async {
        every_check_ran(
            "String",
            &run_all::<String, _>(&MemoryStore::new(), "s/").await,
        );
        let json = run_all::<serde_json::Value, _>(&MemoryStore::new(), "j/").await;
        every_check_ran("json", &json);
        let one_shard = MemoryStore::with_shards(1);
        every_check_ran(
            "bytes, one shard",
            &run_all::<Vec<u8>, _>(&one_shard, "b/").await,
        );
    });
}

#[test]
fn arc_and_shared_dyn_store_pass_the_kit() {
    let store = Arc::new(MemoryStore::new());
    every_check_ran(
        "Arc",
        &futures_executor::block_on(run_all::<u64, _>(&store, "arc/")),
    );
    let shared: SharedStore<u64> = Arc::new(MemoryStore::new());
    every_check_ran(
        "dyn",
        &futures_executor::block_on(run_all::<u64, _>(&shared, "dyn/")),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_on_a_multithreaded_runtime_with_options() {
    let store = MemoryStore::<u64>::new();
    let report = Kit::new(&store)
        .prefix("opts/")
        .threads(12)
        .scale(2)
        .run::<u64>()
        .await;
    every_check_ran("multi-thread runtime, 12 threads, scale 2", &report);
}

/// `run_all`'s future is `Send`: it can run in a spawned task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_runs_in_a_spawned_task() {
    let store = Arc::new(MemoryStore::<String>::new());
    let report = tokio::spawn(async move { run_all::<String, _>(&*store, "spawned/").await })
        .await
        .expect("the kit passed");
    every_check_ran("spawned task", &report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kit_checks_from_concurrent_tasks() {
    let store = Arc::new(MemoryStore::<u64>::new());
    let mut tasks = Vec::new();
    for t in 0..4 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            increment_race::<u64, _>(&*store, &format!("t{t}/"), 8, 50, 3).await
        }));
    }
    for task in tasks {
        let report = task.await.unwrap();
        assert_eq!(report.increments, 400);
        assert!(report.attempts >= 400);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_current_thread_runtime_is_refused_with_advice() {
    let store = MemoryStore::<u64>::new();
    let refused = tokio::task::spawn(async move {
        run_all::<u64, _>(&store, "ct/").await;
    })
    .await
    .expect_err("the kit cannot block a current-thread runtime");
    let message = refused.into_panic();
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("flavor = \"multi_thread\""), "{message}");
    assert!(message.contains("without_threads"), "{message}");
}

#[tokio::test(flavor = "current_thread")]
async fn without_threads_runs_the_single_key_checks_on_a_current_thread_runtime() {
    let store = MemoryStore::<u64>::new();
    let report = Kit::new(&store)
        .prefix("nt/")
        .without_threads()
        .run::<u64>()
        .await;
    eprintln!("{report}");
    let ran: Vec<_> = report
        .checks
        .iter()
        .filter(|c| !c.skipped)
        .map(|c| c.name)
        .collect();
    assert_eq!(ran.len(), 12, "{report}");
    assert!(
        report
            .checks
            .iter()
            .filter(|c| c.skipped)
            .all(|c| c.detail == "without_threads()")
    );
}
