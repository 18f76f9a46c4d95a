//! Running `commit.lua` for a list of operations (a put, a delete, or a whole commit), and
//! reading its reply.

use super::RedisStore;
use super::error::{MalformedError, write_error};
use super::keys::write_id;
use super::scripts;
use crate::{Expect, StoreError, Version};

/// What one operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Put,
    Delete,
    Check,
}

/// One operation, with its value already encoded.
pub(super) struct Prepared {
    pub(super) key: String,
    pub(super) kind: Kind,
    pub(super) expect: Expect,
    /// The encoded value of a put.
    pub(super) data: Option<Vec<u8>>,
}

/// What the script did.
pub(super) enum Outcome {
    /// Every expectation held and everything was written: the time of the writes (ms since
    /// the epoch, server clock) and per operation the new version of a put, the removed
    /// version of a delete, the current version of a check (`None`: absent).
    Applied {
        ms: u64,
        versions: Vec<Option<Version>>,
    },
    /// Nothing was written: the index of every operation whose expectation failed, with its
    /// key's current version.
    Refused(Vec<(usize, Option<Version>)>),
}

/// Runs the operations all or nothing in one script. In cluster mode their keys must share
/// a slot: else [`StoreError::InvalidCommit`], nothing sent.
pub(super) async fn run(store: &RedisStore, ops: &[Prepared]) -> Result<Outcome, StoreError> {
    let layout = &store.layout;
    let data_keys: Vec<Vec<u8>> = ops.iter().map(|op| layout.data_key(&op.key)).collect();
    let slot = match layout.slot_of(&data_keys[0]) {
        Some(first) => {
            let others: Vec<(&str, u16)> = ops
                .iter()
                .zip(&data_keys)
                .filter_map(|(op, k)| {
                    let s = layout.slot_of(k).unwrap_or(first);
                    (s != first).then_some((op.key.as_str(), s))
                })
                .collect();
            if !others.is_empty() {
                return Err(cross_slot(&ops[0].key, first, &others));
            }
            Some(first)
        }
        None => None,
    };
    let slot_keys = layout.slot_keys(slot);
    let wid = slot.map(|_| write_id()).unwrap_or_default();
    let marker = slot.map(|s| layout.marker_key(s, &wid));

    let mut keys: Vec<&[u8]> = data_keys.iter().map(Vec::as_slice).collect();
    keys.push(&slot_keys.counter);
    keys.push(&slot_keys.index);
    if let Some(marker) = &marker {
        keys.push(marker);
    }
    let n = ops.len().to_string();
    let floor = if slot.is_some() { "1" } else { "0" };
    let texts: Vec<Vec<String>> = ops
        .iter()
        .map(|op| {
            let versions = op.expect.versions();
            let mut t = Vec::with_capacity(1 + versions.len());
            t.push(versions.len().to_string());
            t.extend(versions.iter().map(|v| v.get().to_string()));
            t
        })
        .collect();
    let mut args: Vec<&[u8]> = vec![n.as_bytes(), wid.as_bytes(), floor.as_bytes()];
    for (op, text) in ops.iter().zip(&texts) {
        args.push(match op.kind {
            Kind::Put => b"p",
            Kind::Delete => b"d",
            Kind::Check => b"c",
        });
        args.push(scripts::mode(&op.expect).as_bytes());
        args.extend(text.iter().map(|t| t.as_bytes()));
        if let Some(data) = &op.data {
            args.push(data);
        }
    }
    let mut conn = store.conn.clone();
    let reply = scripts::commit(&mut conn, &keys, &args)
        .await
        .map_err(|e| write_error(&ops[0].key, e, layout.is_cluster()))?;
    parse(&ops[0].key, ops.len(), reply)
}

/// The script's reply: `[1, ms, v_1 .. v_n]` or `[0, i, current_i, ...]`.
fn parse(key: &str, n: usize, reply: Vec<u64>) -> Result<Outcome, StoreError> {
    let malformed = |reply: &[u64]| -> StoreError {
        MalformedError::Reply {
            key: key.to_owned(),
            reply: reply.to_vec(),
        }
        .into()
    };
    match reply.split_first() {
        Some((1, rest)) if rest.len() == n + 1 => Ok(Outcome::Applied {
            ms: rest[0],
            versions: rest[1..].iter().map(|&v| Version::new(v)).collect(),
        }),
        Some((0, rest)) if !rest.is_empty() && rest.len() % 2 == 0 => {
            let mut failed = Vec::with_capacity(rest.len() / 2);
            for pair in rest.chunks(2) {
                let at = usize::try_from(pair[0]).unwrap_or(0);
                if at == 0 || at > n {
                    return Err(malformed(&reply));
                }
                failed.push((at - 1, Version::new(pair[1])));
            }
            Ok(Outcome::Refused(failed))
        }
        _ => Err(malformed(&reply)),
    }
}

/// The error for a commit whose keys live in different slots of a cluster.
fn cross_slot(first: &str, slot: u16, others: &[(&str, u16)]) -> StoreError {
    let listed: Vec<String> = others
        .iter()
        .take(4)
        .map(|(k, s)| format!("{k:?} in slot {s}"))
        .collect();
    StoreError::InvalidCommit {
        reason: format!(
            "Redis Cluster commits only keys of one hash slot: {first:?} is in slot {slot}, \
             {}{}; give keys committed together the same hash tag, e.g. \"{{user:ann}}:doc\" \
             and \"{{user:ann}}:email\" (the part between the first {{ and the next }} \
             decides the slot)",
            listed.join(", "),
            if others.len() > 4 { ", ..." } else { "" }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let v = |n| Version::new(n);
        match parse("k", 2, vec![1, 7, 5, 0]).unwrap() {
            Outcome::Applied { ms, versions } => {
                assert_eq!((ms, versions), (7, vec![v(5), None]));
            }
            Outcome::Refused(_) => panic!("applied"),
        }
        match parse("k", 3, vec![0, 1, 4, 3, 0]).unwrap() {
            Outcome::Refused(failed) => assert_eq!(failed, vec![(0, v(4)), (2, None)]),
            Outcome::Applied { .. } => panic!("refused"),
        }
        for bad in [
            vec![],
            vec![1, 7],
            vec![0],
            vec![0, 4, 1],
            vec![0, 0, 1],
            vec![2, 1, 1],
        ] {
            assert!(parse("k", 3, bad).is_err());
        }
    }
}
