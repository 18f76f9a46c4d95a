//! Multi-key atomicity under races: workers move units between accounts with commits while
//! auditors read all accounts; the total never changes, and nobody sees half a commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};

use std::sync::Arc;

use super::KitValue;
use super::failure::Check;
use super::rng::{Rng, fresh_seed};
use super::rules;
use super::threads::Driver;
use super::watchdog::{PATIENCE, Progress, Watchdog, Watched};
use crate::{Applied, Commit, Expect, StoreError, Version, VersionedStore};

/// What [`commit_transfers`] observed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferReport {
    /// Transfers applied (always `movers * transfers`).
    pub transfers: u64,
    /// Transfer commits refused because an account changed since it was read (retried).
    pub refused: u64,
    /// Audits whose reads a commit of checks confirmed as one consistent snapshot.
    pub confirmed_audits: u64,
    /// Audits whose snapshot changed before it could be confirmed.
    pub unconfirmed_audits: u64,
}

/// The units each account starts with.
const INITIAL: u64 = 1_000;
/// The accounts.
const ACCOUNTS: usize = 3;

/// A read of one account, on the check's clock.
struct Read {
    key: usize,
    version: Version,
    invoke: u64,
    returned: u64,
}

/// An applied transfer: per account, the version it expected and the one it wrote.
struct Transfer {
    from: usize,
    to: usize,
    expected: [Version; 2],
    written: [Version; 2],
}

/// A broken rule and what was seen.
type Broken = (&'static str, String);

/// What one worker did.
#[derive(Default)]
struct Log {
    reads: Vec<Read>,
    transfers: Vec<Transfer>,
    refused: u64,
    confirmed: u64,
    unconfirmed: u64,
}

/// `workers` workers on OS threads (at least 3): all but two are movers, each applying
/// `transfers` transfers of one unit between two of three accounts, each transfer a commit
/// of two puts pinned to the versions it read (retried when refused); two are auditors,
/// reading every account and confirming the snapshot with a commit of checks pinned to the
/// versions read, until the movers are done. Then:
///
/// - every confirmed snapshot sums to the total (a commit is never applied in part);
/// - no read sees an account older than the other half of a transfer it already saw (no
///   reader sees half of a commit);
/// - per account, the applied transfers form one chain of versions: each expected the
///   version the one before it wrote, none reused (no two commits both applied from one
///   version: no lost update);
/// - every account ends at its start plus what it received minus what it gave, at the last
///   transfer's version, and the accounts sum to the total.
///
/// Needs multi-key commits ([`capabilities`](VersionedStore::capabilities)).
///
/// ```
/// use optimist::MemoryStore;
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let report = optimist::testkit::commit_transfers::<u64, _>(&store, "tr/", 4, 10).await;
/// assert_eq!(report.transfers, 20);
/// # });
/// ```
pub async fn commit_transfers<V, S>(
    store: &S,
    prefix: &str,
    workers: usize,
    transfers: usize,
) -> TransferReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let driver = Driver::detect("commit_transfers");
    let progress = Progress::new("commit_transfers");
    let _watchdog = Watchdog::start(Arc::clone(&progress), PATIENCE);
    let store = Watched::new(store, progress);
    transfer_race::<V, _>(&driver, &store, prefix, workers, transfers).await
}

/// [`commit_transfers`] with the driver chosen by the caller.
pub(super) async fn transfer_race<V, S>(
    driver: &Driver,
    store: &S,
    prefix: &str,
    workers: usize,
    transfers: usize,
) -> TransferReport
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let c = Check("commit_transfers");
    assert!(
        workers >= 3,
        "commit_transfers: at least three workers (two audit)"
    );
    let auditors = 2;
    let movers = workers - auditors;
    let keys: Vec<String> = (0..ACCOUNTS)
        .map(|k| format!("{prefix}account-{k}"))
        .collect();
    let mut initial = Vec::with_capacity(ACCOUNTS);
    for key in &keys {
        let put = store
            .put(key, V::from_counter(INITIAL), Expect::Absent)
            .await;
        initial.push(c.ok(rules::PASSES, &format!("create {key:?}"), put).version);
    }
    let total = INITIAL * ACCOUNTS as u64;
    let clock = AtomicU64::new(0);
    let movers_done = AtomicUsize::new(0);
    let seed = fresh_seed();
    let logs = driver.run("commit_transfers", workers, |w| {
        let (keys, clock, movers_done) = (&keys, &clock, &movers_done);
        async move {
            let mut log = Log::default();
            let mut rng = Rng::new(seed ^ (w.index as u64 + 1));
            if !w.sync() {
                return Ok(log);
            }
            let accounts = Accounts { store, keys, clock };
            if w.index < movers {
                let result = accounts.mover::<V>(&mut rng, &mut log, transfers).await;
                movers_done.fetch_add(1, SeqCst);
                result?;
                return Ok(log);
            }
            let mut audits = 0;
            while audits < 3 || movers_done.load(SeqCst) < movers {
                if w.aborted() {
                    break;
                }
                audits += 1;
                let mut snapshot = Vec::with_capacity(ACCOUNTS);
                for k in 0..ACCOUNTS {
                    snapshot.push(accounts.read::<V>(&mut log, k).await?);
                }
                let mut checks = Commit::new();
                for (k, &(version, _)) in snapshot.iter().enumerate() {
                    checks = checks.check(keys[k].clone(), Expect::Version(version));
                }
                match store.commit(checks).await {
                    Ok(applied) => {
                        let want: Vec<Applied> = snapshot
                            .iter()
                            .map(|s| Applied::Checked(Some(s.0)))
                            .collect();
                        if applied != want {
                            return Err((
                                rules::COMMIT_RESULTS,
                                format!(
                                    "a commit of checks answered {applied:?}, expected {want:?}"
                                ),
                            ));
                        }
                        let sum: u64 = snapshot.iter().map(|s| s.1).sum();
                        if sum != total {
                            return Err((
                                rules::ALL_OR_NOTHING,
                                format!(
                                    "the accounts at versions {:?}, confirmed current together by \
                                     a commit of checks, hold {:?}: {sum} units, not {total}",
                                    snapshot.iter().map(|s| s.0).collect::<Vec<_>>(),
                                    snapshot.iter().map(|s| s.1).collect::<Vec<_>>()
                                ),
                            ));
                        }
                        log.confirmed += 1;
                    }
                    Err(StoreError::CommitConflict(_)) => log.unconfirmed += 1,
                    Err(e) => {
                        return Err((rules::PASSES, format!("a commit of checks failed: {e}")));
                    }
                }
            }
            Ok(log)
        }
    });
    let logs: Vec<Log> = logs
        .into_iter()
        .map(|l| l.unwrap_or_else(|(rule, what)| c.fail(rule, what)))
        .collect();
    let mut report = TransferReport::default();
    for log in &logs {
        report.transfers += log.transfers.len() as u64;
        report.refused += log.refused;
        report.confirmed_audits += log.confirmed;
        report.unconfirmed_audits += log.unconfirmed;
    }
    analyse(c, store, &keys, &initial, &logs).await;
    report
}

/// The accounts, as the workers use them.
struct Accounts<'a, S: ?Sized> {
    store: &'a S,
    keys: &'a [String],
    clock: &'a AtomicU64,
}

impl<S: ?Sized> Accounts<'_, S> {
    /// Reads account `k`, recording the read on the clock.
    async fn read<V>(&self, log: &mut Log, k: usize) -> Result<(Version, u64), Broken>
    where
        V: KitValue,
        S: VersionedStore<V>,
    {
        let invoke = self.clock.fetch_add(1, SeqCst);
        let got = self.store.get(&self.keys[k]).await;
        let returned = self.clock.fetch_add(1, SeqCst);
        let got = got.map_err(|e| (rules::LATEST, format!("get account {k}: {e}")))?;
        let got = got.ok_or_else(|| (rules::LATEST, format!("account {k} reads absent")))?;
        log.reads.push(Read {
            key: k,
            version: got.version,
            invoke,
            returned,
        });
        Ok((got.version, got.value.counter()))
    }

    /// One mover: `transfers` transfers, each retried until it applies.
    async fn mover<V>(&self, rng: &mut Rng, log: &mut Log, transfers: usize) -> Result<(), Broken>
    where
        V: KitValue,
        S: VersionedStore<V>,
    {
        for _ in 0..transfers {
            let from = rng.below(ACCOUNTS as u64) as usize;
            let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
            for attempt in 0.. {
                if attempt == 100_000 {
                    return Err((
                        rules::PASSES,
                        "a transfer was refused 100000 times".to_owned(),
                    ));
                }
                let (vf, nf) = self.read::<V>(log, from).await?;
                let (vt, nt) = self.read::<V>(log, to).await?;
                let commit = Commit::new()
                    .put(
                        self.keys[from].clone(),
                        V::from_counter(nf.wrapping_sub(1)),
                        Expect::Version(vf),
                    )
                    .put(
                        self.keys[to].clone(),
                        V::from_counter(nt + 1),
                        Expect::Version(vt),
                    );
                match self.store.commit(commit).await {
                    Ok(applied) => {
                        let (Some(Applied::Put(mf)), Some(Applied::Put(mt)), 2) =
                            (applied.first(), applied.get(1), applied.len())
                        else {
                            let what = format!("a transfer answered {applied:?}");
                            return Err((rules::COMMIT_RESULTS, what));
                        };
                        log.transfers.push(Transfer {
                            from,
                            to,
                            expected: [vf, vt],
                            written: [mf.version, mt.version],
                        });
                        break;
                    }
                    Err(StoreError::CommitConflict(_)) => {
                        log.refused += 1;
                        std::thread::yield_now();
                    }
                    Err(e) => return Err((rules::PASSES, format!("a transfer failed: {e}"))),
                }
            }
        }
        Ok(())
    }
}

/// The checks after the run: chains, torn reads, the final state.
async fn analyse<V, S>(c: Check, store: &S, keys: &[String], initial: &[Version], logs: &[Log])
where
    V: KitValue,
    S: VersionedStore<V> + ?Sized,
{
    let transfers: Vec<&Transfer> = logs.iter().flat_map(|l| &l.transfers).collect();
    // Per account: (written, expected, transfer) sorted by the version written.
    let mut chains: Vec<Vec<(Version, Version, usize)>> = vec![Vec::new(); ACCOUNTS];
    let mut balance: Vec<i64> = vec![INITIAL as i64; ACCOUNTS];
    for (t, tr) in transfers.iter().enumerate() {
        chains[tr.from].push((tr.written[0], tr.expected[0], t));
        chains[tr.to].push((tr.written[1], tr.expected[1], t));
        balance[tr.from] -= 1;
        balance[tr.to] += 1;
    }
    for (k, chain) in chains.iter_mut().enumerate() {
        chain.sort();
        let mut by_expected: HashMap<Version, usize> = HashMap::new();
        for &(written, expected, t) in chain.iter() {
            if let Some(other) = by_expected.insert(expected, t) {
                c.fail(
                    rules::ATOMIC,
                    format!(
                        "account {k}: transfers {other} and {t} were both applied expecting its \
                         version {expected} (one of them must have been refused: a lost update; \
                         the second wrote {written})"
                    ),
                );
            }
        }
        let mut previous = initial[k];
        for &(written, expected, t) in chain.iter() {
            c.ensure(written > previous, rules::NO_REUSE, || {
                format!("account {k}: transfer {t} wrote version {written}, not above {previous}")
            });
            c.ensure(expected == previous, rules::ATOMIC, || {
                format!(
                    "account {k}: transfer {t} expected version {expected}, but the write before \
                     it in version order is {previous} (an update was lost, or versions do not \
                     follow the order of the writes)"
                )
            });
            previous = written;
        }
    }

    // No reader sees half of a transfer: once it saw one account at a transfer's version,
    // nothing later shows the other account older than that transfer's write.
    let mut written_by: HashMap<(usize, Version), usize> = HashMap::new();
    for (t, tr) in transfers.iter().enumerate() {
        written_by.insert((tr.from, tr.written[0]), t);
        written_by.insert((tr.to, tr.written[1]), t);
    }
    // Per account, its reads by invocation, and for each position the oldest version read
    // from there on (with the read that returned it).
    let mut by_key: Vec<Vec<&Read>> = vec![Vec::new(); ACCOUNTS];
    for read in logs.iter().flat_map(|l| &l.reads) {
        by_key[read.key].push(read);
    }
    let mut oldest_from: Vec<Vec<usize>> = Vec::with_capacity(ACCOUNTS);
    for reads in &mut by_key {
        reads.sort_by_key(|r| r.invoke);
        let mut oldest = vec![0; reads.len()];
        for i in (0..reads.len()).rev() {
            oldest[i] = match oldest.get(i + 1) {
                Some(&j) if reads[j].version < reads[i].version => j,
                _ => i,
            };
        }
        oldest_from.push(oldest);
    }
    for first in logs.iter().flat_map(|l| &l.reads) {
        let Some(&t) = written_by.get(&(first.key, first.version)) else {
            continue;
        };
        let tr = transfers[t];
        let (other, floor) = if tr.from == first.key {
            (tr.to, tr.written[1])
        } else {
            (tr.from, tr.written[0])
        };
        let reads = &by_key[other];
        let start = reads.partition_point(|r| r.invoke <= first.returned);
        let Some(&oldest) = oldest_from[other].get(start) else {
            continue;
        };
        let later = reads[oldest];
        c.ensure(later.version >= floor, rules::NO_HALF_COMMIT, || {
            format!(
                "account {} was read at version {} (written by transfer {t}, which also wrote \
                 account {other} as version {floor}); a read of account {other} that started \
                 after it returned version {}",
                first.key, first.version, later.version
            )
        });
    }

    let mut sum = 0;
    for (k, key) in keys.iter().enumerate() {
        let got = c.ok(rules::LATEST, "read back", store.get(key).await);
        let got = got.unwrap_or_else(|| c.fail(rules::LATEST, format!("account {k} reads absent")));
        let last = chains[k].last().map_or(initial[k], |l| l.0);
        c.eq(
            rules::ALL_OR_NOTHING,
            &format!(
                "account {k}: units after {} transfers touching it",
                chains[k].len()
            ),
            got.value.counter() as i64,
            balance[k],
        );
        c.eq(
            rules::LATEST,
            &format!("account {k}: version"),
            got.version,
            last,
        );
        sum += got.value.counter();
    }
    c.eq(
        rules::ALL_OR_NOTHING,
        "the sum of all accounts",
        sum,
        INITIAL * ACCOUNTS as u64,
    );
}
