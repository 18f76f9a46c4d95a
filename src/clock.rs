//! The wall clock the memory store stamps writes with.
//!
//! `Last-Modified` has one-second granularity in HTTP, so the store does not need a precise
//! clock, and `SystemTime::now()` costs about 30 ns on these machines — a fifth of a whole
//! CAS. On Linux the coarse real-time clock (`CLOCK_REALTIME_COARSE`, the time of the last
//! scheduler tick, a few milliseconds of resolution) costs a few nanoseconds; elsewhere the
//! precise clock is used.
//!
//! Turning a `timespec` into a `SystemTime` is a call into the standard library
//! (`UNIX_EPOCH + Duration`, checked) that cost about as much as the rest of a CAS. The
//! coarse clock reads the same value for a whole tick, so a [`LastTime`] (one per shard of
//! the store, kept under the shard's lock) remembers the last conversion and reuses it while
//! the clock has not moved: the result is always exactly the reading's time.

use std::time::SystemTime;

/// One reading of the clock, not yet a `SystemTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reading(Raw);

#[cfg(target_os = "linux")]
type Raw = (i64, i64);
#[cfg(not(target_os = "linux"))]
type Raw = SystemTime;

impl Reading {
    /// Reads the clock: the current wall-clock time, to within a few milliseconds.
    #[cfg(target_os = "linux")]
    #[inline]
    pub(crate) fn now() -> Self {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
        if rc != 0 {
            // Not expected on any Linux since 2.6.32; the precise clock never fails.
            return Self::of(SystemTime::now());
        }
        // `time_t` and `c_long` are 32 bits on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        Self((i64::from(ts.tv_sec), i64::from(ts.tv_nsec)))
    }

    /// Reads the clock.
    #[cfg(not(target_os = "linux"))]
    #[inline]
    pub(crate) fn now() -> Self {
        Self(SystemTime::now())
    }

    /// The reading that stands for `t`.
    #[cfg(target_os = "linux")]
    fn of(t: SystemTime) -> Self {
        let (secs, nanos) = match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => (
                i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                d.subsec_nanos(),
            ),
            Err(before) => {
                let d = before.duration();
                let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                match d.subsec_nanos() {
                    0 => (secs, 0),
                    n => (secs - 1, 1_000_000_000 - n),
                }
            }
        };
        Self((secs, i64::from(nanos)))
    }

    /// The reading that stands for `t`.
    #[cfg(not(target_os = "linux"))]
    fn of(t: SystemTime) -> Self {
        Self(t)
    }

    /// The reading as a `SystemTime` (a call into the standard library; see [`LastTime`]).
    #[cfg(target_os = "linux")]
    pub(crate) fn to_system_time(self) -> SystemTime {
        use std::time::Duration;
        let (secs, nanos) = self.0;
        let nanos = u32::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0);
        let t = if secs >= 0 {
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs.unsigned_abs(), nanos))
        } else {
            SystemTime::UNIX_EPOCH
                .checked_sub(Duration::from_secs(secs.unsigned_abs()))
                .and_then(|t| t.checked_add(Duration::new(0, nanos)))
        };
        t.unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// The reading as a `SystemTime`.
    #[cfg(not(target_os = "linux"))]
    pub(crate) fn to_system_time(self) -> SystemTime {
        self.0
    }
}

/// The last reading converted to a `SystemTime`, and its time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LastTime {
    seen: Reading,
    time: SystemTime,
}

impl LastTime {
    pub(crate) fn new() -> Self {
        Self {
            seen: Reading::of(SystemTime::UNIX_EPOCH),
            time: SystemTime::UNIX_EPOCH,
        }
    }

    /// `reading` as a `SystemTime`, converted only if it differs from the last one.
    #[inline]
    pub(crate) fn time_of(&mut self, reading: Reading) -> SystemTime {
        if reading != self.seen {
            self.convert(reading);
        }
        self.time
    }

    #[inline(never)]
    fn convert(&mut self, reading: Reading) {
        self.seen = reading;
        self.time = reading.to_system_time();
    }
}

#[cfg(test)]
mod tests {
    use super::{LastTime, Reading};
    use std::time::{Duration, SystemTime};

    #[test]
    fn agrees_with_the_precise_clock_within_a_tick() {
        let mut last = LastTime::new();
        for _ in 0..1000 {
            let before = SystemTime::now();
            let reading = Reading::now();
            let after = SystemTime::now();
            let coarse = last.time_of(reading);
            assert_eq!(coarse, reading.to_system_time());
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
    fn converts_exactly_both_sides_of_the_epoch() {
        let mut last = LastTime::new();
        for t in [
            SystemTime::UNIX_EPOCH,
            SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            SystemTime::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            SystemTime::UNIX_EPOCH - Duration::new(5, 250_000_000),
            SystemTime::UNIX_EPOCH - Duration::from_secs(5),
        ] {
            let r = Reading::of(t);
            assert_eq!(r.to_system_time(), t);
            assert_eq!(last.time_of(r), t);
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_reading_of_the_epoch_is_the_epoch_even_when_first() {
        assert_eq!(
            LastTime::new().time_of(Reading((0, 0))),
            SystemTime::UNIX_EPOCH
        );
    }
}
