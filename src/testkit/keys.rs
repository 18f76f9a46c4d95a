//! Keys with any characters are stored and read back exactly.

use super::KitValue;
use super::basic::assert_stored;
use crate::{Expect, VersionedStore};

/// Keys a backend must store as they are (after the run's prefix): quotes, SQL and Lua
/// punctuation, whitespace and newlines, unicode, glob and pattern characters, and a 1 KiB key.
/// NUL is not among them: PostgreSQL text cannot hold it.
pub const WEIRD_KEYS: &[&str] = &[
    "plain",
    "with space",
    "'single' \"double\" `back`",
    "semi;colon -- comment /* c */ ; DROP TABLE x;",
    "new\nline\r\ttab",
    "unicode é ü 日本 🦀",
    "glob*?[a-z]{x} %_ \\ $1 ?1 :name @v",
    "lua ]] -- [[ redis.call('FLUSHALL') ]]",
    "{hash}tag:sep/slash\\back",
];

/// Every key of [`WEIRD_KEYS`], plus a 1 KiB key, round-trips through put/get/CAS/delete
/// without touching any other.
pub async fn weird_keys<V: KitValue, S: VersionedStore<V> + ?Sized>(store: &S, prefix: &str) {
    let long = "k".repeat(1024 - prefix.len().min(1000));
    let keys: Vec<String> = WEIRD_KEYS
        .iter()
        .map(|k| format!("{prefix}{k}"))
        .chain([format!("{prefix}{long}")])
        .collect();
    let mut versions = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let v = store
            .put(key, V::from_counter(i as u64), Expect::Absent)
            .await
            .unwrap_or_else(|e| panic!("create {key:?}: {e}"))
            .version;
        versions.push(v);
    }
    for (i, key) in keys.iter().enumerate() {
        assert_stored::<V, S>("weird key", store, key, Some((i as u64, versions[i]))).await;
        let v = store
            .put(
                key,
                V::from_counter(i as u64 + 100),
                Expect::Version(versions[i]),
            )
            .await
            .unwrap_or_else(|e| panic!("CAS {key:?}: {e}"))
            .version;
        versions[i] = v;
    }
    for (i, key) in keys.iter().enumerate() {
        assert_stored::<V, S>(
            "weird key after CAS",
            store,
            key,
            Some((i as u64 + 100, versions[i])),
        )
        .await;
        assert_eq!(
            store
                .delete(key, Expect::Version(versions[i]))
                .await
                .unwrap_or_else(|e| panic!("delete {key:?}: {e}")),
            Some(versions[i])
        );
    }
    for key in &keys {
        assert_stored::<V, S>("weird key deleted", store, key, None).await;
    }
}
