//! `optimist bench` runs, reports parseable figures, and finds no lost update.

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_optimist"))
        .arg("bench")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the optimist binary runs")
}

fn json_report(args: &[&str]) -> Value {
    let out = bench(args);
    assert!(
        out.status.success(),
        "bench {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 output");
    let line = stdout.trim();
    assert_eq!(
        line.lines().count(),
        1,
        "--json prints one object: {stdout}"
    );
    serde_json::from_str(line).expect("--json prints valid JSON")
}

fn n(report: &Value, field: &str) -> f64 {
    report[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} missing in {report}"))
}

#[test]
fn three_second_json_run_counts_consistently_and_loses_nothing() {
    let r = json_report(&[
        "--duration",
        "3s",
        "--json",
        "--workers",
        "2",
        "--keys",
        "64",
    ]);
    assert_eq!(r["store"], "memory");
    assert_eq!(r["workers"], 2);
    assert!(n(&r, "duration_s") >= 3.0);
    let (ops, updates, attempts, cas) = (
        n(&r, "ops"),
        n(&r, "updates"),
        n(&r, "attempts"),
        n(&r, "successful_cas"),
    );
    assert!(ops > 0.0 && cas > 0.0, "the run did something: {r}");
    assert_eq!(updates, ops, "read ratio 0: every operation updates");
    assert!(attempts >= cas);
    assert_eq!(n(&r, "conflicts"), attempts - cas);
    assert!(n(&r, "successful_cas_per_s") > 0.0);
    assert!((0.0..=1.0).contains(&n(&r, "conflict_rate")));
    let lat = &r["latency_ns"];
    assert!(lat["p50"].as_u64().unwrap() <= lat["p99"].as_u64().unwrap());
    assert!(lat["p99"].as_u64().unwrap() <= lat["p999"].as_u64().unwrap());
    let v = &r["verification"];
    assert_eq!(v["ok"], true, "{r}");
    assert_eq!(v["lost_updates"], 0);
    assert_eq!(v["acknowledged"].as_f64(), Some(cas));
    assert_eq!(v["stored"].as_f64(), Some(cas));
}

#[test]
fn fixed_op_count_hot_key_with_reads() {
    let r = json_report(&[
        "--ops",
        "20000",
        "--distribution",
        "hot",
        "--read-ratio",
        "0.5",
        "--workers",
        "4",
        "--json",
    ]);
    assert_eq!(n(&r, "ops"), 20000.0);
    assert_eq!(n(&r, "reads") + n(&r, "updates"), 20000.0);
    assert!(n(&r, "reads") > 0.0);
    assert_eq!(r["verification"]["keys_checked"], 1);
    assert_eq!(r["verification"]["ok"], true);
}

#[test]
fn zipf_table_output_says_no_lost_updates() {
    let out = bench(&[
        "--ops",
        "5000",
        "--distribution",
        "zipf:0.99",
        "--keys",
        "1000",
    ]);
    assert!(out.status.success());
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("successful CAS"), "{table}");
    assert!(table.contains("no lost updates"), "{table}");
}

#[test]
fn bad_options_fail_with_a_clear_message() {
    for (args, needle) in [
        (&["--read-ratio", "1.5"][..], "read-ratio"),
        (&["--workers", "0"][..], "workers"),
        (&["--distribution", "zipf:-1"][..], "theta"),
        (&["--store", "nowhere"][..], "unknown store"),
        (
            &["--ops", "10", "--duration", "1s"][..],
            "cannot be used with",
        ),
    ] {
        let out = bench(args);
        assert!(!out.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}

/// `optimist bench` drives every backend and proves no update was lost (PostgreSQL, Redis,
/// Redis Cluster, etcd and MariaDB when their URLs are set, as in CI; SQLite always).
#[test]
fn every_backend_benches_without_lost_updates() {
    let sqlite =
        std::env::temp_dir().join(format!("optimist-bench-smoke-{}.db", std::process::id()));
    let mut stores = vec![format!("sqlite:{}", sqlite.display())];
    for var in [
        "OPTIMIST_PG_URL",
        "OPTIMIST_REDIS_URL",
        "OPTIMIST_REDIS_CLUSTER_URL",
        "OPTIMIST_ETCD_URL",
        "OPTIMIST_MYSQL_URL",
    ] {
        match std::env::var(var) {
            Ok(url) if !url.is_empty() => stores.push(url),
            _ => say_skipped(&format!(
                "{var} is not set, so bench did not run against it"
            )),
        }
    }
    for store in &stores {
        let r = json_report(&[
            "--store",
            store,
            "--ops",
            "400",
            "--workers",
            "4",
            "--keys",
            "8",
            "--read-ratio",
            "0.25",
            "--json",
        ]);
        assert_eq!(n(&r, "ops"), 400.0, "{store}");
        assert_eq!(r["errors"], 0, "{store}: {r}");
        assert_eq!(r["verification"]["ok"], true, "{store}: {r}");
        assert_eq!(
            r["verification"]["acknowledged"].as_f64(),
            Some(n(&r, "successful_cas")),
            "{store}"
        );
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite.display()));
    }
}

/// How many of the keys `{prefix}0` .. `{prefix}{keys - 1}` exist in `store` (a `--store`
/// argument), read through the library's own backends.
fn present_keys(store: &str, prefix: &str, keys: usize) -> usize {
    use optimist::{SharedStore, VersionedStore as _};
    use std::sync::Arc;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let opened: SharedStore<Value> = if let Some(path) = store.strip_prefix("sqlite:") {
            use optimist::sqlite::{SqliteOptions, SqliteStore};
            Arc::new(
                SqliteStore::open(path, SqliteOptions::default())
                    .await
                    .unwrap(),
            )
        } else if store.starts_with("postgres") {
            use optimist::postgres::{PostgresOptions, PostgresStore};
            Arc::new(
                PostgresStore::connect(store, PostgresOptions::default())
                    .await
                    .unwrap(),
            )
        } else {
            use optimist::redis::{RedisOptions, RedisStore};
            Arc::new(
                RedisStore::connect(store, RedisOptions::default())
                    .await
                    .unwrap(),
            )
        };
        let mut present = 0;
        for i in 0..keys {
            if opened.get(&format!("{prefix}{i}")).await.unwrap().is_some() {
                present += 1;
            }
        }
        present
    })
}

/// A run deletes the keys it wrote unless `--keep-keys` says otherwise; `--help` says so.
fn bench_cleans_up(store: &str) {
    for keep in [false, true] {
        let mut args = vec!["--store", store, "--ops", "200", "--keys", "8", "--json"];
        if keep {
            args.push("--keep-keys");
        }
        let r = json_report(&args);
        assert_eq!(r["verification"]["ok"], true, "{store}: {r}");
        let prefix = r["key_prefix"]
            .as_str()
            .expect("the report names its key prefix");
        let present = present_keys(store, prefix, 8);
        if keep {
            assert_eq!(r["keys_kept"], true, "{r}");
            assert_eq!(present, 8, "{store}: --keep-keys keeps every key");
            // Leave nothing behind in the shared servers all the same.
            let removed = json_report(&["--store", store, "--ops", "1", "--keys", "1", "--json"]);
            assert_eq!(removed["keys_removed"], 1);
        } else {
            assert_eq!(r["keys_removed"], 8, "{store}: {r}");
            assert_eq!(present, 0, "{store}: keys left behind");
        }
    }
}

#[test]
fn bench_help_mentions_keep_keys() {
    let out = bench(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("--keep-keys"), "{help}");
    assert!(help.contains("deleted"), "{help}");
}

#[test]
fn bench_cleans_up_sqlite() {
    let sqlite =
        std::env::temp_dir().join(format!("optimist-bench-cleanup-{}.db", std::process::id()));
    bench_cleans_up(&format!("sqlite:{}", sqlite.display()));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", sqlite.display()));
    }
}

#[test]
#[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
fn bench_cleans_up_postgres() {
    match std::env::var("OPTIMIST_PG_URL") {
        Ok(url) if !url.is_empty() => bench_cleans_up(&url),
        _ => say_skipped("OPTIMIST_PG_URL is not set"),
    }
}

#[test]
#[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
fn bench_cleans_up_redis() {
    match std::env::var("OPTIMIST_REDIS_URL") {
        Ok(url) if !url.is_empty() => bench_cleans_up(&url),
        _ => say_skipped("OPTIMIST_REDIS_URL is not set"),
    }
}

/// Says that a test did not run, past libtest's capture (straight to stderr).
fn say_skipped(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
}
