//! The values the kit writes: counters, in whatever type the store holds.

use std::fmt::Debug;

/// A value type the kit can write and read back: built from a counter, read as one.
///
/// Implemented for `u64`, `i64`, `String`, `Vec<u8>` and `serde_json::Value`; implement it for
/// your store's own value type to run the kit on it.
///
/// ```
/// use optimist::testkit::KitValue;
///
/// #[derive(Clone, Debug, PartialEq)]
/// struct Doc { n: u64 }
///
/// impl KitValue for Doc {
///     fn from_counter(n: u64) -> Self { Doc { n } }
///     fn counter(&self) -> u64 { self.n }
/// }
/// assert_eq!(Doc::from_counter(7).counter(), 7);
/// ```
pub trait KitValue: Clone + Debug + PartialEq + Send + Sync + 'static {
    /// The value standing for counter `n`.
    fn from_counter(n: u64) -> Self;
    /// The counter this value stands for.
    fn counter(&self) -> u64;
}

impl KitValue for u64 {
    fn from_counter(n: u64) -> Self {
        n
    }
    fn counter(&self) -> u64 {
        *self
    }
}

impl KitValue for i64 {
    fn from_counter(n: u64) -> Self {
        n as i64
    }
    fn counter(&self) -> u64 {
        *self as u64
    }
}

impl KitValue for String {
    fn from_counter(n: u64) -> Self {
        n.to_string()
    }
    fn counter(&self) -> u64 {
        self.parse().unwrap_or_else(|_| not_ours(self))
    }
}

impl KitValue for Vec<u8> {
    fn from_counter(n: u64) -> Self {
        n.to_be_bytes().to_vec()
    }
    fn counter(&self) -> u64 {
        u64::from_be_bytes(
            self.as_slice()
                .try_into()
                .unwrap_or_else(|_| not_ours(self)),
        )
    }
}

impl KitValue for serde_json::Value {
    fn from_counter(n: u64) -> Self {
        serde_json::json!({ "n": n })
    }
    fn counter(&self) -> u64 {
        self["n"].as_u64().unwrap_or_else(|| not_ours(self))
    }
}

/// Panics for a value the kit never wrote.
fn not_ours(value: &dyn Debug) -> ! {
    panic!(
        "optimist testkit: read {value:?}, which is no value the kit wrote \
         (rule: values round-trip exactly)"
    )
}
