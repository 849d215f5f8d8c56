//! A token bucket that paces publishers at an exact long-run rate.
//!
//! Tokens accrue continuously from the start at `rate` per second; a publisher takes as
//! many as are due, encodes that many messages into one write, and sleeps until the next
//! token when none are. After a stall the publisher catches up with at most `burst`
//! tokens; debt beyond that is forgiven rather than sent as one huge burst, and the
//! achieved rate is reported as it was.

use std::time::Duration;

/// Paces one publisher. Time is passed in as the offset from the start of pacing.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    burst: u64,
    issued: u64,
}

impl RateLimiter {
    /// A limiter issuing `per_second` tokens a second, holding at most `burst`.
    pub fn new(per_second: f64, burst: u64) -> Self {
        Self {
            per_second: per_second.max(f64::MIN_POSITIVE),
            burst: burst.max(1),
            issued: 0,
        }
    }

    /// A limiter whose bucket holds `window` worth of tokens, and at least `min`.
    pub fn with_burst_window(per_second: f64, window: Duration, min: u64) -> Self {
        let burst = (per_second * window.as_secs_f64()).ceil() as u64;
        Self::new(per_second, burst.max(min))
    }

    /// Tokens due at `elapsed`, capped at the burst size; does not take them.
    pub fn available(&mut self, elapsed: Duration) -> u64 {
        let due = self.due(elapsed);
        let available = due.saturating_sub(self.issued);
        if available > self.burst {
            self.issued = due - self.burst;
            return self.burst;
        }
        available
    }

    /// Takes `n` tokens (previously reported by [`Self::available`]).
    pub fn take(&mut self, n: u64) {
        self.issued += n;
    }

    /// When the next token is due, as an offset from the start.
    pub fn next_due(&self) -> Duration {
        Duration::from_secs_f64((self.issued + 1) as f64 / self.per_second)
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> u64 {
        self.issued
    }

    fn due(&self, elapsed: Duration) -> u64 {
        (elapsed.as_secs_f64() * self.per_second) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn issues_exactly_the_rate_over_time() {
        let mut limiter = RateLimiter::new(10_000.0, 1_000);
        // Poll every 0.7 ms for 10 s, taking everything offered.
        let mut t = Duration::ZERO;
        while t <= Duration::from_secs(10) {
            let n = limiter.available(t);
            limiter.take(n);
            t += Duration::from_micros(700);
        }
        let issued = limiter.issued();
        assert!((99_990..=100_000).contains(&issued), "{issued}");
    }

    #[test]
    fn caps_bursts_after_a_stall() {
        let mut limiter = RateLimiter::new(1_000.0, 50);
        assert_eq!(limiter.available(ms(10)), 10);
        limiter.take(10);
        // Stalled for a second: only the burst is offered, the rest is forgiven.
        assert_eq!(limiter.available(ms(1_010)), 50);
        limiter.take(50);
        assert_eq!(limiter.available(ms(1_010)), 0);
        assert_eq!(limiter.available(ms(1_020)), 10);
    }

    #[test]
    fn next_due_is_the_following_token() {
        let mut limiter = RateLimiter::new(100.0, 10);
        assert_eq!(limiter.available(ms(5)), 0);
        assert_eq!(limiter.next_due(), ms(10));
        assert_eq!(limiter.available(ms(10)), 1);
        limiter.take(1);
        assert_eq!(limiter.next_due(), ms(20));
    }

    #[test]
    fn burst_window_sizes_the_bucket() {
        let mut limiter = RateLimiter::with_burst_window(100_000.0, ms(10), 8);
        assert_eq!(limiter.available(Duration::from_secs(5)), 1_000);
        let mut slow = RateLimiter::with_burst_window(10.0, ms(10), 8);
        assert_eq!(slow.available(Duration::from_secs(5)), 8);
    }

    #[test]
    fn tokens_not_taken_stay_available() {
        let mut limiter = RateLimiter::new(1_000.0, 100);
        assert_eq!(limiter.available(ms(20)), 20);
        limiter.take(5);
        assert_eq!(limiter.available(ms(20)), 15);
    }
}
