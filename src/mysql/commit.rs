//! Writes: every put, delete and multi-key commit is one transaction that locks its keys'
//! rows in ascending key order (inserting a placeholder row for each absent key, so absent
//! keys are locked too), checks every expectation against the versions read under those
//! locks, then replaces, deletes and commits.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, SystemTime};

use mysql_async::{Params, Value};

use super::conn::{Conn, Fail};
use super::error::{ER_LOCK_DEADLOCK, MysqlError, backend, server_code};
use super::row::{key_at, modified_at, raw_version_at, version_at};
use super::{MysqlStore, check_key};
use crate::encoded::{EncodedOp as Prepared, encode_ops};
use crate::{Applied, Commit, CommitConflict, Conflict, Meta, StoreError, Version};

/// How one attempt ended.
enum Attempt {
    /// Applied, refused, or failed for good.
    Done(Result<Vec<Applied>, StoreError>),
    /// InnoDB rolled the transaction back as a deadlock victim: nothing was written, and
    /// running it again may succeed.
    Retry(mysql_async::Error),
}

/// Encodes and checks a commit's operations.
pub(super) fn prepare<V: serde::Serialize>(commit: Commit<V>) -> Result<Vec<Prepared>, StoreError> {
    encode_ops(commit, super::MAX_COMMIT_KEYS, check_key)
}

/// Applies `ops` all or nothing; see the [module documentation](super#writes).
pub(super) async fn apply(
    store: &MysqlStore,
    ops: &[Prepared],
) -> Result<Vec<Applied>, StoreError> {
    let mut conn = store.conn().await?;
    let mut attempt = 1;
    loop {
        match once(store, &mut conn, ops).await {
            Attempt::Done(result) => return result,
            Attempt::Retry(e) if attempt >= store.inner.options.commit_attempts => {
                return Err(backend(MysqlError::Sql(e)));
            }
            Attempt::Retry(_) => {
                // Deadlock victims that run again at once tend to meet again: wait a random
                // 0 to 2^attempt ms first, so the transactions that collided go one by one.
                let cap_us = 1000u64 << attempt.min(6);
                let wait = RandomState::new().hash_one(attempt) % cap_us;
                futures_timer::Delay::new(Duration::from_micros(wait)).await;
                attempt += 1;
            }
        }
    }
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// One run of the transaction on `conn`.
async fn once(store: &MysqlStore, conn: &mut Conn, ops: &[Prepared]) -> Attempt {
    let timeout = store.inner.options.statement_timeout;
    let sql = &store.inner.sql;
    if let Err(fail) = conn.query("BEGIN", timeout, true).await {
        return abort(conn, timeout, fail).await;
    }
    // Lock every key's row, in ascending byte order: every writer locks in this order, so
    // two transactions never wait for each other in a cycle.
    let mut by_key: Vec<&Prepared> = ops.iter().collect();
    by_key.sort_unstable_by(|a, b| a.key.as_bytes().cmp(b.key.as_bytes()));
    let keys = by_key.iter().map(|op| bytes(op.key.as_bytes())).collect();
    let rows = match conn
        .exec(
            &sql.lock(ops.len()),
            Params::Positional(keys),
            timeout,
            true,
        )
        .await
    {
        Ok(rows) => rows,
        Err(fail) => return abort(conn, timeout, fail).await,
    };
    // 0: absent (our placeholder).
    let mut current: HashMap<String, u64> = HashMap::with_capacity(rows.len());
    for row in &rows {
        match key_at(row, 0).and_then(|k| Ok((k, raw_version_at(row, 1)?))) {
            Ok((key, version)) => current.insert(key, version),
            Err(e) => return rolled_back(conn, timeout, backend(e)).await,
        };
    }
    if current.len() != ops.len() {
        let e = MysqlError::BadRow(format!(
            "{} rows locked for {} keys",
            current.len(),
            ops.len()
        ));
        return rolled_back(conn, timeout, backend(e)).await;
    }
    let version_of = |key: &str| Version::new(current[key]);

    let conflicts: Vec<Conflict> = ops
        .iter()
        .filter_map(|op| {
            let now = version_of(&op.key);
            (!op.expect.admits(now)).then(|| Conflict::new(&op.key, op.expect.clone(), now))
        })
        .collect();
    if !conflicts.is_empty() {
        // Rolling back also removes the placeholders.
        return rolled_back(conn, timeout, CommitConflict::new(conflicts).into()).await;
    }

    let puts: Vec<&Prepared> = by_key
        .iter()
        .copied()
        .filter(|op| op.data.is_some())
        .collect();
    let mut written: HashMap<String, (Version, SystemTime)> = HashMap::with_capacity(puts.len());
    if !puts.is_empty() {
        let params = puts
            .iter()
            .flat_map(|op| {
                [
                    bytes(op.key.as_bytes()),
                    bytes(op.data.as_deref().unwrap_or_default()),
                ]
            })
            .collect();
        let rows = match conn
            .exec(
                &sql.replace(puts.len()),
                Params::Positional(params),
                timeout,
                true,
            )
            .await
        {
            Ok(rows) => rows,
            Err(fail) => return abort(conn, timeout, fail).await,
        };
        for row in &rows {
            let read =
                key_at(row, 0).and_then(|k| Ok((k, version_at(row, 1)?, modified_at(row, 2)?)));
            match read {
                Ok((key, version, modified)) => written.insert(key, (version, modified)),
                Err(e) => return rolled_back(conn, timeout, backend(e)).await,
            };
        }
        if written.len() != puts.len() {
            let e = MysqlError::BadRow(format!(
                "{} rows written for {} puts",
                written.len(),
                puts.len()
            ));
            return rolled_back(conn, timeout, backend(e)).await;
        }
    }
    // Deleted keys, and the placeholders of absent keys that are only checked.
    let removed: Vec<Value> = by_key
        .iter()
        .filter(|op| op.data.is_none() && (op.writes || current[&op.key] == 0))
        .map(|op| bytes(op.key.as_bytes()))
        .collect();
    if !removed.is_empty() {
        let sql = sql.delete(removed.len());
        if let Err(fail) = conn
            .exec(&sql, Params::Positional(removed), timeout, true)
            .await
        {
            return abort(conn, timeout, fail).await;
        }
    }

    match conn.query("COMMIT", timeout, false).await {
        Ok(()) => conn.idle(),
        Err(fail) => {
            // Whatever the failure, the connection's state is unknown: never reuse it.
            conn.discard();
            return Attempt::Done(Err(fail.commit_error(&ops[0].key)));
        }
    }

    let applied = ops
        .iter()
        .map(|op| {
            let now = version_of(&op.key);
            match (&op.data, op.writes) {
                (Some(_), _) => {
                    let (version, last_modified) = written[&op.key];
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

/// A statement inside the transaction failed: roll back if the connection is still there;
/// run again if InnoDB chose it as a deadlock victim.
async fn abort(conn: &mut Conn, timeout: Duration, fail: Fail) -> Attempt {
    match fail {
        Fail::Sql(e) => {
            let deadlock = server_code(&e) == Some(ER_LOCK_DEADLOCK);
            match rollback(conn, timeout).await {
                Ok(()) if deadlock => Attempt::Retry(e),
                _ => Attempt::Done(Err(backend(MysqlError::Sql(e)))),
            }
        }
        lost => Attempt::Done(Err(lost.uncommitted_error())),
    }
}

/// Rolls back, then reports `error` (a conflict, or a row it could not read).
async fn rolled_back(conn: &mut Conn, timeout: Duration, error: StoreError) -> Attempt {
    // A failed ROLLBACK discards the connection (killing its session), which rolls back.
    let _ = rollback(conn, timeout).await;
    Attempt::Done(Err(error))
}

async fn rollback(conn: &mut Conn, timeout: Duration) -> Result<(), Fail> {
    conn.query("ROLLBACK", timeout, false).await
}
