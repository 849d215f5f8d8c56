//! A sub-millisecond timer for pacing publishers.
//!
//! tokio's timer wheel rounds every deadline up to the next millisecond tick, so paced
//! publishers all woke on the same tick and sent their messages as one burst: at 10,000
//! msg/s over 10 publishers, ten messages arrived together every millisecond and the
//! latency of each included the handling of the ones ahead of it. A `timerfd` fires at
//! the deadline itself, so publishers with staggered start times send evenly spaced
//! messages, as independent devices would.

use std::time::Instant;

/// Sleeps until a deadline with microsecond precision.
#[derive(Debug)]
pub struct PreciseTimer {
    #[cfg(target_os = "linux")]
    fd: tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>,
}

#[cfg(target_os = "linux")]
impl PreciseTimer {
    /// A new timer on the monotonic clock; needs a running tokio runtime.
    pub fn new() -> std::io::Result<Self> {
        use rustix::time::{TimerfdClockId, TimerfdFlags, timerfd_create};
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // Deprecated for descriptors that may change under the registration; an OwnedFd
        // holds one descriptor until it is dropped with the AsyncFd, and the crate
        // forbids the unsafe `register_with_interest`.
        #[allow(deprecated)]
        let fd = tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE)?;
        Ok(Self { fd })
    }

    /// Returns at `deadline`, or at once if it has passed.
    ///
    /// Cancel-safe: a dropped sleep leaves at most a stale expiry, which the next call
    /// disarms when it sets its own deadline.
    pub async fn sleep_until(&self, deadline: Instant) -> std::io::Result<()> {
        use rustix::time::{Itimerspec, TimerfdTimerFlags, Timespec, timerfd_settime};
        let Some(wait) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        else {
            return Ok(());
        };
        let spec = Itimerspec {
            it_interval: Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: Timespec {
                tv_sec: i64::try_from(wait.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(wait.subsec_nanos()),
            },
        };
        // Re-arming also clears any expiry left over from a cancelled sleep.
        timerfd_settime(self.fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
        loop {
            let mut ready = self.fd.readable().await?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(self.fd.get_ref(), &mut expirations) {
                Ok(_) => return Ok(()),
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(err) => return Err(err.into()),
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
impl PreciseTimer {
    /// Elsewhere the tokio timer stands in, with its millisecond ticks.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {})
    }

    /// Returns at `deadline` rounded up to tokio's next tick.
    pub async fn sleep_until(&self, deadline: Instant) -> std::io::Result<()> {
        tokio::time::sleep_until(deadline.into()).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn wakes_at_the_deadline_not_before() {
        let timer = PreciseTimer::new().unwrap();
        for micros in [0u64, 150, 1_300] {
            let deadline = Instant::now() + Duration::from_micros(micros);
            timer.sleep_until(deadline).await.unwrap();
            assert!(Instant::now() >= deadline);
        }
    }

    #[tokio::test]
    async fn a_cancelled_sleep_does_not_cut_the_next_one_short() {
        let timer = PreciseTimer::new().unwrap();
        let short = Instant::now() + Duration::from_micros(200);
        // Cancel a sleep whose timer will still expire, then wait past its expiry.
        let _ = tokio::time::timeout(Duration::ZERO, timer.sleep_until(short)).await;
        std::thread::sleep(Duration::from_millis(1));
        let later = Instant::now() + Duration::from_millis(2);
        timer.sleep_until(later).await.unwrap();
        assert!(Instant::now() >= later);
    }
}
