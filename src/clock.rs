//! The wall clock the memory store stamps writes with.
//!
//! `Last-Modified` has one-second granularity in HTTP, so the store does not need a precise
//! clock, and `SystemTime::now()` costs about 30 ns on these machines — a fifth of a whole
//! CAS. On Linux the coarse real-time clock (`CLOCK_REALTIME_COARSE`, the time of the last
//! scheduler tick, a few milliseconds of resolution) costs about 3 ns; elsewhere the
//! precise clock is used. A stamp is kept as nanoseconds since the Unix epoch in one `u64`
//! (half the size of a `SystemTime`, which keeps the store's entries small).

use std::time::{Duration, SystemTime};

/// A wall-clock time in nanoseconds since the Unix epoch (0 for any time before it; the
/// largest `u64`, in the year 2554, for any time after that).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// The current wall-clock time, to within a few milliseconds.
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
        match (rc, u64::try_from(ts.tv_sec), u64::try_from(ts.tv_nsec)) {
            (0, Ok(secs), Ok(nanos)) => Self(
                secs.checked_mul(1_000_000_000)
                    .and_then(|n| n.checked_add(nanos))
                    .unwrap_or(u64::MAX),
            ),
            _ => Self::from_system_time(SystemTime::now()),
        }
    }

    /// The current wall-clock time.
    #[cfg(not(target_os = "linux"))]
    #[inline]
    pub(crate) fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    fn from_system_time(t: SystemTime) -> Self {
        Self(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        )
    }

    /// The stamp as a `SystemTime`.
    #[inline]
    pub(crate) fn to_system_time(self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_nanos(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Stamp;
    use std::time::{Duration, SystemTime};

    #[test]
    fn agrees_with_the_precise_clock_within_a_tick() {
        for _ in 0..1000 {
            let before = SystemTime::now();
            let coarse = Stamp::now().to_system_time();
            let after = SystemTime::now();
            // The coarse clock trails by at most one tick (4 ms at HZ=250, 10 ms at HZ=100).
            assert!(
                coarse <= after + Duration::from_millis(1),
                "coarse clock ahead"
            );
            assert!(
                coarse + Duration::from_millis(20) >= before,
                "coarse clock too far behind"
            );
        }
    }

    #[test]
    fn converts_both_ways_and_saturates() {
        let t = SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(Stamp::from_system_time(t).to_system_time(), t);
        let before_epoch = SystemTime::UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(Stamp::from_system_time(before_epoch), Stamp(0));
        // Year 2604: past the largest u64 of nanoseconds (2554), representable everywhere.
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(20_000_000_000);
        assert_eq!(Stamp::from_system_time(far), Stamp(u64::MAX));
    }
}
