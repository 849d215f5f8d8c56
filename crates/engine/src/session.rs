//! Session state: what MQTT keeps for a client id across connections (section 4.1) —
//! subscriptions, undelivered and unacknowledged messages, QoS 2 packet ids.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;

use gridmq_codec::{
    PacketId, QoS, RetainHandling, SubscribeOptions, SubscriptionFilter, Utf8Bytes,
};

use crate::inbox::Inbox;
use crate::message::{Delivery, SessionId};
use crate::persist::StoredSubscription;

/// One subscription as the session remembers it.
#[derive(Debug, Clone)]
pub struct SubscriptionRecord {
    /// The filter, parsed.
    pub filter: SubscriptionFilter,
    /// The options granted (QoS possibly lowered to the server maximum).
    pub options: SubscribeOptions,
    /// The Subscription Identifier, if any.
    pub id: Option<NonZeroU32>,
}

impl SubscriptionRecord {
    /// The stored form of this subscription to `raw` (the filter text as the client
    /// sent it).
    pub(crate) fn stored(&self, raw: &Utf8Bytes) -> StoredSubscription {
        StoredSubscription {
            filter: raw.to_string(),
            qos: self.options.qos as u8,
            no_local: self.options.no_local,
            retain_as_published: self.options.retain_as_published,
            retain_handling: self.options.retain_handling as u8,
            id: self.id.map(NonZeroU32::get),
        }
    }

    /// The subscription a stored record describes, with its filter text; `None` if the
    /// record is not valid.
    pub(crate) fn restored(stored: &StoredSubscription) -> Option<(Utf8Bytes, Self)> {
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
        let record = Self {
            filter,
            options,
            id: stored.id.and_then(NonZeroU32::new),
        };
        Some((raw, record))
    }
}

/// Where an outgoing QoS 1 or 2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboundStage {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitingPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitingPubRec,
    /// PUBREL sent, waiting for PUBCOMP.
    AwaitingPubComp,
}

/// An outgoing message the client has not fully acknowledged.
#[derive(Debug, Clone)]
pub struct InflightMessage {
    /// Its packet identifier on this session.
    pub packet_id: PacketId,
    /// The delivery, kept for resending.
    pub delivery: Delivery,
    /// Where the exchange stands.
    pub stage: OutboundStage,
}

/// A set of packet identifiers, allocated on first use: most sessions never hold one
/// (QoS 0 only, or never a QoS 2 publisher), and every session carries the set inline.
/// Once allocated it stays, so a busy session does not allocate per message.
#[derive(Debug, Default)]
#[expect(
    clippy::box_collection,
    reason = "an empty HashSet is 40 bytes inline; the box is 8 until first use"
)]
pub struct PacketIdSet(Option<Box<HashSet<u16, foldhash::fast::RandomState>>>);

impl PacketIdSet {
    /// Whether `id` is in the set.
    pub fn contains(&self, id: &u16) -> bool {
        self.0.as_ref().is_some_and(|set| set.contains(id))
    }

    /// Adds `id`; `false` if it was already there.
    pub fn insert(&mut self, id: u16) -> bool {
        self.0.get_or_insert_with(Box::default).insert(id)
    }

    /// Removes `id`; `false` if it was not there.
    pub fn remove(&mut self, id: &u16) -> bool {
        self.0.as_mut().is_some_and(|set| set.remove(id))
    }

    /// How many ids are in the set.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |set| set.len())
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Extend<u16> for PacketIdSet {
    fn extend<I: IntoIterator<Item = u16>>(&mut self, ids: I) {
        for id in ids {
            self.insert(id);
        }
    }
}

/// The messages sent to the client and not yet acknowledged, in send order.
#[derive(Debug, Default)]
pub struct Outbound {
    entries: VecDeque<InflightMessage>,
    in_use: PacketIdSet,
    next_id: u16,
}

impl Outbound {
    /// Number of messages in flight.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A packet identifier not in use, or `None` if all 65,535 are.
    pub fn allocate_id(&mut self) -> Option<PacketId> {
        if self.in_use.len() >= usize::from(u16::MAX) {
            return None;
        }
        loop {
            self.next_id = self.next_id.wrapping_add(1);
            if let Some(id) = PacketId::new(self.next_id) {
                if !self.in_use.contains(&id.get()) {
                    return Some(id);
                }
            }
        }
    }

    /// Records a message sent with `packet_id`.
    pub fn push(&mut self, message: InflightMessage) {
        self.in_use.insert(message.packet_id.get());
        self.entries.push_back(message);
    }

    /// The in-flight message with this id, if it is at `stage`.
    pub fn find_mut(&mut self, packet_id: PacketId) -> Option<&mut InflightMessage> {
        // Acknowledgements mostly arrive in send order: the front usually matches.
        self.entries.iter_mut().find(|m| m.packet_id == packet_id)
    }

    /// Removes and returns the in-flight message with this id.
    pub fn remove(&mut self, packet_id: PacketId) -> Option<InflightMessage> {
        let index = self.entries.iter().position(|m| m.packet_id == packet_id)?;
        self.in_use.remove(&packet_id.get());
        self.entries.remove(index)
    }

    /// The in-flight messages in send order.
    pub fn iter(&self) -> impl Iterator<Item = &InflightMessage> {
        self.entries.iter()
    }

    /// Removes and returns the messages `select` picks.
    pub fn extract(
        &mut self,
        mut select: impl FnMut(&InflightMessage) -> bool,
    ) -> Vec<InflightMessage> {
        let mut taken = Vec::new();
        let mut kept = VecDeque::with_capacity(self.entries.len());
        for message in self.entries.drain(..) {
            if select(&message) {
                self.in_use.remove(&message.packet_id.get());
                taken.push(message);
            } else {
                kept.push_back(message);
            }
        }
        self.entries = kept;
        taken
    }
}

/// Everything MQTT keeps for one session, connected or not.
#[derive(Debug)]
pub struct Session {
    /// Unique id of this session.
    pub id: SessionId,
    /// The client identifier (session name).
    pub client_id: Utf8Bytes,
    /// The authentication name that owns the session, in namespace mode.
    pub owner: Option<Utf8Bytes>,
    /// Deliveries the router queued for this session.
    pub inbox: Arc<Inbox>,
    /// Deliveries taken from the inbox and not yet sent.
    pub pending: VecDeque<Delivery>,
    /// Subscriptions by the filter text the client used (with any `$share/` prefix).
    pub subscriptions: HashMap<Utf8Bytes, SubscriptionRecord, foldhash::fast::RandomState>,
    /// Outgoing QoS 1/2 messages not yet acknowledged.
    pub outbound: Outbound,
    /// Packet ids of incoming QoS 2 messages acknowledged with PUBREC and awaiting PUBREL.
    pub inbound_qos2: PacketIdSet,
    /// Session Expiry Interval in seconds; 0 ends the session with the connection and
    /// `u32::MAX` never expires it.
    pub expiry_interval: u32,
    /// Whether a record of this session is in durable storage.
    pub stored: bool,
}

impl Session {
    /// Whether the session outlives its connection, so its state is kept durable.
    pub fn is_persistent(&self) -> bool {
        self.expiry_interval > 0
    }

    /// A new, empty session.
    pub fn new(
        id: SessionId,
        client_id: Utf8Bytes,
        owner: Option<Utf8Bytes>,
        inbox: Arc<Inbox>,
    ) -> Self {
        Self {
            id,
            client_id,
            owner,
            inbox,
            pending: VecDeque::new(),
            subscriptions: HashMap::default(),
            outbound: Outbound::default(),
            inbound_qos2: PacketIdSet::default(),
            expiry_interval: 0,
            stored: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_ids_skip_those_in_use_and_wrap() {
        let mut outbound = Outbound {
            next_id: u16::MAX - 1,
            ..Default::default()
        };
        let a = outbound.allocate_id().unwrap();
        assert_eq!(a.get(), u16::MAX);
        let b = outbound.allocate_id().unwrap();
        assert_eq!(b.get(), 1, "wraps past zero");
        outbound.in_use.insert(2);
        assert_eq!(outbound.allocate_id().unwrap().get(), 3);
    }
}
