//! Deliveries to the client: the in-flight window, packet ids, expiry, the client's
//! Maximum Packet Size, redelivery after reconnect, and encoding into the write buffer.

use std::time::Instant;

use bytes::BytesMut;
use gridmq_codec::{
    EncodeError, Packet, PublishAck, PublishOverrides, PublishView, QoS, encode_publish,
};

use super::Connection;
use crate::message::Delivery;
use crate::session::{InflightMessage, OutboundStage};

impl Connection {
    /// Encodes what is ready to send into `buf` until it holds `budget` bytes: control
    /// packets first, then redeliveries, then queued messages as far as the client's
    /// Receive Maximum allows. Returns whether more is ready (call again once the buffer
    /// has been written).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut BytesMut, budget: usize) -> bool {
        let start = buf.len();
        while let Some(packet) = self.control_out.pop_front() {
            // A control packet that does not fit the client's limit even without its
            // diagnostics cannot be sent at all; the encoder already dropped them.
            let _ = packet.encode(self.version, self.client.max_packet_size, buf);
        }
        let more = self.ending.is_none()
            && (self.transmit_resends(now, buf, budget)
                || self.transmit_deliveries(now, buf, budget));
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

    /// Resends unacknowledged messages after a reconnect, DUP set ([MQTT-4.4.0-1]).
    fn transmit_resends(&mut self, now: Instant, buf: &mut BytesMut, budget: usize) -> bool {
        while let Some(id) = self.resend.pop_front() {
            if buf.len() >= budget {
                self.resend.push_front(id);
                return true;
            }
            let Some(message) = self.session.outbound.find_mut(id) else {
                continue;
            };
            if message.stage == OutboundStage::AwaitingPubComp {
                let _ = Packet::PubRel(PublishAck::new(id)).encode(
                    self.version,
                    self.client.max_packet_size,
                    buf,
                );
                continue;
            }
            let delivery = message.delivery.clone();
            let expiry = delivery.message.remaining_expiry(now);
            let _ = self.encode_delivery(&delivery, Some(id), true, expiry, buf);
        }
        false
    }

    fn transmit_deliveries(&mut self, now: Instant, buf: &mut BytesMut, budget: usize) -> bool {
        loop {
            if buf.len() >= budget {
                return true;
            }
            if self.session.pending.is_empty() {
                self.session.inbox.take_all(&mut self.session.pending);
            }
            let Some(front) = self.session.pending.front() else {
                return false;
            };
            if front.message.is_expired(now) {
                self.session.pending.pop_front();
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
        if delivery.qos == QoS::AtMostOnce {
            match self.encode_delivery(&delivery, None, false, expiry, buf) {
                Ok(()) => self.stats.messages_sent += 1,
                Err(_) => self.stats.dropped_too_large += 1,
            }
            return;
        }
        let Some(packet_id) = self.session.outbound.allocate_id() else {
            self.session.pending.push_front(delivery);
            return;
        };
        match self.encode_delivery(&delivery, Some(packet_id), false, expiry, buf) {
            Ok(()) => {
                self.stats.messages_sent += 1;
                let stage = if delivery.qos == QoS::ExactlyOnce {
                    OutboundStage::AwaitingPubRec
                } else {
                    OutboundStage::AwaitingPubAck
                };
                self.session.outbound.push(InflightMessage {
                    packet_id,
                    delivery,
                    stage,
                });
            }
            // [MQTT-3.1.2-25] Too large for the client: discarded as if delivered.
            Err(_) => self.stats.dropped_too_large += 1,
        }
    }

    fn encode_delivery(
        &self,
        delivery: &Delivery,
        packet_id: Option<gridmq_codec::PacketId>,
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
            properties: &message.properties,
            overrides: PublishOverrides {
                message_expiry_interval,
                topic_alias: None,
                subscription_identifiers: &delivery.subscription_ids,
            },
            payload: &message.payload,
        };
        encode_publish(&view, self.version, self.client.max_packet_size, buf).map(|_| ())
    }
}
