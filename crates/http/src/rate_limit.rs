//! [`RateLimiter`]: token buckets per caller for the MQTT routes, so one busy publisher
//! cannot crowd out the others. A refusal says how long to wait (`Retry-After`).
//!
//! The map of buckets is bounded: when it is full, buckets that have refilled (their
//! callers went quiet) are dropped; callers that still find no room share one overflow
//! bucket, which limits them together rather than not at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How many requests a caller may make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second per caller; 0 is no limit.
    pub per_second: u32,
    /// Requests a caller may make at once after being idle (at least 1).
    pub burst: u32,
    /// Callers tracked at most (see the module doc).
    pub max_callers: usize,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 0,
            burst: 100,
            max_callers: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, now: Instant, limit: &RateLimit) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(limit.per_second))
            .min(f64::from(limit.burst.max(1)));
        self.updated = now;
    }

    /// Takes one token, or says how long until there is one.
    fn take(&mut self, limit: &RateLimit) -> Result<(), Duration> {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - self.tokens;
            Err(Duration::from_secs_f64(
                missing / f64::from(limit.per_second.max(1)),
            ))
        }
    }
}

/// The buckets of every caller.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    buckets: HashMap<Arc<str>, Bucket>,
    overflow: Bucket,
}

impl RateLimiter {
    /// A limiter applying `limit`.
    pub fn new(limit: RateLimit) -> Self {
        let now = Instant::now();
        Self {
            limit,
            state: Mutex::new(State {
                buckets: HashMap::new(),
                overflow: Bucket {
                    tokens: f64::from(limit.burst.max(1)),
                    updated: now,
                },
            }),
        }
    }

    /// Whether a limit is configured at all.
    pub fn is_enabled(&self) -> bool {
        self.limit.per_second > 0
    }

    /// Counts one request of `caller` at `now`: `Err` with the time to wait when the
    /// caller is over its limit.
    pub fn check(&self, caller: &Arc<str>, now: Instant) -> Result<(), Duration> {
        if !self.is_enabled() {
            return Ok(());
        }
        let limit = &self.limit;
        let full = f64::from(limit.burst.max(1));
        let mut state = self.state.lock();
        if !state.buckets.contains_key(caller) && state.buckets.len() >= limit.max_callers {
            state.buckets.retain(|_, bucket| {
                bucket.refill(now, limit);
                bucket.tokens < full
            });
        }
        let bucket = if let Some(bucket) = state.buckets.get_mut(caller) {
            bucket
        } else if state.buckets.len() < limit.max_callers {
            state.buckets.entry(caller.clone()).or_insert(Bucket {
                tokens: full,
                updated: now,
            })
        } else {
            &mut state.overflow
        };
        bucket.refill(now, limit);
        bucket.take(limit)
    }

    /// Callers tracked now.
    pub fn tracked(&self) -> usize {
        self.state.lock().buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32, burst: u32, max_callers: usize) -> RateLimiter {
        RateLimiter::new(RateLimit {
            per_second,
            burst,
            max_callers,
        })
    }

    #[test]
    fn a_burst_then_the_sustained_rate() {
        let limiter = limiter(10, 3, 10);
        let (a, now) = (Arc::<str>::from("a"), Instant::now());
        for _ in 0..3 {
            assert!(limiter.check(&a, now).is_ok());
        }
        let wait = limiter.check(&a, now).unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(100));
        assert!(
            limiter.check(&"b".into(), now).is_ok(),
            "callers are separate"
        );
        assert!(limiter.check(&a, now + Duration::from_millis(100)).is_ok());
        assert!(limiter.check(&a, now + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn no_limit_when_the_rate_is_zero() {
        let limiter = limiter(0, 1, 1);
        let now = Instant::now();
        for i in 0..100 {
            assert!(limiter.check(&format!("c{i}").into(), now).is_ok());
        }
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn the_map_stays_bounded_and_idle_callers_make_room() {
        let limiter = limiter(1, 1, 2);
        let now = Instant::now();
        assert!(limiter.check(&"a".into(), now).is_ok());
        assert!(limiter.check(&"b".into(), now).is_ok());
        // Full: c and d share the overflow bucket.
        assert!(limiter.check(&"c".into(), now).is_ok());
        assert!(limiter.check(&"d".into(), now).is_err());
        assert_eq!(limiter.tracked(), 2);
        // A second later a and b have refilled, so they make room for e.
        let later = now + Duration::from_secs(2);
        assert!(limiter.check(&"e".into(), later).is_ok());
        assert!(limiter.tracked() <= 2);
    }
}
