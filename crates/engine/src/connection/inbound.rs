//! PUBLISH from the client (QoS 0, 1 and the receiving half of QoS 2), and the
//! acknowledgements the client sends for our deliveries.

use std::sync::Arc;
use std::time::Instant;

use gridmq_codec::{Packet, Publish, PublishAck, QoS, ReasonCode};

use super::Connection;
use crate::message::Message;
use crate::persist::{Change, EntryState};
use crate::session::OutboundStage;
use crate::stats::LocalStats;

impl Connection {
    pub(super) fn on_publish(&mut self, now: Instant, mut publish: Publish) {
        if let Err((reason, message)) = self.resolve_topic_alias(&mut publish) {
            return self.protocol_error(reason, message);
        }
        let config = self.broker.config();
        if publish.qos > config.maximum_qos {
            return self.protocol_error(
                ReasonCode::QosNotSupported,
                format!(
                    "[MQTT-3.2.2-11] QoS {} exceeds the maximum QoS",
                    publish.qos as u8
                ),
            );
        }
        if publish.retain && !config.retain_available {
            return self.protocol_error(
                ReasonCode::RetainNotSupported,
                "[MQTT-3.2.2-14] retained messages are not available",
            );
        }
        if let Some(message) = self.topic_limit_violation(&publish.topic) {
            return self.reject(&publish, ReasonCode::TopicNameInvalid, message);
        }
        if let Some(id) = publish.packet_id {
            if publish.qos == QoS::ExactlyOnce && self.session.inbound_qos2.contains(&id.get()) {
                // A retransmission of a message we already took: acknowledge it again
                // without routing it twice ([MQTT-4.3.3-10]).
                return self.send(Packet::PubRec(PublishAck::new(id)));
            }
            let outstanding =
                self.session.inbound_qos2.len() + self.acks_awaiting_durability as usize;
            if outstanding >= usize::from(config.receive_maximum) {
                return self.protocol_error(
                    ReasonCode::ReceiveMaximumExceeded,
                    "[MQTT-3.3.4-9] more unacknowledged QoS 1/2 messages than Receive Maximum",
                );
            }
        }
        if self.version.is_v5()
            && publish.properties.payload_format_indicator == Some(true)
            && config.validate_utf8_payloads
            && std::str::from_utf8(&publish.payload).is_err()
        {
            return self.reject(
                &publish,
                ReasonCode::PayloadFormatInvalid,
                "[MQTT-3.3.2-4] payload flagged as UTF-8 is not valid UTF-8",
            );
        }
        if !self.authorizer.may_publish(&publish.topic) {
            return self.reject(
                &publish,
                ReasonCode::NotAuthorized,
                "not authorized to publish to this topic",
            );
        }

        let (qos, packet_id, retain) = (publish.qos, publish.packet_id, publish.retain);
        let message = Arc::new(Message::from_publish(publish, now, Some(self.session.id)));
        let (mut report, changes) =
            self.broker
                .publish_logged(message, now, &mut self.submit_guard);
        if !report.congested.is_empty() {
            self.throttle_on(now, std::mem::take(&mut report.congested));
        }
        let must_be_durable = !changes.is_empty();
        self.changes.extend(changes);
        self.stats.messages_received += 1;
        // A refusal under the `refuse` policy drops the message too.
        LocalStats::add(
            &mut self.stats.dropped_queue_full,
            report.dropped + report.refused,
        );
        // A subscriber whose full queue dropped or refused the message still matched it.
        let matched = report.delivered + report.dropped + report.refused > 0;
        if !matched {
            self.stats.unrouted += 1;
        }
        let reason = if report.refused > 0 {
            ReasonCode::QuotaExceeded
        } else if !matched && !retain {
            ReasonCode::NoMatchingSubscribers
        } else {
            ReasonCode::Success
        };
        let Some(id) = packet_id else {
            return;
        };
        let mut ack = PublishAck::with_reason(id, reason);
        if reason == ReasonCode::QuotaExceeded {
            ack.properties.reason_string = Some("a subscriber's message queue is full".into());
        }
        let packet = if qos == QoS::ExactlyOnce {
            if !reason.is_error() {
                self.session.inbound_qos2.insert(id.get());
                self.record(Change::PutInboundQos2 {
                    session_id: self.session.id.0,
                    packet_id: id.get(),
                });
            }
            Packet::PubRec(ack)
        } else {
            Packet::PubAck(ack)
        };
        if must_be_durable {
            // The publisher hears "accepted" only once the message is stored
            // for every persistent session it was queued for.
            self.acks_awaiting_durability += 1;
            self.send_when_durable(packet);
        } else {
            self.send(packet);
        }
    }

    /// Replaces an aliased topic with its name, or records a new alias
    /// ([MQTT-3.3.2-9] .. [MQTT-3.3.2-12]).
    fn resolve_topic_alias(&mut self, publish: &mut Publish) -> Result<(), (ReasonCode, String)> {
        let Some(alias) = publish.properties.topic_alias.take() else {
            return Ok(());
        };
        let maximum = self.broker.config().topic_alias_maximum;
        if alias.get() > maximum {
            return Err((
                ReasonCode::TopicAliasInvalid,
                format!("[MQTT-3.3.2-9] topic alias {alias} exceeds the maximum of {maximum}"),
            ));
        }
        let slot = usize::from(alias.get() - 1);
        if publish.topic.is_empty() {
            match self.aliases_in.get(slot).and_then(Option::as_ref) {
                Some(topic) => publish.topic = topic.clone(),
                None => {
                    return Err((
                        ReasonCode::ProtocolError,
                        format!(
                            "[MQTT-3.3.2-7] topic alias {alias} was never set on this connection"
                        ),
                    ));
                }
            }
        } else {
            if self.aliases_in.len() <= slot {
                self.aliases_in.resize(slot + 1, None);
            }
            // The alias outlives this packet: own the bytes rather than pin the buffer.
            self.aliases_in[slot] = Some(publish.topic.compact());
        }
        Ok(())
    }

    fn topic_limit_violation(&self, topic: &str) -> Option<String> {
        let config = self.broker.config();
        if topic.len() > config.max_topic_length {
            Some(format!(
                "topic longer than {} bytes",
                config.max_topic_length
            ))
        } else if topic.split('/').count() > config.max_topic_levels {
            Some(format!(
                "topic has more than {} levels",
                config.max_topic_levels
            ))
        } else {
            None
        }
    }

    /// Refuses a PUBLISH: v5 acknowledges QoS 1/2 with `reason` (QoS 0 is dropped, or the
    /// connection closed for an invalid payload); v3 has no way to say no and closes.
    fn reject(&mut self, publish: &Publish, reason: ReasonCode, message: impl Into<String>) {
        let message = message.into();
        if !self.version.is_v5() {
            return self.close(reason, message);
        }
        match publish.packet_id {
            Some(id) => {
                let mut ack = PublishAck::with_reason(id, reason);
                ack.properties.reason_string = Some(message.into());
                if publish.qos == QoS::ExactlyOnce {
                    self.send(Packet::PubRec(ack));
                } else {
                    self.send(Packet::PubAck(ack));
                }
            }
            None if reason == ReasonCode::PayloadFormatInvalid => {
                self.protocol_error(reason, message)
            }
            None => {}
        }
    }

    pub(super) fn on_pubrel(&mut self, ack: PublishAck) {
        let id = ack.packet_id;
        if !self.session.inbound_qos2.remove(&id.get()) {
            let reply = PublishAck::with_reason(id, ReasonCode::PacketIdentifierNotFound);
            return self.send(Packet::PubComp(reply));
        }
        let recorded = self.record(Change::DeleteInboundQos2 {
            session_id: self.session.id.0,
            packet_id: id.get(),
        });
        // PUBCOMP frees the id for the client's next message: were it stored still, a
        // restart would take that message for a retransmission and drop it.
        self.send_when_recorded(Packet::PubComp(PublishAck::new(id)), recorded);
    }

    pub(super) fn on_puback(&mut self, ack: PublishAck) {
        let id = ack.packet_id;
        if self
            .session
            .outbound
            .find_mut(id)
            .is_some_and(|m| m.stage == OutboundStage::AwaitingPubAck)
        {
            if let Some(done) = self.session.outbound.remove(id) {
                self.forget_durable(&done.delivery);
            }
        }
    }

    pub(super) fn on_pubrec(&mut self, ack: PublishAck) {
        let id = ack.packet_id;
        match self.session.outbound.find_mut(id).map(|m| m.stage) {
            Some(OutboundStage::AwaitingPubRec) if ack.reason_code.is_error() => {
                // A PUBREC with an error code ends the exchange (MQTT 5.0 section 4.3.3).
                if let Some(done) = self.session.outbound.remove(id) {
                    self.forget_durable(&done.delivery);
                }
            }
            Some(stage @ (OutboundStage::AwaitingPubRec | OutboundStage::AwaitingPubComp)) => {
                let mut delivery = None;
                if let Some(message) = self.session.outbound.find_mut(id) {
                    message.stage = OutboundStage::AwaitingPubComp;
                    delivery =
                        (stage == OutboundStage::AwaitingPubRec).then(|| message.delivery.clone());
                }
                let recorded = delivery.is_some_and(|delivery| {
                    self.record_entry(&delivery, EntryState::AwaitingPubComp(id.get()))
                });
                // PUBREL lets the client forget the id: were AwaitingPubRec stored still,
                // a restart would resend the PUBLISH and the client take it as new.
                self.send_when_recorded(Packet::PubRel(PublishAck::new(id)), recorded);
            }
            Some(OutboundStage::AwaitingPubAck) | None => {
                self.send(Packet::PubRel(PublishAck::with_reason(
                    id,
                    ReasonCode::PacketIdentifierNotFound,
                )));
            }
        }
    }

    pub(super) fn on_pubcomp(&mut self, ack: PublishAck) {
        let id = ack.packet_id;
        if self
            .session
            .outbound
            .find_mut(id)
            .is_some_and(|m| m.stage == OutboundStage::AwaitingPubComp)
        {
            if let Some(done) = self.session.outbound.remove(id) {
                self.forget_durable(&done.delivery);
            }
        }
    }
}
