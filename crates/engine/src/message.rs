//! Application messages as the broker holds them, and deliveries of them to sessions.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use gridmq_codec::{Publish, PublishProperties, QoS, TopicFilter, TopicName, Utf8Bytes};
use smallvec::SmallVec;

/// The properties of a message that has none.
static NO_PROPERTIES: PublishProperties = PublishProperties {
    payload_format_indicator: None,
    message_expiry_interval: None,
    topic_alias: None,
    response_topic: None,
    correlation_data: None,
    user_properties: Vec::new(),
    subscription_identifiers: Vec::new(),
    content_type: None,
};

/// Identifies one session for as long as it lives. A client id that starts a fresh
/// session (Clean Start) gets a new `SessionId`, so stale references cannot match it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// A published application message, shared by every delivery of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The topic it was published to.
    pub topic: TopicName,
    /// The payload.
    pub payload: Bytes,
    /// The QoS it was published with.
    pub qos: QoS,
    /// The RETAIN flag it was published with.
    pub retain: bool,
    /// Properties forwarded to subscribers, boxed because most messages have none (see
    /// [`Message::properties`]). Topic Alias and Subscription Identifiers are always empty
    /// here; Message Expiry Interval is recomputed per delivery.
    pub properties: Option<Box<PublishProperties>>,
    /// When the message expires, from its Message Expiry Interval.
    pub expires_at: Option<Instant>,
    /// The session that published it, for No Local; `None` for wills and HTTP.
    pub origin: Option<SessionId>,
}

/// QoS 1/2 payloads up to this size are copied out of the receive buffer.
const COMPACT_BELOW: usize = 2048;

impl Message {
    /// Builds a message from a received PUBLISH whose topic alias has been resolved.
    pub fn from_publish(publish: Publish, now: Instant, origin: Option<SessionId>) -> Self {
        let Publish {
            qos,
            retain,
            topic,
            mut properties,
            payload,
            ..
        } = publish;
        let expires_at = properties
            .message_expiry_interval
            .map(|secs| now + Duration::from_secs(u64::from(secs)));
        properties.topic_alias = None;
        properties.subscription_identifiers.clear();
        properties.message_expiry_interval = None;
        // Topic and payload slice the connection's receive buffer. A QoS 1/2 message
        // stays alive until every subscriber acknowledges it, and a small one would keep
        // a whole buffer chunk (up to 16 KiB) alive meanwhile: copy it out. Large
        // payloads fill their chunks anyway and stay shared.
        let (topic, payload) = if qos != QoS::AtMostOnce && payload.len() <= COMPACT_BELOW {
            (topic.compact(), Bytes::copy_from_slice(&payload))
        } else {
            (topic, payload)
        };
        Self {
            topic,
            payload,
            qos,
            retain,
            properties: Self::box_properties(properties),
            expires_at,
            origin,
        }
    }

    /// The message's properties (all absent for most messages).
    pub fn properties(&self) -> &PublishProperties {
        self.properties.as_deref().unwrap_or(&NO_PROPERTIES)
    }

    /// Boxes `properties`, or `None` when none is set: the common case costs no allocation.
    pub fn box_properties(properties: PublishProperties) -> Option<Box<PublishProperties>> {
        (properties != NO_PROPERTIES).then(|| Box::new(properties))
    }

    /// Whether the message has expired at `now`.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    /// The Message Expiry Interval to forward at `now`: the time left, rounded up so
    /// that a live message never says 0 ([MQTT-3.3.2-6]).
    pub fn remaining_expiry(&self, now: Instant) -> Option<u32> {
        self.expires_at.map(|at| {
            let left = at.saturating_duration_since(now);
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            u32::try_from(secs.max(1)).unwrap_or(u32::MAX)
        })
    }

    /// Payload bytes, for queue and retained-store accounting.
    pub fn size(&self) -> usize {
        self.payload.len() + self.topic.len()
    }

    /// A copy that owns its bytes rather than slicing a receive buffer, for messages
    /// that will be kept a long time (retained, queued for offline sessions).
    pub fn compact(&self) -> Self {
        let mut copy = self.clone();
        copy.topic = self.topic.compact();
        copy.payload = Bytes::copy_from_slice(&self.payload);
        copy
    }
}

/// The shared subscription a delivery was made through, so an unacknowledged message
/// can be offered to another member of the group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SharedRef {
    /// The share name.
    pub group: Utf8Bytes,
    /// The topic filter after the share name.
    pub filter: TopicFilter,
}

/// Where a delivery is kept in durable storage: the stored message and the entry's
/// position in its session's queue.
#[derive(Debug, Clone)]
pub struct DurableRef {
    /// Id of the stored message.
    pub message_id: u64,
    /// Position of the entry in the session's queue; never 0, which keeps
    /// `Option<DurableRef>` (in every delivery) as small as `DurableRef`.
    pub seq: std::num::NonZeroU64,
    /// The batch that creates the entry, until it has been submitted; `None` for
    /// entries read back at start.
    pub(crate) submission: Option<Arc<crate::submission::Submission>>,
}

impl DurableRef {
    /// Whether the batch creating the entry has been submitted, so that changes to the
    /// entry may be recorded (see [`crate::submission::Submission`]).
    pub(crate) fn is_submitted(&self) -> bool {
        self.submission.as_ref().is_none_or(|s| s.is_submitted())
    }
}

/// One message on its way to one session.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message.
    pub message: Arc<Message>,
    /// The QoS to deliver with: the lower of the published and the subscribed QoS.
    pub qos: QoS,
    /// The RETAIN flag to send.
    pub retain: bool,
    /// Identifiers of the session's subscriptions that matched.
    pub subscription_ids: SmallVec<[NonZeroU32; 1]>,
    /// Set when delivered through a shared subscription.
    pub shared: Option<Arc<SharedRef>>,
    /// Set when the delivery is queued in durable storage.
    pub durable: Option<DurableRef>,
}

impl Delivery {
    /// A delivery of `message` at `qos` with no subscription identifiers.
    pub fn new(message: Arc<Message>, qos: QoS, retain: bool) -> Self {
        Self {
            message,
            qos,
            retain,
            subscription_ids: SmallVec::new(),
            shared: None,
            durable: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_expiry_counts_down_and_never_says_zero() {
        let now = Instant::now();
        let mut publish = Publish::new(TopicName::new("t").unwrap(), Bytes::new());
        publish.properties.message_expiry_interval = Some(10);
        let message = Message::from_publish(publish, now, None);
        assert_eq!(message.properties().message_expiry_interval, None);
        assert_eq!(message.remaining_expiry(now), Some(10));
        assert_eq!(
            message.remaining_expiry(now + Duration::from_millis(3_500)),
            Some(7)
        );
        assert_eq!(
            message.remaining_expiry(now + Duration::from_millis(9_999)),
            Some(1)
        );
        assert!(!message.is_expired(now + Duration::from_millis(9_999)));
        assert!(message.is_expired(now + Duration::from_secs(10)));
    }

    #[test]
    fn messages_without_expiry_never_expire() {
        let now = Instant::now();
        let message = Message::from_publish(
            Publish::new(TopicName::new("t").unwrap(), Bytes::new()),
            now,
            None,
        );
        assert_eq!(message.remaining_expiry(now), None);
        assert!(!message.is_expired(now + Duration::from_secs(1_000_000)));
    }
}
