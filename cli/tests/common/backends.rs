//! Running one black-box test on every backend: memory, SQLite, PostgreSQL, Redis, Redis
//! Cluster, etcd and MariaDB.
//!
//! [`every_backend!`] turns each test body into a module with one `#[test]` per backend
//! (`exact_numbers::memory`, `exact_numbers::postgres`, ...). The server backends need
//! `OPTIMIST_PG_URL` / `OPTIMIST_REDIS_URL` / `OPTIMIST_REDIS_CLUSTER_URL` /
//! `OPTIMIST_ETCD_URL` / `OPTIMIST_MYSQL_URL`;
//! built without one, its tests are `#[ignore = "OPTIMIST_PG_URL is not set"]` (see
//! `cli/build.rs`), so the runner lists them as ignored/skipped with that reason. Each server
//! gets a namespace of its own (a table or key prefix, `--namespace`), removed again when the
//! test ends.

use std::io::Write as _;
use std::ops::Deref;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::Server;

/// A backend to run a server on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Sqlite,
    Postgres,
    Redis,
    RedisCluster,
    Etcd,
    Mysql,
}

impl Backend {
    /// The variable naming the server's URL, for the shared backends.
    pub fn url_var(self) -> Option<&'static str> {
        match self {
            Backend::Postgres => Some("OPTIMIST_PG_URL"),
            Backend::Redis => Some("OPTIMIST_REDIS_URL"),
            Backend::RedisCluster => Some("OPTIMIST_REDIS_CLUSTER_URL"),
            Backend::Etcd => Some("OPTIMIST_ETCD_URL"),
            Backend::Mysql => Some("OPTIMIST_MYSQL_URL"),
            Backend::Memory | Backend::Sqlite => None,
        }
    }
}

/// A name no other server of any run shares: `{base}_{pid}_{nanos}_{n}`.
pub fn unique_namespace(base: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{base}_{}_{nanos}_{n}", std::process::id())
}

/// Says that a test did not run, where the test runner's output capture cannot hide it:
/// straight to the process's stderr, not through `eprintln!` (which libtest captures).
pub fn say_skipped(message: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {message}");
}

/// A server on a backend, in a namespace of its own; stopped and its data removed on drop.
pub struct BackendServer {
    server: Option<Server>,
    backend: Backend,
    url: Option<String>,
    namespace: String,
    sqlite: Option<PathBuf>,
}

impl Deref for BackendServer {
    type Target = Server;
    fn deref(&self) -> &Server {
        self.server.as_ref().expect("running")
    }
}

impl BackendServer {
    /// Stops the server and returns what it logged (its data is removed on drop).
    pub fn stop_and_logs(&mut self) -> String {
        self.server.as_mut().expect("running").stop_and_logs()
    }

    /// The backend it runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The `--store` and `--namespace` arguments of this server, to start another process
    /// on the same data.
    pub fn store_args(&self) -> Vec<String> {
        let store = match (self.backend, &self.url, &self.sqlite) {
            (Backend::Memory, _, _) => "memory".to_owned(),
            (Backend::Sqlite, _, Some(path)) => format!("sqlite:{}", path.display()),
            (_, Some(url), _) => url.clone(),
            _ => unreachable!("every backend has its store"),
        };
        let mut args = vec!["--store".to_owned(), store];
        // A fresh memory store or SQLite file is private already; only the shared servers
        // need a table or key prefix of their own.
        if self.url.is_some() {
            args.extend(["--namespace".to_owned(), self.namespace.clone()]);
        }
        args
    }
}

/// `optimist serve EXTRA...` on `backend` in a fresh namespace; `None` (said on stderr) when
/// the backend's URL variable is unset. Set but unreachable: the server exits and the test
/// fails.
pub fn serve_on(backend: Backend, extra: &[&str]) -> Option<BackendServer> {
    serve_on_env(
        backend,
        extra,
        &[("NO_COLOR", Some("1")), ("RUST_LOG", Some("info"))],
    )
}

/// [`serve_on`] with the server's environment changed by `env` (see [`Server::start_env`]).
pub fn serve_on_env(
    backend: Backend,
    extra: &[&str],
    env: &[(&str, Option<&str>)],
) -> Option<BackendServer> {
    let url = match backend.url_var() {
        Some(var) => match std::env::var(var) {
            Ok(url) if !url.is_empty() => Some(url),
            _ => {
                say_skipped(&format!(
                    "{var} is not set, so this test did not run on {backend:?}"
                ));
                return None;
            }
        },
        None => None,
    };
    let namespace = unique_namespace("serve");
    let sqlite = (backend == Backend::Sqlite)
        .then(|| std::env::temp_dir().join(format!("optimist-{namespace}.db")));
    let mut this = BackendServer {
        server: None,
        backend,
        url,
        namespace,
        sqlite,
    };
    let mut args = this.store_args();
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    this.server = Some(Server::start_env(&args, env));
    Some(this)
}

/// Runs `test` against a fresh server on `backend` (or says it skipped).
pub fn run_on(backend: Backend, test: impl FnOnce(&BackendServer)) {
    if let Some(server) = serve_on(backend, &[]) {
        test(&server);
    }
}

impl Drop for BackendServer {
    fn drop(&mut self) {
        // Stop first (its logs are shown if the test failed), then remove its data.
        drop(self.server.take());
        match (self.backend, &self.url, &self.sqlite) {
            (Backend::Sqlite, _, Some(path)) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            (Backend::Postgres, Some(url), _) => drop_postgres(url, &self.namespace),
            (Backend::Redis, Some(url), _) => drop_redis(url, &self.namespace),
            (Backend::RedisCluster, Some(url), _) => drop_redis_cluster(url, &self.namespace),
            (Backend::Etcd, Some(url), _) => drop_etcd(url, &self.namespace),
            (Backend::Mysql, Some(url), _) => drop_mysql(url, &self.namespace),
            _ => {}
        }
    }
}

fn drop_postgres(url: &str, table: &str) {
    use optimist::postgres::{PostgresOptions, PostgresStore};
    let dropped = block_on(async {
        let store = PostgresStore::connect(url, PostgresOptions::default().table(table)).await?;
        store.drop_schema().await
    });
    if let Err(e) = dropped {
        let _ = writeln!(std::io::stderr(), "could not drop table {table}: {e}");
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

fn drop_mysql(url: &str, table: &str) {
    use optimist::mysql::{MysqlOptions, MysqlStore};
    let dropped = block_on(async {
        let store = MysqlStore::connect(url, MysqlOptions::default().table(table)).await?;
        store.drop_schema().await
    });
    if let Err(e) = dropped {
        let _ = writeln!(std::io::stderr(), "could not drop table {table}: {e}");
    }
}

/// Removes every key under the server's etcd prefix (`{namespace}/`, as `--namespace` sets).
fn drop_etcd(url: &str, namespace: &str) {
    use optimist::etcd::{EtcdOptions, EtcdStore};
    use optimist::{Expect, ListRequest, VersionedStore};
    let removed = block_on(async {
        let options = EtcdOptions::default().prefix(format!("{namespace}/"));
        let store = EtcdStore::connect(url, options).await?;
        loop {
            let page = VersionedStore::<serde_json::Value>::list(
                &store,
                ListRequest::prefix("").limit(500),
            )
            .await?;
            for entry in &page.entries {
                VersionedStore::<serde_json::Value>::delete(&store, &entry.key, Expect::Any)
                    .await?;
            }
            if page.next.is_none() {
                return Ok::<(), optimist::StoreError>(());
            }
        }
    });
    if let Err(e) = removed {
        let _ = writeln!(std::io::stderr(), "could not remove keys {namespace}/: {e}");
    }
}

fn drop_redis(url: &str, prefix: &str) {
    let removed = (|| -> redis::RedisResult<()> {
        use redis::Commands as _;
        let mut connection = redis::Client::open(url)?.get_connection()?;
        // SCAN, not KEYS: the server is shared, and KEYS blocks it for the whole keyspace.
        let keys: Vec<Vec<u8>> = connection
            .scan_match::<_, Vec<u8>>(format!("{prefix}:*"))?
            .collect();
        if !keys.is_empty() {
            redis::cmd("DEL").arg(keys).query::<()>(&mut connection)?;
        }
        Ok(())
    })();
    if let Err(e) = removed {
        let _ = writeln!(std::io::stderr(), "could not remove keys {prefix}:*: {e}");
    }
}

/// Removes the server's keys from every node of the cluster (`redis+cluster://a,b,...`): each
/// node is scanned on its own (SCAN does not cross nodes) and its keys are deleted one by one
/// (a replica refuses; its master deletes them).
fn drop_redis_cluster(url: &str, prefix: &str) {
    let nodes = url
        .trim_start_matches("redis+cluster://")
        .split(',')
        .map(|node| format!("redis://{node}"));
    for node in nodes {
        let removed = (|| -> redis::RedisResult<()> {
            use redis::Commands as _;
            let mut connection = redis::Client::open(node.as_str())?.get_connection()?;
            let keys: Vec<Vec<u8>> = connection
                .scan_match::<_, Vec<u8>>(format!("{prefix}:*"))?
                .collect();
            for key in keys {
                let _ = redis::cmd("DEL").arg(key).query::<()>(&mut connection);
            }
            Ok(())
        })();
        if let Err(e) = removed {
            let _ = writeln!(
                std::io::stderr(),
                "could not remove keys {prefix}:* on {node}: {e}"
            );
        }
    }
}

/// One `#[test]` per backend for each body: `every_backend! { fn name(server) { ... } }`
/// makes `name::memory`, `name::sqlite`, `name::postgres`, `name::redis`,
/// `name::redis_cluster`, `name::etcd` and `name::mysql`, each running the body against a fresh `optimist serve` on that backend
/// (`server: &BackendServer`).
macro_rules! every_backend {
    ($( $(#[doc = $doc:literal])* fn $name:ident($server:ident) $body:block )*) => {$(
        $(#[doc = $doc])*
        mod $name {
            use super::*;

            fn body($server: &$crate::common::BackendServer) $body

            #[test]
            fn memory() {
                $crate::common::run_on($crate::common::Backend::Memory, body);
            }

            #[test]
            fn sqlite() {
                $crate::common::run_on($crate::common::Backend::Sqlite, body);
            }

            #[test]
            #[cfg_attr(not(optimist_pg_url), ignore = "OPTIMIST_PG_URL is not set")]
            fn postgres() {
                $crate::common::run_on($crate::common::Backend::Postgres, body);
            }

            #[test]
            #[cfg_attr(not(optimist_redis_url), ignore = "OPTIMIST_REDIS_URL is not set")]
            fn redis() {
                $crate::common::run_on($crate::common::Backend::Redis, body);
            }

            #[test]
            #[cfg_attr(
                not(optimist_redis_cluster_url),
                ignore = "OPTIMIST_REDIS_CLUSTER_URL is not set"
            )]
            fn redis_cluster() {
                $crate::common::run_on($crate::common::Backend::RedisCluster, body);
            }

            #[test]
            #[cfg_attr(not(optimist_etcd_url), ignore = "OPTIMIST_ETCD_URL is not set")]
            fn etcd() {
                $crate::common::run_on($crate::common::Backend::Etcd, body);
            }

            #[test]
            #[cfg_attr(not(optimist_mysql_url), ignore = "OPTIMIST_MYSQL_URL is not set")]
            fn mysql() {
                $crate::common::run_on($crate::common::Backend::Mysql, body);
            }
        }
    )*};
}
pub(crate) use every_backend;
