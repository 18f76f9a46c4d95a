//! The version counter inside one write transaction: read from the counter table at the
//! transaction's first put, stepped in memory for each put after it, and written back once,
//! before `COMMIT`. A batch of `k` puts so costs two counter statements instead of two per
//! put. It is all one transaction under the file's write lock: no other writer (store or
//! process) reads or steps the counter in between, and a transaction rolled back (or lost
//! in a crash) takes its counter step with it, exactly like its rows.

use std::sync::atomic::{AtomicI64, Ordering};

use rusqlite::Connection;

use super::schema::Sql;

/// The counter of the write transaction open on the writer connection. Only whoever holds
/// the writer connection uses it, one transaction at a time, so relaxed atomics suffice.
#[derive(Debug, Default)]
pub(super) struct TxCounter {
    /// The last version this transaction handed out; 0: none yet (the table is untouched).
    taken: AtomicI64,
}

impl TxCounter {
    /// A transaction begins: nothing taken yet.
    pub fn begin(&self) {
        self.taken.store(0, Ordering::Relaxed);
    }

    /// The next version: one above the table's value at the first call of the transaction,
    /// one above the last version taken after that.
    pub fn next(&self, conn: &Connection, sql: &Sql) -> rusqlite::Result<i64> {
        let last = match self.taken.load(Ordering::Relaxed) {
            0 => conn
                .prepare_cached(&sql.next)?
                .query_row([], |row| row.get::<_, i64>(0))?,
            last => last,
        };
        let next = last
            .checked_add(1)
            .ok_or(rusqlite::Error::IntegralValueOutOfRange(0, last))?;
        self.taken.store(next, Ordering::Relaxed);
        Ok(next)
    }

    /// Before `COMMIT`: writes the last version taken back to the table, if any was.
    pub fn flush(&self, conn: &Connection, sql: &Sql) -> rusqlite::Result<()> {
        match self.taken.swap(0, Ordering::Relaxed) {
            0 => Ok(()),
            last => conn.prepare_cached(&sql.bump)?.execute([last]).map(drop),
        }
    }
}
