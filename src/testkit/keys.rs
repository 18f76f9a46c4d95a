//! Keys with any characters are stored and read back exactly.

use super::KitValue;
use super::assertions::assert_stored;
use super::failure::Check;
use super::rules;
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
    let c = Check("weird_keys");
    let long = "k".repeat(1024 - prefix.len().min(1000));
    let keys: Vec<String> = WEIRD_KEYS
        .iter()
        .map(|k| format!("{prefix}{k}"))
        .chain([format!("{prefix}{long}")])
        .collect();
    let mut versions = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let put = store
            .put(key, V::from_counter(i as u64), Expect::Absent)
            .await;
        versions.push(
            c.ok(rules::ROUND_TRIP, &format!("create {key:?}"), put)
                .version,
        );
    }
    for (i, key) in keys.iter().enumerate() {
        let written = Some((i as u64, versions[i]));
        assert_stored::<V, S>(c, rules::ROUND_TRIP, "a weird key", store, key, written).await;
        let value = V::from_counter(i as u64 + 100);
        let put = store.put(key, value, Expect::Version(versions[i])).await;
        versions[i] = c
            .ok(rules::ROUND_TRIP, &format!("CAS {key:?}"), put)
            .version;
    }
    for (i, key) in keys.iter().enumerate() {
        let written = Some((i as u64 + 100, versions[i]));
        assert_stored::<V, S>(
            c,
            rules::ROUND_TRIP,
            "a weird key after CAS",
            store,
            key,
            written,
        )
        .await;
        let removed = store.delete(key, Expect::Version(versions[i])).await;
        let removed = c.ok(rules::ROUND_TRIP, &format!("delete {key:?}"), removed);
        c.eq(
            rules::DELETE_RETURNS,
            &format!("delete {key:?}"),
            removed,
            Some(versions[i]),
        );
    }
    for key in &keys {
        assert_stored::<V, S>(c, rules::LATEST, "a weird key deleted", store, key, None).await;
    }
}
