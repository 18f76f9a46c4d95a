//! The benchmark's key names: `<prefix><index>`, and the run's prefix.

use std::sync::Arc;

/// Up to this many keys the names are written once, before the run (48 MB at most).
const MAX_TABLE_KEYS: usize = 1 << 20;

/// Every key's name, written once and shared by the workers: naming a key in the measured
/// loop is then an index, not digit writes (128 of a memory-store increment's 1,068
/// instructions). Boxed names, not one buffer sliced per lookup: a slice of a `String` checks
/// both ends for character boundaries (32 instructions per lookup in callgrind).
pub struct NameTable(Vec<Box<str>>);

impl NameTable {
    pub fn new(prefix: &str, keys: usize) -> Self {
        let mut names = KeyNames::new(prefix);
        Self((0..keys).map(|index| names.name(index).into()).collect())
    }

    #[inline]
    pub fn name(&self, index: usize) -> &str {
        &self.0[index]
    }
}

/// How a worker names keys: from the shared table, or (past `MAX_TABLE_KEYS` keys, where
/// the table would be large) by writing each name when it is needed.
pub enum Namer {
    Table(Arc<NameTable>),
    Written(KeyNames),
}

impl Namer {
    /// The shared table for `keys` keys, if it is small enough to write up front.
    pub fn table(prefix: &str, keys: usize) -> Option<Arc<NameTable>> {
        (keys <= MAX_TABLE_KEYS).then(|| Arc::new(NameTable::new(prefix, keys)))
    }

    pub fn new(table: Option<&Arc<NameTable>>, prefix: &str) -> Self {
        match table {
            Some(t) => Namer::Table(Arc::clone(t)),
            None => Namer::Written(KeyNames::new(prefix)),
        }
    }

    /// The name of key `index`.
    #[inline]
    pub fn name(&mut self, index: usize) -> &str {
        match self {
            Namer::Table(t) => t.name(index),
            Namer::Written(w) => w.name(index),
        }
    }
}

/// Writes key names into one reused buffer that keeps the prefix, so naming a key costs a
/// few digit writes (`itoa`): no allocation, no `fmt` (which cost more than a memory-store
/// increment).
pub struct KeyNames {
    buf: String,
    prefix_len: usize,
}

impl KeyNames {
    pub fn new(prefix: &str) -> Self {
        let mut buf = String::with_capacity(prefix.len() + 20);
        buf.push_str(prefix);
        Self {
            buf,
            prefix_len: prefix.len(),
        }
    }

    /// The name of key `index`.
    pub fn name(&mut self, index: usize) -> &str {
        self.buf.truncate(self.prefix_len);
        self.buf.push_str(itoa::Buffer::new().format(index));
        &self.buf
    }
}

/// A prefix no other run shares, so runs against a shared database never collide:
/// `bench:` and 12 base-36 digits (62 bits) mixed from the process id and the start time, so
/// that with up to 10,000 keys a name fits the 23 bytes the memory store keeps inline.
pub fn run_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let pid = u64::from(std::process::id());
    // An invertible mix of the time, then the process id in the bits the time's low bits
    // scatter least: two runs collide only if both differ in a way this exactly cancels.
    let mut id = nanos.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ pid.rotate_right(21);
    let mut digits = [b'0'; 12];
    for d in digits.iter_mut().rev() {
        *d = b"0123456789abcdefghijklmnopqrstuvwxyz"[(id % 36) as usize];
        id /= 36;
    }
    format!(
        "bench:{}:",
        std::str::from_utf8(&digits).expect("ASCII digits")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_prefix_and_decimal_index() {
        let mut names = KeyNames::new("bench:1-2:");
        assert_eq!(names.name(42), "bench:1-2:42");
        assert_eq!(names.name(0), "bench:1-2:0");
        for i in [1, 9, 10, 99, 100, 1023, 1_000_000, usize::MAX] {
            assert_eq!(names.name(i), format!("bench:1-2:{i}"));
        }
    }

    #[test]
    fn the_table_and_the_writer_name_keys_alike() {
        let table = Namer::table("bench:t:", 1_000);
        let mut from_table = Namer::new(table.as_ref(), "bench:t:");
        let mut written = Namer::new(None, "bench:t:");
        assert!(matches!(from_table, Namer::Table(_)));
        for i in [0, 1, 9, 10, 99, 999] {
            assert_eq!(from_table.name(i), format!("bench:t:{i}"));
            assert_eq!(written.name(i), format!("bench:t:{i}"));
        }
        assert!(Namer::table("p:", MAX_TABLE_KEYS + 1).is_none());
    }

    #[test]
    fn prefixes_are_short_and_differ_between_calls() {
        let a = run_prefix();
        std::thread::sleep(std::time::Duration::from_millis(1));
        let b = run_prefix();
        assert_ne!(a, b);
        assert!(a.starts_with("bench:") && a.ends_with(':'), "{a}");
        assert_eq!(a.len(), 19, "{a}");
        assert!(
            KeyNames::new(&a).name(9_999).len() <= 23,
            "within the memory store's inline key bytes"
        );
    }
}
