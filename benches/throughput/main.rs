//! Time-based (bustle-style) throughput harness: the same versioned compare-and-swap loop
//! against `optimist::MemoryStore` and concurrent-map peers.
//!
//! Every cell (workload x mix x threads x subject) runs for a fixed wall time after a short
//! warm-up. Each operation is either a plain read or a CAS attempt (read `(version, value)`,
//! then write `value + 1` only if the version is still the one read; a failed CAS counts as a
//! conflict and the worker moves on). Key indexes (and, for the read-mostly mix, the
//! read-or-CAS choice) are drawn in advance into a ring per thread, shared by all subjects,
//! so sampling costs nothing in the measured loop and every subject sees the same sequence.
//!
//! The peers run twice: with the store's hasher (foldhash; the fair table the store is
//! judged by) and with their crate's default, SipHash-1-3 (the second table).
//!
//! Environment:
//! - `OPTIMIST_BENCH_SECS`: seconds per cell (default 1);
//! - `OPTIMIST_BENCH_SMOKE=1`: CI smoke mode (0.05 s cells, the largest thread count only,
//!   lost-update check once per key space instead of after every cell);
//! - `OPTIMIST_BENCH_ROUNDS`: run every cell this many times, subjects in rotating order,
//!   and report each subject's median round and the median of the per-round ratios
//!   (default 1). On a shared, noisy machine, many short interleaved rounds
//!   (`OPTIMIST_BENCH_SECS=0.1 OPTIMIST_BENCH_ROUNDS=21`) give every subject the same slices
//!   of machine time and much steadier ratios than a few long ones;
//! - `OPTIMIST_BENCH_SIPHASH=0`: leave out the SipHash peers (the second table).
//!
//! Positional arguments (`cargo bench --bench throughput -- hot zipf`) keep only the cells
//! whose label `workload/mix/tN/subject` contains one of them.
//!
//! Results: tables on stdout, everything as JSON in `target/throughput.json`.
//!
//! Files: `peers.rs` (the maps), `subjects.rs` (their list and tables), `workload.rs` (key
//! spaces, mixes, rings), `keyspace.rs` (prefill and the lost-update check), `rounds.rs`
//! (the measured loop), `config.rs`, `report.rs`.

mod config;
mod keyspace;
mod peers;
mod report;
mod rounds;
mod subjects;
mod workload;

use std::collections::HashMap;
use std::time::Instant;

use config::Config;
use keyspace::KeySpace;
use report::Cell;
use rounds::{Raw, SAMPLE_EVERY};
use subjects::{SUBJECTS, Table};
use workload::{MIXES, RING_LEN, WORKLOADS, make_rings};

/// The subjects selected for `workload/mix/tN` (indexes into `SUBJECTS`).
fn selected(cfg: &Config, workload: &str, mix: &str, threads: usize) -> Vec<usize> {
    (0..SUBJECTS.len())
        .filter(|&s| cfg.siphash || SUBJECTS[s].table != Table::SipHash)
        .filter(|&s| cfg.wants(&format!("{workload}/{mix}/t{threads}/{}", SUBJECTS[s].name)))
        .collect()
}

/// Every subject some selected cell over `keys` keys needs.
fn wanted_for(cfg: &Config, keys: usize) -> Vec<usize> {
    let mut all: Vec<usize> = WORKLOADS
        .iter()
        .filter(|w| w.keys == keys)
        .flat_map(|w| {
            MIXES.iter().flat_map(move |&(mix, _)| {
                cfg.threads
                    .iter()
                    .flat_map(move |&t| selected(cfg, w.name, mix, t))
            })
        })
        .collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The median of one subject's rounds, as a report row.
fn cell_of(w: &workload::Workload, mix: &'static str, t: usize, s: usize, runs: Vec<Raw>) -> Cell {
    let mut rounds = runs;
    let all_rates: Vec<f64> = rounds.iter().map(Raw::ops_per_s).collect();
    rounds.sort_by(|a, b| a.ops_per_s().total_cmp(&b.ops_per_s()));
    let raw = rounds.swap_remove(rounds.len() / 2);
    let h = &raw.hist;
    Cell {
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
    }
}

fn print_header(cfg: &Config) {
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
    for s in &SUBJECTS {
        if cfg.siphash || s.table != Table::SipHash {
            println!("#   {:<22} hasher: {}", s.name, s.hasher);
        }
    }
}

fn main() {
    let cfg = Config::from_env();
    print_header(&cfg);
    let started = Instant::now();
    let mut cells: Vec<Cell> = Vec::new();
    let mut spaces: HashMap<usize, KeySpace> = HashMap::new();

    for (wi, w) in WORKLOADS.iter().enumerate() {
        for (mi, &(mix, cas_frac)) in MIXES.iter().enumerate() {
            if cfg
                .threads
                .iter()
                .all(|&t| selected(&cfg, w.name, mix, t).is_empty())
            {
                continue;
            }
            // Each key space is built once, the first time a selected cell needs it, and
            // dropped when no later workload uses it.
            let space = spaces.entry(w.keys).or_insert_with(|| {
                let t0 = Instant::now();
                let wanted = wanted_for(&cfg, w.keys);
                let s = KeySpace::new(w.keys, &wanted);
                eprintln!(
                    "  [prefilled {} keys x {} subjects in {:.2} s]",
                    w.keys,
                    wanted.len(),
                    t0.elapsed().as_secs_f64()
                );
                s
            });
            let max_threads = *cfg.threads.iter().max().expect("at least one thread count");
            let t0 = Instant::now();
            let rings = make_rings(w, wi, cas_frac, mi, max_threads);
            eprintln!(
                "  [drew {max_threads} x {RING_LEN} ops in {:.2} s]",
                t0.elapsed().as_secs_f64()
            );
            for &t in &cfg.threads {
                let subjects = selected(&cfg, w.name, mix, t);
                if subjects.is_empty() {
                    continue;
                }
                // Rounds rotate the subject order; each subject reports its median round.
                let mut runs: Vec<Vec<Raw>> = subjects.iter().map(|_| Vec::new()).collect();
                for round in 0..cfg.rounds {
                    for k in 0..subjects.len() {
                        let pos = (k + round) % subjects.len();
                        runs[pos].push(space.run(subjects[pos], &rings, t, &cfg));
                    }
                }
                let group_start = cells.len();
                for (&s, rounds) in subjects.iter().zip(runs) {
                    cells.push(cell_of(w, mix, t, s, rounds));
                }
                report::print_group(&cells[group_start..]);
            }
        }
        if !WORKLOADS[wi + 1..].iter().any(|later| later.keys == w.keys) {
            if let Some(space) = spaces.remove(&w.keys) {
                if cfg.smoke {
                    // Smoke mode checks each subject once per key space instead of per cell.
                    space.validate_all();
                }
            }
        }
    }

    let fair = report::summarize(&cells, Table::Fair);
    let sip = report::summarize(&cells, Table::SipHash);
    report::print_summary(&fair, Table::Fair, &cfg);
    report::print_summary(&sip, Table::SipHash, &cfg);
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
    report::write_json(&cfg, &cells, &fair, &sip);
}
