//! How the memory store keeps a key: inline up to 23 bytes, compared without a `memcmp` call.

/// A stored key: up to [`INLINE`] bytes inside the entry, so a lookup that lands on the entry
/// compares it without following a pointer, and longer keys on the heap.
///
/// The inline length is an enum of the lengths that fit, so its unused values are the niche
/// that tells a heap key apart: one byte is both the variant and the length, and the whole key
/// is 24 bytes (the `entries_stay_small` test in `mod.rs` holds it to that). A comparison reads
/// that byte, compares it with the probe's length and then compares a few words.
pub(super) enum Key {
    Inline { len: InlineLen, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

/// The most bytes a key keeps inline.
pub(super) const INLINE: usize = 23;

/// The length of an inline key, `0 ..= INLINE`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
#[rustfmt::skip]
pub(super) enum InlineLen {
    L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15, L16, L17, L18, L19,
    L20, L21, L22, L23,
}

impl InlineLen {
    const ALL: [InlineLen; INLINE + 1] = {
        use InlineLen::*;
        [
            L0, L1, L2, L3, L4, L5, L6, L7, L8, L9, L10, L11, L12, L13, L14, L15, L16, L17, L18,
            L19, L20, L21, L22, L23,
        ]
    };

    fn of(n: usize) -> Option<Self> {
        Self::ALL.get(n).copied()
    }
}

impl Key {
    pub(super) fn new(key: &str) -> Self {
        match InlineLen::of(key.len()) {
            Some(len) => {
                let mut bytes = [0; INLINE];
                bytes[..key.len()].copy_from_slice(key.as_bytes());
                Key::Inline { len, bytes }
            }
            None => Key::Heap(key.into()),
        }
    }

    pub(super) fn as_str(&self) -> &str {
        match self {
            Key::Inline { len, bytes } => {
                let bytes = &bytes[..*len as usize];
                // SAFETY: `new` copied exactly these bytes from a `&str`, a whole string (not a
                // cut through a character), and inline keys are never written after that.
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Key::Heap(s) => s,
        }
    }

    /// Whether this is `key`. Short keys (the common case: ids, names) are compared with a
    /// few word-sized loads instead of a call into the C library's `memcmp`, which costs more
    /// than the whole comparison for keys this size.
    #[inline(always)]
    pub(super) fn is(&self, key: &str) -> bool {
        let probe = key.as_bytes();
        match self {
            Key::Inline { len, bytes } => *len as usize == probe.len() && inline_eq(bytes, probe),
            Key::Heap(s) => s.as_bytes() == probe,
        }
    }
}

/// Whether the first `b.len()` bytes of `a` are `b` (`b.len() <= INLINE`).
#[inline(always)]
fn inline_eq(a: &[u8; INLINE], b: &[u8]) -> bool {
    let n = b.len();
    // Overlapping loads: the first and the last word cover every byte in between.
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word::<4>(a, 0) == word::<4>(b, 0) && word::<4>(a, n - 4) == word::<4>(b, n - 4),
        8..=16 => word::<8>(a, 0) == word::<8>(b, 0) && word::<8>(a, n - 8) == word::<8>(b, n - 8),
        _ => {
            word::<8>(a, 0) == word::<8>(b, 0)
                && word::<8>(a, 8) == word::<8>(b, 8)
                && word::<8>(a, n - 8) == word::<8>(b, n - 8)
        }
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
    use super::{INLINE, Key};

    #[test]
    fn is_agrees_with_string_equality_for_every_length_and_differing_byte() {
        for n in 0..=40usize {
            let a: String = (0..n)
                .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
                .collect();
            let key = Key::new(&a);
            assert_eq!(key.as_str(), a);
            assert!(key.is(&a.clone()), "len {n}");
            for i in 0..n {
                let mut b = a.clone().into_bytes();
                b[i] ^= 0x20;
                let b = String::from_utf8(b).unwrap();
                assert_eq!(key.is(&b), a == b, "len {n}, byte {i}");
            }
            for m in [n.saturating_sub(1), n + 1] {
                if m != n {
                    let b: String = (0..m)
                        .map(|i| char::from(b'!' + (i * 7 % 90) as u8))
                        .collect();
                    assert!(!key.is(&b), "len {n} vs {m}");
                }
            }
        }
    }

    #[test]
    fn keys_round_trip_inline_and_on_the_heap() {
        let long = "x".repeat(INLINE + 1);
        for s in ["", "a", "user:1", "é€𝄞", "abcdefghijklmnopqrstuvw", &long] {
            let k = Key::new(s);
            assert_eq!(matches!(k, Key::Inline { .. }), s.len() <= INLINE, "{s}");
            assert_eq!(k.as_str(), s);
            assert!(k.is(s));
            assert!(!k.is("other"));
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_key_is_three_words() {
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }
}
