//! The read-modify-CAS loop: re-read and retry on conflict, bounded, with jittered backoff.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use crate::store::BoxFuture;
use crate::{Conflict, Expect, Meta, StoreError, Versioned, VersionedStore};

/// How to wait between attempts: a function returning a future that completes after the
/// given duration. The default works on any executor (a timer thread from `futures-timer`);
/// with tokio you may pass `|d| Box::pin(tokio::time::sleep(d))`.
pub type Sleep = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// How [`update_with`] retries: at most `max_attempts` attempts, and before attempt `n + 1`
/// a random delay in `[0, min(max_delay, base_delay * 2^(n-1))]` ("full jitter").
///
/// ```
/// use std::time::Duration;
/// use optimist::RetryPolicy;
///
/// let policy = RetryPolicy::new(5).backoff(Duration::from_millis(2), Duration::from_millis(50));
/// assert_eq!(policy.max_attempts(), 5);
/// let eager = RetryPolicy::new(100).no_backoff(); // in-process stores: retry at once
/// # let _ = eager;
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    sleep: Sleep,
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base_delay", &self.base_delay)
            .field("max_delay", &self.max_delay)
            .finish_non_exhaustive()
    }
}

impl Default for RetryPolicy {
    /// 10 attempts, backoff from 1 ms up to 100 ms.
    fn default() -> Self {
        Self::new(10)
    }
}

impl RetryPolicy {
    /// At most `max_attempts` attempts (at least 1), backoff from 1 ms up to 100 ms.
    pub fn new(max_attempts: u32) -> Self {
        Self {
            max_attempts: max_attempts.max(1),
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(100),
            sleep: Arc::new(|d| Box::pin(futures_timer::Delay::new(d))),
        }
    }

    /// Sets the backoff bounds.
    pub fn backoff(mut self, base_delay: Duration, max_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self.max_delay = max_delay.max(base_delay);
        self
    }

    /// Retries at once, without waiting (fine for in-process stores).
    pub fn no_backoff(self) -> Self {
        self.backoff(Duration::ZERO, Duration::ZERO)
    }

    /// Uses `sleep` to wait between attempts, e.g. your runtime's timer.
    ///
    /// ```
    /// use std::time::Duration;
    /// let policy = optimist::RetryPolicy::new(3)
    ///     .sleep_with(|d: Duration| Box::pin(async move { let _ = d; }));
    /// # let _ = policy;
    /// ```
    pub fn sleep_with(
        mut self,
        sleep: impl Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        self.sleep = Arc::new(sleep);
        self
    }

    /// The attempt bound.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The delay before the attempt after attempt `attempt` (1-based) failed.
    fn delay_after(&self, attempt: u32) -> Duration {
        if self.max_delay.is_zero() {
            return Duration::ZERO;
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(20))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(random_u64() % nanos.saturating_add(1))
    }
}

/// A random number for jitter, without a dependency: std's per-process random hash keys.
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// The result of a successful [`update_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Updated {
    /// The version and time written.
    pub meta: Meta,
    /// How many attempts it took (1 = no conflict).
    pub attempts: u32,
}

/// Why [`update_with`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    /// The closure refused the update; nothing was written by that attempt.
    #[error("update refused: {0}")]
    Aborted(#[source] E),
    /// Every attempt lost to a concurrent write; the last conflict is kept. Retry later or
    /// report it to the client (409).
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The conflict of the last attempt.
        last: Conflict,
    },
    /// The store failed with something other than a conflict; not retried.
    #[error(transparent)]
    Store(StoreError),
}

/// Reads `key`, computes the new value with `f`, and writes it only if nobody wrote in
/// between (the expectation is the version read, or absent); on a conflict it waits
/// per `policy` and starts over, up to `policy.max_attempts()` attempts.
///
/// `f` sees the current value (`None` when absent) and returns the value to write, or an
/// error to stop without writing. It may run several times, so keep it free of side effects.
/// Only conflicts are retried: `Indeterminate` and other store errors end the loop.
///
/// ```
/// use optimist::{update_with, MemoryStore, RetryPolicy};
/// # futures_executor::block_on(async {
/// let store = MemoryStore::new();
/// let policy = RetryPolicy::default();
/// for _ in 0..3 {
///     update_with(&store, "hits", &policy, |cur| {
///         Ok::<_, std::convert::Infallible>(cur.map_or(0, |c| c.value) + 1)
///     })
///     .await
///     .unwrap();
/// }
/// assert_eq!(store.get_sync("hits").unwrap().value, 3);
/// # });
/// ```
pub async fn update_with<V, S, F, E>(
    store: &S,
    key: &str,
    policy: &RetryPolicy,
    mut f: F,
) -> Result<Updated, UpdateError<E>>
where
    S: VersionedStore<V> + ?Sized,
    F: FnMut(Option<&Versioned<V>>) -> Result<V, E>,
{
    let mut attempt = 1;
    loop {
        let current = store.get(key).await.map_err(UpdateError::Store)?;
        let expect = Expect::from(current.as_ref().map(|c| c.version));
        let next = f(current.as_ref()).map_err(UpdateError::Aborted)?;
        drop(current);
        match store.put(key, next, expect).await {
            Ok(meta) => {
                return Ok(Updated {
                    meta,
                    attempts: attempt,
                });
            }
            Err(StoreError::Conflict(last)) => {
                if attempt >= policy.max_attempts {
                    return Err(UpdateError::GaveUp {
                        attempts: attempt,
                        last,
                    });
                }
                let delay = policy.delay_after(attempt);
                if !delay.is_zero() {
                    (policy.sleep)(delay).await;
                }
                attempt += 1;
            }
            Err(other) => return Err(UpdateError::Store(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_bounded_by_the_exponential_ceiling() {
        let p = RetryPolicy::new(10).backoff(Duration::from_millis(2), Duration::from_millis(9));
        for attempt in 1..30 {
            let ceiling =
                Duration::from_millis(2 << (attempt - 1).min(20)).min(Duration::from_millis(9));
            assert!(p.delay_after(attempt) <= ceiling);
        }
        assert_eq!(
            RetryPolicy::new(3).no_backoff().delay_after(5),
            Duration::ZERO
        );
    }

    #[test]
    fn delays_are_jittered() {
        let p = RetryPolicy::new(10).backoff(Duration::from_millis(50), Duration::from_secs(1));
        let delays: std::collections::HashSet<_> = (0..20).map(|_| p.delay_after(4)).collect();
        assert!(delays.len() > 1, "all 20 delays equal: no jitter");
    }
}
