//! One key space: its keys and every selected subject prefilled over them, with the count
//! of successful CAS each must hold at the end (the lost-update check).

use std::time::Duration;

use crate::config::Config;
use crate::rounds::Raw;
use crate::subjects::{Prefilled, SUBJECTS};

pub struct KeySpace {
    pub keys: Vec<String>,
    /// Indexed like `SUBJECTS`; `None` for a subject no selected cell uses.
    subjects: Vec<Option<Box<dyn Prefilled>>>,
    /// Successful CAS so far per subject = the sum of all values it must hold.
    expected_sum: Vec<u64>,
}

impl KeySpace {
    /// `n` keys `key0 ..`, and the subjects of `wanted` (indexes into `SUBJECTS`) each
    /// prefilled with value 0, built in parallel (a million-key prefill takes a while).
    pub fn new(n: usize, wanted: &[usize]) -> Self {
        let keys: Vec<String> = (0..n).map(|i| format!("key{i}")).collect();
        let keys_ref = &keys;
        let built: Vec<(usize, Box<dyn Prefilled>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = wanted
                .iter()
                .map(|&i| scope.spawn(move || (i, (SUBJECTS[i].build)(keys_ref))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("prefill"))
                .collect()
        });
        let mut subjects: Vec<Option<Box<dyn Prefilled>>> =
            (0..SUBJECTS.len()).map(|_| None).collect();
        for (i, s) in built {
            subjects[i] = Some(s);
        }
        Self {
            keys,
            subjects,
            expected_sum: vec![0; SUBJECTS.len()],
        }
    }

    fn subject(&self, idx: usize) -> &dyn Prefilled {
        self.subjects[idx]
            .as_deref()
            .expect("subject was prefilled for this key space")
    }

    /// Warm-up plus measured run of one cell for subject `idx`, then (outside smoke mode)
    /// the lost-update check.
    pub fn run(&mut self, idx: usize, rings: &[Vec<u32>], threads: usize, cfg: &Config) -> Raw {
        let go = |d: Duration| self.subject(idx).run(&self.keys, rings, threads, d);
        let warm = go(cfg.warmup);
        let raw = go(cfg.cell);
        self.expected_sum[idx] += warm.cas_ok + raw.cas_ok;
        if !cfg.smoke {
            self.validate(idx);
        }
        raw
    }

    /// Aborts unless subject `idx` holds exactly as many increments as it reported
    /// successful CAS (so no update was lost and none was applied twice).
    pub fn validate(&self, idx: usize) {
        let sum = self.subject(idx).sum(&self.keys);
        assert_eq!(
            sum, self.expected_sum[idx],
            "{}: sum of values {sum} != successful CAS {} -- lost or phantom updates",
            SUBJECTS[idx].name, self.expected_sum[idx]
        );
    }

    /// Validates every subject of this key space (smoke mode: once, at the end).
    pub fn validate_all(&self) {
        for (i, s) in self.subjects.iter().enumerate() {
            if s.is_some() {
                self.validate(i);
            }
        }
    }
}
