//! A small, seeded, dependency-free random generator for the kit's workloads (splitmix64).

use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes seeds drawn in one process.
static NEXT_SEED: AtomicU64 = AtomicU64::new(1);

/// splitmix64: a seed scrambler and a small, good generator.
pub(super) fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A fresh seed: different per call, per process and per run.
pub(super) fn fresh_seed() -> u64 {
    let n = NEXT_SEED.fetch_add(1, Ordering::SeqCst);
    splitmix(
        n ^ (u64::from(std::process::id()) << 32)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64),
    )
}

/// A splitmix64 stream.
#[derive(Clone, Debug)]
pub(super) struct Rng(u64);

impl Rng {
    /// A stream from `seed`.
    pub(super) fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix(self.0)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}
