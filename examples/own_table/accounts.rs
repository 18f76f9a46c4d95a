//! A [`VersionedStore`] over a table the application already has:
//!
//! ```sql
//! CREATE TABLE accounts (
//!     id         TEXT PRIMARY KEY,
//!     owner      TEXT NOT NULL,
//!     balance    BIGINT NOT NULL,
//!     version    BIGINT NOT NULL,
//!     updated_at TIMESTAMPTZ NOT NULL
//! );
//! ```
//!
//! The columns stay the team's own (`owner` and `balance` are real columns, not a JSON
//! blob); the store only needs the `version` column and one addition, a sequence that
//! versions are drawn from. A per-row `version + 1` is not enough: deleting and re-creating
//! an account would restart it at 1, and an ETag of the deleted account would match the new
//! one (ABA). A sequence never hands out a number twice.
//!
//! Every write is one transaction: the key's advisory lock (so a key that does not exist yet
//! is locked too, and versions of a key are drawn in commit order), the row locked with
//! `FOR UPDATE`, the expectation checked against the version read under those locks (so a
//! conflict carries the exact current version), then the `UPDATE`, `INSERT` or `DELETE`
//! with a version from the sequence, then `COMMIT`. If the connection breaks after `COMMIT`
//! was sent, the outcome is unknown: `StoreError::Indeterminate`.

use std::time::SystemTime;

use optimist::{Conflict, Expect, Meta, StoreError, Version, Versioned, VersionedStore};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls, Transaction};

/// One row of `accounts`, without its id and bookkeeping columns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Who owns it.
    pub owner: String,
    /// In cents.
    pub balance: i64,
}

/// The store over `accounts`: one connection behind a mutex, to keep the example short (a
/// service would use a pool, as `optimist::postgres` does).
pub struct AccountStore {
    client: Mutex<Client>,
    table: String,
}

/// The class of this store's advisory locks ("acct"); the second key is `hashtext(id)`.
const LOCK_CLASS: i32 = 0x6163_6374;

fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::backend(e)
}

/// A lost connection or a server-side end of the session is not a refused statement.
fn lost(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_none() || e.is_closed()
}

impl AccountStore {
    /// Connects to `url` and uses the table `table` (created with its sequence when
    /// missing; an existing table only gets the sequence).
    pub async fn connect(url: &str, table: &str) -> Result<Self, StoreError> {
        assert!(
            table
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "a plain table name"
        );
        let (client, connection) =
            tokio_postgres::connect(url, NoTls)
                .await
                .map_err(|e| StoreError::Unavailable {
                    source: Box::new(e),
                })?;
        tokio::spawn(connection);
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, owner TEXT NOT NULL, \
                 balance BIGINT NOT NULL, version BIGINT NOT NULL, \
                 updated_at TIMESTAMPTZ NOT NULL);
                 CREATE SEQUENCE IF NOT EXISTS {table}_version_seq;"
            ))
            .await
            .map_err(backend)?;
        Ok(Self {
            client: Mutex::new(client),
            table: table.to_owned(),
        })
    }

    /// Drops the table and its sequence (for tests).
    pub async fn drop_table(&self) -> Result<(), StoreError> {
        let t = &self.table;
        let client = self.client.lock().await;
        client
            .batch_execute(&format!("DROP TABLE {t}; DROP SEQUENCE {t}_version_seq;"))
            .await
            .map_err(backend)
    }

    /// The row of `id`, locked until the transaction ends, and its version.
    async fn locked(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        id: &str,
    ) -> Result<Option<Version>, tokio_postgres::Error> {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))",
            &[&LOCK_CLASS, &id],
        )
        .await?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT version FROM {} WHERE id = $1 FOR UPDATE",
                    self.table
                ),
                &[&id],
            )
            .await?;
        Ok(row.map(|r| Version::new(r.get::<_, i64>(0) as u64).expect("versions start at 1")))
    }

    /// Opens the write transaction of `id` on `client`: locks the key and its row and
    /// checks `expect` against the version read under those locks (a refusal rolls back
    /// and carries that exact version).
    async fn begin<'c>(
        &self,
        client: &'c mut Client,
        id: &str,
        expect: &Expect,
    ) -> Result<(Transaction<'c>, Option<Version>), StoreError> {
        check_id(id)?;
        let tx = client.transaction().await.map_err(uncommitted)?;
        let current = self.locked(&tx, id).await.map_err(uncommitted)?;
        if !expect.admits(current) {
            tx.rollback().await.map_err(uncommitted)?;
            return Err(Conflict::new(id, expect.clone(), current).into());
        }
        Ok((tx, current))
    }
}

/// Commits `tx`, the write to `id` that produced `result`.
async fn commit<T>(tx: Transaction<'_>, id: &str, result: T) -> Result<T, StoreError> {
    match tx.commit().await {
        Ok(()) => Ok(result),
        // COMMIT was sent: it may or may not have been applied.
        Err(e) if lost(&e) => Err(StoreError::Indeterminate {
            key: id.to_owned(),
            source: Box::new(e),
        }),
        Err(e) => Err(backend(e)),
    }
}

/// The error of a statement before `COMMIT`: a broken connection rolls the transaction back,
/// so nothing was written.
fn uncommitted(e: tokio_postgres::Error) -> StoreError {
    if lost(&e) {
        StoreError::Unavailable {
            source: Box::new(e),
        }
    } else {
        backend(e)
    }
}

fn check_id(id: &str) -> Result<(), StoreError> {
    if id.contains('\0') {
        return Err(StoreError::InvalidKey {
            reason: "PostgreSQL text cannot hold NUL".into(),
        });
    }
    Ok(())
}

impl VersionedStore<Account> for AccountStore {
    async fn get(&self, id: &str) -> Result<Option<Versioned<Account>>, StoreError> {
        check_id(id)?;
        let client = self.client.lock().await;
        let sql = format!(
            "SELECT owner, balance, version, updated_at FROM {} WHERE id = $1",
            self.table
        );
        let row = client.query_opt(&sql, &[&id]).await.map_err(uncommitted)?;
        Ok(row.map(|r| Versioned {
            value: Account {
                owner: r.get(0),
                balance: r.get(1),
            },
            version: Version::new(r.get::<_, i64>(2) as u64).expect("versions start at 1"),
            last_modified: r.get::<_, SystemTime>(3),
        }))
    }

    async fn put(&self, id: &str, value: Account, expect: Expect) -> Result<Meta, StoreError> {
        let t = &self.table;
        let mut client = self.client.lock().await;
        let (tx, current) = self.begin(&mut client, id, &expect).await?;
        let sql = if current.is_some() {
            format!(
                "UPDATE {t} SET owner = $2, balance = $3, version = nextval('{t}_version_seq'), \
                 updated_at = clock_timestamp() WHERE id = $1 RETURNING version, updated_at"
            )
        } else {
            format!(
                "INSERT INTO {t} (id, owner, balance, version, updated_at) \
                 VALUES ($1, $2, $3, nextval('{t}_version_seq'), clock_timestamp()) \
                 RETURNING version, updated_at"
            )
        };
        let row = tx
            .query_one(&sql, &[&id, &value.owner, &value.balance])
            .await
            .map_err(uncommitted)?;
        let meta = Meta {
            version: Version::new(row.get::<_, i64>(0) as u64).expect("from the sequence"),
            last_modified: row.get(1),
        };
        commit(tx, id, meta).await
    }

    async fn delete(&self, id: &str, expect: Expect) -> Result<Option<Version>, StoreError> {
        let mut client = self.client.lock().await;
        let (tx, current) = self.begin(&mut client, id, &expect).await?;
        if current.is_some() {
            let sql = format!("DELETE FROM {} WHERE id = $1", self.table);
            tx.execute(&sql, &[&id]).await.map_err(uncommitted)?;
        }
        commit(tx, id, current).await
    }
}
