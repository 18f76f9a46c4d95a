//! The table name rule, the schema, and the statements of the store.
//!
//! The table name is the only thing ever put into SQL text, and only after [`validate_table`]
//! accepted it; keys, values, versions and times are always bound parameters.

use rusqlite::Connection;

use super::error::SqliteError;

/// Accepts `^[A-Za-z_][A-Za-z0-9_]{0,62}$`, except names SQLite reserves (`sqlite_...`).
pub(super) fn validate_table(name: &str) -> Result<(), SqliteError> {
    let bytes = name.as_bytes();
    let ok = matches!(bytes.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_')
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_')
        && !name.to_ascii_lowercase().starts_with("sqlite_");
    if ok {
        Ok(())
    } else {
        Err(SqliteError::InvalidTableName {
            name: name.to_owned(),
        })
    }
}

/// The statements of one store, built once for its (validated) table name. Each is run
/// through `prepare_cached`, which keys the cache by this text.
#[derive(Debug)]
pub(super) struct Sql {
    /// `?1` key -> version, modified_ms, data.
    pub get: String,
    /// `?1` key -> version, modified_ms.
    pub head: String,
    /// `?1` key -> version (inside the write transaction).
    pub current: String,
    /// `?1` the last version a write transaction handed out: the counter, never reset,
    /// moves up to it (see [`TxCounter`](super::counter::TxCounter)).
    pub bump: String,
    /// -> the counter's value, read at a write transaction's first put.
    pub next: String,
    /// `?1` key, `?2` version, `?3` modified_ms, `?4` data.
    pub upsert: String,
    /// `?1` key.
    pub delete: String,
    /// Creates the table and the counter if missing.
    pub create: String,
    /// Listing, by [`list_index`]: `?1` lower bound, `?2` upper bound (exclusive), `?3`
    /// limit -> key, version, modified_ms[, data].
    list: [String; 4],
}

/// Which of the four listing statements a page needs: `inclusive` when the lower bound is
/// the prefix (`key >= ?1`) rather than the cursor (`key > ?1`), `values` when the data is
/// wanted too.
fn list_index(inclusive: bool, values: bool) -> usize {
    usize::from(inclusive) | usize::from(values) << 1
}

/// `SELECT key, version, modified_ms[, data] FROM t WHERE key >[=] ?1 AND key < ?2 ORDER BY
/// key LIMIT ?3`: a range scan of the primary key, whose `BINARY` collation is byte order.
fn list_sql(table: &str, inclusive: bool, values: bool) -> String {
    let columns = if values {
        "key, version, modified_ms, data"
    } else {
        "key, version, modified_ms"
    };
    let lower = if inclusive { ">=" } else { ">" };
    format!(
        r#"SELECT {columns} FROM "{table}" WHERE key {lower} ?1 AND key < ?2 ORDER BY key LIMIT ?3"#
    )
}

impl Sql {
    /// The statements for `table`, which must have passed [`validate_table`].
    pub fn new(table: &str) -> Self {
        let counter = format!("{table}_counter");
        Sql {
            get: format!(r#"SELECT version, modified_ms, data FROM "{table}" WHERE key = ?1"#),
            head: format!(r#"SELECT version, modified_ms FROM "{table}" WHERE key = ?1"#),
            current: format!(r#"SELECT version FROM "{table}" WHERE key = ?1"#),
            bump: format!(r#"UPDATE "{counter}" SET next = ?1 WHERE id = 1"#),
            next: format!(r#"SELECT next FROM "{counter}" WHERE id = 1"#),
            upsert: format!(
                r#"INSERT INTO "{table}" (key, version, modified_ms, data) VALUES (?1, ?2, ?3, ?4)
                   ON CONFLICT (key) DO UPDATE SET version = excluded.version,
                   modified_ms = excluded.modified_ms, data = excluded.data"#
            ),
            delete: format!(r#"DELETE FROM "{table}" WHERE key = ?1"#),
            // The counter starts above every stored version, so a counter table that was
            // lost (dropped by hand) cannot hand out a version a key already has.
            create: format!(
                r#"CREATE TABLE IF NOT EXISTS "{table}" (
                       key TEXT PRIMARY KEY NOT NULL,
                       version INTEGER NOT NULL,
                       modified_ms INTEGER NOT NULL,
                       data BLOB NOT NULL
                   ) WITHOUT ROWID;
                   CREATE TABLE IF NOT EXISTS "{counter}" (
                       id INTEGER PRIMARY KEY CHECK (id = 1),
                       next INTEGER NOT NULL
                   );
                   INSERT OR IGNORE INTO "{counter}" (id, next)
                       SELECT 1, COALESCE(MAX(version), 0) FROM "{table}";"#
            ),
            list: [(false, false), (true, false), (false, true), (true, true)]
                .map(|(inclusive, values)| list_sql(table, inclusive, values)),
        }
    }

    /// The listing statement for a page; see [`list_index`].
    pub fn list(&self, inclusive: bool, values: bool) -> &str {
        &self.list[list_index(inclusive, values)]
    }

    /// Prepares every statement once (filling the cache), so a table of another shape is
    /// reported when the store opens rather than on first use.
    pub fn check(&self, conn: &Connection, writer: bool) -> rusqlite::Result<()> {
        conn.prepare_cached(&self.get)?;
        conn.prepare_cached(&self.head)?;
        if !writer {
            for sql in &self.list {
                conn.prepare_cached(sql)?;
            }
        }
        if writer {
            conn.prepare_cached(&self.current)?;
            conn.prepare_cached(&self.bump)?;
            conn.prepare_cached(&self.next)?;
            conn.prepare_cached(&self.upsert)?;
            conn.prepare_cached(&self.delete)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_statements_by_shape() {
        let sql = Sql::new("t");
        for (inclusive, values) in [(false, false), (true, false), (false, true), (true, true)] {
            let text = sql.list(inclusive, values);
            assert_eq!(text.contains("key >= ?1"), inclusive, "{text}");
            assert_eq!(text.contains(", data FROM"), values, "{text}");
            assert!(
                text.contains("key < ?2") && text.ends_with("LIMIT ?3"),
                "{text}"
            );
        }
    }

    #[test]
    fn table_names() {
        for ok in ["optimist", "_t", "T1_x", &"a".repeat(63)] {
            assert!(validate_table(ok).is_ok(), "{ok:?}");
        }
        let long = "a".repeat(64);
        for bad in [
            "", "1t", "a-b", "a b", "t;", "t\"", "é", "sqlite_x", "SQLite_x", &long,
        ] {
            assert!(validate_table(bad).is_err(), "{bad:?}");
        }
    }
}
