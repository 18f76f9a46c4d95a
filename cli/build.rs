//! Tells the integration tests which backend servers they were built to reach: with
//! `OPTIMIST_PG_URL` / `OPTIMIST_REDIS_URL` / `OPTIMIST_REDIS_CLUSTER_URL` /
//! `OPTIMIST_MYSQL_URL` / `OPTIMIST_ETCD_URL` set at build time, `cfg(optimist_pg_url)` /
//! `cfg(optimist_redis_url)` / `cfg(optimist_redis_cluster_url)` / `cfg(optimist_mysql_url)` /
//! `cfg(optimist_etcd_url)` are on, and without them each
//! backend's test is marked
//! `#[ignore = "OPTIMIST_PG_URL is not set"]`, so the test runner lists it as ignored
//! (libtest) or skipped (nextest) with the reason, instead of passing without a word. Cargo
//! rebuilds the tests when any of the variables changes.

fn main() {
    for (var, cfg) in [
        ("OPTIMIST_PG_URL", "optimist_pg_url"),
        ("OPTIMIST_REDIS_URL", "optimist_redis_url"),
        ("OPTIMIST_REDIS_CLUSTER_URL", "optimist_redis_cluster_url"),
        ("OPTIMIST_MYSQL_URL", "optimist_mysql_url"),
        ("OPTIMIST_ETCD_URL", "optimist_etcd_url"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
