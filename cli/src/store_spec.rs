//! `--store`: which backend to open, from `memory`, `sqlite:PATH`, `postgres://...`,
//! `redis://...` (a Redis Cluster: `redis+cluster://HOST:PORT[,HOST:PORT...]`),
//! `etcd://HOST:PORT[,HOST:PORT...]` or `mysql://...` (MariaDB).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use optimist::etcd::{EtcdOptions, EtcdStore};
use optimist::mysql::{MysqlOptions, MysqlStore};
use optimist::postgres::{PostgresOptions, PostgresStore};
use optimist::redis::{RedisOptions, RedisStore};
use optimist::sqlite::{SqliteOptions, SqliteStore};
use optimist::{MemoryStore, SharedStore};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A backend named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreSpec {
    /// The in-process store (the default).
    Memory,
    /// An SQLite database file.
    Sqlite(String),
    /// A PostgreSQL connection URL.
    Postgres(String),
    /// A Redis connection URL (`redis+cluster://...` for a Redis Cluster).
    Redis(String),
    /// An etcd cluster: `etcd://` and its members' client endpoints.
    Etcd(String),
    /// A MariaDB connection URL (`mysql://` or `mariadb://`).
    Mysql(String),
}

/// Why `--store` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreSpecError {
    /// Not one of the known forms.
    #[error(
        "unknown store {0:?}: use memory, sqlite:PATH, postgres://USER@HOST/DB, redis://HOST:PORT, \
         redis+cluster://HOST:PORT[,HOST:PORT...], \
         etcd://HOST:PORT[,HOST:PORT...] or mysql://USER@HOST:PORT/DB"
    )]
    Unknown(String),
    /// The backend could not be opened or reached.
    #[error("cannot open the {backend} store: {source}")]
    Open {
        /// Which backend.
        backend: &'static str,
        /// Why.
        source: optimist::StoreError,
    },
}

impl FromStr for StoreSpec {
    type Err = StoreSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "memory" {
            Ok(StoreSpec::Memory)
        } else if let Some(path) = s.strip_prefix("sqlite:").filter(|p| !p.is_empty()) {
            Ok(StoreSpec::Sqlite(path.to_owned()))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(StoreSpec::Postgres(s.to_owned()))
        } else if [
            "redis://",
            "rediss://",
            "redis+cluster://",
            "rediss+cluster://",
        ]
        .iter()
        .any(|scheme| s.starts_with(scheme))
        {
            Ok(StoreSpec::Redis(s.to_owned()))
        } else if s.starts_with("etcd://") {
            Ok(StoreSpec::Etcd(s.to_owned()))
        } else if s.starts_with("mysql://") {
            Ok(StoreSpec::Mysql(s.to_owned()))
        } else if let Some(rest) = s.strip_prefix("mariadb://") {
            // mysql_async knows the scheme as mysql://.
            Ok(StoreSpec::Mysql(format!("mysql://{rest}")))
        } else {
            Err(StoreSpecError::Unknown(s.to_owned()))
        }
    }
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreSpec::Memory => f.write_str("memory"),
            StoreSpec::Sqlite(path) => write!(f, "sqlite:{path}"),
            // URLs may carry passwords: show only the scheme.
            StoreSpec::Postgres(_) => f.write_str("postgres"),
            StoreSpec::Redis(_) => f.write_str("redis"),
            StoreSpec::Etcd(_) => f.write_str("etcd"),
            StoreSpec::Mysql(_) => f.write_str("mysql"),
        }
    }
}

/// Where a Redis Cluster keeps a store's keys (other backends ignore it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterKeys {
    /// Each key in its own hash slot, spread over the masters: single-key work (`bench`).
    Spread,
    /// Every key in one slot (`RedisOptions::hash_tag("optimist")`), so any keys may share a
    /// commit and any prefix may be listed (`serve`: a user and its email-index entry change
    /// together); the cluster then gives failover, not spread.
    OneSlot,
}

impl StoreSpec {
    /// Opens the backend for values of type `V`, with each backend's default table or key
    /// prefix, keys spread over a Redis Cluster.
    pub async fn open<V>(&self) -> Result<SharedStore<V>, StoreSpecError>
    where
        V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        self.open_in(None, ClusterKeys::Spread).await
    }

    /// Opens the backend for values of type `V`; `namespace` names the SQLite, PostgreSQL
    /// or MariaDB table, the Redis key prefix, or the etcd key prefix `{namespace}/` (the
    /// backend checks it; the memory store ignores it). `None`: each backend's default.
    /// `cluster_keys` says where a Redis Cluster keeps the keys.
    pub async fn open_in<V>(
        &self,
        namespace: Option<&str>,
        cluster_keys: ClusterKeys,
    ) -> Result<SharedStore<V>, StoreSpecError>
    where
        V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
    {
        let opened: Result<SharedStore<V>, optimist::StoreError> = match self {
            StoreSpec::Memory => return Ok(Arc::new(MemoryStore::new())),
            StoreSpec::Sqlite(path) => {
                return open_sqlite(path, namespace)
                    .await
                    .map(|s| s as SharedStore<V>);
            }
            StoreSpec::Postgres(url) => {
                let mut options = PostgresOptions::default();
                if let Some(table) = namespace {
                    options = options.table(table);
                }
                match PostgresStore::connect(url, options).await {
                    // Creating the schema now also proves the server is reachable: fail at
                    // start-up, not at the first request.
                    Ok(store) => store
                        .migrate()
                        .await
                        .map(|()| Arc::new(store) as SharedStore<V>),
                    Err(e) => Err(e),
                }
            }
            StoreSpec::Redis(url) => {
                let mut options = RedisOptions::default();
                if let Some(prefix) = namespace {
                    options = options.prefix(prefix);
                }
                if cluster_keys == ClusterKeys::OneSlot {
                    options = options.hash_tag("optimist");
                }
                RedisStore::connect(url, options)
                    .await
                    .map(|s| Arc::new(s) as SharedStore<V>)
            }
            StoreSpec::Etcd(url) => {
                let mut options = EtcdOptions::default();
                if let Some(namespace) = namespace {
                    // The separator keeps one namespace from being a prefix of another's keys.
                    options = options.prefix(format!("{namespace}/"));
                }
                // Connecting reads once through the cluster: an unreachable cluster fails
                // here, at start-up.
                EtcdStore::connect(url, options)
                    .await
                    .map(|s| Arc::new(s) as SharedStore<V>)
            }
            StoreSpec::Mysql(url) => {
                let mut options = MysqlOptions::default();
                if let Some(table) = namespace {
                    options = options.table(table);
                }
                match MysqlStore::connect(url, options).await {
                    // As for PostgreSQL: fail at start-up if the server is not there.
                    Ok(store) => store
                        .migrate()
                        .await
                        .map(|()| Arc::new(store) as SharedStore<V>),
                    Err(e) => Err(e),
                }
            }
        };
        opened.map_err(|source| StoreSpecError::Open {
            backend: self.backend_name(),
            source,
        })
    }

    fn backend_name(&self) -> &'static str {
        match self {
            StoreSpec::Memory => "memory",
            StoreSpec::Sqlite(_) => "SQLite",
            StoreSpec::Postgres(_) => "PostgreSQL",
            StoreSpec::Redis(_) => "Redis",
            StoreSpec::Etcd(_) => "etcd",
            StoreSpec::Mysql(_) => "MariaDB",
        }
    }
}

/// Opens the SQLite store at `path` as its own type (what [`StoreSpec::open_in`] does for
/// `sqlite:PATH`); `table`: the table, `None` for the default. `bench` drives it so, without
/// the boxed futures and dynamic calls of a [`SharedStore`].
pub async fn open_sqlite(
    path: &str,
    table: Option<&str>,
) -> Result<Arc<SqliteStore>, StoreSpecError> {
    let mut options = SqliteOptions::default();
    if let Some(table) = table {
        options = options.table(table);
    }
    SqliteStore::open(path, options)
        .await
        .map(Arc::new)
        .map_err(|source| StoreSpecError::Open {
            backend: "SQLite",
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!("memory".parse::<StoreSpec>().unwrap(), StoreSpec::Memory);
        assert_eq!(
            "sqlite:/tmp/x.db".parse::<StoreSpec>().unwrap(),
            StoreSpec::Sqlite("/tmp/x.db".into())
        );
        assert!(matches!(
            "postgres://u@h/db".parse::<StoreSpec>().unwrap(),
            StoreSpec::Postgres(_)
        ));
        assert!(matches!(
            "redis://127.0.0.1:6379".parse::<StoreSpec>().unwrap(),
            StoreSpec::Redis(_)
        ));
        assert_eq!(
            "redis+cluster://127.0.0.1:30001,127.0.0.1:30002"
                .parse::<StoreSpec>()
                .unwrap(),
            StoreSpec::Redis("redis+cluster://127.0.0.1:30001,127.0.0.1:30002".into())
        );
        assert_eq!(
            "etcd://127.0.0.1:2379,127.0.0.1:22379"
                .parse::<StoreSpec>()
                .unwrap(),
            StoreSpec::Etcd("etcd://127.0.0.1:2379,127.0.0.1:22379".into())
        );
        assert_eq!(
            "mysql://root@127.0.0.1:3306/test"
                .parse::<StoreSpec>()
                .unwrap(),
            StoreSpec::Mysql("mysql://root@127.0.0.1:3306/test".into())
        );
        assert_eq!(
            "mariadb://root@h/db".parse::<StoreSpec>().unwrap(),
            StoreSpec::Mysql("mysql://root@h/db".into())
        );
        assert!("sqlite:".parse::<StoreSpec>().is_err());
        assert!("mysqlx://x".parse::<StoreSpec>().is_err());
    }

    #[test]
    fn display_hides_credentials() {
        for url in ["postgres://u:secret@h/db", "mysql://u:secret@h/db"] {
            let spec: StoreSpec = url.parse().unwrap();
            assert!(!spec.to_string().contains("secret"));
        }
    }
}
