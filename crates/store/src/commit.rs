//! [`CommitQueue`]: group commit on a dedicated OS thread, as the engine's
//! [`Persistence`].
//!
//! Submissions queue up; the writer thread takes everything pending (up to a size bound),
//! drops changes that later ones make moot ([`crate::coalesce`]), applies the rest as one
//! atomic [`Store::apply`], and completes the submissions' tickets in submission order.
//!
//! # Memory
//!
//! What is pending is bounded twice: the engine's flow control bounds what it submits
//! (in-flight messages per session, Receive Maximum), and the queue itself refuses a
//! submission that would take it past [`CommitConfig::max_pending_changes`] or
//! [`CommitConfig::max_pending_bytes`]: its ticket fails at once (the publisher gets 0x97),
//! nothing blocks, and [`CommitStats::rejected`] counts it. A single submission larger
//! than a bound is still taken when the queue is empty, so no valid batch is refused
//! forever.

use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gridmq_engine::persist::{Change, Persistence, Ticket};
use parking_lot::{Condvar, Mutex};

use crate::coalesce::coalesce;
use crate::{Store, StoreError};

/// When a committed batch is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FsyncPolicy {
    /// Every batch is committed and synced as soon as the writer takes it; the writer never
    /// waits to gather more (batches still form from what arrives while it syncs).
    Always,
    /// The writer waits up to the commit interval (or until the size bound) to gather
    /// submissions, then commits them with one sync. The default.
    #[default]
    Batch,
    /// Like `Always`, but without sync: a batch is handed to the OS when its ticket
    /// completes, so it survives a crash of the process, not of the machine.
    Os,
}

impl FsyncPolicy {
    fn sync(self) -> bool {
        self != FsyncPolicy::Os
    }

    fn gathers(self) -> bool {
        self == FsyncPolicy::Batch
    }
}

/// How the writer batches.
#[derive(Debug, Clone)]
pub struct CommitConfig {
    /// Longest time a submission waits for others to join its batch (policy `batch`).
    pub interval: Duration,
    /// When to sync.
    pub fsync: FsyncPolicy,
    /// A batch closes early once it holds this many changes.
    pub max_batch_changes: usize,
    /// A batch closes early once it holds this many (approximate) bytes.
    pub max_batch_bytes: usize,
    /// Hard bound on changes waiting for the writer; submissions beyond it fail at once.
    pub max_pending_changes: usize,
    /// Hard bound on (approximate) bytes waiting for the writer.
    pub max_pending_bytes: usize,
}

impl Default for CommitConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_millis(1),
            fsync: FsyncPolicy::Batch,
            max_batch_changes: 8192,
            max_batch_bytes: 16 << 20,
            max_pending_changes: 1 << 20,
            max_pending_bytes: 256 << 20,
        }
    }
}

/// Counters of the writer, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitStats {
    /// Submissions accepted into the queue.
    pub submitted: u64,
    /// Submissions refused by the hard bound or after close.
    pub rejected: u64,
    /// Batches applied (successfully or not).
    pub batches: u64,
    /// Batches whose apply failed; their tickets failed.
    pub failed_batches: u64,
    /// Changes handed to the store.
    pub changes_applied: u64,
    /// Changes dropped by coalescing.
    pub changes_coalesced: u64,
    /// Changes waiting for the writer when the stats were taken.
    pub pending_changes: u64,
    /// Approximate bytes waiting for the writer when the stats were taken.
    pub pending_bytes: u64,
}

struct Submission {
    changes: Vec<Change>,
    bytes: usize,
    ticket: Ticket,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Submission>,
    pending_changes: usize,
    pending_bytes: usize,
    /// Sequence number of the last submission accepted.
    submitted_seq: u64,
    /// Sequence number of the last submission completed.
    completed_seq: u64,
    /// Highest sequence number a flush waits for; the writer stops gathering until then.
    flush_upto: u64,
    closed: bool,
    stats: CommitStats,
    last_error: Option<String>,
}

struct Shared {
    config: CommitConfig,
    store: Arc<dyn Store>,
    queue: Mutex<Queue>,
    /// Wakes the writer.
    work: Condvar,
    /// Wakes flushers.
    done: Condvar,
}

/// Group commit over any [`Store`]; see the module docs.
pub struct CommitQueue {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for CommitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitQueue")
            .field("config", &self.shared.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Approximate memory a change holds: its variable-length data plus a fixed overhead.
fn approx_bytes(change: &Change) -> usize {
    const OVERHEAD: usize = 64;
    let message_bytes = |m: &gridmq_engine::persist::StoredMessage| {
        m.topic.len()
            + m.payload.len()
            + m.correlation_data.as_ref().map_or(0, Vec::len)
            + m.user_properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    };
    OVERHEAD
        + match change {
            Change::PutMessage { message, .. } | Change::PutRetained(message) => {
                message_bytes(message)
            }
            Change::PutSession(s) => {
                s.client_id.len()
                    + s.subscriptions
                        .iter()
                        .map(|s| s.filter.len())
                        .sum::<usize>()
            }
            Change::PutResource { kind, name, json } => kind.len() + name.len() + json.len(),
            _ => 0,
        }
}

impl CommitQueue {
    /// Starts the writer thread over `store`.
    pub fn start(store: Arc<dyn Store>, config: CommitConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            config,
            store,
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            done: Condvar::new(),
        });
        let writer = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("gridmq-store-writer".into())
                .spawn(move || shared.run())?
        };
        Ok(Self {
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> CommitStats {
        let queue = self.shared.queue.lock();
        CommitStats {
            pending_changes: queue.pending_changes as u64,
            pending_bytes: queue.pending_bytes as u64,
            ..queue.stats
        }
    }

    /// The error of the last failed batch, if any batch failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared.queue.lock().last_error.clone()
    }

    /// Blocks until every submission made before the call has completed (durably or not),
    /// cutting the current gathering interval short.
    pub fn flush(&self) {
        let mut queue = self.shared.queue.lock();
        let target = queue.submitted_seq;
        queue.flush_upto = queue.flush_upto.max(target);
        self.shared.work.notify_one();
        while queue.completed_seq < target {
            self.shared.done.wait(&mut queue);
        }
    }

    /// Completes everything pending, stops the writer and waits for it. Later submissions
    /// fail at once. Idempotent.
    pub fn close(&self) {
        {
            let mut queue = self.shared.queue.lock();
            queue.closed = true;
            self.shared.work.notify_one();
        }
        if let Some(writer) = self.writer.lock().take() {
            // The writer returns once the queue is drained; it catches a store's panics.
            let _ = writer.join();
        }
    }
}

impl Drop for CommitQueue {
    fn drop(&mut self) {
        self.close();
    }
}

impl Persistence for CommitQueue {
    fn submit(&self, changes: Vec<Change>) -> Ticket {
        let ticket = Ticket::default();
        let bytes: usize = changes.iter().map(approx_bytes).sum();
        let config = &self.shared.config;
        let mut queue = self.shared.queue.lock();
        let over = !queue.pending.is_empty()
            && (queue.pending_changes + changes.len() > config.max_pending_changes
                || queue.pending_bytes + bytes > config.max_pending_bytes);
        if queue.closed || over {
            queue.stats.rejected += 1;
            drop(queue);
            ticket.complete(false);
            return ticket;
        }
        let was_empty = queue.pending.is_empty();
        queue.pending_changes += changes.len();
        queue.pending_bytes += bytes;
        queue.submitted_seq += 1;
        queue.stats.submitted += 1;
        let full = queue.pending_changes >= config.max_batch_changes
            || queue.pending_bytes >= config.max_batch_bytes;
        queue.pending.push_back(Submission {
            changes,
            bytes,
            ticket: ticket.clone(),
        });
        if was_empty || full {
            self.shared.work.notify_one();
        }
        ticket
    }
}

impl Shared {
    fn run(&self) {
        while let Some(batch) = self.next_batch() {
            self.commit(batch);
        }
    }

    /// Waits for work, gathers per the policy, and takes one batch; `None` once closed and
    /// drained.
    fn next_batch(&self) -> Option<Vec<Submission>> {
        let config = &self.config;
        let mut queue = self.queue.lock();
        while queue.pending.is_empty() {
            if queue.closed {
                return None;
            }
            self.work.wait(&mut queue);
        }
        if config.fsync.gathers() {
            let deadline = Instant::now() + config.interval;
            while !queue.closed
                && queue.flush_upto <= queue.completed_seq
                && queue.pending_changes < config.max_batch_changes
                && queue.pending_bytes < config.max_batch_bytes
            {
                if self.work.wait_until(&mut queue, deadline).timed_out() {
                    break;
                }
            }
        }
        let mut batch = Vec::new();
        let (mut changes, mut bytes) = (0, 0);
        while let Some(next) = queue.pending.front() {
            let fits = changes + next.changes.len() <= config.max_batch_changes
                && bytes + next.bytes <= config.max_batch_bytes;
            if !batch.is_empty() && !fits {
                break;
            }
            let Some(next) = queue.pending.pop_front() else {
                break;
            };
            changes += next.changes.len();
            bytes += next.bytes;
            batch.push(next);
        }
        queue.pending_changes -= changes;
        queue.pending_bytes -= bytes;
        Some(batch)
    }

    fn commit(&self, batch: Vec<Submission>) {
        let count = batch.len() as u64;
        let mut changes = Vec::new();
        let mut tickets = Vec::with_capacity(batch.len());
        for submission in batch {
            if changes.is_empty() {
                changes = submission.changes;
            } else {
                changes.extend(submission.changes);
            }
            tickets.push(submission.ticket);
        }
        let (changes, dropped) = coalesce(changes);
        let result = if changes.is_empty() {
            Ok(())
        } else {
            // A backend that panics fails this batch instead of stranding every ticket.
            let apply = || self.store.apply(&changes, self.config.fsync.sync());
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(apply))
                .unwrap_or_else(|_| Err(StoreError::Backend("the store panicked".into())))
        };
        {
            let mut queue = self.queue.lock();
            let stats = &mut queue.stats;
            stats.batches += 1;
            stats.changes_coalesced += dropped as u64;
            stats.changes_applied += changes.len() as u64;
            if let Err(e) = &result {
                stats.failed_batches += 1;
                tracing::warn!(error = %e, submissions = count, "store commit failed");
                queue.last_error = Some(e.to_string());
            }
        }
        let durable = result.is_ok();
        for ticket in &tickets {
            ticket.complete(durable);
        }
        let mut queue = self.queue.lock();
        queue.completed_seq += count;
        self.done.notify_all();
    }
}
