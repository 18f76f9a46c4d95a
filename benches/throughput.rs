//! Time-based (bustle-style) throughput harness: the same versioned compare-and-swap loop
//! against `optimist::MemoryStore` and four concurrent-map peers.
//!
//! Every cell (workload x mix x threads x subject) runs for a fixed wall time after a short
//! warm-up. Each operation is either a plain read or a CAS attempt (read `(version, value)`,
//! then write `value + 1` only if the version is still the one read; a failed CAS counts as a
//! conflict and the worker moves on). Key indexes (and, for the read-mostly mix, the
//! read-or-CAS choice) are drawn in advance into a ring per thread, shared by all subjects,
//! so sampling costs nothing in the measured loop and every subject sees the same sequence.
//!
//! Environment:
//! - `OPTIMIST_BENCH_SECS`: seconds per cell (default 1);
//! - `OPTIMIST_BENCH_SMOKE=1`: CI smoke mode (0.05 s cells, the largest thread count only,
//!   lost-update check once per key space instead of after every cell);
//! - `OPTIMIST_BENCH_ROUNDS`: run every cell this many times, subjects in rotating order,
//!   and report each subject's median round (default 1). On a shared, noisy machine, many
//!   short interleaved rounds (`OPTIMIST_BENCH_SECS=0.2 OPTIMIST_BENCH_ROUNDS=25`) give every
//!   subject the same slices of machine time and much steadier ratios than a few long ones.
//!
//! Positional arguments (`cargo bench --bench throughput -- hot zipf`) keep only the cells
//! whose label `workload/mix/tN/subject` contains one of them.
//!
//! Results: tables on stdout, everything as JSON in `target/throughput.json`.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use optimist::{Expect, MemoryStore, Version};
use parking_lot::{Mutex, RwLock};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};
use serde_json::json;

/// Pre-drawn operations per thread (a power of two, used as a ring).
const RING_LEN: usize = 1 << 20;
/// Set in a ring entry when the operation is a CAS attempt; the low bits are the key index.
const CAS_FLAG: u32 = 1 << 31;
/// One operation in this many has its latency measured.
const SAMPLE_EVERY: usize = 64;
const SMALL_KEYS: usize = 1_024;
const LARGE_KEYS: usize = 1_000_000;
/// Above this share of the wall time spent waiting for a CPU, a cell's workers were
/// preempted by other processes and its numbers are suspect.
const NOISY_WAIT_SHARE: f64 = 0.05;

// ---------------------------------------------------------------------------------------
// Subjects
// ---------------------------------------------------------------------------------------

/// One map under test. The peers store `(version, value)`; the version is bumped on every
/// write. `optimist` stores the value and assigns the version itself.
trait Subject: Sync {
    type Ver: Copy;
    fn read(&self, key: &str) -> Option<(Self::Ver, u64)>;
    /// Writes `value` iff the key's version is `expected` (`None`: the key is absent).
    fn cas(&self, key: &str, expected: Option<Self::Ver>, value: u64) -> bool;
    /// A cheap per-entry invariant checked during validation.
    fn consistent(_version: Self::Ver, _value: u64) -> bool {
        true
    }
}

struct MutexMap(Mutex<HashMap<String, (u64, u64)>>);
struct RwLockMap(RwLock<HashMap<String, (u64, u64)>>);
struct Dash(dashmap::DashMap<String, (u64, u64)>);
struct Scc(scc::HashMap<String, (u64, u64)>);
struct Ours(MemoryStore<u64>);

/// Shared by the `HashMap`-based peers: compare the version under the (write) lock.
#[inline(always)]
fn cas_in_map(
    map: &mut HashMap<String, (u64, u64)>,
    key: &str,
    exp: Option<u64>,
    val: u64,
) -> bool {
    match (map.get_mut(key), exp) {
        (Some(slot), Some(v)) if slot.0 == v => {
            *slot = (v + 1, val);
            true
        }
        (None, None) => {
            map.insert(key.to_owned(), (1, val));
            true
        }
        _ => false,
    }
}

impl Subject for MutexMap {
    type Ver = u64;
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.lock().get(key).copied()
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        cas_in_map(&mut self.0.lock(), key, exp, val)
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

impl Subject for RwLockMap {
    type Ver = u64;
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.read().get(key).copied()
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        cas_in_map(&mut self.0.write(), key, exp, val)
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

impl Subject for Dash {
    type Ver = u64;
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.get(key).map(|r| *r)
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        match (self.0.get_mut(key), exp) {
            (Some(mut slot), Some(v)) if slot.0 == v => {
                *slot = (v + 1, val);
                true
            }
            (None, None) => match self.0.entry(key.to_owned()) {
                dashmap::Entry::Vacant(e) => {
                    e.insert((1, val));
                    true
                }
                dashmap::Entry::Occupied(_) => false,
            },
            _ => false,
        }
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

impl Subject for Scc {
    type Ver = u64;
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(u64, u64)> {
        self.0.read(key, |_, v| *v)
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<u64>, val: u64) -> bool {
        match exp {
            Some(v) => self
                .0
                .update(key, |_, slot| {
                    if slot.0 == v {
                        *slot = (v + 1, val);
                        true
                    } else {
                        false
                    }
                })
                .unwrap_or(false),
            None => self.0.insert(key.to_owned(), (1, val)).is_ok(),
        }
    }
    fn consistent(version: u64, value: u64) -> bool {
        version == value
    }
}

impl Subject for Ours {
    type Ver = Version;
    #[inline(always)]
    fn read(&self, key: &str) -> Option<(Version, u64)> {
        self.0.get_sync(key).map(|r| (r.version, r.value))
    }
    #[inline(always)]
    fn cas(&self, key: &str, exp: Option<Version>, val: u64) -> bool {
        let expect = match exp {
            Some(v) => Expect::Version(v),
            None => Expect::Absent,
        };
        match self.0.put_sync(key, val, expect) {
            Ok(_) => true,
            Err(e) if e.as_conflict().is_some() => false,
            Err(e) => panic!("MemoryStore::put_sync failed: {e}"),
        }
    }
}

const SUBJECTS: [(&str, &str); 5] = [
    ("Mutex<HashMap>", "std RandomState (SipHash-1-3)"),
    ("RwLock<HashMap>", "std RandomState (SipHash-1-3)"),
    ("DashMap", "std RandomState (SipHash-1-3)"),
    ("scc::HashMap", "std RandomState (SipHash-1-3)"),
    ("optimist", "foldhash::fast::RandomState"),
];
const OURS: usize = 4;

/// All five subjects over one key space, prefilled with value 0 (peers: version 0).
struct KeySpace {
    keys: Vec<String>,
    mutex: MutexMap,
    rwlock: RwLockMap,
    dash: Dash,
    scc: Scc,
    ours: Ours,
    /// Successful CAS so far per subject = the sum of all values it must hold.
    expected_sum: [u64; 5],
}

impl KeySpace {
    fn new(n: usize) -> Self {
        let keys: Vec<String> = (0..n).map(|i| format!("key{i}")).collect();
        let keys_ref = &keys;
        // One builder thread per subject: a million-key prefill takes a while.
        let (std_map, dash, scc, ours) = std::thread::scope(|scope| {
            let std_map = scope.spawn(|| {
                let mut m = HashMap::new();
                for k in keys_ref {
                    m.insert(k.clone(), (0u64, 0u64));
                }
                m
            });
            let dash = scope.spawn(|| {
                let m = dashmap::DashMap::new();
                for k in keys_ref {
                    m.insert(k.clone(), (0, 0));
                }
                m
            });
            let scc = scope.spawn(|| {
                let m = scc::HashMap::default();
                for k in keys_ref {
                    assert!(m.insert(k.clone(), (0, 0)).is_ok());
                }
                m
            });
            let ours = scope.spawn(|| {
                let m = MemoryStore::new();
                for k in keys_ref {
                    m.put_sync(k, 0, Expect::Absent).expect("prefill");
                }
                m
            });
            (
                std_map.join().expect("prefill"),
                dash.join().expect("prefill"),
                scc.join().expect("prefill"),
                ours.join().expect("prefill"),
            )
        });
        Self {
            mutex: MutexMap(Mutex::new(std_map.clone())),
            rwlock: RwLockMap(RwLock::new(std_map)),
            dash: Dash(dash),
            scc: Scc(scc),
            ours: Ours(ours),
            keys,
            expected_sum: [0; 5],
        }
    }

    /// Warm-up plus measured run of one cell for subject `idx`, then the lost-update check.
    fn run(&mut self, idx: usize, rings: &[Vec<u32>], threads: usize, cfg: &Config) -> Raw {
        let keys = &self.keys;
        let go = |warm: Duration, dur: Duration| -> (Raw, Raw) {
            macro_rules! both {
                ($s:expr) => {
                    (
                        run_cell($s, keys, rings, threads, warm),
                        run_cell($s, keys, rings, threads, dur),
                    )
                };
            }
            match idx {
                0 => both!(&self.mutex),
                1 => both!(&self.rwlock),
                2 => both!(&self.dash),
                3 => both!(&self.scc),
                _ => both!(&self.ours),
            }
        };
        let (warm, raw) = go(cfg.warmup, cfg.cell);
        self.expected_sum[idx] += warm.cas_ok + raw.cas_ok;
        if !cfg.smoke {
            self.validate(idx);
        }
        raw
    }

    /// Aborts unless subject `idx` holds exactly as many increments as it reported
    /// successful CAS (so no update was lost and none was applied twice).
    fn validate(&self, idx: usize) {
        let keys = &self.keys;
        let sum = match idx {
            0 => sum_values(&self.mutex, keys),
            1 => sum_values(&self.rwlock, keys),
            2 => sum_values(&self.dash, keys),
            3 => sum_values(&self.scc, keys),
            _ => sum_values(&self.ours, keys),
        };
        assert_eq!(
            sum, self.expected_sum[idx],
            "{}: sum of values {sum} != successful CAS {} -- lost or phantom updates",
            SUBJECTS[idx].0, self.expected_sum[idx]
        );
    }
}

fn sum_values<S: Subject>(s: &S, keys: &[String]) -> u64 {
    keys.iter()
        .map(|k| {
            let (ver, val) = s.read(k).unwrap_or_else(|| panic!("key {k} vanished"));
            assert!(
                S::consistent(ver, val),
                "key {k}: version and value diverged"
            );
            val
        })
        .sum()
}

// ---------------------------------------------------------------------------------------
// The measured loop
// ---------------------------------------------------------------------------------------

#[derive(Default, Clone, Copy)]
struct Counts {
    reads: u64,
    cas: u64,
    ok: u64,
    /// (on CPU, waiting for a CPU) in ns over the measured loop.
    sched: Option<(u64, u64)>,
}

struct Raw {
    reads: u64,
    cas_attempts: u64,
    cas_ok: u64,
    elapsed: Duration,
    hist: Histogram<u64>,
    /// Operations per worker thread (lock fairness shows here).
    thread_ops: Vec<u64>,
    /// Time the workers ran on a CPU, and waited runnable for one, / (threads x elapsed);
    /// `None` off Linux.
    cpu_share: Option<(f64, f64)>,
}

impl Raw {
    fn ops_per_s(&self) -> f64 {
        (self.reads + self.cas_attempts) as f64 / self.elapsed.as_secs_f64()
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

#[inline(always)]
fn one_op<S: Subject>(s: &S, keys: &[String], code: u32, c: &mut Counts) {
    let key = keys[(code & !CAS_FLAG) as usize].as_str();
    if code & CAS_FLAG == 0 {
        black_box(s.read(key));
        c.reads += 1;
    } else {
        let (expected, next) = match s.read(key) {
            Some((ver, val)) => (Some(ver), val + 1),
            None => (None, 1),
        };
        c.cas += 1;
        if s.cas(key, expected, next) {
            c.ok += 1;
        }
    }
}

fn worker<S: Subject>(
    s: &S,
    keys: &[String],
    ring: &[u32],
    start: &Barrier,
    stop: &AtomicBool,
) -> (Counts, Histogram<u64>) {
    assert!(ring.len().is_power_of_two());
    let mask = ring.len() - 1;
    let mut c = Counts::default();
    let mut hist = new_hist();
    let mut i = 0usize;
    start.wait();
    let sched0 = sched_ns();
    while !stop.load(Ordering::Relaxed) {
        let t0 = Instant::now();
        one_op(s, keys, ring[i & mask], &mut c);
        hist.saturating_record((t0.elapsed().as_nanos() as u64).max(1));
        i += 1;
        for _ in 1..SAMPLE_EVERY {
            one_op(s, keys, ring[i & mask], &mut c);
            i += 1;
        }
    }
    c.sched = sched_ns()
        .zip(sched0)
        .map(|(b, a)| (b.0.saturating_sub(a.0), b.1.saturating_sub(a.1)));
    (c, hist)
}

/// Nanoseconds this thread has run on a CPU, and has waited runnable for one (Linux
/// `/proc/thread-self/schedstat`), to tell a cell whose workers were preempted by other
/// processes (a busy, shared machine) from a slow subject. A thread parked on a lock is
/// neither.
fn sched_ns() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

fn run_cell<S: Subject>(
    s: &S,
    keys: &[String],
    rings: &[Vec<u32>],
    threads: usize,
    dur: Duration,
) -> Raw {
    let start = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rings[..threads]
            .iter()
            .map(|ring| {
                let (start, stop) = (&start, &stop);
                scope.spawn(move || worker(s, keys, ring, start, stop))
            })
            .collect();
        start.wait();
        let t0 = Instant::now();
        std::thread::sleep(dur);
        stop.store(true, Ordering::Relaxed);
        let mut raw = Raw {
            reads: 0,
            cas_attempts: 0,
            cas_ok: 0,
            elapsed: Duration::ZERO,
            hist: new_hist(),
            thread_ops: Vec::with_capacity(threads),
            cpu_share: None,
        };
        let mut sched = Some((0u64, 0u64));
        for h in handles {
            let (c, hist) = h.join().expect("worker panicked");
            raw.reads += c.reads;
            raw.cas_attempts += c.cas;
            raw.cas_ok += c.ok;
            raw.thread_ops.push(c.reads + c.cas);
            sched = sched.zip(c.sched).map(|(a, b)| (a.0 + b.0, a.1 + b.1));
            raw.hist.add(&hist).expect("merge histograms");
        }
        raw.elapsed = t0.elapsed();
        let budget = threads as f64 * raw.elapsed.as_secs_f64() * 1e9;
        raw.cpu_share = sched.map(|(run, wait)| (run as f64 / budget, wait as f64 / budget));
        raw
    })
}

// ---------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Dist {
    Uniform,
    Zipf,
    Hot,
}

struct Workload {
    name: &'static str,
    keys: usize,
    dist: Dist,
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "uniform-1k",
        keys: SMALL_KEYS,
        dist: Dist::Uniform,
    },
    Workload {
        name: "uniform-1m",
        keys: LARGE_KEYS,
        dist: Dist::Uniform,
    },
    Workload {
        name: "zipf0.99-1m",
        keys: LARGE_KEYS,
        dist: Dist::Zipf,
    },
    Workload {
        name: "hot-key",
        keys: SMALL_KEYS,
        dist: Dist::Hot,
    },
];

/// (name, fraction of operations that are CAS attempts)
const MIXES: [(&str, f64); 2] = [("cas100", 1.0), ("read90-cas10", 0.1)];

fn make_rings(w: &Workload, wi: usize, cas_frac: f64, mi: usize, threads: usize) -> Vec<Vec<u32>> {
    let zipf = Zipf::new(w.keys as f64, 0.99).expect("zipf parameters");
    (0..threads)
        .map(|t| {
            let seed = 0x5eed_0000 + (wi as u64) * 1_000 + (mi as u64) * 100 + t as u64;
            let mut rng = SmallRng::seed_from_u64(seed);
            (0..RING_LEN)
                .map(|_| {
                    let idx = match w.dist {
                        Dist::Uniform => rng.random_range(0..w.keys as u32),
                        // Zipf samples ranks 1..=n; rank 1 (the hottest) is key0.
                        Dist::Zipf => (zipf.sample(&mut rng) as u32 - 1).min(w.keys as u32 - 1),
                        Dist::Hot => 0,
                    };
                    let cas = cas_frac >= 1.0 || rng.random_bool(cas_frac);
                    idx | if cas { CAS_FLAG } else { 0 }
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Config, reporting
// ---------------------------------------------------------------------------------------

struct Config {
    cell: Duration,
    warmup: Duration,
    smoke: bool,
    rounds: usize,
    threads: Vec<usize>,
    filters: Vec<String>,
}

impl Config {
    fn from_env() -> Self {
        let smoke = std::env::var("OPTIMIST_BENCH_SMOKE").is_ok_and(|v| v == "1");
        let secs = std::env::var("OPTIMIST_BENCH_SECS")
            .ok()
            .map(|s| {
                s.parse::<f64>()
                    .ok()
                    .filter(|x| *x > 0.0)
                    .expect("OPTIMIST_BENCH_SECS must be a positive number")
            })
            .unwrap_or(if smoke { 0.05 } else { 1.0 });
        let cell = Duration::from_secs_f64(secs);
        let rounds = std::env::var("OPTIMIST_BENCH_ROUNDS")
            .ok()
            .map(|s| {
                s.parse::<usize>()
                    .ok()
                    .filter(|x| *x > 0)
                    .expect("OPTIMIST_BENCH_ROUNDS must be a positive integer")
            })
            .unwrap_or(1);
        let warmup = (cell / 10).clamp(Duration::from_millis(10), Duration::from_millis(200));
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut threads = vec![1, 2];
        let mut t = 4;
        while t < cores {
            threads.push(t);
            t *= 2;
        }
        if cores > 2 && !threads.contains(&cores) {
            threads.push(cores);
        }
        if smoke {
            threads = vec![*threads.last().unwrap()];
        }
        let filters = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .collect();
        Self {
            cell,
            warmup,
            smoke,
            rounds,
            threads,
            filters,
        }
    }

    fn wants(&self, label: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| label.contains(f.as_str()))
    }
}

struct Cell {
    workload: &'static str,
    mix: &'static str,
    keys: usize,
    threads: usize,
    subject: usize,
    ops: u64,
    reads: u64,
    cas_attempts: u64,
    cas_ok: u64,
    secs: f64,
    p50: u64,
    p90: u64,
    p99: u64,
    p999: u64,
    max: u64,
    samples: u64,
    /// ops/s of every round, in run order (the cell reports the median round).
    all_rates: Vec<f64>,
    thread_ops: Vec<u64>,
    cpu_share: Option<(f64, f64)>,
}

impl Cell {
    fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.secs
    }
    fn cas_per_s(&self) -> f64 {
        self.cas_ok as f64 / self.secs
    }
    fn conflict_rate(&self) -> f64 {
        if self.cas_attempts == 0 {
            0.0
        } else {
            (self.cas_attempts - self.cas_ok) as f64 / self.cas_attempts as f64
        }
    }
    /// Slowest worker's ops / fastest worker's ops (1.0: perfectly fair).
    fn fairness(&self) -> f64 {
        let max = self.thread_ops.iter().copied().max().unwrap_or(0);
        let min = self.thread_ops.iter().copied().min().unwrap_or(0);
        if max == 0 {
            1.0
        } else {
            min as f64 / max as f64
        }
    }
    /// The workers waited for a CPU for a noticeable part of the cell (other processes).
    fn noisy(&self) -> bool {
        self.cpu_share.is_some_and(|x| x.1 > NOISY_WAIT_SHARE)
    }
    fn group(&self) -> (&'static str, &'static str, usize) {
        (self.workload, self.mix, self.threads)
    }
}

fn rate(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2}M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1}k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn nanos(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2} ms", ns as f64 / 1e6)
    } else if ns >= 10_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else if ns >= 1_000 {
        format!("{:.2} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

fn print_group(cells: &[&Cell]) {
    let Some(first) = cells.first() else { return };
    println!(
        "\n## {} / {} / {} thread(s)",
        first.workload, first.mix, first.threads
    );
    let ours = cells
        .iter()
        .find(|c| c.subject == OURS)
        .map(|c| c.ops_per_s());
    println!(
        "{:<17} {:>10} {:>10} {:>10} {:>10} {:>10} {:>16} {:>6} {:>6}",
        "subject", "ops/s", "CAS/s", "conflict", "p50", "p99", "optimist/subject", "cpu", "fair"
    );
    for c in cells {
        let ratio = ours.map_or("-".to_string(), |o| format!("{:.2}x", o / c.ops_per_s()));
        println!(
            "{:<17} {:>10} {:>10} {:>9.2}% {:>10} {:>10} {:>16} {:>6} {:>6.2}{}",
            SUBJECTS[c.subject].0,
            rate(c.ops_per_s()),
            rate(c.cas_per_s()),
            c.conflict_rate() * 100.0,
            nanos(c.p50),
            nanos(c.p99),
            ratio,
            c.cpu_share
                .map_or("-".to_string(), |x| format!("{:.0}%", x.0 * 100.0)),
            c.fairness(),
            if c.noisy() {
                format!(
                    "  <- preempted {:.0}%",
                    c.cpu_share.map_or(0.0, |x| x.1 * 100.0)
                )
            } else {
                String::new()
            }
        );
    }
}

struct SummaryRow {
    workload: &'static str,
    mix: &'static str,
    threads: usize,
    ours_ops: f64,
    ours_cas: f64,
    best: usize,
    best_ops: f64,
    best_cas: f64,
    /// Some cell of the group ran preempted.
    noisy: bool,
    /// With several rounds: median over rounds of (ours / best peer of that round). Rounds
    /// run back to back, so this cancels slow drifts of the machine that the per-subject
    /// medians do not.
    round_ratio: Option<f64>,
}

fn summarize(cells: &[Cell]) -> Vec<SummaryRow> {
    let mut groups: Vec<(&'static str, &'static str, usize)> = Vec::new();
    for c in cells {
        if !groups.contains(&c.group()) {
            groups.push(c.group());
        }
    }
    groups
        .into_iter()
        .filter_map(|g| {
            let in_group = || cells.iter().filter(move |c| c.group() == g);
            let ours = in_group().find(|c| c.subject == OURS)?;
            let best = in_group()
                .filter(|c| c.subject != OURS)
                .max_by(|a, b| a.ops_per_s().total_cmp(&b.ops_per_s()))?;
            Some(SummaryRow {
                workload: g.0,
                mix: g.1,
                threads: g.2,
                ours_ops: ours.ops_per_s(),
                ours_cas: ours.cas_per_s(),
                best: best.subject,
                best_ops: best.ops_per_s(),
                best_cas: best.cas_per_s(),
                noisy: in_group().any(Cell::noisy),
                round_ratio: (ours.all_rates.len() > 1).then(|| {
                    let mut ratios: Vec<f64> = (0..ours.all_rates.len())
                        .map(|r| {
                            let peer = in_group()
                                .filter(|c| c.subject != OURS)
                                .filter_map(|c| c.all_rates.get(r).copied())
                                .fold(0.0, f64::max);
                            ours.all_rates[r] / peer
                        })
                        .collect();
                    ratios.sort_by(f64::total_cmp);
                    ratios[ratios.len() / 2]
                }),
            })
        })
        .collect()
}

fn output_path() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("throughput.json")
}

fn main() {
    let cfg = Config::from_env();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "# optimist throughput: {:.3} s per cell after {:.3} s warm-up, {} round(s){}, threads {:?}, {cores} core(s)",
        cfg.cell.as_secs_f64(),
        cfg.warmup.as_secs_f64(),
        cfg.rounds,
        if cfg.smoke { " (SMOKE mode)" } else { "" },
        cfg.threads
    );
    println!(
        "# op = one read, or one CAS attempt (read + compare-and-swap of value+1); ops/s counts both."
    );
    println!(
        "# latency: every {SAMPLE_EVERY}th op timed with Instant (includes ~2 clock reads); keys: String, looked up by &str."
    );
    for (name, hasher) in SUBJECTS {
        println!("#   {name:<17} hasher: {hasher} (crate default)");
    }

    let started = Instant::now();
    let mut cells: Vec<Cell> = Vec::new();
    let mut spaces: HashMap<usize, KeySpace> = HashMap::new();

    for (wi, w) in WORKLOADS.iter().enumerate() {
        // Build each key space once, the first time a selected cell needs it; dropped when no
        // later workload uses it.
        for (mi, &(mix, cas_frac)) in MIXES.iter().enumerate() {
            let selected: Vec<(usize, usize)> = cfg
                .threads
                .iter()
                .flat_map(|&t| (0..SUBJECTS.len()).map(move |s| (t, s)))
                .filter(|&(t, s)| cfg.wants(&format!("{}/{mix}/t{t}/{}", w.name, SUBJECTS[s].0)))
                .collect();
            if selected.is_empty() {
                continue;
            }
            let space = spaces.entry(w.keys).or_insert_with(|| {
                let t0 = Instant::now();
                let s = KeySpace::new(w.keys);
                eprintln!(
                    "  [prefilled {} keys x 5 subjects in {:.2} s]",
                    w.keys,
                    t0.elapsed().as_secs_f64()
                );
                s
            });
            let max_threads = *cfg.threads.iter().max().unwrap();
            let t0 = Instant::now();
            let rings = make_rings(w, wi, cas_frac, mi, max_threads);
            eprintln!(
                "  [drew {max_threads} x {RING_LEN} ops in {:.2} s]",
                t0.elapsed().as_secs_f64()
            );
            for &t in &cfg.threads {
                let group_start = cells.len();
                let subjects: Vec<usize> = selected
                    .iter()
                    .filter(|(tt, _)| *tt == t)
                    .map(|&(_, s)| s)
                    .collect();
                // Rounds rotate the subject order; each subject reports its median round.
                let mut runs: Vec<Vec<Raw>> = subjects.iter().map(|_| Vec::new()).collect();
                for round in 0..cfg.rounds {
                    for k in 0..subjects.len() {
                        let pos = (k + round) % subjects.len();
                        runs[pos].push(space.run(subjects[pos], &rings, t, &cfg));
                    }
                }
                for (&s, mut rounds) in subjects.iter().zip(runs) {
                    let all_rates: Vec<f64> = rounds.iter().map(Raw::ops_per_s).collect();
                    rounds.sort_by(|a, b| a.ops_per_s().total_cmp(&b.ops_per_s()));
                    let raw = rounds.swap_remove(rounds.len() / 2);
                    let h = &raw.hist;
                    cells.push(Cell {
                        workload: w.name,
                        mix,
                        keys: w.keys,
                        threads: t,
                        subject: s,
                        ops: raw.reads + raw.cas_attempts,
                        reads: raw.reads,
                        cas_attempts: raw.cas_attempts,
                        cas_ok: raw.cas_ok,
                        secs: raw.elapsed.as_secs_f64(),
                        p50: h.value_at_quantile(0.50),
                        p90: h.value_at_quantile(0.90),
                        p99: h.value_at_quantile(0.99),
                        p999: h.value_at_quantile(0.999),
                        max: h.max(),
                        samples: h.len(),
                        all_rates,
                        thread_ops: raw.thread_ops.clone(),
                        cpu_share: raw.cpu_share,
                    });
                }
                print_group(&cells[group_start..].iter().collect::<Vec<_>>());
            }
        }
        if !WORKLOADS[wi + 1..].iter().any(|later| later.keys == w.keys) {
            if let Some(space) = spaces.remove(&w.keys) {
                if cfg.smoke {
                    // Smoke mode checks each subject once per key space instead of per cell.
                    (0..SUBJECTS.len()).for_each(|s| space.validate(s));
                }
            }
        }
    }

    let summary = summarize(&cells);
    println!(
        "\n# Summary: optimist vs the best peer (by ops/s{})",
        if cfg.rounds > 1 {
            "; medians over rounds; per-round ratio = median of within-round ratios"
        } else {
            ""
        }
    );
    let per_round = cfg.rounds > 1;
    println!(
        "{:<12} {:<13} {:>3} {:>11} {:>16} {:>11} {:>9} {:>12}{}",
        "workload",
        "mix",
        "thr",
        "optimist",
        "best peer",
        "peer ops/s",
        "ops ratio",
        "CAS/s ratio",
        if per_round { "  per-round ratio" } else { "" }
    );
    for r in &summary {
        println!(
            "{:<12} {:<13} {:>3} {:>11} {:>16} {:>11} {:>8.2}x {:>11.2}x{}{}",
            r.workload,
            r.mix,
            r.threads,
            rate(r.ours_ops),
            SUBJECTS[r.best].0,
            rate(r.best_ops),
            r.ours_ops / r.best_ops,
            if r.best_cas > 0.0 {
                r.ours_cas / r.best_cas
            } else {
                f64::NAN
            },
            r.round_ratio
                .map_or(String::new(), |x| format!(" {x:>15.2}x")),
            if r.noisy { "  (preempted: rerun)" } else { "" },
        );
    }
    let noisy: Vec<String> = summary
        .iter()
        .filter(|r| r.noisy)
        .map(|r| format!("{}/{}/t{}", r.workload, r.mix, r.threads))
        .collect();
    if !noisy.is_empty() {
        println!(
            "# WARNING: workers waited >{:.0}% of the time for a CPU (other processes) in: {}",
            NOISY_WAIT_SHARE * 100.0,
            noisy.join(", ")
        );
    }
    let below: Vec<String> = summary
        .iter()
        .filter(|r| r.ours_ops < r.best_ops)
        .map(|r| format!("{}/{}/t{}", r.workload, r.mix, r.threads))
        .collect();
    if below.is_empty() {
        println!("# optimist is at or above the best peer in every cell.");
    } else {
        println!("# optimist below the best peer: {}", below.join(", "));
    }
    println!(
        "# all {} cells validated (sum of values == successful CAS{}); total {:.1} s",
        cells.len(),
        if cfg.smoke {
            ", once per key space"
        } else {
            ", after every cell"
        },
        started.elapsed().as_secs_f64()
    );

    let doc = json!({
        "config": {
            "cell_secs": cfg.cell.as_secs_f64(),
            "warmup_secs": cfg.warmup.as_secs_f64(),
            "smoke": cfg.smoke,
            "rounds": cfg.rounds,
            "cores": cores,
            "threads": cfg.threads,
            "ring_len": RING_LEN,
            "latency_sample_every": SAMPLE_EVERY,
            "op": "a read, or a CAS attempt = read + compare-and-swap(value+1); ops counts both",
            "subjects": SUBJECTS.iter().map(|(n, h)| json!({"name": n, "hasher": h})).collect::<Vec<_>>(),
        },
        "cells": cells.iter().map(|c| json!({
            "workload": c.workload,
            "mix": c.mix,
            "keys": c.keys,
            "threads": c.threads,
            "subject": SUBJECTS[c.subject].0,
            "hasher": SUBJECTS[c.subject].1,
            "secs": c.secs,
            "ops": c.ops,
            "reads": c.reads,
            "cas_attempts": c.cas_attempts,
            "cas_ok": c.cas_ok,
            "conflicts": c.cas_attempts - c.cas_ok,
            "ops_per_s": c.ops_per_s(),
            "cas_per_s": c.cas_per_s(),
            "conflict_rate": c.conflict_rate(),
            "ops_per_s_all_rounds": c.all_rates,
            "ops_per_thread": c.thread_ops,
            "worker_on_cpu_share": c.cpu_share.map(|x| x.0),
            "worker_runqueue_wait_share": c.cpu_share.map(|x| x.1),
            "latency_ns": {
                "samples": c.samples, "p50": c.p50, "p90": c.p90, "p99": c.p99,
                "p999": c.p999, "max": c.max,
            },
        })).collect::<Vec<_>>(),
        "summary": summary.iter().map(|r| json!({
            "workload": r.workload,
            "mix": r.mix,
            "threads": r.threads,
            "optimist_ops_per_s": r.ours_ops,
            "optimist_cas_per_s": r.ours_cas,
            "best_peer": SUBJECTS[r.best].0,
            "best_peer_ops_per_s": r.best_ops,
            "best_peer_cas_per_s": r.best_cas,
            "ratio_ops": r.ours_ops / r.best_ops,
            "ratio_ops_per_round_median": r.round_ratio,
            "preempted": r.noisy,
        })).collect::<Vec<_>>(),
    });
    let path = output_path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).expect("create target dir");
    }
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&doc).expect("serialize"),
    )
    .expect("write throughput.json");
    println!("# wrote {}", path.display());
}
