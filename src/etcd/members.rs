//! The cluster's members, one connection each, and fail-over between them.
//!
//! etcd-client balances one channel over all endpoints with tower's power-of-two-choices,
//! which keeps picking a dead member (its lazy connection reports itself ready and fails each
//! request). So this backend opens one client per member and sends every request to one
//! *preferred* member; when a request fails, the next member becomes preferred. A request
//! that certainly did nothing (connection refused, no leader, ...) is sent again to the next
//! member, and so is a read that timed out or lost its connection; a write that may have
//! been applied is never sent again (it is `Indeterminate`). After each full round of members
//! the operation waits a little (25 ms, doubling up to 400 ms), and it gives up when the
//! fail-over timeout is spent.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use etcd_client::{Client, ConnectOptions, KvClient};

use super::error::{Failure, Outcome};
use super::{EtcdError, EtcdOptions};
use crate::StoreError;

/// One member: its endpoint and its own connection.
struct Member {
    endpoint: String,
    kv: KvClient,
}

/// Every member of the cluster and which one requests go to.
pub(super) struct Members {
    members: Box<[Member]>,
    preferred: AtomicUsize,
    request_timeout: Duration,
    failover_timeout: Duration,
}

/// Whether a request may be sent again after it was cut off with an unknown outcome.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(25);
const MAX_BACKOFF: Duration = Duration::from_millis(400);

impl Members {
    /// Clients for `endpoints` (nothing is connected yet: connections open on first use).
    pub(super) async fn new(
        endpoints: &[String],
        options: &EtcdOptions,
    ) -> Result<Self, StoreError> {
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(options.connect_timeout)
            // etcd refuses a request at once, before proposing it, when the member has no
            // leader: a certain "not applied" we may send elsewhere.
            .with_require_leader(true)
            .with_keep_alive_while_idle(false);
        if let Some((interval, timeout)) = options.keep_alive {
            connect = connect.with_keep_alive(interval, timeout);
        }
        let mut members = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let client = Client::connect([endpoint.as_str()], Some(connect.clone()))
                .await
                .map_err(|e| {
                    StoreError::backend(EtcdError::Connect {
                        endpoint: endpoint.clone(),
                        source: e,
                    })
                })?;
            members.push(Member {
                endpoint: endpoint.clone(),
                kv: client.kv_client(),
            });
        }
        Ok(Self {
            members: members.into_boxed_slice(),
            preferred: AtomicUsize::new(0),
            request_timeout: options.request_timeout,
            failover_timeout: options.failover_timeout,
        })
    }

    /// The endpoint requests go to now.
    pub(super) fn preferred_endpoint(&self) -> &str {
        &self.members[self.preferred.load(Ordering::Relaxed) % self.members.len()].endpoint
    }

    /// Runs the read `request` on the preferred member, going through the others while
    /// attempts fail (any failure but a refusal), within the fail-over timeout.
    pub(super) async fn read<T, F, Fut>(&self, request: F) -> Result<T, StoreError>
    where
        F: Fn(KvClient) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.run(Kind::Read, request)
            .await
            .map_err(Failure::into_read_error)
    }

    /// Runs the write `request` (about `key`) on the preferred member, going through the
    /// others only while attempts certainly did nothing, within the fail-over timeout.
    pub(super) async fn write<T, F, Fut>(&self, key: &str, request: F) -> Result<T, StoreError>
    where
        F: Fn(KvClient) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        self.run(Kind::Write, request)
            .await
            .map_err(|f| f.into_write_error(key))
    }

    async fn run<T, F, Fut>(&self, kind: Kind, request: F) -> Result<T, Failure>
    where
        F: Fn(KvClient) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0usize;
        loop {
            let index = self.preferred.load(Ordering::Relaxed) % self.members.len();
            let member = &self.members[index];
            let failure = match tokio::time::timeout(
                self.request_timeout,
                request(member.kv.clone()),
            )
            .await
            {
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(e)) => Failure::classify(&member.endpoint, e),
                Err(_elapsed) => Failure::timeout(&member.endpoint, self.request_timeout),
            };
            if failure.outcome == Outcome::Refused {
                return Err(failure);
            }
            // Whatever the outcome, this member failed us: try the next one from now on
            // (unless a concurrent request already moved on).
            let next = (index + 1) % self.members.len();
            let _ =
                self.preferred
                    .compare_exchange(index, next, Ordering::Relaxed, Ordering::Relaxed);
            let retry = failure.outcome == Outcome::NotApplied || kind == Kind::Read;
            if !retry || started.elapsed() >= self.failover_timeout {
                return Err(failure);
            }
            attempts += 1;
            if attempts % self.members.len() == 0 {
                let left = self.failover_timeout.saturating_sub(started.elapsed());
                tokio::time::sleep(backoff.min(left)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
