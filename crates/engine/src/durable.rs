//! Glue between the engine's in-memory state and the records of [`crate::persist`]:
//! conversions both ways, the wall clock that stored times use, the log a publish
//! fills while routing, and the [`Submission`] that keeps a delivery back until the
//! batch creating its queue entry has been submitted.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use gridmq_codec::{
    PublishProperties, QoS, RetainHandling, SubscribeOptions, SubscriptionFilter, TopicFilter,
    TopicName, Utf8Bytes,
};
use smallvec::SmallVec;

use crate::message::{Delivery, Message, SharedRef};
use crate::persist::{
    Change, EntryState, StoredEntry, StoredMessage, StoredSubscription, WallTime,
};
use crate::session::SubscriptionRecord;

/// Maps the engine's monotonic `Instant`s to wall-clock time and back, from one pair of
/// readings taken when the broker starts. Stored times are wall-clock so that expiry
/// keeps counting while the broker is down.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    wall: SystemTime,
}

impl WallClock {
    /// A clock on which `instant` and `wall` are the same moment.
    pub fn new(instant: Instant, wall: SystemTime) -> Self {
        Self { instant, wall }
    }

    /// The wall-clock time of `at`.
    pub fn wall(&self, at: Instant) -> WallTime {
        let system = if at >= self.instant {
            self.wall + (at - self.instant)
        } else {
            self.wall - (self.instant - at)
        };
        WallTime::from_system(system)
    }

    /// The `Instant` of wall-clock time `at`.
    pub fn instant(&self, at: WallTime) -> Instant {
        match at.to_system().duration_since(self.wall) {
            Ok(ahead) => self.instant + ahead,
            Err(behind) => self
                .instant
                .checked_sub(behind.duration())
                .unwrap_or(self.instant),
        }
    }
}

/// Whether the batch that creates some queue entries has been submitted to storage.
///
/// Batches are applied in the order they are submitted, and a publisher submits its
/// batch at the end of its turn, after routing has already queued the deliveries. A
/// session that sent such a delivery and recorded its acknowledgement first would have
/// its `DeleteEntry` applied before the publisher's `PutEntry`, which would bring the
/// entry back (the message delivered again after a restart; for QoS 2, twice). So a
/// durable delivery waits at the head of its session's queue until its submission is
/// marked; nothing about its entry is recorded before.
#[derive(Debug, Default)]
pub(crate) struct Submission {
    submitted: AtomicBool,
    wakers: parking_lot::Mutex<SmallVec<[Waker; 1]>>,
}

impl Submission {
    /// Whether the batch has been submitted (or never will be).
    pub(crate) fn is_submitted(&self) -> bool {
        self.submitted.load(Ordering::Acquire)
    }

    /// Ready once the batch has been submitted; otherwise wakes `cx` then.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_submitted() {
            return Poll::Ready(());
        }
        let mut wakers = self.wakers.lock();
        // Checked again under the lock that `mark` takes after setting the flag.
        if self.is_submitted() {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn mark(&self) {
        self.submitted.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *self.wakers.lock());
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The [`Submission`] of the batch being gathered; marks it when dropped, which its
/// owner does right after submitting the batch (or when the batch is abandoned: then the
/// entries never exist and nothing needs to wait for them).
#[derive(Debug, Default)]
pub(crate) struct SubmitGuard(Arc<Submission>);

impl SubmitGuard {
    /// The submission deliveries routed into this batch wait for.
    pub(crate) fn submission(&self) -> &Arc<Submission> {
        &self.0
    }
}

impl Drop for SubmitGuard {
    fn drop(&mut self) {
        self.0.mark();
    }
}

/// The changes one publish causes, the message id they share, and the submission of
/// the batch they will go into.
#[derive(Debug)]
pub(crate) struct RouteLog {
    pub(crate) message_id: u64,
    pub(crate) submission: Arc<Submission>,
    pub(crate) changes: Vec<Change>,
    entries: usize,
}

impl RouteLog {
    pub(crate) fn new(message_id: u64, submission: &Arc<Submission>) -> Self {
        Self {
            message_id,
            submission: submission.clone(),
            changes: Vec::new(),
            entries: 0,
        }
    }

    pub(crate) fn put_entry(&mut self, session_id: u64, seq: u64, delivery: &Delivery) {
        self.entries += 1;
        self.changes.push(Change::PutEntry {
            session_id,
            seq,
            entry: stored_entry(self.message_id, delivery, EntryState::Queued),
        });
    }

    pub(crate) fn delete_entry(&mut self, session_id: u64, seq: u64) {
        self.changes.push(Change::DeleteEntry { session_id, seq });
    }

    /// The changes, with the message stored first if any entry refers to it.
    pub(crate) fn finish(mut self, message: &Message, clock: &WallClock) -> Vec<Change> {
        if self.entries > 0 {
            self.changes.insert(
                0,
                Change::PutMessage {
                    id: self.message_id,
                    message: stored_message(message, clock),
                },
            );
        }
        self.changes
    }
}

/// The stored form of a message.
pub(crate) fn stored_message(message: &Message, clock: &WallClock) -> StoredMessage {
    let p = message.properties();
    StoredMessage {
        topic: message.topic.to_string(),
        payload: message.payload.to_vec(),
        qos: message.qos as u8,
        retain: message.retain,
        payload_format_indicator: p.payload_format_indicator,
        content_type: p.content_type.as_ref().map(|c| c.to_string()),
        response_topic: p.response_topic.as_ref().map(|t| t.to_string()),
        correlation_data: p.correlation_data.as_ref().map(|c| c.to_vec()),
        user_properties: p
            .user_properties
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        expires_at: message.expires_at.map(|at| clock.wall(at)),
    }
}

/// The message a stored record describes; `None` if the record is not a valid message.
pub(crate) fn restored_message(stored: &StoredMessage, clock: &WallClock) -> Option<Message> {
    let topic = TopicName::new(stored.topic.as_str()).ok()?;
    let response_topic = match &stored.response_topic {
        Some(t) => Some(TopicName::new(t.as_str()).ok()?),
        None => None,
    };
    Some(Message {
        topic,
        payload: Bytes::copy_from_slice(&stored.payload),
        qos: QoS::from_u8(stored.qos)?,
        retain: stored.retain,
        properties: Message::box_properties(PublishProperties {
            payload_format_indicator: stored.payload_format_indicator,
            message_expiry_interval: None,
            topic_alias: None,
            response_topic,
            correlation_data: stored
                .correlation_data
                .as_deref()
                .map(Bytes::copy_from_slice),
            user_properties: stored
                .user_properties
                .iter()
                .map(|(k, v)| (Utf8Bytes::from(k.as_str()), Utf8Bytes::from(v.as_str())))
                .collect(),
            subscription_identifiers: Vec::new(),
            content_type: stored.content_type.as_deref().map(Utf8Bytes::from),
        }),
        expires_at: stored.expires_at.map(|at| clock.instant(at)),
        origin: None,
    })
}

/// The stored form of a queue entry for `delivery`.
pub(crate) fn stored_entry(message_id: u64, delivery: &Delivery, state: EntryState) -> StoredEntry {
    StoredEntry {
        message_id,
        qos: delivery.qos as u8,
        retain: delivery.retain,
        subscription_ids: delivery
            .subscription_ids
            .iter()
            .map(|id| id.get())
            .collect(),
        shared: delivery
            .shared
            .as_ref()
            .map(|s| (s.group.to_string(), s.filter.to_string())),
        state,
    }
}

/// The delivery a stored entry describes.
pub(crate) fn restored_delivery(
    entry: &StoredEntry,
    message: Arc<Message>,
    seq: u64,
) -> Option<Delivery> {
    let shared = match &entry.shared {
        Some((group, filter)) => Some(Arc::new(SharedRef {
            group: Utf8Bytes::from(group.as_str()),
            filter: TopicFilter::new(filter.as_str()).ok()?,
        })),
        None => None,
    };
    Some(Delivery {
        message,
        qos: QoS::from_u8(entry.qos)?,
        retain: entry.retain,
        subscription_ids: entry
            .subscription_ids
            .iter()
            .filter_map(|id| NonZeroU32::new(*id))
            .collect::<SmallVec<_>>(),
        shared,
        durable: Some(crate::message::DurableRef {
            message_id: entry.message_id,
            seq: std::num::NonZeroU64::new(seq)?,
            submission: None,
        }),
    })
}

/// The stored form of a subscription.
pub(crate) fn stored_subscription(
    raw: &Utf8Bytes,
    record: &SubscriptionRecord,
) -> StoredSubscription {
    StoredSubscription {
        filter: raw.to_string(),
        qos: record.options.qos as u8,
        no_local: record.options.no_local,
        retain_as_published: record.options.retain_as_published,
        retain_handling: record.options.retain_handling as u8,
        id: record.id.map(NonZeroU32::get),
    }
}

/// The subscription a stored record describes.
pub(crate) fn restored_subscription(
    stored: &StoredSubscription,
) -> Option<(Utf8Bytes, SubscriptionRecord)> {
    let raw = Utf8Bytes::from(stored.filter.as_str());
    let filter = SubscriptionFilter::parse(&raw).ok()?;
    let options = SubscribeOptions {
        qos: QoS::from_u8(stored.qos)?,
        no_local: stored.no_local,
        retain_as_published: stored.retain_as_published,
        retain_handling: match stored.retain_handling {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return None,
        },
    };
    Some((
        raw,
        SubscriptionRecord {
            filter,
            options,
            id: stored.id.and_then(NonZeroU32::new),
        },
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn wall_clock_round_trips() {
        let now = Instant::now();
        let clock = WallClock::new(now, SystemTime::now());
        let later = now + Duration::from_secs(90);
        let wall = clock.wall(later);
        let back = clock.instant(wall);
        assert!(back.max(later) - back.min(later) < Duration::from_millis(2));
    }

    #[test]
    fn messages_round_trip_through_their_stored_form() {
        let now = Instant::now();
        let clock = WallClock::new(now, SystemTime::now());
        let mut publish =
            gridmq_codec::Publish::new(TopicName::new("a/b").unwrap(), Bytes::from_static(b"x"));
        publish.qos = QoS::AtLeastOnce;
        publish.properties.content_type = Some("text/plain".into());
        publish
            .properties
            .user_properties
            .push(("k".into(), "v".into()));
        publish.properties.message_expiry_interval = Some(60);
        let message = Message::from_publish(publish, now, None);
        let back = restored_message(&stored_message(&message, &clock), &clock).unwrap();
        assert_eq!(back.topic, message.topic);
        assert_eq!(back.properties(), message.properties());
        assert_eq!(back.remaining_expiry(now), Some(60));
    }
}
