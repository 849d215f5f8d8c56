//! Deliveries to the client: the in-flight window, packet ids, expiry, the client's
//! Maximum Packet Size, redelivery after reconnect, durability of in-flight state, and
//! encoding into the write buffer.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::BytesMut;
use gridmq_codec::{
    EncodeError, Packet, PacketId, ProtocolVersion, PublishAck, PublishOverrides, PublishView, QoS,
    ReasonCode, encode_publish,
};

use super::{Connection, Held, Wait};
use crate::durable::stored_entry;
use crate::message::Delivery;
use crate::persist::{Change, EntryState};
use crate::session::{InflightMessage, OutboundStage};

impl Connection {
    /// Encodes what is ready to send into `buf` until it holds `budget` bytes: control
    /// packets first (acknowledgements once what they confirm is durable), then
    /// redeliveries, then queued messages as far as the client's Receive Maximum allows.
    /// Returns whether more is ready (call again once the buffer has been written).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut BytesMut, budget: usize) -> bool {
        let start = buf.len();
        self.submit_changes();
        self.transmit_control(buf);
        let more = self.ending.is_none()
            && self.release_held(buf)
            && (self.transmit_resends(now, buf, budget)
                || self.transmit_deliveries(now, buf, budget));
        self.submit_changes();
        self.transmit_control(buf);
        let written = buf.len() - start;
        if written > 0 {
            crate::stats::Stats::add(&self.broker.stats().bytes_sent, written as u64);
        }
        self.stats.flush(self.broker.stats());
        more
    }

    /// Whether the client's Receive Maximum (or our in-flight cap) is reached.
    pub(super) fn window_full(&self) -> bool {
        let window = self
            .client
            .receive_maximum
            .min(self.broker.config().max_inflight);
        self.session.outbound.len() >= usize::from(window)
    }

    /// Sends control packets in order, stopping at one that waits for durability.
    fn transmit_control(&mut self, buf: &mut BytesMut) {
        while let Some(front) = self.control_out.front() {
            let Some(durable) = front.wait.outcome() else {
                return;
            };
            let Some(outgoing) = self.control_out.pop_front() else {
                return;
            };
            let waited = !matches!(outgoing.wait, Wait::None);
            let mut packet = outgoing.packet;
            if waited {
                if let Packet::PubAck(_) | Packet::PubRec(_) = packet {
                    self.acks_awaiting_durability = self.acks_awaiting_durability.saturating_sub(1);
                }
                if !durable {
                    self.degrade_unstored(&mut packet);
                }
            }
            // A control packet that does not fit the client's limit even without its
            // diagnostics cannot be sent at all; the encoder already dropped them.
            let _ = packet.encode(self.version, self.client.max_packet_size, buf);
        }
        if self.control_out.is_empty() && self.control_out.capacity() > 0 {
            // Packets are large: an idle connection should not keep room for them.
            self.control_out = VecDeque::new();
        }
    }

    /// Turns an acknowledgement of something that could not be stored into a refusal:
    /// the publisher must not believe an unstored message was accepted.
    fn degrade_unstored(&mut self, packet: &mut Packet) {
        let is_pubrec = matches!(packet, Packet::PubRec(_));
        match packet {
            Packet::PubAck(ack) | Packet::PubRec(ack) => {
                if is_pubrec {
                    self.session.inbound_qos2.remove(&ack.packet_id.get());
                }
                ack.reason_code = ReasonCode::QuotaExceeded;
                ack.properties.reason_string = Some("the message could not be stored".into());
            }
            Packet::SubAck(ack) => {
                for code in &mut ack.reason_codes {
                    *code = ReasonCode::UnspecifiedError;
                }
            }
            _ => {}
        }
    }

    /// Appends held deliveries once their state is durable; returns whether nothing is
    /// held any more (so further deliveries may be sent).
    fn release_held(&mut self, buf: &mut BytesMut) -> bool {
        let Some(held) = &self.held else {
            return true;
        };
        if held.wait.outcome().is_none() {
            return false;
        }
        if let Some(held) = self.held.take() {
            buf.extend_from_slice(&held.bytes);
        }
        true
    }

    /// Resends unacknowledged messages after a reconnect, DUP set ([MQTT-4.4.0-1]).
    fn transmit_resends(&mut self, now: Instant, buf: &mut BytesMut, budget: usize) -> bool {
        let (version, max) = (self.version, self.client.max_packet_size);
        while let Some(id) = self.resend.pop_front() {
            if buf.len() >= budget {
                self.resend.push_front(id);
                return true;
            }
            let Some(message) = self.session.outbound.find_mut(id) else {
                continue;
            };
            if message.stage == OutboundStage::AwaitingPubComp {
                let _ = Packet::PubRel(PublishAck::new(id)).encode(version, max, buf);
                continue;
            }
            let expiry = message.delivery.message.remaining_expiry(now);
            let _ = encode_delivery(version, max, &message.delivery, Some(id), true, expiry, buf);
        }
        false
    }

    fn transmit_deliveries(&mut self, now: Instant, buf: &mut BytesMut, budget: usize) -> bool {
        loop {
            let held = self.held.as_ref().map_or(0, |held| held.bytes.len());
            if buf.len() + held >= budget {
                return true;
            }
            if self.session.pending.is_empty() {
                self.session.inbox.take_all(&mut self.session.pending);
            }
            let Some(front) = self.session.pending.front_mut() else {
                return false;
            };
            if let Some(durable) = front.durable.as_mut() {
                if !durable.is_submitted() {
                    // Its publisher has not submitted the batch that stores it yet: wait
                    // (`poll_durable`), keeping order ([MQTT-4.6.0-6]).
                    return false;
                }
                // Seen submitted: `poll_durable` must not report it again, or a driver
                // whose window is full would spin.
                durable.submission = None;
            }
            if front.message.is_expired(now) {
                if let Some(delivery) = self.session.pending.pop_front() {
                    self.forget_durable(&delivery);
                }
                self.stats.dropped_expired += 1;
                continue;
            }
            if front.qos != QoS::AtMostOnce && self.window_full() {
                // Keep order: later messages wait behind this one ([MQTT-4.6.0-6]).
                return false;
            }
            let Some(delivery) = self.session.pending.pop_front() else {
                return false;
            };
            self.send_delivery(now, delivery, buf);
        }
    }

    fn send_delivery(&mut self, now: Instant, delivery: Delivery, buf: &mut BytesMut) {
        let expiry = delivery.message.remaining_expiry(now);
        let (version, max) = (self.version, self.client.max_packet_size);
        if delivery.qos == QoS::AtMostOnce {
            let target = match &mut self.held {
                Some(held) => &mut held.bytes,
                None => buf,
            };
            match encode_delivery(version, max, &delivery, None, false, expiry, target) {
                Ok(()) => self.stats.messages_sent += 1,
                Err(_) => self.stats.dropped_too_large += 1,
            }
            return;
        }
        let Some(packet_id) = self.session.outbound.allocate_id() else {
            self.session.pending.push_front(delivery);
            return;
        };
        let exactly_once = delivery.qos == QoS::ExactlyOnce;
        // A QoS 2 delivery to a persistent session goes out only once its packet id is
        // durable, so that a restart can never send it again as a new message.
        if exactly_once && delivery.durable.is_some() && self.session.stored && self.held.is_none()
        {
            self.held = Some(Box::new(Held {
                wait: Wait::CurrentBatch,
                bytes: BytesMut::new(),
            }));
        }
        let target = match &mut self.held {
            Some(held) => &mut held.bytes,
            None => buf,
        };
        match encode_delivery(
            version,
            max,
            &delivery,
            Some(packet_id),
            false,
            expiry,
            target,
        ) {
            Ok(()) => {
                self.stats.messages_sent += 1;
                let (stage, state) = if exactly_once {
                    (
                        OutboundStage::AwaitingPubRec,
                        EntryState::AwaitingPubRec(packet_id.get()),
                    )
                } else {
                    (
                        OutboundStage::AwaitingPubAck,
                        EntryState::AwaitingPubAck(packet_id.get()),
                    )
                };
                self.record_entry(&delivery, state);
                self.session.outbound.push(InflightMessage {
                    packet_id,
                    delivery,
                    stage,
                });
            }
            // [MQTT-3.1.2-25] Too large for the client: discarded as if delivered.
            Err(_) => {
                self.stats.dropped_too_large += 1;
                self.forget_durable(&delivery);
            }
        }
    }

    /// Records a new state of a durable delivery; returns whether it did.
    pub(super) fn record_entry(&mut self, delivery: &Delivery, state: EntryState) -> bool {
        match &delivery.durable {
            Some(durable) => self.record(Change::PutEntry {
                session_id: self.session.id.0,
                seq: durable.seq.get(),
                entry: stored_entry(durable.message_id, delivery, state),
            }),
            None => false,
        }
    }

    /// Records that a durable delivery is done with (acknowledged, expired, dropped).
    pub(super) fn forget_durable(&mut self, delivery: &Delivery) {
        if let Some(durable) = &delivery.durable {
            self.record(Change::DeleteEntry {
                session_id: self.session.id.0,
                seq: durable.seq.get(),
            });
        }
    }
}

fn encode_delivery(
    version: ProtocolVersion,
    max_packet_size: usize,
    delivery: &Delivery,
    packet_id: Option<PacketId>,
    dup: bool,
    message_expiry_interval: Option<u32>,
    buf: &mut BytesMut,
) -> Result<(), EncodeError> {
    let message = &delivery.message;
    let view = PublishView {
        dup,
        qos: delivery.qos,
        retain: delivery.retain,
        topic: &message.topic,
        packet_id,
        properties: message.properties(),
        overrides: PublishOverrides {
            message_expiry_interval,
            topic_alias: None,
            subscription_identifiers: &delivery.subscription_ids,
        },
        payload: &message.payload,
    };
    encode_publish(&view, version, max_packet_size, buf).map(|_| ())
}
