//! Redis Cluster's key-to-slot rule (CRC16 of the key or of its hash tag, modulo 16384), and
//! for each slot a short tag that hashes to it, so that the store can name a key (a version
//! counter, a listing index) in any slot it needs.

use std::sync::LazyLock;

/// The number of hash slots in a Redis Cluster.
pub(super) const SLOTS: u16 = 16384;

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster uses.
fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in data {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// The part of `key` that decides its slot: the bytes between the first `{` and the first
/// `}` after it when there is at least one, else the whole key.
pub(super) fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(close) = rest.iter().position(|&b| b == b'}') {
            if close > 0 {
                return &rest[..close];
            }
        }
    }
    key
}

/// The hash tag every key starting with `prefix` shares, when the prefix fixes one: it holds
/// a `{`, then at least one byte, then a `}`.
pub(super) fn fixed_tag(prefix: &[u8]) -> Option<&[u8]> {
    let open = prefix.iter().position(|&b| b == b'{')?;
    let rest = &prefix[open + 1..];
    let close = rest.iter().position(|&b| b == b'}')?;
    (close > 0).then(|| &rest[..close])
}

/// The slot of `key`.
pub(super) fn slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) % SLOTS
}

/// For each slot, the shortest decimal number (as text) whose CRC16 falls into it.
static TAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut tags = vec![String::new(); usize::from(SLOTS)];
    let mut missing = usize::from(SLOTS);
    let mut n: u64 = 0;
    while missing > 0 {
        let text = n.to_string();
        let at = usize::from(crc16(text.as_bytes()) % SLOTS);
        if tags[at].is_empty() {
            tags[at] = text;
            missing -= 1;
        }
        n += 1;
    }
    tags
});

/// A tag for `slot`: a key holding `{tag}` (and no `{` before it) lives in `slot`.
pub(super) fn tag_of(slot: u16) -> &'static str {
    &TAGS[usize::from(slot % SLOTS)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_and_slots_match_redis() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        // From the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
        assert_eq!(slot(b"foo{{bar}}zap"), crc16(b"{bar") % SLOTS);
        assert_eq!(slot(b"foo{bar}{zap}"), slot(b"bar"));
    }

    #[test]
    fn every_slot_has_a_tag() {
        for s in 0..SLOTS {
            let key = format!("p:version:{{{}}}", tag_of(s));
            assert_eq!(slot(key.as_bytes()), s);
        }
    }

    #[test]
    fn fixed_tags() {
        assert_eq!(fixed_tag(b"{users}:"), Some(&b"users"[..]));
        assert_eq!(fixed_tag(b"a{b}c"), Some(&b"b"[..]));
        assert_eq!(fixed_tag(b"{users"), None);
        assert_eq!(fixed_tag(b"{}x"), None);
        assert_eq!(fixed_tag(b"users:"), None);
        assert_eq!(fixed_tag(b""), None);
    }
}
