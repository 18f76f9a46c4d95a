//! The etcd key range a listing reads: `[start, end)` over `{store prefix}{list prefix}`.

use crate::ListRequest;

/// The smallest key greater than every key starting with `prefix` (etcd's "prefix end"), or
/// `[0]` — etcd's "to the end of the key space" — when there is none (`prefix` empty or all
/// `0xff`).
pub(super) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            *end.last_mut().expect("not empty") += 1;
            return end;
        }
        end.pop();
    }
    vec![0]
}

/// The range `[start, end)` of etcd keys that `request` lists under `store_prefix`: keys
/// starting with the list prefix and sorting strictly after the cursor; `None` when no key
/// can (the cursor sorts after every key of the prefix).
pub(super) fn of(store_prefix: &[u8], request: &ListRequest) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut base = store_prefix.to_vec();
    base.extend_from_slice(request.prefix_str().as_bytes());
    let end = prefix_end(&base);
    let mut start = base;
    if let Some(after) = request.after_key() {
        // The smallest key after the cursor is the cursor followed by NUL.
        let mut past = store_prefix.to_vec();
        past.extend_from_slice(after.as_bytes());
        past.push(0);
        start = start.max(past);
    }
    if start.is_empty() {
        // etcd has no empty key; NUL is the smallest one.
        start.push(0);
    }
    let open_ended = end == [0];
    (open_ended || start < end).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_that_can_be() {
        assert_eq!(prefix_end(b"a/"), b"a0");
        assert_eq!(prefix_end(b"a\xff\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), [0]);
        assert_eq!(prefix_end(b""), [0]);
    }

    #[test]
    fn ranges_follow_prefix_and_cursor() {
        let r = ListRequest::prefix("u:");
        assert_eq!(of(b"s/", &r), Some((b"s/u:".to_vec(), b"s/u;".to_vec())));
        // A cursor inside the prefix starts just after it.
        let r = ListRequest::prefix("u:").after("u:b");
        assert_eq!(of(b"s/", &r), Some((b"s/u:b\0".to_vec(), b"s/u;".to_vec())));
        // A cursor before the prefix changes nothing; one after it leaves nothing.
        let r = ListRequest::prefix("u:").after("a");
        assert_eq!(of(b"s/", &r).unwrap().0, b"s/u:");
        assert_eq!(of(b"s/", &ListRequest::prefix("u:").after("v")), None);
        // The cursor's own extensions still follow it.
        let r = ListRequest::prefix("").after("k");
        assert_eq!(of(b"s/", &r), Some((b"s/k\0".to_vec(), b"s0".to_vec())));
        // With no prefix at all the range is open-ended.
        assert_eq!(of(b"", &ListRequest::prefix("")), Some((vec![0], vec![0])));
    }
}
