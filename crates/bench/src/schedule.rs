//! The timeline every task of a run follows, fixed before the first message is sent:
//! start sending, open the measured window, close it, stop draining.

use std::time::Duration;

use crate::payload::{Clock, Window};

/// When each phase of a run begins, on the run's [`Clock`].
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The run's clock.
    pub clock: Clock,
    /// Publishers start sending (the warm-up begins).
    pub send_from_ns: u64,
    /// The measured window; publishers stop sending at its end.
    pub window: Window,
    /// Waiting for in-flight messages and acknowledgements ends here at the latest.
    pub drain_until_ns: u64,
}

impl Schedule {
    /// A schedule starting `lead` from now, with the given warm-up, duration and drain.
    pub fn new(
        clock: Clock,
        lead: Duration,
        warmup: Duration,
        duration: Duration,
        drain: Duration,
    ) -> Self {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let send_from_ns = clock.now_ns() + ns(lead);
        let start_ns = send_from_ns + ns(warmup);
        let end_ns = start_ns + ns(duration);
        Self {
            clock,
            send_from_ns,
            window: Window { start_ns, end_ns },
            drain_until_ns: end_ns + ns(drain),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_follow_each_other() {
        let clock = Clock::start();
        let s = Schedule::new(
            clock,
            Duration::from_millis(10),
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(3),
        );
        assert!(s.send_from_ns >= 10_000_000);
        assert_eq!(s.window.start_ns - s.send_from_ns, 1_000_000_000);
        assert_eq!(s.window.duration(), Duration::from_secs(2));
        assert_eq!(s.drain_until_ns - s.window.end_ns, 3_000_000_000);
    }
}
