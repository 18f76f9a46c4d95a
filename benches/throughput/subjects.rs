//! The list of subjects, each with its table and hasher, and the object-safe face the
//! harness drives them through (dispatch once per cell; the measured loop is generic).

use std::time::Duration;

use crate::peers::{Dash, Fold, MutexMap, Ours, Papaya, RwLockMap, Scc, ShardedMap, Sip, Subject};
use crate::rounds::{Raw, run_cell, sum_values};

/// Which table a subject's rows belong to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Table {
    /// The store itself.
    Ours,
    /// A peer with the store's hasher (foldhash): the comparison that counts.
    Fair,
    /// A peer with its crate's default hasher (SipHash-1-3).
    SipHash,
}

impl Table {
    pub fn label(self) -> &'static str {
        match self {
            Table::Ours => "optimist",
            Table::Fair => "fair (foldhash)",
            Table::SipHash => "SipHash-1-3",
        }
    }
}

/// A prefilled subject, driven without knowing its type.
pub trait Prefilled: Sync + Send {
    /// Runs the loop on `threads` threads for `dur`.
    fn run(&self, keys: &[String], rings: &[Vec<u32>], threads: usize, dur: Duration) -> Raw;
    /// The sum of every key's value (each successful CAS adds one).
    fn sum(&self, keys: &[String]) -> u64;
}

impl<S: Subject> Prefilled for S {
    fn run(&self, keys: &[String], rings: &[Vec<u32>], threads: usize, dur: Duration) -> Raw {
        run_cell(self, keys, rings, threads, dur)
    }
    fn sum(&self, keys: &[String]) -> u64 {
        sum_values(self, keys)
    }
}

/// One subject of the harness.
pub struct Descriptor {
    pub name: &'static str,
    pub hasher: &'static str,
    pub table: Table,
    pub build: fn(&[String]) -> Box<dyn Prefilled>,
}

fn build<S: Subject + 'static>(keys: &[String]) -> Box<dyn Prefilled> {
    Box::new(S::prefilled(keys))
}

const FOLD: &str = "foldhash::fast::RandomState";
const SIP: &str = "std RandomState (SipHash-1-3)";

macro_rules! peer {
    ($name:expr, $ty:ident, $h:ty, $label:expr, $table:expr) => {
        Descriptor {
            name: $name,
            hasher: $label,
            table: $table,
            build: build::<$ty<$h>>,
        }
    };
}

pub const SUBJECTS: [Descriptor; 13] = [
    Descriptor {
        name: "optimist",
        hasher: FOLD,
        table: Table::Ours,
        build: build::<Ours>,
    },
    peer!("Mutex<HashMap>", MutexMap, Fold, FOLD, Table::Fair),
    peer!("RwLock<HashMap>", RwLockMap, Fold, FOLD, Table::Fair),
    peer!("64xMutex<HashMap>", ShardedMap, Fold, FOLD, Table::Fair),
    peer!("DashMap", Dash, Fold, FOLD, Table::Fair),
    peer!("scc::HashMap", Scc, Fold, FOLD, Table::Fair),
    peer!("papaya", Papaya, Fold, FOLD, Table::Fair),
    peer!("Mutex<HashMap>/sip", MutexMap, Sip, SIP, Table::SipHash),
    peer!("RwLock<HashMap>/sip", RwLockMap, Sip, SIP, Table::SipHash),
    peer!(
        "64xMutex<HashMap>/sip",
        ShardedMap,
        Sip,
        SIP,
        Table::SipHash
    ),
    peer!("DashMap/sip", Dash, Sip, SIP, Table::SipHash),
    peer!("scc::HashMap/sip", Scc, Sip, SIP, Table::SipHash),
    peer!("papaya/sip", Papaya, Sip, SIP, Table::SipHash),
];

/// The index of the store in [`SUBJECTS`].
pub const OURS: usize = 0;
