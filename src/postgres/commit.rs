//! Multi-key commits: one transaction that locks the commit's keys in a fixed order, reads
//! their versions under those locks, checks every expectation, and applies every write with
//! one statement before `COMMIT`.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::conn::{Cause, Conn, Fail};
use super::error::{PostgresError, backend, indeterminate, unavailable};
use super::{PostgresStore, check_key, modified_at, version_at};
use crate::encoded::{EncodedOp as Prepared, encode_ops};
use crate::{Applied, Commit, CommitConflict, Conflict, Meta, StoreError, Version};

/// How one attempt ended.
enum Attempt {
    /// Applied, refused, or failed for good.
    Done(Result<Vec<Applied>, StoreError>),
    /// Aborted by the server with a deadlock or serialization failure and rolled back:
    /// nothing was written, and running it again may succeed.
    Retry(tokio_postgres::Error),
}

/// Applies `commit` all or nothing; see the [module documentation](super#multi-key-commits).
pub(super) async fn apply<V: serde::Serialize>(
    store: &PostgresStore,
    commit: Commit<V>,
) -> Result<Vec<Applied>, StoreError> {
    let ops = encode_ops(commit, super::MAX_COMMIT_KEYS, check_key)?;
    let mut conn = store.conn().await?;
    let mut attempt = 1;
    loop {
        match once(store, &mut conn, &ops).await {
            Attempt::Done(result) => return result,
            Attempt::Retry(e) if attempt >= store.inner.options.commit_attempts => {
                return Err(backend(PostgresError::Sql(e)));
            }
            Attempt::Retry(_) => attempt += 1,
        }
    }
}

/// One run of the commit's transaction on `conn`.
async fn once(store: &PostgresStore, conn: &mut Conn, ops: &[Prepared]) -> Attempt {
    let timeout = store.inner.options.statement_timeout;
    let sql = &store.inner.sql;
    if let Err(fail) = conn.begin(timeout).await {
        return Attempt::Done(Err(uncommitted(fail)));
    }
    let keys: Vec<&str> = ops.iter().map(|op| op.key.as_str()).collect();
    // Every version-drawing write of a key takes its advisory lock first, so holding the
    // locks of all our keys keeps absent keys absent; the row locks keep existing rows as
    // they are (deletes take only the row lock).
    let locked = async {
        conn.query(&sql.lock_keys, &[&keys], timeout).await?;
        conn.query(&sql.lock_rows, &[&keys], timeout).await
    }
    .await;
    let rows = match locked {
        Ok(rows) => rows,
        Err(fail) => return abort(conn, timeout, fail).await,
    };
    let mut current: HashMap<String, Version> = HashMap::with_capacity(rows.len());
    for row in &rows {
        let read = row
            .try_get::<_, String>(0)
            .map_err(PostgresError::Column)
            .and_then(|key| Ok((key, version_at(row, 1)?)));
        match read {
            Ok((key, version)) => current.insert(key, version),
            Err(e) => return rolled_back(conn, timeout, backend(e)).await,
        };
    }

    let conflicts: Vec<Conflict> = ops
        .iter()
        .filter_map(|op| {
            let now = current.get(&op.key).copied();
            (!op.expect.admits(now)).then(|| Conflict::new(&op.key, op.expect.clone(), now))
        })
        .collect();
    if !conflicts.is_empty() {
        return rolled_back(conn, timeout, CommitConflict::new(conflicts).into()).await;
    }

    let written = if ops.iter().any(|op| op.writes) {
        match write(store, conn, ops, &current, timeout).await {
            Ok(written) => written,
            Err(Written::Fail(fail)) => return abort(conn, timeout, fail).await,
            Err(Written::Bad(e)) => return rolled_back(conn, timeout, backend(e)).await,
        }
    } else {
        HashMap::new()
    };

    match conn.simple("COMMIT", timeout).await {
        Ok(()) => conn.end_transaction(),
        // The server refused the COMMIT: the transaction was rolled back.
        Err(Fail::Sent(Cause::Sql(e)) | Fail::NotSent(Cause::Sql(e))) => {
            conn.end_transaction();
            return retry_or(e);
        }
        // COMMIT was sent, or may have been: the outcome is unknown.
        Err(Fail::Sent(cause)) => {
            return Attempt::Done(Err(indeterminate(&ops[0].key, cause.into_source())));
        }
        Err(fail @ Fail::NotSent(_)) => return Attempt::Done(Err(uncommitted(fail))),
    }

    let applied = ops
        .iter()
        .map(|op| {
            let now = current.get(&op.key).copied();
            match (&op.data, op.writes) {
                (Some(_), _) => {
                    let (version, last_modified) = written[op.key.as_str()];
                    Applied::Put(Meta {
                        version,
                        last_modified,
                    })
                }
                (None, true) => Applied::Deleted(now),
                (None, false) => Applied::Checked(now),
            }
        })
        .collect();
    Attempt::Done(Ok(applied))
}

/// Why the write statement failed.
enum Written {
    Fail(Fail),
    /// It returned something unreadable (or too little).
    Bad(PostgresError),
}

/// Runs the delete, update and insert of every written key in one statement, returning the
/// new version and time of each put key.
async fn write<'a>(
    store: &PostgresStore,
    conn: &mut Conn,
    ops: &'a [Prepared],
    current: &HashMap<String, Version>,
    timeout: Duration,
) -> Result<HashMap<&'a str, (Version, SystemTime)>, Written> {
    let (mut deleted, mut updated, mut updated_data, mut inserted, mut inserted_data) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for op in ops.iter().filter(|op| op.writes) {
        let exists = current.contains_key(&op.key);
        match &op.data {
            Some(data) if exists => {
                updated.push(op.key.as_str());
                updated_data.push(data.as_slice());
            }
            Some(data) => {
                inserted.push(op.key.as_str());
                inserted_data.push(data.as_slice());
            }
            None if exists => deleted.push(op.key.as_str()),
            None => {}
        }
    }
    let params: [&(dyn ToSql + Sync); 5] =
        [&deleted, &updated, &updated_data, &inserted, &inserted_data];
    let rows = conn
        .query(&store.inner.sql.commit_write, &params, timeout)
        .await
        .map_err(Written::Fail)?;
    let mut written = HashMap::with_capacity(rows.len());
    for row in &rows {
        let key: String = row
            .try_get(0)
            .map_err(|e| Written::Bad(PostgresError::Column(e)))?;
        let version = version_at(row, 1).map_err(Written::Bad)?;
        let modified = modified_at(row, 2).map_err(Written::Bad)?;
        let Some(op) = ops.iter().find(|op| op.key == key) else {
            return Err(Written::Bad(PostgresError::NoRow));
        };
        written.insert(op.key.as_str(), (version, modified));
    }
    if written.len() != updated.len() + inserted.len() {
        return Err(Written::Bad(PostgresError::NoRow));
    }
    Ok(written)
}

/// A statement inside the transaction failed: roll back if the connection is still there.
async fn abort(conn: &mut Conn, timeout: Duration, fail: Fail) -> Attempt {
    match fail {
        Fail::Sent(Cause::Sql(e)) | Fail::NotSent(Cause::Sql(e)) => {
            match rollback(conn, timeout).await {
                Ok(()) => retry_or(e),
                Err(_) => Attempt::Done(Err(backend(PostgresError::Sql(e)))),
            }
        }
        other => Attempt::Done(Err(uncommitted(other))),
    }
}

/// Rolls back, then reports `error` (a conflict, or a row it could not read).
async fn rolled_back(conn: &mut Conn, timeout: Duration, error: StoreError) -> Attempt {
    // A failed ROLLBACK discards the connection, and the server rolls back as it closes.
    let _ = rollback(conn, timeout).await;
    Attempt::Done(Err(error))
}

async fn rollback(conn: &mut Conn, timeout: Duration) -> Result<(), Fail> {
    conn.simple("ROLLBACK", timeout).await?;
    conn.end_transaction();
    Ok(())
}

/// A rolled-back transaction's SQL error: run again on a deadlock or serialization
/// failure, else report it.
fn retry_or(e: tokio_postgres::Error) -> Attempt {
    let transient = e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    });
    if transient {
        Attempt::Retry(e)
    } else {
        Attempt::Done(Err(backend(PostgresError::Sql(e))))
    }
}

/// The error of a transaction that ended before `COMMIT` was sent: the server rolls back a
/// transaction whose connection breaks, so nothing was written and it is safe to retry.
fn uncommitted(fail: Fail) -> StoreError {
    match fail {
        Fail::Sent(Cause::Sql(e)) | Fail::NotSent(Cause::Sql(e)) => backend(PostgresError::Sql(e)),
        Fail::Sent(cause) | Fail::NotSent(cause) => unavailable(cause.into_source()),
    }
}
