//! The measured loop: worker threads released by a barrier run pre-drawn operations against
//! one subject until told to stop; every 64th operation is timed.

use std::hint::black_box;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::peers::Subject;
use crate::workload::CAS_FLAG;

/// One operation in this many has its latency measured.
pub const SAMPLE_EVERY: usize = 64;

#[derive(Default, Clone, Copy)]
struct Counts {
    reads: u64,
    cas: u64,
    ok: u64,
    /// (on CPU, waiting for a CPU) in ns over the measured loop.
    sched: Option<(u64, u64)>,
}

pub struct Raw {
    pub reads: u64,
    pub cas_attempts: u64,
    pub cas_ok: u64,
    pub elapsed: Duration,
    pub hist: Histogram<u64>,
    /// Operations per worker thread (lock fairness shows here).
    pub thread_ops: Vec<u64>,
    /// Time the workers ran on a CPU, and waited runnable for one, / (threads x elapsed);
    /// `None` off Linux.
    pub cpu_share: Option<(f64, f64)>,
}

impl Raw {
    pub fn ops_per_s(&self) -> f64 {
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

pub fn run_cell<S: Subject>(
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

/// The sum of every key's value, checking each entry's invariant.
pub fn sum_values<S: Subject>(s: &S, keys: &[String]) -> u64 {
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
