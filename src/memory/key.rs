//! How the memory store keeps a key: inline up to 24 bytes, compared without a `memcmp` call.

use compact_str::CompactString;

/// A stored key. Keys of up to 24 bytes (12 on 32-bit targets) live inside the entry
/// (`compact_str`), so a lookup that lands on the entry compares them without following a
/// pointer; longer keys are on the heap.
pub(super) struct Key(CompactString);

impl Key {
    pub(super) fn new(key: &str) -> Self {
        Self(CompactString::new(key))
    }

    pub(super) fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Whether this is `key`. Short keys (the common case: ids, names) are compared with a
    /// few word-sized loads instead of a call into the C library's `memcmp`, which costs more
    /// than the whole comparison for keys this size.
    #[inline(always)]
    pub(super) fn is(&self, key: &str) -> bool {
        bytes_eq(self.0.as_bytes(), key.as_bytes())
    }
}

#[inline(always)]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // Overlapping loads: the first and the last word cover every byte in between.
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        17..=24 => {
            word::<8>(a, 0) == word::<8>(b, 0)
                && word::<8>(a, 8) == word::<8>(b, 8)
                && word::<8>(a, n - 8) == word::<8>(b, n - 8)
        }
        _ => a == b,
    }
}

/// `N` bytes of `s` from `at`, as an array (compared as one word).
#[inline(always)]
fn word<const N: usize>(s: &[u8], at: usize) -> [u8; N] {
    let mut w = [0; N];
    w.copy_from_slice(&s[at..at + N]);
    w
}

#[cfg(test)]
mod tests {
    use super::{Key, bytes_eq};

    #[test]
    fn agrees_with_slice_equality_for_every_length_and_differing_byte() {
        for n in 0..=40usize {
            let a: Vec<u8> = (0..n).map(|i| (i * 7 + 1) as u8).collect();
            assert!(bytes_eq(&a, &a.clone()), "len {n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 0x20;
                assert_eq!(bytes_eq(&a, &b), a == b, "len {n}, byte {i}");
            }
            for m in [n.saturating_sub(1), n + 1] {
                if m != n {
                    let b: Vec<u8> = (0..m).map(|i| (i * 7 + 1) as u8).collect();
                    assert!(!bytes_eq(&a, &b), "len {n} vs {m}");
                }
            }
        }
    }

    #[test]
    fn keys_round_trip_inline_and_on_the_heap() {
        for s in [
            "",
            "a",
            "user:1",
            "abcdefghijklmnopqrstuvwx",
            "abcdefghijklmnopqrstuvwxy",
        ] {
            let k = Key::new(s);
            assert_eq!(k.as_str(), s);
            assert!(k.is(s));
            assert!(!k.is("other"));
        }
    }
}
