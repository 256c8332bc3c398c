//! Rate limits on sign-in and the token endpoint: per client address and
//! per machine client id, in memory (GCRA, the `governor` crate).
//!
//! Only registered client ids get a bucket of their own, so made-up ids
//! cannot grow the table; unknown ids are limited by address alone. Idle
//! buckets are dropped every minute. Each replica limits on its own: with N
//! replicas the effective limit is up to N times the setting.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use tokio_util::sync::CancellationToken;

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many requests from one address.
    Address,
    /// Too many token requests for one client id.
    Client,
}

impl Limit {
    /// A label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Limit::Address => "address",
            Limit::Client => "client",
        }
    }
}

/// A refused request: which limit, and when to try again.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    /// The limit.
    pub limit: Limit,
    /// Wait at least this long.
    pub retry_after: Duration,
}

/// The service's rate limits.
#[derive(Clone)]
pub struct RateLimits {
    by_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    by_client: Arc<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

fn quota(per_minute: u32) -> Quota {
    let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(n).allow_burst(n)
}

impl RateLimits {
    /// Limits of `ip_per_minute` requests per address and
    /// `client_per_minute` token requests per client id.
    pub fn new(ip_per_minute: u32, client_per_minute: u32) -> Self {
        Self {
            by_address: Arc::new(DefaultKeyedRateLimiter::keyed(quota(ip_per_minute))),
            by_client: Arc::new(DefaultKeyedRateLimiter::keyed(quota(client_per_minute))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts a request from `ip`.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Limited> {
        self.by_address.check_key(&ip).map_err(|not_until| Limited {
            limit: Limit::Address,
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }

    /// Counts a token request for a registered `client_id`.
    pub fn check_client(&self, client_id: &str) -> Result<(), Limited> {
        self.by_client
            .check_key(&client_id.to_owned())
            .map_err(|not_until| Limited {
                limit: Limit::Client,
                retry_after: not_until.wait_time_from(self.clock.now()),
            })
    }

    /// Drops idle buckets every minute until `shutdown`.
    pub async fn prune(self, shutdown: CancellationToken) {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => {
                    self.by_address.retain_recent();
                    self.by_client.retain_recent();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_beyond_the_quota_is_refused() {
        let limits = RateLimits::new(3, 2);
        let ip = IpAddr::from([192, 0, 2, 1]);
        for _ in 0..3 {
            assert!(limits.check_address(ip).is_ok());
        }
        let refused = limits.check_address(ip).expect_err("fourth is refused");
        assert_eq!(refused.limit, Limit::Address);
        assert!(refused.retry_after > Duration::ZERO);
        assert!(limits.check_address(IpAddr::from([192, 0, 2, 2])).is_ok());
        assert!(limits.check_client("sim").is_ok());
        assert!(limits.check_client("sim").is_ok());
        assert_eq!(
            limits.check_client("sim").map_err(|l| l.limit),
            Err(Limit::Client)
        );
    }
}
