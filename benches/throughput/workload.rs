//! What the workers do: the key spaces and distributions, the read/CAS mixes, and the rings
//! of pre-drawn operations (one per thread, shared by every subject, so each sees the same
//! sequence and sampling costs nothing in the measured loop).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// Pre-drawn operations per thread (a power of two, used as a ring).
pub const RING_LEN: usize = 1 << 20;
/// Set in a ring entry when the operation is a CAS attempt; the low bits are the key index.
pub const CAS_FLAG: u32 = 1 << 31;
const SMALL_KEYS: usize = 1_024;
const LARGE_KEYS: usize = 1_000_000;

#[derive(Clone, Copy)]
pub enum Dist {
    Uniform,
    Zipf,
    Hot,
}

pub struct Workload {
    pub name: &'static str,
    pub keys: usize,
    pub dist: Dist,
}

pub const WORKLOADS: [Workload; 4] = [
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
pub const MIXES: [(&str, f64); 2] = [("cas100", 1.0), ("read90-cas10", 0.1)];

pub fn make_rings(
    w: &Workload,
    wi: usize,
    cas_frac: f64,
    mi: usize,
    threads: usize,
) -> Vec<Vec<u32>> {
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
