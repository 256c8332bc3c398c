//! Rate limits on a service's API, in memory (GCRA, the `governor` crate): per
//! signed-in identity for writes, and per client address for requests that
//! fail to sign in (so a flood of bad tokens cannot busy the service).
//! Each replica limits on its own.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// The limits.
#[derive(Clone)]
pub struct WriteLimits {
    by_identity: Arc<DefaultKeyedRateLimiter<String>>,
    refused_by_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

fn per_second(n: u32) -> Quota {
    let n = NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(n).allow_burst(n)
}

impl WriteLimits {
    /// `identity_per_second` writes per signed-in identity (a hospital
    /// system seeding its beds sends thousands at once), and
    /// `refused_per_second` failed sign-ins per address.
    pub fn new(identity_per_second: u32, refused_per_second: u32) -> Self {
        Self {
            by_identity: Arc::new(DefaultKeyedRateLimiter::keyed(per_second(
                identity_per_second,
            ))),
            refused_by_address: Arc::new(DefaultKeyedRateLimiter::keyed(per_second(
                refused_per_second,
            ))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts a write by `identity`; how long to wait when over the limit.
    pub fn write(&self, identity: &str) -> Result<(), Duration> {
        self.by_identity
            .check_key(&identity.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Counts a request from `address` that failed to sign in.
    pub fn refused(&self, address: IpAddr) -> Result<(), Duration> {
        self.refused_by_address
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Drops idle buckets (call now and then so the tables stay small).
    pub fn forget_idle(&self) {
        self.by_identity.retain_recent();
        self.refused_by_address.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_identity_and_address_has_its_own_budget() {
        let limits = WriteLimits::new(3, 2);
        for _ in 0..3 {
            assert!(limits.write("pas-rwe").is_ok());
        }
        assert!(limits.write("pas-rwe").is_err());
        assert!(
            limits.write("pas-rt5").is_ok(),
            "another identity is not affected"
        );
        let ip: IpAddr = [127, 0, 0, 9].into();
        assert!(limits.refused(ip).is_ok());
        assert!(limits.refused(ip).is_ok());
        assert!(limits.refused(ip).is_err());
    }
}
