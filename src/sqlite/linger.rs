//! The writer thread's look for its next operation after a batch, before it sleeps on its
//! condition variable. The callers of a batch just answered typically come back within
//! microseconds (a read and then its write are two operations); had the thread gone to
//! sleep, each would pay for waking it, tens of microseconds on a busy machine.
//!
//! The look spins, without a system call: yielding would hand the core to any other
//! runnable process for a whole time slice (on a loaded 2-core machine that cut 8 tasks'
//! throughput to a third). It stops after [`LINGER`], and after [`MISSES`] looks in a row
//! that found nothing the thread stops looking for the rest of [`PAUSE`] batches, so a
//! light load, or a machine whose cores are taken by others, costs it next to nothing.
//! While it does not look, reads do not join its batches
//! ([`Writer::joins_reads`](super::writer::Writer::joins_reads)): on a loaded 2-core machine
//! reads kept on reader connections took 8 tasks from 0.84x to 0.96x of `sqlite_raw`.

use std::time::{Duration, Instant};

/// The longest look.
pub(super) const LINGER: Duration = Duration::from_micros(50);
/// Looks in a row that found nothing, after which the thread stops looking...
const MISSES: u32 = 2;
/// ...until this many batches (counted from the last restart) have passed.
const PAUSE: u32 = 64;

/// Whether the writer thread looks after a batch, from what its last looks found.
#[derive(Debug, Default)]
pub(super) struct Linger {
    misses: u32,
    batches: u32,
}

impl Linger {
    /// After a batch: whether to look for the next operation.
    pub fn should_look(&mut self) -> bool {
        self.batches += 1;
        if self.batches >= PAUSE {
            self.batches = 0;
            self.misses = 0;
        }
        self.misses < MISSES
    }

    /// Keeps what a look found.
    pub fn record(&mut self, found: bool) {
        self.misses = if found { 0 } else { self.misses + 1 };
    }
}

/// Spins while `empty()` holds, at most [`LINGER`]; whether it stopped holding.
pub(super) fn look(mut empty: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while empty() {
        if started.elapsed() >= LINGER {
            return false;
        }
        for _ in 0..64 {
            std::hint::spin_loop();
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_empty_looks_stop_looking_until_the_pause_is_over() {
        let mut linger = Linger::default();
        assert!(linger.should_look());
        linger.record(false);
        assert!(linger.should_look());
        linger.record(false);
        // Batches 3 to 63 skip the look; the 64th starts afresh.
        for _ in 3..PAUSE {
            assert!(!linger.should_look());
        }
        assert!(linger.should_look());
    }

    #[test]
    fn a_look_that_finds_work_keeps_looking() {
        let mut linger = Linger::default();
        for _ in 0..3 * PAUSE {
            assert!(linger.should_look());
            linger.record(false);
            assert!(linger.should_look());
            linger.record(true);
        }
    }

    #[test]
    fn look_ends_when_work_comes_or_after_the_linger() {
        let mut polls = 0;
        assert!(look(|| {
            polls += 1;
            polls < 3
        }));
        assert_eq!(polls, 3);
        let started = Instant::now();
        assert!(!look(|| true));
        assert!(started.elapsed() >= LINGER);
    }
}
