//! MariaDB helpers shared by the backend and fault tests.

use mysql_async::prelude::Queryable;
use optimist::mysql::{MysqlError, MysqlOptions, MysqlStore};
use optimist::{StoreError, Version, Versioned, VersionedStore};

/// A plain connection for setting faults up (locks, killing sessions).
pub async fn admin(url: &str) -> mysql_async::Conn {
    mysql_async::Conn::from_url(url)
        .await
        .expect("admin connection to the server named by OPTIMIST_MYSQL_URL")
}

/// A table name of this test run: `optimist_mysql_{tag}_{pid}_{nanos}` cut to the 52 bytes
/// the store allows (`tag` at most 12 bytes).
pub fn table_name(tag: &str) -> String {
    assert!(tag.len() <= 12, "tag {tag:?} too long");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() % 1_000_000_000_000_000);
    format!("optimist_mysql_{tag}_{}_{nanos}", std::process::id())
}

/// Drops a test's table and sequence through `url` when dropped (on a thread of its own, so
/// it also works while the test's runtime is unwinding), whether the test passed or not.
pub struct Cleanup {
    url: String,
    statements: Vec<String>,
}

impl Cleanup {
    /// A guard dropping `table` and `sequence`.
    pub fn dropping(url: &str, table: &str, sequence: &str) -> Self {
        Self {
            url: url.to_owned(),
            statements: vec![
                format!("DROP TABLE IF EXISTS `{table}`"),
                format!("DROP SEQUENCE IF EXISTS `{sequence}`"),
            ],
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (url, statements) = (self.url.clone(), self.statements.clone());
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for cleanup")
                .block_on(async {
                    let mut conn = mysql_async::Conn::from_url(url).await?;
                    for sql in statements {
                        conn.query_drop(sql).await?;
                    }
                    conn.disconnect().await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("cleanup failed ({:?}): {dropped:?}", self.statements);
        }
    }
}

/// A store at `url` (perhaps through a proxy) on a fresh table tagged `tag`, and the guard
/// that drops its table and sequence through `admin_url`.
pub async fn fresh(
    admin_url: &str,
    url: &str,
    tag: &str,
    options: MysqlOptions,
) -> (MysqlStore, Cleanup) {
    let table = table_name(tag);
    let store = MysqlStore::connect(url, options.table(&table))
        .await
        .expect("connect");
    let cleanup = Cleanup::dropping(admin_url, &table, store.sequence());
    (store, cleanup)
}

/// The MariaDB error inside a store error, if any.
pub fn source_of(err: &StoreError) -> Option<&MysqlError> {
    let source = match err {
        StoreError::Unavailable { source }
        | StoreError::Backend { source }
        | StoreError::Indeterminate { source, .. } => source,
        _ => return None,
    };
    source.downcast_ref::<MysqlError>()
}

/// The counter and version stored under `key`.
pub async fn get_u64(store: &MysqlStore, key: &str) -> Option<(u64, Version)> {
    let read: Option<Versioned<u64>> = store.get(key).await.expect("get");
    read.map(|r| (r.value, r.version))
}

/// Waits until a session (other than `admin`'s) has been running a statement that names
/// `table` for over 100 ms — in these tests, a statement blocked on a lock — and returns its
/// connection id. (`PROCESSLIST` is live; `innodb_trx` is a cache InnoDB refreshes only after
/// 100 ms without readers, which concurrent tests never leave it.)
pub async fn lock_waiter(admin: &mut mysql_async::Conn, table: &str) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(id) = running_on(admin, table, 100).await {
            return id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no statement on {table} started waiting for a lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A session other than `admin`'s running a statement that names `table` for more than
/// `ms` milliseconds, if any.
pub async fn running_on(admin: &mut mysql_async::Conn, table: &str, ms: u64) -> Option<u64> {
    admin
        .exec_first(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() \
             AND INSTR(INFO, ?) > 0 AND TIME_MS > ? LIMIT 1",
            (table, ms),
        )
        .await
        .expect("PROCESSLIST")
}
