//! Per-client-IP rate limiting (governor's GCRA). Keys live only in memory,
//! are never logged, and idle ones are purged so the table cannot grow
//! without bound.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// A shared per-IP limiter.
#[derive(Clone)]
pub struct IpRateLimiter(Arc<DefaultKeyedRateLimiter<IpAddr>>);

impl IpRateLimiter {
    /// `per_second` sustained, `burst` at once, per client IP.
    #[must_use]
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self(Arc::new(RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        )))
    }

    /// `Ok` when the request may proceed, else the whole seconds to wait.
    ///
    /// # Errors
    /// The `Retry-After` to send, in seconds (at least 1).
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        self.0.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            u64::try_from(wait.as_millis().div_ceil(1000))
                .unwrap_or(u64::MAX)
                .max(1)
        })
    }

    /// Drops state of keys that are back to a full burst, every `interval`.
    pub fn spawn_purge(&self, interval: Duration, shutdown: tokio_util::sync::CancellationToken) {
        let limiter = Arc::clone(&self.0);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(interval) => {
                        limiter.retain_recent();
                        limiter.shrink_to_fit();
                    }
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_client_is_told_when_to_come_back() {
        let limiter = IpRateLimiter::new(NonZeroU32::new(1).unwrap(), NonZeroU32::new(3).unwrap());
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        for _ in 0..3 {
            assert!(limiter.check(ip).is_ok());
        }
        let retry_after = limiter.check(ip).unwrap_err();
        assert!((1..=2).contains(&retry_after), "{retry_after}");
        // Another client is not affected.
        assert!(limiter.check("203.0.113.6".parse().unwrap()).is_ok());
    }
}
