//! The padding stored with each benchmark counter: inline when short, shared when long.

use std::fmt;
use std::sync::Arc;

/// Padding of up to this many bytes is kept inside the value itself.
const INLINE: usize = 22;

/// `--value-size` bytes of padding. Up to 22 bytes (the default is 16) it lives inside the
/// value, so every stored counter holds its own copy and cloning one (each read does) is a
/// copy of 32 bytes. A shared `Arc<str>` would instead make every read and write bump a
/// reference count that the workers share: atomic writes to one cache line from every core.
/// Longer padding is shared, as before.
/// It is stored by every backend as a JSON string either way.
#[derive(Clone, PartialEq, Eq)]
pub enum Pad {
    /// `len` bytes of `bytes`, UTF-8.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// More than `INLINE` bytes.
    Shared(Arc<str>),
}

impl Pad {
    pub fn new(text: &str) -> Self {
        if text.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Pad::Inline {
                len: text.len() as u8,
                bytes,
            }
        } else {
            Pad::Shared(text.into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Pad::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).expect("made from a str")
            }
            Pad::Shared(text) => text,
        }
    }
}

impl fmt::Debug for Pad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl serde::Serialize for Pad {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Pad {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Ok(Pad::new(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_padding_is_inline_long_is_shared_and_both_round_trip_as_strings() {
        for size in [0, 1, 16, 22, 23, 1000] {
            let text = "x".repeat(size);
            let pad = Pad::new(&text);
            assert_eq!(pad.as_str(), text);
            assert_eq!(matches!(pad, Pad::Inline { .. }), size <= INLINE, "{size}");
            let json = serde_json::to_string(&pad).unwrap();
            assert_eq!(json, serde_json::to_string(&text).unwrap());
            let back: Pad = serde_json::from_str(&json).unwrap();
            assert_eq!(back, pad);
        }
        assert_eq!(std::mem::size_of::<Pad>(), 24);
    }
}
