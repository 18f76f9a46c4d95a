//! The benchmark's results: a table for people, one JSON object for scripts.

use std::time::Duration;

use serde_json::json;

use super::worker::Tally;
use super::{BenchArgs, Cleanup, Verification};

/// Everything measured in one run.
pub struct Report {
    store: String,
    workers: usize,
    keys: usize,
    distribution: String,
    read_ratio: f64,
    value_size: usize,
    elapsed: Duration,
    ops: u64,
    reads: u64,
    updates: u64,
    attempts: u64,
    successes: u64,
    conflicts: u64,
    gave_up: u64,
    errors: u64,
    first_error: Option<String>,
    p50: u64,
    p99: u64,
    p999: u64,
    max: u64,
    verification: Verification,
    key_prefix: String,
    cleanup: Cleanup,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        args: &BenchArgs,
        workers: usize,
        elapsed: Duration,
        t: &Tally,
        verification: Verification,
        first_error: Option<String>,
        key_prefix: &str,
        cleanup: Cleanup,
    ) -> Self {
        Self {
            store: args.store.to_string(),
            workers,
            keys: args.keys,
            distribution: args.distribution.to_string(),
            read_ratio: args.read_ratio,
            value_size: args.value_size,
            elapsed,
            ops: t.ops,
            reads: t.reads,
            updates: t.updates,
            attempts: t.attempts,
            successes: t.successes,
            conflicts: t.conflicts(),
            gave_up: t.gave_up,
            errors: t.errors,
            first_error,
            p50: t.latency.value_at_quantile(0.50),
            p99: t.latency.value_at_quantile(0.99),
            p999: t.latency.value_at_quantile(0.999),
            max: t.latency.max(),
            verification,
            key_prefix: key_prefix.to_owned(),
            cleanup,
        }
    }

    fn per_second(&self, n: u64) -> f64 {
        n as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn conflict_rate(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.conflicts as f64 / self.attempts as f64
        }
    }

    /// Re-attempts after a lost CAS.
    fn retries(&self) -> u64 {
        self.attempts.saturating_sub(self.updates)
    }

    fn verified(&self) -> bool {
        self.verification.lost == 0 && self.verification.phantom == 0
    }

    pub fn to_json(&self) -> String {
        json!({
            "store": self.store,
            "workers": self.workers,
            "keys": self.keys,
            "distribution": self.distribution,
            "read_ratio": self.read_ratio,
            "value_size": self.value_size,
            "duration_s": self.elapsed.as_secs_f64(),
            "ops": self.ops,
            "ops_per_s": self.per_second(self.ops),
            "reads": self.reads,
            "updates": self.updates,
            "attempts": self.attempts,
            "attempts_per_s": self.per_second(self.attempts),
            "successful_cas": self.successes,
            "successful_cas_per_s": self.per_second(self.successes),
            "conflicts": self.conflicts,
            "conflict_rate": self.conflict_rate(),
            "retries": self.retries(),
            "gave_up": self.gave_up,
            "errors": self.errors,
            "first_error": self.first_error,
            "latency_ns": { "p50": self.p50, "p99": self.p99, "p999": self.p999, "max": self.max },
            "verification": {
                "keys_checked": self.verification.keys_checked,
                "acknowledged": self.verification.acknowledged,
                "stored": self.verification.stored,
                "keys_wrong": self.verification.keys_wrong,
                "lost_updates": self.verification.lost,
                "phantom_updates": self.verification.phantom,
                "ok": self.verified(),
            },
            "key_prefix": self.key_prefix,
            "keys_kept": matches!(self.cleanup, Cleanup::Kept),
            "keys_removed": match self.cleanup {
                Cleanup::Kept => 0,
                Cleanup::Removed(n) => n,
            },
        })
        .to_string()
    }

    pub fn to_table(&self) -> String {
        let mut out = format!(
            "optimist bench: store={} workers={} keys={} distribution={} read-ratio={} value-size={} ran {:.2}s\n",
            self.store,
            self.workers,
            self.keys,
            self.distribution,
            self.read_ratio,
            self.value_size,
            self.elapsed.as_secs_f64()
        );
        let mut row = |name: &str, value: String| {
            out.push_str(&format!("  {name:<16} {value}\n"));
        };
        row(
            "operations",
            format!(
                "{:>12}  {:>14}/s",
                self.ops,
                rate(self.per_second(self.ops))
            ),
        );
        row("reads", format!("{:>12}", self.reads));
        row(
            "CAS attempts",
            format!(
                "{:>12}  {:>14}/s",
                self.attempts,
                rate(self.per_second(self.attempts))
            ),
        );
        row(
            "successful CAS",
            format!(
                "{:>12}  {:>14}/s",
                self.successes,
                rate(self.per_second(self.successes))
            ),
        );
        row(
            "conflicts",
            format!(
                "{:>12}  {:>13.3}% of attempts",
                self.conflicts,
                100.0 * self.conflict_rate()
            ),
        );
        row("retries", format!("{:>12}", self.retries()));
        row("gave up", format!("{:>12}", self.gave_up));
        row("errors", format!("{:>12}", self.errors));
        row(
            "latency",
            format!(
                "p50 {}  p99 {}  p999 {}  max {}",
                nanos(self.p50),
                nanos(self.p99),
                nanos(self.p999),
                nanos(self.max)
            ),
        );
        if let Some(e) = &self.first_error {
            out.push_str(&format!("  first error: {e}\n"));
        }
        let v = &self.verification;
        if self.verified() {
            out.push_str(&format!(
                "  no lost updates: {} acknowledged increments over {} keys, all stored\n",
                v.acknowledged, v.keys_checked
            ));
        } else {
            out.push_str(&format!(
                "  LOST UPDATES: {} acknowledged increments missing, {} unacknowledged ones stored, on {} keys\n",
                v.lost, v.phantom, v.keys_wrong
            ));
        }
        out.push_str(&match self.cleanup {
            Cleanup::Kept => format!("  keys kept (--keep-keys) under {}*\n", self.key_prefix),
            Cleanup::Removed(n) => format!("  {n} keys removed ({}*)\n", self.key_prefix),
        });
        out
    }
}

/// `per_second` with a k/M suffix.
pub fn rate(per_second: f64) -> String {
    if per_second >= 1e6 {
        format!("{:.2}M", per_second / 1e6)
    } else if per_second >= 1e3 {
        format!("{:.1}k", per_second / 1e3)
    } else {
        format!("{per_second:.0}")
    }
}

fn nanos(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.2}ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1}µs", ns as f64 / 1e3)
    } else {
        format!("{ns}ns")
    }
}
