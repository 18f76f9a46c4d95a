//! The schema (table + sequence) and every SQL statement, built once per store.
//!
//! The only text ever put into SQL is the validated table name and the sequence name derived
//! from it, both double-quoted; keys, values and versions are always bind parameters.

use super::PostgresError;

/// The longest identifier PostgreSQL keeps (`NAMEDATALEN - 1`); longer ones are truncated.
const MAX_IDENT: usize = 63;
/// Appended to the table name to name its sequence.
const SEQ_SUFFIX: &str = "_version_seq";
/// The first key of the two-key advisory lock that serializes schema creation ("opti").
pub(crate) const LOCK_CLASS: i32 = 0x6f70_7469;

/// The advisory-lock class ("opts") of the per-key lock every version-drawing write takes
/// before `nextval`, held to commit. Without it an `INSERT ... VALUES (nextval(..))` draws its
/// version, then waits on a concurrent change of the same key, and can commit a version
/// lower than one already committed and deleted meanwhile (found by the history checker).
/// With it, versions of a key are drawn in commit order. Deletes draw no version and take
/// no lock.
pub(crate) const KEY_LOCK_CLASS: i32 = 0x6f70_7473;

/// `name` if it is a valid table name: `^[A-Za-z_][A-Za-z0-9_]{0,62}$`.
pub(crate) fn validate_table(name: &str) -> Result<(), PostgresError> {
    let bytes = name.as_bytes();
    let valid = matches!(bytes.first(), Some(b) if b.is_ascii_alphabetic() || *b == b'_')
        && bytes.len() <= MAX_IDENT
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if valid {
        Ok(())
    } else {
        Err(PostgresError::InvalidTableName {
            name: name.to_owned(),
        })
    }
}

/// The sequence of a (validated) table: `{table}_version_seq`, or, when that would exceed
/// 63 bytes, a prefix of the table name plus a hash of the whole name, so that two long
/// table names never share a sequence through PostgreSQL's silent truncation.
pub(crate) fn sequence_name(table: &str) -> String {
    if table.len() + SEQ_SUFFIX.len() <= MAX_IDENT {
        return format!("{table}{SEQ_SUFFIX}");
    }
    // FNV-1a: stable across Rust versions and processes, unlike std's hasher.
    let hash = table.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let keep = MAX_IDENT - SEQ_SUFFIX.len() - 9;
    format!("{}_{hash:08x}{SEQ_SUFFIX}", &table[..keep])
}

/// Every statement of one store, with its table and sequence filled in.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) create: String,
    pub(crate) drop: String,
    pub(crate) get: String,
    pub(crate) head: String,
    pub(crate) upsert: String,
    pub(crate) insert: String,
    pub(crate) update_exists: String,
    pub(crate) update_versions: String,
    pub(crate) delete_any: String,
    pub(crate) delete_versions: String,
    /// Commit step 1: the per-key advisory locks of the commit's keys (`$1 TEXT[]`), taken
    /// in ascending `hashtext` order.
    pub(crate) lock_keys: String,
    /// Commit step 2: the existing rows of the commit's keys, locked in key order.
    pub(crate) lock_rows: String,
    /// Commit step 3: every delete, update and insert of the commit in one statement.
    pub(crate) commit_write: String,
    /// Listing, by [`ListShape::index`].
    list: [String; 8],
}

/// Which of the eight listing statements a page needs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ListShape {
    /// The lower bound `$1` is inclusive (`key >= $1`: the prefix) rather than exclusive
    /// (`key > $1`: the cursor).
    pub(crate) inclusive: bool,
    /// There is an upper bound `key < $2` (the prefix's successor).
    pub(crate) bounded: bool,
    /// The values are wanted too.
    pub(crate) values: bool,
}

impl ListShape {
    fn index(self) -> usize {
        usize::from(self.inclusive) | usize::from(self.bounded) << 1 | usize::from(self.values) << 2
    }
}

/// Takes the advisory lock that serializes schema creation, per table name, until the end of
/// the transaction.
pub(crate) const LOCK_SQL: &str = "SELECT pg_advisory_xact_lock($1, hashtext($2))";

impl Sql {
    pub(crate) fn new(table: &str, sequence: &str) -> Self {
        let t = format!("\"{table}\"");
        let s = format!("\"{sequence}\"");
        // The sequence must not use CACHE > 1: cached ranges per session would hand out
        // versions out of order across connections, and a key's versions must increase.
        // It is not OWNED BY the table, so dropping the table does not reset versions.
        let create = format!(
            "CREATE SEQUENCE IF NOT EXISTS {s} AS BIGINT MINVALUE 1 START WITH 1 CACHE 1 NO CYCLE;\n\
             CREATE TABLE IF NOT EXISTS {t} (\n\
             \x20   key TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,\n\
             \x20   version BIGINT NOT NULL CHECK (version > 0),\n\
             \x20   data BYTEA NOT NULL,\n\
             \x20   modified TIMESTAMPTZ NOT NULL\n\
             );"
        );
        let drop = format!("DROP TABLE IF EXISTS {t};\nDROP SEQUENCE IF EXISTS {s};");
        // The version of an update is drawn with nextval() where PostgreSQL evaluates it
        // only after it has locked the row (the SET list of UPDATE, re-evaluated after a
        // concurrent update, and of ON CONFLICT DO UPDATE): it is then greater than the
        // version of every write committed to that row before.
        let next = format!("nextval('{s}')");
        Self {
            create,
            drop,
            get: format!("SELECT version, data, modified FROM {t} WHERE key = $1"),
            head: format!("SELECT version, modified FROM {t} WHERE key = $1"),
            upsert: format!(
                "WITH l AS (SELECT pg_advisory_xact_lock({KEY_LOCK_CLASS}, hashtext($1))) \
                 INSERT INTO {t} (key, version, data, modified) \
                 SELECT $1, {next}, $2, clock_timestamp() FROM l \
                 ON CONFLICT (key) DO UPDATE \
                 SET version = {next}, data = EXCLUDED.data, modified = clock_timestamp() \
                 RETURNING version, modified"
            ),
            insert: format!(
                "WITH l AS (SELECT pg_advisory_xact_lock({KEY_LOCK_CLASS}, hashtext($1))) \
                 INSERT INTO {t} (key, version, data, modified) \
                 SELECT $1, {next}, $2, clock_timestamp() FROM l \
                 ON CONFLICT (key) DO NOTHING \
                 RETURNING version, modified"
            ),
            update_exists: format!(
                "WITH l AS (SELECT pg_advisory_xact_lock({KEY_LOCK_CLASS}, hashtext($1))) \
                 UPDATE {t} SET version = {next}, data = $2, modified = clock_timestamp() \
                 FROM l WHERE key = $1 RETURNING version, modified"
            ),
            update_versions: format!(
                "WITH l AS (SELECT pg_advisory_xact_lock({KEY_LOCK_CLASS}, hashtext($1))) \
                 UPDATE {t} SET version = {next}, data = $2, modified = clock_timestamp() \
                 FROM l WHERE key = $1 AND version = ANY($3) RETURNING version, modified"
            ),
            delete_any: format!("DELETE FROM {t} WHERE key = $1 RETURNING version"),
            delete_versions: format!(
                "DELETE FROM {t} WHERE key = $1 AND version = ANY($2) RETURNING version"
            ),
            // PostgreSQL evaluates a volatile output expression after the ORDER BY sort
            // (since 9.6), so the locks are taken in ascending hash order; two keys with the
            // same hash share one lock, taken once.
            lock_keys: format!(
                "SELECT pg_advisory_xact_lock({KEY_LOCK_CLASS}, h) \
                 FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k) AS s \
                 ORDER BY h"
            ),
            lock_rows: format!(
                "SELECT key, version FROM {t} WHERE key = ANY($1::text[]) ORDER BY key FOR UPDATE"
            ),
            // $1 keys to delete; $2/$3 keys and data of existing rows to update; $4/$5 keys
            // and data of absent keys to insert. The three sets are disjoint.
            commit_write: format!(
                "WITH del AS (DELETE FROM {t} WHERE key = ANY($1::text[])), \
                 upd AS (UPDATE {t} SET version = {next}, data = u.d, \
                 modified = clock_timestamp() \
                 FROM unnest($2::text[], $3::bytea[]) AS u(k, d) WHERE {t}.key = u.k \
                 RETURNING {t}.key, {t}.version, {t}.modified), \
                 ins AS (INSERT INTO {t} (key, version, data, modified) \
                 SELECT k, {next}, d, clock_timestamp() \
                 FROM unnest($4::text[], $5::bytea[]) AS n(k, d) \
                 RETURNING key, version, modified) \
                 SELECT key, version, modified FROM upd \
                 UNION ALL SELECT key, version, modified FROM ins"
            ),
            list: std::array::from_fn(|i| list_sql(&t, i & 1 != 0, i & 2 != 0, i & 4 != 0)),
        }
    }

    /// The listing statement of `shape`: `$1` the lower bound, `$2` the upper bound (when
    /// bounded), then the limit (`$2` or `$3`).
    pub(crate) fn list(&self, shape: ListShape) -> &str {
        &self.list[shape.index()]
    }
}

/// `SELECT key, version, modified[, data] FROM t WHERE key >[=] $1 [AND key < $2] ORDER BY
/// key LIMIT $n`: a range scan of the primary key, which is in byte order (`COLLATE "C"`).
fn list_sql(t: &str, inclusive: bool, bounded: bool, values: bool) -> String {
    let columns = if values {
        "key, version, modified, data"
    } else {
        "key, version, modified"
    };
    let lower = if inclusive { ">=" } else { ">" };
    let (upper, limit) = if bounded {
        (" AND key < $2", "$3")
    } else {
        ("", "$2")
    };
    format!("SELECT {columns} FROM {t} WHERE key {lower} $1{upper} ORDER BY key LIMIT {limit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names() {
        for ok in ["a", "_", "kv", "Users_2", &"x".repeat(63)] {
            assert!(validate_table(ok).is_ok(), "{ok:?}");
        }
        let long = "x".repeat(64);
        for bad in [
            "", "1a", "a-b", "a b", "a;b", "a\"b", "ä", "a.b", "a\0", &long,
        ] {
            assert!(validate_table(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sequence_names_fit_and_differ() {
        assert_eq!(sequence_name("kv"), "kv_version_seq");
        let a = sequence_name(&format!("{}a", "x".repeat(62)));
        let b = sequence_name(&format!("{}b", "x".repeat(62)));
        assert!(a.len() <= MAX_IDENT && b.len() <= MAX_IDENT);
        assert_ne!(a, b);
        assert!(validate_table(&a).is_ok());
        let edge = "y".repeat(MAX_IDENT - SEQ_SUFFIX.len());
        assert_eq!(sequence_name(&edge), format!("{edge}{SEQ_SUFFIX}"));
    }
}
