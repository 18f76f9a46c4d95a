//! The schema (table + sequence) and every SQL statement.
//!
//! The only text ever put into SQL is the validated table name and the sequence name derived
//! from it, both back-quoted; keys, values and versions are always bind parameters. The
//! statements of a commit depend on its number of keys (one `VALUES` row or `IN` element per
//! key) and are built per call; the driver caches prepared statements per connection.

use super::MysqlError;

/// The longest table name: MariaDB identifiers have at most 64 characters, and the
/// sequence appends `_version_seq`.
const MAX_TABLE: usize = 64 - SEQ_SUFFIX.len();
/// Appended to the table name to name its sequence.
const SEQ_SUFFIX: &str = "_version_seq";

/// `name` if it is a valid table name: `^[A-Za-z_][A-Za-z0-9_]{0,51}$`.
pub(crate) fn validate_table(name: &str) -> Result<(), MysqlError> {
    let bytes = name.as_bytes();
    let valid = matches!(bytes.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_')
        && bytes.len() <= MAX_TABLE
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if valid {
        Ok(())
    } else {
        Err(MysqlError::InvalidTableName {
            name: name.to_owned(),
        })
    }
}

/// The sequence of a (validated) table.
pub(crate) fn sequence_name(table: &str) -> String {
    format!("{table}{SEQ_SUFFIX}")
}

/// Every fixed statement of one store, with its table and sequence filled in.
#[derive(Debug)]
pub(crate) struct Sql {
    table: String,
    sequence: String,
    pub(crate) create: [String; 2],
    pub(crate) drop: [String; 2],
    pub(crate) get: String,
    pub(crate) head: String,
    /// Listing, by [`ListShape::index`].
    list: [String; 8],
}

/// Which of the eight listing statements a page needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListShape {
    /// The lower bound is inclusive (`>=`: the prefix) rather than exclusive (`>`: the
    /// cursor).
    pub(crate) inclusive: bool,
    /// There is an upper bound (`< ?`: the prefix's successor).
    pub(crate) bounded: bool,
    /// The values are wanted too.
    pub(crate) values: bool,
}

impl ListShape {
    fn index(self) -> usize {
        usize::from(self.inclusive) | usize::from(self.bounded) << 1 | usize::from(self.values) << 2
    }
}

impl Sql {
    pub(crate) fn new(table: &str, sequence: &str) -> Self {
        let t = format!("`{table}`");
        let s = format!("`{sequence}`");
        Self {
            // CACHE 1000 is safe: MariaDB keeps one cache per sequence for the whole server
            // (every connection draws from it in order), and after a restart it resumes
            // above the cached range, skipping numbers but never reusing one.
            create: [
                format!(
                    "CREATE SEQUENCE IF NOT EXISTS {s} START WITH 1 MINVALUE 1 \
                     INCREMENT BY 1 CACHE 1000 NOCYCLE ENGINE=InnoDB"
                ),
                format!(
                    "CREATE TABLE IF NOT EXISTS {t} (\
                     `key` VARBINARY({}) NOT NULL PRIMARY KEY, \
                     version BIGINT UNSIGNED NOT NULL, \
                     modified DATETIME(6) NOT NULL, \
                     data LONGBLOB NOT NULL) ENGINE=InnoDB",
                    super::MAX_KEY_LEN
                ),
            ],
            drop: [
                format!("DROP TABLE IF EXISTS {t}"),
                format!("DROP SEQUENCE IF EXISTS {s}"),
            ],
            get: format!("SELECT version, modified, data FROM {t} WHERE `key` = ?"),
            head: format!("SELECT version, modified FROM {t} WHERE `key` = ?"),
            list: std::array::from_fn(|i| list_sql(&t, i & 1 != 0, i & 2 != 0, i & 4 != 0)),
            table: t,
            sequence: s,
        }
    }

    /// The listing statement of `shape`: the lower bound, the upper bound (when bounded),
    /// then the limit.
    pub(crate) fn list(&self, shape: ListShape) -> &str {
        &self.list[shape.index()]
    }

    /// Commit step 1 for `n` keys (given in ascending byte order): a placeholder row
    /// (version 0) for each absent key and an exclusive lock on every key's row, taken in
    /// the order of the rows; returns each key's version, 0 for the placeholders.
    pub(crate) fn lock(&self, n: usize) -> String {
        let rows = vec!["(?, 0, UTC_TIMESTAMP(6), '')"; n].join(", ");
        format!(
            "INSERT INTO {} (`key`, version, modified, data) VALUES {rows} \
             ON DUPLICATE KEY UPDATE version = version RETURNING `key`, version",
            self.table
        )
    }

    /// Commit step 2 for `n` put keys: each row replaced by the new value at a new version
    /// from the sequence, drawn under the row's lock.
    pub(crate) fn replace(&self, n: usize) -> String {
        let rows = vec![format!("(?, NEXTVAL({}), UTC_TIMESTAMP(6), ?)", self.sequence); n];
        format!(
            "REPLACE INTO {} (`key`, version, modified, data) VALUES {} \
             RETURNING `key`, version, modified",
            self.table,
            rows.join(", ")
        )
    }

    /// Commit step 3 for `n` keys: the rows of deleted keys, and the placeholders of keys
    /// that were absent and are not put, removed.
    pub(crate) fn delete(&self, n: usize) -> String {
        let keys = vec!["?"; n].join(", ");
        format!("DELETE FROM {} WHERE `key` IN ({keys})", self.table)
    }
}

/// `SELECT ... WHERE key >[=] ? [AND key < ?] ORDER BY key LIMIT ?`: a range scan of the
/// primary key, which is in byte order (`VARBINARY`).
fn list_sql(t: &str, inclusive: bool, bounded: bool, values: bool) -> String {
    let columns = if values {
        "`key`, version, modified, data"
    } else {
        "`key`, version, modified"
    };
    let lower = if inclusive { ">=" } else { ">" };
    let upper = if bounded { " AND `key` < ?" } else { "" };
    format!("SELECT {columns} FROM {t} WHERE `key` {lower} ?{upper} ORDER BY `key` LIMIT ?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for ok in ["a", "_", "kv", "Users_2", &"x".repeat(MAX_TABLE)] {
            assert!(validate_table(ok).is_ok(), "{ok:?}");
        }
        let long = "x".repeat(MAX_TABLE + 1);
        for bad in ["", "1a", "a-b", "a b", "a`b", "ä", "a.b", "a\0", &long] {
            assert!(validate_table(bad).is_err(), "{bad:?}");
        }
        assert_eq!(sequence_name(&"x".repeat(MAX_TABLE)).len(), 64);
    }

    #[test]
    fn statements_have_one_placeholder_per_bound_value() {
        let sql = Sql::new("t", "t_version_seq");
        assert_eq!(sql.lock(3).matches('?').count(), 3);
        assert_eq!(sql.replace(2).matches('?').count(), 4);
        assert_eq!(sql.delete(4).matches('?').count(), 4);
        let shape = ListShape {
            inclusive: false,
            bounded: true,
            values: true,
        };
        assert_eq!(sql.list(shape).matches('?').count(), 3);
    }
}
