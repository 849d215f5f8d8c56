//! SUBSCRIBE and UNSUBSCRIBE, including retained messages sent on subscription.

use std::time::Instant;

use gridmq_codec::{
    AckProperties, Packet, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionFilter,
    TopicFilter, UnsubAck, Unsubscribe, Utf8Bytes,
};

use super::Connection;
use crate::authz::Authorizer;
use crate::broker::Broker;
use crate::message::Delivery;
use crate::persist::Change;
use crate::router::Subscriber;
use crate::session::{Session, SubscriptionRecord};

/// Removes the subscriptions of a resumed session that `authorizer` no longer allows
/// (its permissions changed while it was away); returns how many.
pub(super) fn drop_unauthorized(
    broker: &Broker,
    session: &mut Session,
    authorizer: &dyn Authorizer,
) -> usize {
    let denied: Vec<Utf8Bytes> = session
        .subscriptions
        .iter()
        .filter(|(_, record)| !authorizer.may_subscribe(record.filter.filter()))
        .map(|(raw, _)| raw.clone())
        .collect();
    for raw in &denied {
        if let Some(record) = session.subscriptions.remove(raw) {
            broker.router().unsubscribe(&record.filter, session.id);
        }
    }
    denied.len()
}

impl Connection {
    pub(super) fn on_subscribe(&mut self, now: Instant, subscribe: Subscribe) {
        let subscription_id = subscribe.properties.subscription_identifier;
        let mut reason_codes = Vec::with_capacity(subscribe.subscriptions.len());
        for request in subscribe.subscriptions {
            let filter = match self.parse_filter(&request.filter) {
                Ok(filter) => filter,
                Err(reason) => {
                    reason_codes.push(reason);
                    continue;
                }
            };
            if request.options.no_local && filter.group().is_some() {
                return self.protocol_error(
                    ReasonCode::ProtocolError,
                    "[MQTT-3.8.3-4] No Local on a shared subscription",
                );
            }
            if !self.authorizer.may_subscribe(filter.filter()) {
                reason_codes.push(ReasonCode::NotAuthorized);
                continue;
            }
            let is_new = !self.session.subscriptions.contains_key(&request.filter);
            if is_new
                && self.session.subscriptions.len()
                    >= self.broker.config().max_subscriptions_per_session
            {
                reason_codes.push(ReasonCode::QuotaExceeded);
                continue;
            }
            let mut options = request.options;
            options.qos = options.qos.min(self.broker.config().maximum_qos);
            let existed = self.broker.router().subscribe(
                &filter,
                Subscriber {
                    session: self.session.id,
                    inbox: self.session.inbox.clone(),
                    options,
                    id: subscription_id,
                },
            );
            let send_retained = filter.group().is_none()
                && match options.retain_handling {
                    RetainHandling::SendAtSubscribe => true,
                    RetainHandling::SendIfNew => !existed,
                    RetainHandling::DoNotSend => false,
                };
            if send_retained {
                self.queue_retained(now, filter.filter(), options.qos, subscription_id);
            }
            self.session.subscriptions.insert(
                request.filter,
                SubscriptionRecord {
                    filter,
                    options,
                    id: subscription_id,
                },
            );
            reason_codes.push(ReasonCode::granted(options.qos));
        }
        let suback = Packet::SubAck(SubAck {
            packet_id: subscribe.packet_id,
            properties: AckProperties::default(),
            reason_codes,
        });
        self.send_after_session_change(suback);
    }

    /// Sends a SUBACK / UNSUBACK; for a stored session, only once the changed
    /// subscriptions are durable.
    fn send_after_session_change(&mut self, packet: Packet) {
        if self.session.stored && self.broker.persistence().is_some() {
            let record = self.broker.session_record(&self.session, None, None);
            self.record(Change::PutSession(record));
            self.send_when_durable(packet);
        } else {
            self.send(packet);
        }
    }

    /// Parses and checks a filter from SUBSCRIBE or UNSUBSCRIBE; 0x8F when invalid
    /// (v3 clients see SUBACK 0x80).
    fn parse_filter(&self, raw: &Utf8Bytes) -> Result<SubscriptionFilter, ReasonCode> {
        let filter = SubscriptionFilter::parse(raw).map_err(|_| ReasonCode::TopicFilterInvalid)?;
        let config = self.broker.config();
        if raw.len() > config.max_topic_length
            || filter.filter().levels().count() > config.max_topic_levels
        {
            return Err(ReasonCode::TopicFilterInvalid);
        }
        Ok(filter)
    }

    /// Queues the retained messages `filter` matches, after the SUBACK; they keep
    /// RETAIN 1 ([MQTT-3.3.1-9]).
    fn queue_retained(
        &mut self,
        now: Instant,
        filter: &TopicFilter,
        granted: gridmq_codec::QoS,
        subscription_id: Option<std::num::NonZeroU32>,
    ) {
        let pending = &mut self.session.pending;
        self.broker
            .retained()
            .for_each_match(filter, now, |message| {
                let mut delivery = Delivery::new(message.clone(), message.qos.min(granted), true);
                delivery.subscription_ids.extend(subscription_id);
                pending.push_back(delivery);
            });
    }

    pub(super) fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let mut reason_codes = Vec::with_capacity(unsubscribe.filters.len());
        for raw in &unsubscribe.filters {
            let reason = match self.session.subscriptions.remove(raw) {
                Some(record) => {
                    self.broker
                        .router()
                        .unsubscribe(&record.filter, self.session.id);
                    ReasonCode::Success
                }
                None if self.parse_filter(raw).is_err() => ReasonCode::TopicFilterInvalid,
                None => ReasonCode::NoSubscriptionExisted,
            };
            reason_codes.push(reason);
        }
        let unsuback = Packet::UnsubAck(UnsubAck {
            packet_id: unsubscribe.packet_id,
            properties: AckProperties::default(),
            reason_codes,
        });
        self.send_after_session_change(unsuback);
    }
}
