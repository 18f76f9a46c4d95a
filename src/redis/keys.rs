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
}

/// The keys one script run touches besides the data hashes.
pub(super) struct SlotKeys {
    pub(super) counter: Vec<u8>,
    pub(super) index: Vec<u8>,
}

impl Layout {
    /// The layout for `prefix`; in cluster mode the prefix may not hold a brace.
    pub(super) fn new(prefix: String, cluster: bool) -> Result<Self, StoreError> {
        if cluster && prefix.contains(['{', '}']) {
            return Err(StoreError::backend(format!(
                "Redis Cluster mode: the key prefix {prefix:?} holds a brace; keys' own hash \
                 tags ({{...}} in the key) decide their slots, so the prefix may not"
            )));
        }
        let key_prefix = format!("{prefix}:k:").into_bytes();
        Ok(Self {
            prefix,
            key_prefix,
            cluster,
        })
    }

    pub(super) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(super) fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// `{prefix}:k:`: every data hash's name starts with it.
    pub(super) fn key_prefix(&self) -> &[u8] {
        &self.key_prefix
    }

    /// The Redis key holding `key`: `{prefix}:k:{key}`, bytes as they are.
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
        let layout = Layout::new("app".into(), true).unwrap();
        for key in ["ann", "{users}:ann", "{users}:bob", "x{}y", "🦀"] {
            let data = layout.data_key(key);
            let s = layout.slot_of(&data).unwrap();
            let keys = layout.slot_keys(Some(s));
            assert_eq!(slot::slot(&keys.counter), s, "{key}");
            assert_eq!(slot::slot(&keys.index), s, "{key}");
            assert_eq!(slot::slot(&layout.marker_key(s, &write_id())), s, "{key}");
        }
        assert!(Layout::new("a{b}".into(), true).is_err());
        assert!(Layout::new("a{b}".into(), false).is_ok());
        let single = Layout::new("app".into(), false).unwrap();
        assert_eq!(single.slot_keys(None).counter, b"app:version");
        assert_eq!(single.slot_keys(None).index, b"app:index");
    }

    #[test]
    fn write_ids_differ() {
        assert_ne!(write_id(), write_id());
    }
}
