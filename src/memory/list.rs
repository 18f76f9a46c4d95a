//! Listing the memory store's keys under a prefix: a scan of every shard keeping only the
//! page's smallest keys.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::MemoryStore;
use crate::{ListPage, ListRequest, Listed, Meta};

/// A candidate for the page, ordered by key (a max-heap of them drops the largest first).
struct Candidate<V>(Listed<V>);

impl<V> PartialEq for Candidate<V> {
    fn eq(&self, other: &Self) -> bool {
        self.0.key == other.0.key
    }
}
impl<V> Eq for Candidate<V> {}
impl<V> PartialOrd for Candidate<V> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<V> Ord for Candidate<V> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key.as_bytes().cmp(other.0.key.as_bytes())
    }
}

pub(super) fn page<V: Clone>(store: &MemoryStore<V>, request: &ListRequest) -> ListPage<V> {
    let limit = request.limit_value();
    let mut best: BinaryHeap<Candidate<V>> = BinaryHeap::with_capacity(limit + 1);
    for shard in store.shards.iter() {
        let shard = shard.0.lock();
        for entry in shard.table.iter() {
            let key = entry.key.as_str();
            if !request.admits(key) {
                continue;
            }
            if best.len() == limit
                && best
                    .peek()
                    .is_some_and(|largest| key.as_bytes() >= largest.0.key.as_bytes())
            {
                continue;
            }
            best.push(Candidate(Listed {
                key: key.to_owned(),
                meta: Meta {
                    version: entry.version,
                    last_modified: entry.last_modified,
                },
                value: request.wants_values().then(|| entry.value.clone()),
            }));
            if best.len() > limit {
                best.pop();
            }
        }
    }
    let entries = best.into_sorted_vec().into_iter().map(|c| c.0).collect();
    ListPage::from_entries(entries, request)
}

#[cfg(test)]
mod tests {
    use crate::{Expect, ListRequest, MemoryStore};

    #[test]
    fn pages_cover_every_key_once_in_byte_order() {
        let store = MemoryStore::with_shards(8);
        let mut keys: Vec<String> = (0..257).map(|i| format!("p/{i:x}")).collect();
        keys.push("p/é".to_owned());
        keys.push("p/Z".to_owned());
        for k in &keys {
            store.put_sync(k, 0u8, Expect::Absent).unwrap();
        }
        store.put_sync("other", 0u8, Expect::Absent).unwrap();
        store.put_sync("p", 0u8, Expect::Absent).unwrap();
        keys.sort();
        let mut seen = Vec::new();
        let mut request = ListRequest::prefix("p/").limit(10);
        loop {
            let page = store.list_sync(&request);
            assert!(page.entries.len() <= 10);
            assert!(page.entries.iter().all(|e| e.value.is_none()));
            seen.extend(page.entries.into_iter().map(|e| e.key));
            match page.next {
                Some(next) => request = request.after(next),
                None => break,
            }
        }
        assert_eq!(seen, keys);
    }

    #[test]
    fn values_and_metadata_belong_together() {
        let store = MemoryStore::new();
        let meta = store.put_sync("a", 7u32, Expect::Absent).unwrap().version;
        let page = store.list_sync(&ListRequest::prefix("a").with_values());
        assert_eq!(page.entries.len(), 1);
        assert_eq!(page.entries[0].meta.version, meta);
        assert_eq!(page.entries[0].value, Some(7));
        assert_eq!(page.next, None);
    }
}
