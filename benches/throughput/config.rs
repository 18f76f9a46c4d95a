//! The harness's settings, from the environment and the command line.

use std::time::Duration;

pub struct Config {
    /// Measured time per cell and round.
    pub cell: Duration,
    /// Unmeasured run before each measured one.
    pub warmup: Duration,
    /// CI smoke mode: short cells, the largest thread count only, one check per key space.
    pub smoke: bool,
    /// Interleaved rounds per cell.
    pub rounds: usize,
    pub threads: Vec<usize>,
    /// Also run the peers with their default hasher (SipHash-1-3): the second table.
    pub siphash: bool,
    filters: Vec<String>,
}

impl Config {
    pub fn from_env() -> Self {
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
        let siphash = std::env::var("OPTIMIST_BENCH_SIPHASH").map_or(true, |v| v != "0");
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
            siphash,
            filters,
        }
    }

    pub fn wants(&self, label: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| label.contains(f.as_str()))
    }
}
