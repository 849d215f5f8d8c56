//! [`MqttBroker`]: the service behind HTTP Publish and the retained-message API. It
//! holds HTTP callers to the rules MQTT clients follow: the same identities (a JWT from
//! the namespace's issuer), the same Publisher and Subscriber permission bindings, the
//! same broker limits, and the same moment of acceptance (a QoS 1 or 2 message is
//! accepted once it is durable for every persistent session it was queued for, as a
//! PUBACK would say).
//!
//! HTTP answers for what MQTT says with reason codes: a subscriber queue that refused
//! the message (overflow policy `refuse`, MQTT's Quota exceeded) and storage that
//! failed are 503 with `Retry-After`; a QoS 0 message is answered at once, as MQTT
//! never acknowledges one.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use gridmq_auth::AuthFailure;
use gridmq_codec::{
    PacketId, ProtocolVersion, Publish, PublishOverrides, PublishView, QoS, ReasonCode,
    TopicFilter, TopicName,
};
use gridmq_engine::inbox::Inbox;
use gridmq_engine::persist::{Ticket, TicketStatus};
use gridmq_engine::retained::RetainedEntry;
use gridmq_engine::{Broker, Message, Stats};
use gridmq_http::{
    Access, ApiError, BoxFuture, Credentials, FieldError, MqttService, Principal, RetainedMessage,
    RetainedPage,
};
use tracing::debug;

use crate::namespace::Namespace;

/// How long a client is asked to wait before retrying after a 503.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The broker and namespace as the MQTT routes use them.
#[derive(Debug)]
pub(crate) struct MqttBroker {
    pub(crate) broker: Arc<Broker>,
    pub(crate) namespace: Arc<Namespace>,
}

impl MqttBroker {
    /// The broker limits a PUBLISH from an MQTT client would be checked against.
    fn check_limits(&self, publish: &Publish) -> Result<(), ApiError> {
        let config = self.broker.config();
        let mut errors = Vec::new();
        if publish.qos > config.maximum_qos {
            errors.push(FieldError::new(
                "qos",
                format!(
                    "QoS {} is above this broker's maximum QoS {}",
                    publish.qos as u8, config.maximum_qos as u8
                ),
            ));
        }
        if publish.retain && !config.retain_available {
            errors.push(FieldError::new(
                "retain",
                "retained messages are not available on this broker",
            ));
        }
        let topic = &publish.topic;
        if topic.len() > config.max_topic_length {
            errors.push(FieldError::new(
                "topic",
                format!("is longer than {} bytes", config.max_topic_length),
            ));
        } else if topic.levels().count() > config.max_topic_levels {
            errors.push(FieldError::new(
                "topic",
                format!("has more than {} levels", config.max_topic_levels),
            ));
        }
        if publish.properties.payload_format_indicator == Some(true)
            && config.validate_utf8_payloads
            && std::str::from_utf8(&publish.payload).is_err()
        {
            errors.push(FieldError::new(
                "body",
                "is not UTF-8 although mqtt-payload-format-indicator is 1",
            ));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(
                "the message breaks the broker's limits",
                errors,
            ))
        }
    }

    async fn publish_checked(
        &self,
        principal: Principal,
        publish: Publish,
    ) -> Result<(), ApiError> {
        self.check_limits(&publish)?;
        if !principal.may_publish(&publish.topic) {
            debug!(caller = %principal.name, "HTTP publish refused: no Publisher rights on the topic");
            return Err(ApiError::forbidden(
                "not authorized to publish to this topic",
            ));
        }
        let now = Instant::now();
        let qos = publish.qos;
        let message = Arc::new(Message::from_publish(publish, now, None));
        let (mut report, ticket) = self.broker.publish_durable(message, now);
        let stats = self.broker.stats();
        Stats::add(&stats.messages_received, 1);
        Stats::add(
            &stats.dropped_queue_full,
            (report.dropped + report.refused) as u64,
        );
        if report.delivered + report.dropped + report.refused == 0 {
            Stats::add(&stats.unrouted, 1);
        }
        if !report.congested.is_empty() {
            let congested = std::mem::take(&mut report.congested).into_vec();
            self.wait_uncongested(congested).await;
        }
        if qos == QoS::AtMostOnce {
            return Ok(());
        }
        if report.refused > 0 {
            return Err(ApiError::unavailable(
                format!(
                    "a subscriber's message queue is full (MQTT reason {:?})",
                    ReasonCode::QuotaExceeded
                ),
                RETRY_AFTER,
            ));
        }
        durable(ticket).await
    }

    /// Holds the answer while subscriber queues the message filled are congested, as
    /// an MQTT publisher's connection stops being read, for at most the congestion
    /// timeout; after that the queues count as stalled, as they would for MQTT.
    async fn wait_uncongested(&self, mut inboxes: Vec<Arc<Inbox>>) {
        let timeout = self.broker.config().congestion_timeout;
        let drained = poll_fn(|cx| {
            inboxes.retain(|inbox| inbox.poll_uncongested(cx).is_pending());
            if inboxes.is_empty() {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        });
        if tokio::time::timeout(timeout, drained).await.is_err() {
            for inbox in &inboxes {
                inbox.mark_stalled();
            }
        }
    }

    /// A retained entry as the API describes it.
    fn describe(&self, entry: &RetainedEntry, now: Instant, with_payload: bool) -> RetainedMessage {
        let message = &entry.message;
        let expiry = message.remaining_expiry(now);
        let view = PublishView {
            dup: false,
            qos: message.qos,
            retain: true,
            topic: &message.topic,
            packet_id: (message.qos != QoS::AtMostOnce)
                .then(|| PacketId::new(1))
                .flatten(),
            properties: message.properties(),
            overrides: PublishOverrides {
                message_expiry_interval: expiry,
                topic_alias: None,
                subscription_identifiers: &[],
            },
            payload: &message.payload,
        };
        let clock = self.broker.clock();
        RetainedMessage {
            topic: message.topic.to_string(),
            qos: message.qos as u8,
            size: view
                .encoded_len(ProtocolVersion::V5)
                .unwrap_or_else(|_| message.size()),
            expiry: message.expires_at.map(|at| clock.wall(at).to_system()),
            last_modified: entry.modified.to_system(),
            content_type: message
                .properties()
                .content_type
                .as_deref()
                .map(str::to_owned),
            payload: if with_payload {
                message.payload.clone()
            } else {
                bytes::Bytes::new()
            },
        }
    }

    async fn remove_checked(&self, principal: Principal, topic: TopicName) -> Result<(), ApiError> {
        // Clearing a retained message is what publishing an empty one does.
        if !principal.may_publish(&topic) {
            return Err(ApiError::forbidden(
                "not authorized to publish to this topic, so not to clear its retained message",
            ));
        }
        match self.broker.remove_retained(&topic) {
            (false, _) => Err(no_retained()),
            (true, ticket) => durable(ticket).await,
        }
    }
}

/// Waits for a storage ticket: 503 when the write failed.
async fn durable(ticket: Option<Ticket>) -> Result<(), ApiError> {
    let Some(ticket) = ticket else {
        return Ok(());
    };
    match poll_fn(|cx| ticket.poll(cx)).await {
        TicketStatus::Failed => Err(ApiError::unavailable(
            "the message could not be stored (see the server log)",
            RETRY_AFTER,
        )),
        TicketStatus::Done | TicketStatus::Pending => Ok(()),
    }
}

fn no_retained() -> ApiError {
    ApiError::not_found("no retained message for this topic")
}

fn not_readable() -> ApiError {
    ApiError::forbidden(
        "not authorized to subscribe to this topic, so not to read its retained messages",
    )
}

fn refused_token(failure: &AuthFailure) -> ApiError {
    debug!("HTTP API: bearer token refused: {}", failure.log_message);
    if failure.reason == ReasonCode::ServerUnavailable {
        ApiError::unavailable(
            "the token cannot be checked now (its issuer's keys are unavailable)",
            RETRY_AFTER,
        )
    } else {
        ApiError::unauthorized("the bearer token is not valid")
    }
}

impl MqttService for MqttBroker {
    fn authenticate<'a>(
        &'a self,
        credentials: Credentials<'a>,
    ) -> BoxFuture<'a, Result<Principal, ApiError>> {
        Box::pin(async move {
            if !self.namespace.enforced() {
                // Open mode: anyone; each address gets its own rate limit.
                let name = credentials
                    .peer
                    .map_or_else(|| "anonymous".to_owned(), |p| p.ip().to_string());
                return Ok(Principal {
                    name: Arc::from(name),
                    access: Access::All,
                });
            }
            let Some(token) = credentials.bearer else {
                return Err(ApiError::unauthorized(
                    "a bearer token is required: a JWT from the namespace's issuer, or the admin token",
                ));
            };
            let bearer = self
                .namespace
                .bearer(token, credentials.host)
                .await
                .map_err(|failure| refused_token(&failure))?;
            Ok(Principal {
                name: bearer.name,
                access: Access::Rights(bearer.rights),
            })
        })
    }

    fn publish(
        &self,
        principal: Principal,
        publish: Publish,
    ) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(self.publish_checked(principal, publish))
    }

    fn retained(
        &self,
        principal: &Principal,
        topic: &TopicName,
    ) -> Result<RetainedMessage, ApiError> {
        if !principal.may_subscribe(topic) {
            return Err(not_readable());
        }
        let now = Instant::now();
        let entry = self
            .broker
            .retained()
            .get(topic, now)
            .ok_or_else(no_retained)?;
        Ok(self.describe(&entry, now, true))
    }

    fn retained_page(
        &self,
        principal: &Principal,
        filter: &TopicFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<RetainedPage, ApiError> {
        if !principal.may_subscribe(filter) {
            return Err(not_readable());
        }
        let now = Instant::now();
        let mut entries = self.broker.retained().page(filter, after, limit + 1, now);
        let more = entries.len() > limit;
        entries.truncate(limit);
        Ok(RetainedPage {
            items: entries
                .iter()
                .map(|e| self.describe(e, now, false))
                .collect(),
            more,
        })
    }

    fn remove_retained(
        &self,
        principal: Principal,
        topic: TopicName,
    ) -> BoxFuture<'_, Result<(), ApiError>> {
        Box::pin(self.remove_checked(principal, topic))
    }

    fn max_packet_size(&self) -> usize {
        usize::try_from(self.broker.config().max_packet_size).unwrap_or(usize::MAX)
    }
}
