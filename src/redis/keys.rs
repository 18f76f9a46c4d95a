//! The names of the Redis keys a store uses: one hash per key, a version counter and a
//! listing index (one of each per hash slot in cluster mode), and write markers.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use super::slot;
use crate::StoreError;

/// How a store names its Redis keys.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    prefix: String,
    /// `{prefix}:k:`, to which a key's bytes are appended.
    key_prefix: Vec<u8>,
    cluster: bool,
    /// The store-wide hash tag ([`RedisOptions::hash_tag`](super::RedisOptions::hash_tag)).
    tag: Option<String>,
}

/// The keys one script run touches besides the data hashes.
pub(super) struct SlotKeys {
    pub(super) counter: Vec<u8>,
    pub(super) index: Vec<u8>,
}

impl Layout {
    /// The layout for `prefix` and the store-wide hash `tag`, if any; in cluster mode the
    /// prefix may not hold a brace, and a tag never may.
    pub(super) fn new(
        prefix: String,
        cluster: bool,
        tag: Option<String>,
    ) -> Result<Self, StoreError> {
        if cluster && prefix.contains(['{', '}']) {
            return Err(StoreError::backend(format!(
                "Redis Cluster mode: the key prefix {prefix:?} holds a brace; keys' own hash \
                 tags ({{...}} in the key) or RedisOptions::hash_tag decide their slots, so \
                 the prefix may not"
            )));
        }
        if let Some(t) = &tag {
            if t.is_empty() || t.contains(['{', '}']) {
                return Err(StoreError::backend(format!(
                    "the store's hash tag {t:?} must be at least one byte and hold no brace"
                )));
            }
        }
        let key_prefix = match &tag {
            Some(t) => format!("{prefix}:{{{t}}}:k:"),
            None => format!("{prefix}:k:"),
        }
        .into_bytes();
        Ok(Self {
            prefix,
            key_prefix,
            cluster,
            tag,
        })
    }

    /// The store-wide hash tag, when every key of the store shares one slot.
    pub(super) fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// `{prefix}:k:` (`{prefix}:{{tag}}:k:` with a store-wide hash tag): every data hash's
    /// name starts with it.
    pub(super) fn key_prefix(&self) -> &[u8] {
        &self.key_prefix
    }

    /// The Redis key holding `key`: `{prefix}:k:{key}` (with a store-wide hash tag
    /// `{prefix}:{{tag}}:k:{key}`), bytes as they are.
    pub(super) fn data_key(&self, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.key_prefix.len() + key.len());
        k.extend_from_slice(&self.key_prefix);
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// The slot of a data hash (cluster mode), `None` on a single server.
    pub(super) fn slot_of(&self, data_key: &[u8]) -> Option<u16> {
        self.cluster.then(|| slot::slot(data_key))
    }

    /// `name`, and in cluster mode `name:{T}` with `T` hashing to `slot`.
    fn slotted(&self, name: &str, slot: Option<u16>) -> Vec<u8> {
        match slot {
            Some(s) => format!("{}:{name}:{{{}}}", self.prefix, slot::tag_of(s)).into_bytes(),
            None => format!("{}:{name}", self.prefix).into_bytes(),
        }
    }

    /// The version counter and listing index for the keys in `slot`.
    pub(super) fn slot_keys(&self, slot: Option<u16>) -> SlotKeys {
        SlotKeys {
            counter: self.slotted("version", slot),
            index: self.slotted("index", slot),
        }
    }

    /// The marker of write `id` in `slot`: `{prefix}:w:{T}:{id}`.
    pub(super) fn marker_key(&self, slot: u16, id: &str) -> Vec<u8> {
        format!("{}:w:{{{}}}:{id}", self.prefix, slot::tag_of(slot)).into_bytes()
    }
}

/// A write id no other write of any process shares (a random 64-bit seed per process, and a
/// counter).
pub(super) fn write_id() -> String {
    static SEED: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        RandomState::new().hash_one((nanos, std::process::id()))
    });
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{:016x}{:x}", *SEED, NEXT.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_keys_share_the_data_keys_slot() {
        let layout = Layout::new("app".into(), true, None).unwrap();
        for key in ["ann", "{users}:ann", "{users}:bob", "x{}y", "🦀"] {
            let data = layout.data_key(key);
            let s = layout.slot_of(&data).unwrap();
            let keys = layout.slot_keys(Some(s));
            assert_eq!(slot::slot(&keys.counter), s, "{key}");
            assert_eq!(slot::slot(&keys.index), s, "{key}");
            assert_eq!(slot::slot(&layout.marker_key(s, &write_id())), s, "{key}");
        }
        assert!(Layout::new("a{b}".into(), true, None).is_err());
        assert!(Layout::new("a{b}".into(), false, None).is_ok());
        let single = Layout::new("app".into(), false, None).unwrap();
        assert_eq!(single.slot_keys(None).counter, b"app:version");
        assert_eq!(single.slot_keys(None).index, b"app:index");
    }

    #[test]
    fn a_store_wide_tag_puts_every_key_in_one_slot() {
        let layout = Layout::new("app".into(), true, Some("users".into())).unwrap();
        let first = layout.slot_of(&layout.data_key("ann")).unwrap();
        for key in ["bob", "{other}:ann", "email:a@b", "🦀", ""] {
            assert_eq!(layout.slot_of(&layout.data_key(key)), Some(first), "{key}");
        }
        assert_eq!(first, slot::slot(b"users"));
        assert_eq!(layout.data_key("ann"), b"app:{users}:k:ann");
        assert!(Layout::new("app".into(), true, Some(String::new())).is_err());
        assert!(Layout::new("app".into(), false, Some("a}b".into())).is_err());
    }

    #[test]
    fn write_ids_differ() {
        assert_ne!(write_id(), write_id());
    }
}
