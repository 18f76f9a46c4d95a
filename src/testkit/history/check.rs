//! Checking a recorded history: direct checks per key (the version chain, what reads return,
//! real-time order), then linearizability with stateright's `LinearizabilityTester` (per key,
//! or over all keys at once when commits are in the history, since a commit is one step on
//! several keys).

use std::collections::HashMap;

use stateright::semantics::{ConsistencyTester, LinearizabilityTester};

use super::model::Registers;
use super::record::{Action, End, Op, Outcome, Record, Ret};
use super::{HistoryReport, HistoryViolation};
use crate::{Expect, Version};

/// Checks `records` (one history on `keys`); the report of what was checked, or the first
/// broken rule.
pub(super) fn check(
    keys: &[String],
    mut records: Vec<Record>,
) -> Result<HistoryReport, HistoryViolation> {
    let mut report = HistoryReport::default();
    records.retain(|r| match r.end {
        End::LeftOut(_) => {
            report.left_out += 1;
            false
        }
        _ => true,
    });
    if records.is_empty() {
        return Ok(report);
    }
    records.sort_by_key(|r| r.invoke);
    let violation = |key: Option<usize>, rule: String, records: &[Record]| HistoryViolation {
        key: keys[key.unwrap_or(0)].clone(),
        rule,
        history: dump(records, key),
    };
    if let Some((i, r)) = records
        .iter()
        .enumerate()
        .find(|(_, r)| matches!(r.end, End::Malformed(..)))
    {
        let End::Malformed(_, what) = &r.end else {
            unreachable!("found above")
        };
        let key = r.op.keys().first().copied();
        let rule = format!("#{i} (worker {}): {what}", r.worker);
        return Err(violation(key, rule, &records));
    }

    // Direct checks, key by key; they also tie maybe-applied puts to the versions reads
    // saw them with.
    let mut revealed: HashMap<(usize, usize), Version> = HashMap::new();
    for key in 0..keys.len() {
        let views = project(&records, key);
        if views.is_empty() {
            continue;
        }
        let found =
            check_key(&records, &views).map_err(|rule| violation(Some(key), rule, &records))?;
        revealed.extend(found);
        report.max_ops_per_history = report.max_ops_per_history.max(views.len() as u64);
    }
    for (&(rec, part), &v) in &revealed {
        if let Op::Write { parts, .. } = &mut records[rec].op {
            if let Action::Put { revealed, .. } = &mut parts[part].action {
                *revealed = Some(v);
            }
        }
    }

    // Linearizability: over all keys at once when a commit is in the history, else per key
    // (linearizability is local: a history of independent objects is linearizable exactly
    // when each object's is).
    let has_commits = records
        .iter()
        .any(|r| matches!(r.op, Op::Write { commit: true, .. }));
    if has_commits {
        let all: Vec<&Record> = records.iter().collect();
        linearizable(keys.len(), &all).map_err(|rule| violation(None, rule, &records))?;
        report.histories += 1;
    } else {
        for key in 0..keys.len() {
            let mine: Vec<&Record> = records.iter().filter(|r| r.op.touches(key)).collect();
            if mine.is_empty() {
                continue;
            }
            linearizable(keys.len(), &mine).map_err(|rule| violation(Some(key), rule, &records))?;
            report.histories += 1;
        }
    }

    report.ops = records.len() as u64;
    report.concurrent = concurrent(&records);
    for r in &records {
        if matches!(r.op, Op::Write { commit: true, .. }) {
            report.commits += 1;
        }
        match &r.end {
            End::Returned(_, Ret::Read(_)) => report.reads += 1,
            End::Returned(_, Ret::Refused(_)) => report.conflicts += 1,
            End::Returned(..) => report.writes += 1,
            End::MaybeApplied(..) => report.maybe_applied += 1,
            End::LeftOut(_) | End::Malformed(..) => {}
        }
    }
    Ok(report)
}

/// One key's share of an operation, for the direct checks.
struct View {
    /// The record (its index in the sorted history) and the part of it about this key.
    rec: usize,
    part: usize,
    invoke: u64,
    /// When it returned; `None` when it never did.
    done: Option<u64>,
    /// For puts: the value written.
    value: Option<u64>,
    expect: Option<Expect>,
    end: Seen,
}

/// What an operation told about one key.
#[derive(Clone, Copy, Debug)]
enum Seen {
    Read(Option<(Version, u64)>),
    Put(Version),
    Deleted(Option<Version>),
    Checked(Option<Version>),
    Refused(Option<Version>),
    /// A part of a refused commit whose own expectation held.
    Held,
    /// A write whose outcome is unknown.
    Maybe,
}

/// The views of `key` in `records` (sorted by invocation).
fn project(records: &[Record], key: usize) -> Vec<View> {
    let mut views = Vec::new();
    for (rec, r) in records.iter().enumerate() {
        let done = match r.end {
            End::Returned(at, _) => Some(at),
            _ => None,
        };
        match &r.op {
            Op::Get { key: k } if *k == key => {
                if let End::Returned(_, Ret::Read(read)) = r.end {
                    views.push(View {
                        rec,
                        part: 0,
                        invoke: r.invoke,
                        done,
                        value: None,
                        expect: None,
                        end: Seen::Read(read),
                    });
                }
            }
            Op::Write { parts, .. } => {
                let Some(part) = parts.iter().position(|p| p.key == key) else {
                    continue;
                };
                let p = &parts[part];
                let end = match &r.end {
                    End::Returned(_, Ret::Applied(outcomes)) => match outcomes[part] {
                        Outcome::Put(v) => Seen::Put(v),
                        Outcome::Deleted(v) => Seen::Deleted(v),
                        Outcome::Checked(v) => Seen::Checked(v),
                    },
                    End::Returned(_, Ret::Refused(failed)) => match failed[part] {
                        Some((_, current)) => Seen::Refused(current),
                        None => Seen::Held,
                    },
                    End::MaybeApplied(..) if p.action == Action::Check => continue,
                    End::MaybeApplied(..) => Seen::Maybe,
                    _ => continue,
                };
                let value = match p.action {
                    Action::Put { value, .. } => Some(value),
                    _ => None,
                };
                views.push(View {
                    rec,
                    part,
                    invoke: r.invoke,
                    done,
                    value,
                    expect: Some(p.expect.clone()),
                    end,
                });
            }
            Op::Get { .. } => {}
        }
    }
    views
}

/// The direct checks of one key's views; the versions maybe-applied puts were read with,
/// or the broken rule.
fn check_key(
    records: &[Record],
    views: &[View],
) -> Result<HashMap<(usize, usize), Version>, String> {
    let name = |i: usize| {
        format!(
            "#{} (worker {})",
            views[i].rec, records[views[i].rec].worker
        )
    };

    // Reads tie to the write of their value; maybe-applied puts get the version they were
    // read with.
    let by_value: HashMap<u64, usize> = views
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.value.map(|value| (value, i)))
        .collect();
    let mut revealed: HashMap<usize, Version> = HashMap::new();
    for (i, view) in views.iter().enumerate() {
        let Seen::Read(Some((v, value))) = view.end else {
            continue;
        };
        let Some(&w) = by_value.get(&value) else {
            return Err(format!(
                "{} read value {value} with version {v}, which no write of this key wrote",
                name(i)
            ));
        };
        match views[w].end {
            Seen::Put(written) if written == v => {}
            Seen::Put(written) => {
                return Err(format!(
                    "{} read value {value} with version {v}, but {} wrote it as version {written}",
                    name(i),
                    name(w)
                ));
            }
            Seen::Maybe => {
                if let Some(earlier) = revealed.insert(w, v) {
                    if earlier != v {
                        return Err(format!(
                            "value {value} of maybe-applied {} was read with versions {earlier} \
                             and {v}",
                            name(w)
                        ));
                    }
                }
            }
            _ => {
                return Err(format!(
                    "{} read value {value}, which {} failed to write (a refused write, or \
                     half of a refused commit, became visible)",
                    name(i),
                    name(w)
                ));
            }
        }
    }
    let unrevealed = views.iter().enumerate().any(|(i, v)| {
        v.value.is_some() && matches!(v.end, Seen::Maybe) && !revealed.contains_key(&i)
    });

    // The chain: unique versions; a write naming versions names the one before it.
    let mut chain: Vec<(Version, usize)> = views
        .iter()
        .enumerate()
        .filter_map(|(i, v)| match v.end {
            Seen::Put(version) => Some((version, i)),
            _ => revealed.get(&i).map(|&version| (version, i)),
        })
        .collect();
    chain.sort();
    for pair in chain.windows(2) {
        if pair[0].0 == pair[1].0 {
            return Err(format!(
                "{} and {} were both written as version {} (rule: versions are never reused \
                 for a key)",
                name(pair[0].1),
                name(pair[1].1),
                pair[0].0
            ));
        }
    }
    let known = |v: Version| chain.binary_search_by_key(&v, |c| c.0).is_ok();
    if !unrevealed {
        for (n, &(v, i)) in chain.iter().enumerate() {
            let Some(expect) = &views[i].expect else {
                continue;
            };
            if expect.versions().is_empty() || !matches!(views[i].end, Seen::Put(_)) {
                continue;
            }
            let before = n.checked_sub(1).map(|p| chain[p].0);
            if !before.is_some_and(|b| expect.versions().contains(&b)) {
                let before = before.map_or("no write".to_owned(), |b| format!("version {b}"));
                return Err(format!(
                    "{} expecting {expect} was written as version {v}, but the write before it \
                     in version order is {before}: a lost update (the compare and the write \
                     are not one atomic step), or versions that do not follow the order of \
                     the writes",
                    name(i)
                ));
            }
        }

        // Versions reported by conflicts, deletes and checks are versions some write
        // produced.
        for (i, view) in views.iter().enumerate() {
            let reported = match view.end {
                Seen::Refused(Some(c)) | Seen::Deleted(Some(c)) | Seen::Checked(Some(c)) => c,
                _ => continue,
            };
            if !known(reported) {
                return Err(format!(
                    "{} reported version {reported}, which no acknowledged write of this key \
                     produced: a refused write or commit changed the key, or a made-up version \
                     (rule: a conflict carries the key's current version)",
                    name(i)
                ));
            }
        }
    }

    // Real time: nothing observed is older than what a finished operation saw or wrote.
    for (i, earlier) in views.iter().enumerate() {
        let Some(done) = earlier.done else {
            continue;
        };
        let (floor, deleted) = match earlier.end {
            Seen::Read(Some((v, _)))
            | Seen::Put(v)
            | Seen::Refused(Some(v))
            | Seen::Checked(Some(v)) => (v, false),
            Seen::Deleted(Some(v)) => (v, true),
            _ => continue,
        };
        for (j, later) in views.iter().enumerate() {
            if later.invoke < done || later.done.is_none() {
                continue;
            }
            let (seen, new) = match later.end {
                Seen::Read(Some((v, _)))
                | Seen::Refused(Some(v))
                | Seen::Deleted(Some(v))
                | Seen::Checked(Some(v)) => (v, false),
                Seen::Put(v) => (v, true),
                _ => continue,
            };
            if seen < floor || (seen == floor && (deleted || new)) {
                let what = if new { "wrote" } else { "saw" };
                return Err(format!(
                    "{} {what} version {seen} after {} had returned with version {floor}{}: \
                     a stale read, or a version went backwards (rule: reads never go back \
                     in time after an acknowledged write)",
                    name(j),
                    name(i),
                    if deleted { " deleted" } else { "" }
                ));
            }
        }
    }
    Ok(revealed
        .into_iter()
        .map(|(view, v)| ((views[view].rec, views[view].part), v))
        .collect())
}

/// Whether `records` (sorted by invocation) have a linearization against registers for
/// `keys` keys; replays invocations and returns in clock order into the tester.
fn linearizable(keys: usize, records: &[&Record]) -> Result<(), String> {
    let mut events: Vec<(u64, usize, bool)> = Vec::with_capacity(records.len() * 2);
    for (i, r) in records.iter().enumerate() {
        events.push((r.invoke, i, false));
        if let End::Returned(at, _) = r.end {
            events.push((at, i, true));
        }
    }
    events.sort_unstable();
    let mut tester = LinearizabilityTester::new(Registers::new(keys));
    for (_, i, is_return) in events {
        let r = records[i];
        let fed = if is_return {
            let End::Returned(_, ret) = &r.end else {
                unreachable!("only returned operations have a return event")
            };
            tester.on_return(r.thread, ret.clone()).map(|_| ())
        } else {
            tester.on_invoke(r.thread, r.op.clone()).map(|_| ())
        };
        fed.map_err(|e| format!("the recorder produced an invalid history: {e}"))?;
    }
    if tester.serialized_history().is_none() {
        return Err(
            "no order of these operations consistent with real time gives these \
                    results from versioned registers (where a commit applies all its \
                    operations at one point, or none)"
                .to_owned(),
        );
    }
    Ok(())
}

/// How many of `records` overlap in time with another on a shared key (an unknown outcome
/// never ends).
fn concurrent(records: &[Record]) -> u64 {
    records
        .iter()
        .enumerate()
        .filter(|&(i, a)| {
            records.iter().enumerate().any(|(j, b)| {
                i != j
                    && a.invoke < b.returned_at()
                    && b.invoke < a.returned_at()
                    && a.op.keys().iter().any(|&k| b.op.touches(k))
            })
        })
        .count() as u64
}

/// The operations of the history (only those on `key` when given), one per line.
fn dump(records: &[Record], key: Option<usize>) -> String {
    let mut out = String::new();
    for (i, r) in records.iter().enumerate() {
        if key.is_none_or(|k| r.op.touches(k)) {
            out.push_str(&r.describe(i));
            out.push('\n');
        }
    }
    out
}
