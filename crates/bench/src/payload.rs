//! The stamp every benchmark payload starts with: who sent it, its sequence number, and
//! when it was sent.
//!
//! Layout, little endian: publisher index `u32`, sequence `u64`, send time `u64` in
//! nanoseconds since the run's [`Clock`] epoch. The rest of the payload is filler. One
//! process sends and receives, so a monotonic clock gives end-to-end latency directly.

use std::time::{Duration, Instant};

/// Bytes taken by the stamp; payloads must be at least this long.
pub const STAMP_LEN: usize = 20;

/// What a payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Index of the publisher in the scenario (0-based).
    pub publisher: u32,
    /// Per-publisher sequence number, starting at 0.
    pub seq: u64,
    /// Send time in nanoseconds since the clock's epoch.
    pub sent_ns: u64,
}

impl Stamp {
    /// Writes the stamp over the first [`STAMP_LEN`] bytes of `payload`.
    ///
    /// Returns `false` and writes nothing when the payload is too short.
    pub fn write(&self, payload: &mut [u8]) -> bool {
        let Some(head) = payload.get_mut(..STAMP_LEN) else {
            return false;
        };
        head[0..4].copy_from_slice(&self.publisher.to_le_bytes());
        head[4..12].copy_from_slice(&self.seq.to_le_bytes());
        head[12..20].copy_from_slice(&self.sent_ns.to_le_bytes());
        true
    }

    /// Reads the stamp from the front of a payload; `None` when it is too short.
    pub fn read(payload: &[u8]) -> Option<Self> {
        let head = payload.get(..STAMP_LEN)?;
        Some(Self {
            publisher: u32::from_le_bytes(head[0..4].try_into().ok()?),
            seq: u64::from_le_bytes(head[4..12].try_into().ok()?),
            sent_ns: u64::from_le_bytes(head[12..20].try_into().ok()?),
        })
    }
}

/// A monotonic clock shared by every task of a run, counting nanoseconds from its epoch.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn start() -> Self {
        Self {
            epoch: Instant::now(),
        }
    }

    /// Nanoseconds since the epoch.
    pub fn now_ns(&self) -> u64 {
        self.ns_at(Instant::now())
    }

    /// Nanoseconds from the epoch to `instant` (0 if before it).
    pub fn ns_at(&self, instant: Instant) -> u64 {
        u64::try_from(instant.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The instant `ns` nanoseconds after the epoch.
    pub fn instant_at(&self, ns: u64) -> Instant {
        self.epoch + Duration::from_nanos(ns)
    }
}

/// The measured window of a run, `[start_ns, end_ns)` on the run's [`Clock`].
///
/// A message belongs to the window when its send time does; senders and receivers decide
/// that from the stamp alone, without coordinating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First nanosecond of the window.
    pub start_ns: u64,
    /// First nanosecond after the window.
    pub end_ns: u64,
}

impl Window {
    /// Whether a message sent at `sent_ns` is measured.
    pub fn contains(&self, sent_ns: u64) -> bool {
        (self.start_ns..self.end_ns).contains(&sent_ns)
    }

    /// The window's length.
    pub fn duration(&self) -> Duration {
        Duration::from_nanos(self.end_ns.saturating_sub(self.start_ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let stamp = Stamp {
            publisher: 7,
            seq: 1 << 40,
            sent_ns: 123_456_789,
        };
        let mut payload = vec![0xAA; 64];
        assert!(stamp.write(&mut payload));
        assert_eq!(Stamp::read(&payload), Some(stamp));
        assert!(payload[STAMP_LEN..].iter().all(|&b| b == 0xAA));
    }

    #[test]
    fn short_payloads_carry_no_stamp() {
        let stamp = Stamp {
            publisher: 1,
            seq: 2,
            sent_ns: 3,
        };
        let mut short = vec![0; STAMP_LEN - 1];
        assert!(!stamp.write(&mut short));
        assert_eq!(Stamp::read(&short), None);
        let mut exact = vec![0; STAMP_LEN];
        assert!(stamp.write(&mut exact));
        assert_eq!(Stamp::read(&exact), Some(stamp));
    }

    #[test]
    fn window_is_half_open() {
        let window = Window {
            start_ns: 10,
            end_ns: 20,
        };
        assert!(!window.contains(9));
        assert!(window.contains(10));
        assert!(window.contains(19));
        assert!(!window.contains(20));
        assert_eq!(window.duration(), Duration::from_nanos(10));
    }

    #[test]
    fn clock_converts_both_ways() {
        let clock = Clock::start();
        let at = clock.instant_at(5_000);
        assert_eq!(clock.ns_at(at), 5_000);
    }
}
