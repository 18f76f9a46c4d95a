//! The blocking bodies of the store's operations, each on one connection.
//!
//! Writes run inside a `BEGIN IMMEDIATE` transaction opened by the
//! [writer thread](super::writer): the current version is read
//! under the write lock, compared with the expectation, and the new row written (or the row
//! deleted) before `COMMIT`, all in one atomic step.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::conn::Connections;
use super::error::{SqliteError, classify};
use crate::{Conflict, Expect, Meta, StoreError, Version};

/// A stored row: its version, time, and encoded value.
pub(super) type RawRow = (Meta, Vec<u8>);

/// The value, version and time of `key`.
pub(super) fn get(
    conn: &Connection,
    c: &Connections,
    key: &str,
) -> Result<Option<RawRow>, StoreError> {
    conn.prepare_cached(&c.sql.get)
        .and_then(|mut s| {
            s.query_row([key], |row| {
                Ok((meta_at(row, 0), row.get::<_, Vec<u8>>(2)?))
            })
            .optional()
        })
        .map_err(|e| classify(e, c.settings.busy_timeout))?
        .map(|(meta, data)| Ok((meta?, data)))
        .transpose()
}

/// The version and time of `key`, without reading its value.
pub(super) fn head(
    conn: &Connection,
    c: &Connections,
    key: &str,
) -> Result<Option<Meta>, StoreError> {
    conn.prepare_cached(&c.sql.head)
        .and_then(|mut s| s.query_row([key], |row| Ok(meta_at(row, 0))).optional())
        .map_err(|e| classify(e, c.settings.busy_timeout))?
        .transpose()
}

/// Inside the write transaction: writes `data` under `key` if `expect` admits the current
/// version, with a fresh version from the counter.
pub(super) fn put(
    conn: &Connection,
    c: &Connections,
    key: &str,
    data: &[u8],
    expect: Expect,
) -> Result<Meta, StoreError> {
    let current = current(conn, c, key)?;
    if !expect.admits(current) {
        return Err(Conflict::new(key, expect, current).into());
    }
    write_row(conn, c, key, data)
}

/// Inside the write transaction: deletes `key` if `expect` admits the current version, and
/// returns the version removed.
pub(super) fn delete(
    conn: &Connection,
    c: &Connections,
    key: &str,
    expect: Expect,
) -> Result<Option<Version>, StoreError> {
    let current = current(conn, c, key)?;
    if !expect.admits(current) {
        return Err(Conflict::new(key, expect, current).into());
    }
    if current.is_some() {
        remove_row(conn, c, key)?;
    }
    Ok(current)
}

/// Inside the write transaction, its expectation already checked: takes the next version
/// from the counter and upserts `key`'s row with it.
pub(super) fn write_row(
    conn: &Connection,
    c: &Connections,
    key: &str,
    data: &[u8],
) -> Result<Meta, StoreError> {
    // A missing counter row is an error (no row to read).
    let next = c
        .counter
        .next(conn, &c.sql)
        .map_err(|e| classify(e, c.settings.busy_timeout))?;
    let version = to_version(next)?;
    let ms = now_ms();
    conn.prepare_cached(&c.sql.upsert)
        .and_then(|mut s| s.execute(params![key, next, ms, data]))
        .map_err(|e| classify(e, c.settings.busy_timeout))?;
    Ok(Meta {
        version,
        last_modified: from_ms(ms)?,
    })
}

/// Inside the write transaction, its expectation already checked: deletes `key`'s row.
pub(super) fn remove_row(conn: &Connection, c: &Connections, key: &str) -> Result<(), StoreError> {
    conn.prepare_cached(&c.sql.delete)
        .and_then(|mut s| s.execute([key]))
        .map_err(|e| classify(e, c.settings.busy_timeout))?;
    Ok(())
}

/// The current version of `key` (inside the write transaction: exact until it ends).
pub(super) fn current(
    conn: &Connection,
    c: &Connections,
    key: &str,
) -> Result<Option<Version>, StoreError> {
    conn.prepare_cached(&c.sql.current)
        .and_then(|mut s| s.query_row([key], |row| row.get::<_, i64>(0)).optional())
        .map_err(|e| classify(e, c.settings.busy_timeout))?
        .map(to_version)
        .transpose()
}

/// The version and time in columns `at` and `at + 1` of `row`.
pub(super) fn meta_at(row: &Row<'_>, at: usize) -> Result<Meta, StoreError> {
    let (version, ms): (i64, i64) = (|| Ok((row.get(at)?, row.get(at + 1)?)))()
        .map_err(|e: rusqlite::Error| StoreError::from(SqliteError::from(e)))?;
    Ok(Meta {
        version: to_version(version)?,
        last_modified: from_ms(ms)?,
    })
}

fn to_version(n: i64) -> Result<Version, StoreError> {
    u64::try_from(n).ok().and_then(Version::new).ok_or_else(|| {
        SqliteError::BadColumn {
            column: "version",
            value: n,
        }
        .into()
    })
}

fn from_ms(ms: i64) -> Result<SystemTime, StoreError> {
    u64::try_from(ms)
        .ok()
        .and_then(|ms| UNIX_EPOCH.checked_add(Duration::from_millis(ms)))
        .ok_or_else(|| {
            SqliteError::BadColumn {
                column: "modified_ms",
                value: ms,
            }
            .into()
        })
}

/// Milliseconds since the Unix epoch, by this machine's clock (SQLite's clock is the
/// process's own: the store is embedded).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
