//! The wall clock the memory store stamps writes with.
//!
//! `Last-Modified` has one-second granularity in HTTP, so the store does not need a precise
//! clock, and `SystemTime::now()` costs about 30 ns on these machines — a fifth of a whole
//! CAS. On Linux the coarse real-time clock (`CLOCK_REALTIME_COARSE`, the time of the last
//! scheduler tick, a few milliseconds of resolution) costs about 3 ns; elsewhere the
//! precise clock is used.

use std::time::SystemTime;

/// The current wall-clock time, to within a few milliseconds.
#[cfg(target_os = "linux")]
pub(crate) fn now() -> SystemTime {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; clock_gettime only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) };
    match (rc, u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
        (0, Ok(secs), Ok(nanos)) => SystemTime::UNIX_EPOCH + std::time::Duration::new(secs, nanos),
        _ => SystemTime::now(),
    }
}

/// The current wall-clock time.
#[cfg(not(target_os = "linux"))]
pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    #[test]
    fn agrees_with_the_precise_clock_within_a_tick() {
        for _ in 0..1000 {
            let before = SystemTime::now();
            let coarse = super::now();
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
}
