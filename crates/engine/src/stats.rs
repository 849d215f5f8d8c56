//! Plain counters kept by the core and exported by the server. Labels never include a
//! client id or topic.

use std::sync::atomic::{AtomicU64, Ordering};

/// Broker-wide counters. Connections add to them in batches, not per message.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections currently established.
    pub connections: AtomicU64,
    /// Connections established since start.
    pub connections_total: AtomicU64,
    /// CONNECT packets refused.
    pub connections_refused: AtomicU64,
    /// PUBLISH packets received from clients.
    pub messages_received: AtomicU64,
    /// PUBLISH packets sent to clients.
    pub messages_sent: AtomicU64,
    /// Bytes received from clients.
    pub bytes_received: AtomicU64,
    /// Bytes sent to clients.
    pub bytes_sent: AtomicU64,
    /// Messages dropped because a session's queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Messages not sent because they exceed the client's Maximum Packet Size.
    pub dropped_too_large: AtomicU64,
    /// Queued messages dropped because their Message Expiry Interval ran out.
    pub dropped_expired: AtomicU64,
    /// Publications that matched no subscription.
    pub unrouted: AtomicU64,
    /// Retained messages not stored because the store was full.
    pub retained_refused: AtomicU64,
    /// Will messages published.
    pub wills_published: AtomicU64,
    /// Sessions expired while offline.
    pub sessions_expired: AtomicU64,
    /// Connections closed for a protocol violation.
    pub protocol_errors: AtomicU64,
}

impl Stats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Counters a connection accumulates between flushes to [`Stats`]. Flushed every turn
/// (`Connection::poll_transmit`), so 32 bits are plenty, and every idle connection
/// carries them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LocalStats {
    pub(crate) bytes_received: u32,
    pub(crate) messages_received: u32,
    pub(crate) messages_sent: u32,
    pub(crate) dropped_too_large: u32,
    pub(crate) dropped_expired: u32,
    pub(crate) unrouted: u32,
    pub(crate) dropped_queue_full: u32,
}

impl LocalStats {
    /// Adds `n` to one of the counters, saturating.
    pub(crate) fn add(counter: &mut u32, n: usize) {
        *counter = counter.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    pub(crate) fn flush(&mut self, stats: &Stats) {
        Stats::add(&stats.bytes_received, self.bytes_received.into());
        Stats::add(&stats.messages_received, self.messages_received.into());
        Stats::add(&stats.messages_sent, self.messages_sent.into());
        Stats::add(&stats.dropped_too_large, self.dropped_too_large.into());
        Stats::add(&stats.dropped_expired, self.dropped_expired.into());
        Stats::add(&stats.unrouted, self.unrouted.into());
        Stats::add(&stats.dropped_queue_full, self.dropped_queue_full.into());
        *self = Self::default();
    }
}
