//! Glue between the engine's in-memory state and the records of [`crate::persist`]:
//! conversions of messages and queue entries both ways, the wall clock that stored times
//! use, and the log a publish fills while routing. (Subscriptions convert in
//! [`crate::session`]; the [`Submission`] a delivery waits for is in `submission`.)

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use gridmq_codec::{PublishProperties, QoS, TopicFilter, TopicName, Utf8Bytes};
use smallvec::SmallVec;

use crate::message::{Delivery, Message, SharedRef};
use crate::persist::{Change, EntryState, StoredEntry, StoredMessage, WallTime};
use crate::submission::Submission;

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
