//! What this backend stores as an etcd value: the write time and the value's JSON bytes.
//!
//! etcd keeps no time with a key, so the time of the write travels with the value:
//!
//! | bytes | content |
//! |---|---|
//! | 0 | `0x01`, the format of this layout |
//! | 1 ..= 8 | the write's time, milliseconds since the Unix epoch, big-endian `u64` |
//! | 9 .. | the value as `serde_json` bytes |
//!
//! The time is the writing client's clock, read just before the write is sent; it is the
//! time [`put`](crate::VersionedStore::put) returns and every later read sees, to the
//! millisecond.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::EtcdError;

const FORMAT: u8 = 1;
const HEADER: usize = 9;

/// The current time, truncated to what an entry holds.
pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The time an entry's milliseconds stand for.
pub(super) fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// The etcd value for `data` written at `ms`.
pub(super) fn encode(ms: u64, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + data.len());
    out.push(FORMAT);
    out.extend_from_slice(&ms.to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// Sets the write time of the encoded entry `entry` to `ms`.
pub(super) fn stamp(entry: &mut [u8], ms: u64) {
    entry[1..HEADER].copy_from_slice(&ms.to_be_bytes());
}

/// The write time and data of the etcd value `bytes` stored at `etcd_key`.
pub(super) fn decode<'a>(etcd_key: &[u8], bytes: &'a [u8]) -> Result<(u64, &'a [u8]), EtcdError> {
    let malformed = |reason| EtcdError::MalformedEntry {
        key: String::from_utf8_lossy(etcd_key).into_owned(),
        reason,
    };
    if bytes.len() < HEADER {
        return Err(malformed("shorter than the 9-byte header"));
    }
    if bytes[0] != FORMAT {
        return Err(malformed(
            "unknown format byte (not written by this backend)",
        ));
    }
    let ms = u64::from_be_bytes(bytes[1..HEADER].try_into().expect("8 bytes"));
    Ok((ms, &bytes[HEADER..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_time_and_bytes() {
        for (ms, data) in [
            (0, &b""[..]),
            (1_700_000_000_123, b"{\"a\":1}"),
            (u64::MAX, b"\0\xff"),
        ] {
            let bytes = encode(ms, data);
            assert_eq!(decode(b"k", &bytes).unwrap(), (ms, data));
        }
        let mut bytes = encode(0, b"x");
        stamp(&mut bytes, 42);
        assert_eq!(decode(b"k", &bytes).unwrap(), (42, &b"x"[..]));
        let t = time_of(1_700_000_000_123);
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_millis(),
            1_700_000_000_123
        );
    }

    #[test]
    fn rejects_foreign_values() {
        assert!(decode(b"k", b"").is_err());
        assert!(decode(b"k", b"\x01short").is_err());
        assert!(decode(b"k", b"{\"not\":\"ours\"}").is_err());
    }
}
