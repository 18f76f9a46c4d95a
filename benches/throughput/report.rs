//! What a run reports: per-cell rows, the summary tables (the store against the best fair
//! peer, and against the best SipHash peer), and the JSON file.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::config::Config;
use crate::rounds::SAMPLE_EVERY;
use crate::subjects::{OURS, SUBJECTS, Table};
use crate::workload::RING_LEN;

/// Above this share of the wall time spent waiting for a CPU, a cell's workers were
/// preempted by other processes and its numbers are suspect.
const NOISY_WAIT_SHARE: f64 = 0.05;

/// One subject in one cell: its median round.
pub struct Cell {
    pub workload: &'static str,
    pub mix: &'static str,
    pub keys: usize,
    pub threads: usize,
    pub subject: usize,
    pub ops: u64,
    pub reads: u64,
    pub cas_attempts: u64,
    pub cas_ok: u64,
    pub secs: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub samples: u64,
    /// ops/s of every round, in run order (the cell reports the median round).
    pub all_rates: Vec<f64>,
    pub thread_ops: Vec<u64>,
    pub cpu_share: Option<(f64, f64)>,
}

impl Cell {
    pub fn ops_per_s(&self) -> f64 {
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

pub fn rate(x: f64) -> String {
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

/// One cell's rows, one per subject, with the store's ratio to each.
pub fn print_group(cells: &[Cell]) {
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
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>16} {:>6} {:>6}",
        "subject", "ops/s", "CAS/s", "conflict", "p50", "p99", "optimist/subject", "cpu", "fair"
    );
    for c in cells {
        let ratio = ours.map_or("-".to_string(), |o| format!("{:.2}x", o / c.ops_per_s()));
        println!(
            "{:<22} {:>10} {:>10} {:>9.2}% {:>10} {:>10} {:>16} {:>6} {:>6.2}{}",
            SUBJECTS[c.subject].name,
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

/// The store against the best peer of one table in one cell group.
pub struct SummaryRow {
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
    /// With several rounds: median over rounds of (ours / the best peer in that round), the
    /// best peer being the one with the highest median. A round runs every subject back to
    /// back, so this cancels slow drifts of the machine that the per-subject medians do not
    /// (and, unlike taking the fastest peer of each round, it does not pick the luckiest of
    /// several noisy figures).
    round_ratio: Option<f64>,
}

impl SummaryRow {
    /// The figure to judge the store by: the per-round median ratio if there are rounds.
    fn ratio(&self) -> f64 {
        self.round_ratio.unwrap_or(self.ours_ops / self.best_ops)
    }
}

/// Per cell group, the store against the best peer of `table`.
pub fn summarize(cells: &[Cell], table: Table) -> Vec<SummaryRow> {
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
            let peers = || in_group().filter(|c| SUBJECTS[c.subject].table == table);
            let ours = in_group().find(|c| c.subject == OURS)?;
            let best = peers().max_by(|a, b| a.ops_per_s().total_cmp(&b.ops_per_s()))?;
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
                    let mut ratios: Vec<f64> = ours
                        .all_rates
                        .iter()
                        .zip(&best.all_rates)
                        .map(|(o, p)| o / p)
                        .collect();
                    ratios.sort_by(f64::total_cmp);
                    ratios[ratios.len() / 2]
                }),
            })
        })
        .collect()
}

/// Prints one summary table and the cells where the store is below the best peer.
pub fn print_summary(summary: &[SummaryRow], table: Table, cfg: &Config) {
    if summary.is_empty() {
        return;
    }
    println!(
        "\n# Summary ({}): optimist vs the best peer (by ops/s{})",
        table.label(),
        if cfg.rounds > 1 {
            "; medians over rounds; per-round ratio = median over rounds of optimist / that peer"
        } else {
            ""
        }
    );
    let per_round = cfg.rounds > 1;
    println!(
        "{:<12} {:<13} {:>3} {:>11} {:>22} {:>11} {:>9} {:>12}{}",
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
    for r in summary {
        println!(
            "{:<12} {:<13} {:>3} {:>11} {:>22} {:>11} {:>8.2}x {:>11.2}x{}{}",
            r.workload,
            r.mix,
            r.threads,
            rate(r.ours_ops),
            SUBJECTS[r.best].name,
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
        .filter(|r| r.ratio() < 1.0)
        .map(|r| format!("{}/{}/t{}", r.workload, r.mix, r.threads))
        .collect();
    if below.is_empty() {
        println!(
            "# optimist is at or above the best {} peer in every cell.",
            table.label()
        );
    } else {
        println!(
            "# optimist below the best {} peer: {}",
            table.label(),
            below.join(", ")
        );
    }
}

fn summary_json(summary: &[SummaryRow]) -> Value {
    summary
        .iter()
        .map(|r| {
            json!({
                "workload": r.workload,
                "mix": r.mix,
                "threads": r.threads,
                "optimist_ops_per_s": r.ours_ops,
                "optimist_cas_per_s": r.ours_cas,
                "best_peer": SUBJECTS[r.best].name,
                "best_peer_ops_per_s": r.best_ops,
                "best_peer_cas_per_s": r.best_cas,
                "ratio_ops": r.ours_ops / r.best_ops,
                "ratio_ops_per_round_median": r.round_ratio,
                "preempted": r.noisy,
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

/// Writes everything to `target/throughput.json` and prints where.
pub fn write_json(cfg: &Config, cells: &[Cell], fair: &[SummaryRow], sip: &[SummaryRow]) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let subjects: Vec<Value> = SUBJECTS
        .iter()
        .map(|s| json!({"name": s.name, "hasher": s.hasher, "table": s.table.label()}))
        .collect();
    let cells: Vec<Value> = cells
        .iter()
        .map(|c| {
            json!({
                "workload": c.workload,
                "mix": c.mix,
                "keys": c.keys,
                "threads": c.threads,
                "subject": SUBJECTS[c.subject].name,
                "hasher": SUBJECTS[c.subject].hasher,
                "table": SUBJECTS[c.subject].table.label(),
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
            })
        })
        .collect();
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
            "subjects": subjects,
        },
        "cells": cells,
        "summary": summary_json(fair),
        "summary_siphash": summary_json(sip),
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
