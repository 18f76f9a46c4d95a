//! PostgreSQL helpers shared by the backend and fault tests.

use optimist::postgres::{PostgresError, PostgresOptions, PostgresStore};
use optimist::{StoreError, Version, Versioned, VersionedStore};
use tokio_postgres::NoTls;

/// A plain connection for setting faults up (locks, terminating backends, triggers).
pub async fn admin(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("admin connection to the server named by OPTIMIST_PG_URL");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

/// Runs `sql` through `url` when dropped (on a thread of its own, so it also works while the
/// test's runtime is unwinding): drops a test's table and sequence whether it passed or not.
pub struct Cleanup {
    url: String,
    sql: String,
}

impl Cleanup {
    /// A guard running `sql` through `url` when dropped.
    pub fn running(url: &str, sql: String) -> Self {
        Self {
            url: url.to_owned(),
            sql,
        }
    }

    /// A guard dropping `table` and `sequence` through `url`.
    pub fn dropping(url: &str, table: &str, sequence: &str) -> Self {
        Self {
            url: url.to_owned(),
            sql: format!(
                "DROP TABLE IF EXISTS \"{table}\"; DROP SEQUENCE IF EXISTS \"{sequence}\";"
            ),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, sql) = (self.url.clone(), self.sql.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup")
                .block_on(async { admin(&url).await.batch_execute(&sql).await })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("cleanup failed ({}): {dropped:?}", self.sql);
        }
    }
}

/// A store at `url` (perhaps through a proxy) on a fresh table named after `base`, and the
/// guard that drops the table and its sequence through `admin_url`. The schema is created
/// on first use (or by `migrate`).
pub async fn fresh(
    admin_url: &str,
    url: &str,
    base: &str,
    options: PostgresOptions,
) -> (PostgresStore, Cleanup) {
    let table = super::unique_name(base);
    let store = PostgresStore::connect(url, options.table(&table))
        .await
        .expect("connect");
    let cleanup = Cleanup::dropping(admin_url, &table, store.sequence());
    (store, cleanup)
}

/// The PostgreSQL error inside a store error, if any.
pub fn source_of(err: &StoreError) -> Option<&PostgresError> {
    let source = match err {
        StoreError::Unavailable { source }
        | StoreError::Backend { source }
        | StoreError::Indeterminate { source, .. } => source,
        _ => return None,
    };
    source.downcast_ref::<PostgresError>()
}

/// The counter and version stored under `key`.
pub async fn get_u64(store: &PostgresStore, key: &str) -> Option<(u64, Version)> {
    let read: Option<Versioned<u64>> = store.get(key).await.expect("get");
    read.map(|r| (r.value, r.version))
}
