//! The durability seam: the changes the engine makes to its state, as plain records,
//! handed to a [`Persistence`] that makes them durable in batches and completes a
//! [`Ticket`] per batch.
//!
//! The engine stays I/O-free: `submit` only enqueues. A QoS 1/2 message is acknowledged
//! to its publisher only once the ticket of the batch that queued it for every
//! persistent session has completed. Storage backends (in memory, on disk, later a
//! cluster) implement the trait in the store crates and never see engine internals.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Wall-clock time in milliseconds since the Unix epoch: what is stored, so that expiry
/// keeps counting across a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WallTime(pub u64);

impl WallTime {
    /// The time `system` stands for.
    pub fn from_system(system: SystemTime) -> Self {
        Self(
            system
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        )
    }

    /// This time as a `SystemTime`.
    pub fn to_system(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }
}

/// A message as stored: everything needed to deliver it again after a restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// Topic name.
    pub topic: String,
    /// Payload.
    pub payload: Vec<u8>,
    /// QoS it was published with.
    pub qos: u8,
    /// RETAIN flag it was published with.
    pub retain: bool,
    /// Payload Format Indicator.
    pub payload_format_indicator: Option<bool>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic.
    pub response_topic: Option<String>,
    /// Correlation Data.
    pub correlation_data: Option<Vec<u8>>,
    /// User Properties, in order.
    pub user_properties: Vec<(String, String)>,
    /// When the message expires.
    pub expires_at: Option<WallTime>,
}

/// One subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSubscription {
    /// The filter as the client wrote it, including any `$share/{group}/` prefix.
    pub filter: String,
    /// Granted QoS.
    pub qos: u8,
    /// No Local.
    pub no_local: bool,
    /// Retain As Published.
    pub retain_as_published: bool,
    /// Retain Handling (0, 1 or 2).
    pub retain_handling: u8,
    /// Subscription Identifier.
    pub id: Option<u32>,
}

/// A will waiting for its delay, stored with its session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredWill {
    /// The will message; its `expires_at` is unused (set when published).
    pub message: StoredMessage,
    /// Message Expiry Interval of the will, in seconds, counted from publication.
    pub message_expiry_interval: Option<u32>,
    /// When to publish it.
    pub due: WallTime,
}

/// A session as stored, without its queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSession {
    /// Client identifier; the key.
    pub client_id: String,
    /// The session's id; queue entries and QoS 2 state refer to it.
    pub session_id: u64,
    /// Owning authentication name, in namespace mode.
    pub owner: Option<String>,
    /// Session Expiry Interval in seconds.
    pub expiry_interval: u32,
    /// Subscriptions.
    pub subscriptions: Vec<StoredSubscription>,
    /// When the client disconnected; `None` while connected (after a crash, recovery
    /// counts expiry from the restart).
    pub disconnected_at: Option<WallTime>,
    /// A will whose delay had not run out when the client disconnected.
    pub will: Option<StoredWill>,
}

/// Where a queued message stands toward its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryState {
    /// Not sent yet.
    Queued,
    /// QoS 1 sent with this packet id; waiting for PUBACK.
    AwaitingPubAck(u16),
    /// QoS 2 sent with this packet id; waiting for PUBREC.
    AwaitingPubRec(u16),
    /// PUBREL sent for this packet id; waiting for PUBCOMP.
    AwaitingPubComp(u16),
}

/// A message queued for one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEntry {
    /// The message, stored once under this id for all sessions it is queued for.
    pub message_id: u64,
    /// Delivery QoS.
    pub qos: u8,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription Identifiers to send.
    pub subscription_ids: Vec<u32>,
    /// The shared subscription it came through: (group, filter).
    pub shared: Option<(String, String)>,
    /// Progress toward the client.
    pub state: EntryState,
}

/// One change to durable state. A batch of changes is applied atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Creates or replaces a session record.
    PutSession(StoredSession),
    /// Deletes a session with its queue entries and QoS 2 state.
    DeleteSession {
        /// Client identifier.
        client_id: String,
        /// The session's id.
        session_id: u64,
    },
    /// Stores a message that entries in the same batch refer to. A backend keeps it while
    /// any entry refers to it.
    PutMessage {
        /// Message id.
        id: u64,
        /// The message.
        message: StoredMessage,
    },
    /// Creates or updates a queue entry (ordered by `seq` within the session).
    PutEntry {
        /// Owning session.
        session_id: u64,
        /// Position in the session's queue.
        seq: u64,
        /// The entry.
        entry: StoredEntry,
    },
    /// Removes a queue entry: acknowledged, expired, dropped, or moved.
    DeleteEntry {
        /// Owning session.
        session_id: u64,
        /// Position in the session's queue.
        seq: u64,
    },
    /// Records an incoming QoS 2 packet id acknowledged with PUBREC, awaiting PUBREL.
    PutInboundQos2 {
        /// Owning session.
        session_id: u64,
        /// The packet id.
        packet_id: u16,
    },
    /// Forgets an incoming QoS 2 packet id (PUBREL received).
    DeleteInboundQos2 {
        /// Owning session.
        session_id: u64,
        /// The packet id.
        packet_id: u16,
    },
    /// Stores or replaces a retained message.
    PutRetained(StoredMessage),
    /// Removes the retained message of a topic.
    DeleteRetained {
        /// The topic.
        topic: String,
    },
    /// Stores or replaces a namespace resource (client, group, topic space, ...) as the
    /// JSON the management API accepts.
    PutResource {
        /// Resource kind, e.g. `clients`.
        kind: String,
        /// Resource name.
        name: String,
        /// The resource as JSON.
        json: String,
    },
    /// Removes a namespace resource.
    DeleteResource {
        /// Resource kind.
        kind: String,
        /// Resource name.
        name: String,
    },
}

/// The durable state read at startup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Sessions.
    pub sessions: Vec<StoredSession>,
    /// Queue entries per session id, in `seq` order.
    pub entries: Vec<(u64, u64, StoredEntry)>,
    /// Messages referred to by entries, by id.
    pub messages: Vec<(u64, StoredMessage)>,
    /// Incoming QoS 2 packet ids awaiting PUBREL, per session id.
    pub inbound_qos2: Vec<(u64, u16)>,
    /// Retained messages.
    pub retained: Vec<StoredMessage>,
    /// Namespace resources: (kind, name, JSON).
    pub resources: Vec<(String, String, String)>,
}

impl Snapshot {
    /// One more than the largest session id, message id or queue position stored, so
    /// ids issued after a restart never collide with stored ones.
    pub fn next_id(&self) -> u64 {
        let sessions = self.sessions.iter().map(|s| s.session_id);
        let entries = self
            .entries
            .iter()
            .flat_map(|(s, q, e)| [*s, *q, e.message_id]);
        let messages = self.messages.iter().map(|(id, _)| *id);
        sessions
            .chain(entries)
            .chain(messages)
            .max()
            .map_or(1, |max| max + 1)
    }
}

/// Makes batches of changes durable. Implementations enqueue and return at once; the
/// ticket completes when the batch is on disk (per the configured fsync policy).
pub trait Persistence: Send + Sync + std::fmt::Debug {
    /// Queues `changes` as one atomic batch.
    fn submit(&self, changes: Vec<Change>) -> Ticket;
}

const DONE: u8 = 1;
const FAILED: u8 = 2;

#[derive(Debug, Default)]
struct TicketState {
    status: AtomicU8,
    waker: Mutex<Option<Waker>>,
}

/// Completion of one submitted batch; cheap to clone and poll.
#[derive(Debug, Clone, Default)]
pub struct Ticket(Arc<TicketState>);

/// Whether a batch became durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketStatus {
    /// Not yet.
    Pending,
    /// Durable.
    Done,
    /// Could not be written (e.g. disk full); what depended on it must not be confirmed.
    Failed,
}

impl Ticket {
    /// A ticket that has already completed: for batches nothing needs to wait for.
    pub fn done() -> Self {
        let ticket = Self::default();
        ticket.0.status.store(DONE, Ordering::Release);
        ticket
    }

    /// The current status.
    pub fn status(&self) -> TicketStatus {
        match self.0.status.load(Ordering::Acquire) {
            DONE => TicketStatus::Done,
            FAILED => TicketStatus::Failed,
            _ => TicketStatus::Pending,
        }
    }

    /// Completes the ticket and wakes whoever waits on it. Called by the writer.
    pub fn complete(&self, durable: bool) {
        self.0
            .status
            .store(if durable { DONE } else { FAILED }, Ordering::Release);
        if let Some(waker) = self.0.waker.lock().take() {
            waker.wake();
        }
    }

    /// Ready once the ticket has completed.
    ///
    /// Cancel safety: polling takes nothing; the status stays.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<TicketStatus> {
        let status = self.status();
        if status != TicketStatus::Pending {
            return Poll::Ready(status);
        }
        *self.0.waker.lock() = Some(cx.waker().clone());
        // Completed between the first check and storing the waker?
        match self.status() {
            TicketStatus::Pending => Poll::Pending,
            status => Poll::Ready(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_complete_and_wake() {
        let ticket = Ticket::default();
        assert_eq!(ticket.status(), TicketStatus::Pending);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(ticket.poll(&mut cx).is_pending());
        ticket.clone().complete(true);
        assert_eq!(ticket.poll(&mut cx), Poll::Ready(TicketStatus::Done));
        let failed = Ticket::default();
        failed.complete(false);
        assert_eq!(failed.status(), TicketStatus::Failed);
    }

    #[test]
    fn next_id_is_past_every_stored_id() {
        let mut snapshot = Snapshot::default();
        assert_eq!(snapshot.next_id(), 1);
        snapshot.messages.push((41, sample_message()));
        snapshot.entries.push((
            7,
            99,
            StoredEntry {
                message_id: 41,
                qos: 1,
                retain: false,
                subscription_ids: vec![],
                shared: None,
                state: EntryState::Queued,
            },
        ));
        assert_eq!(snapshot.next_id(), 100);
    }

    fn sample_message() -> StoredMessage {
        StoredMessage {
            topic: "t".into(),
            payload: b"p".to_vec(),
            qos: 1,
            retain: false,
            payload_format_indicator: None,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            user_properties: vec![],
            expires_at: None,
        }
    }
}
