//! Will messages: published when a connection ends without a normal DISCONNECT,
//! possibly after a delay (MQTT 5.0 section 3.1.3.2).

use std::time::{Duration, Instant};

use gridmq_codec::{PublishProperties, Will};

use crate::message::{Message, SessionId};

/// A will waiting for its delay to run out.
#[derive(Debug, Clone)]
pub struct PendingWill {
    /// The will as the client sent it.
    pub will: Will,
    /// When to publish it.
    pub due: Instant,
}

impl PendingWill {
    /// The will of a connection that ended at `now`, due after its Will Delay Interval
    /// but never after the session ends ([MQTT-3.1.3-9]).
    pub fn new(will: Will, now: Instant, session_expiry: u32) -> Self {
        let delay = will
            .properties
            .will_delay_interval
            .unwrap_or(0)
            .min(session_expiry);
        Self {
            will,
            due: now + Duration::from_secs(u64::from(delay)),
        }
    }
}

/// The message a will publishes, stamped at the moment of publication so that its
/// Message Expiry Interval starts then.
pub fn will_message(will: &Will, now: Instant, _session: SessionId) -> Message {
    let p = &will.properties;
    let properties = PublishProperties {
        payload_format_indicator: p.payload_format_indicator,
        message_expiry_interval: None,
        topic_alias: None,
        response_topic: p.response_topic.clone(),
        correlation_data: p.correlation_data.clone(),
        user_properties: p.user_properties.clone(),
        subscription_identifiers: Vec::new(),
        content_type: p.content_type.clone(),
    };
    Message {
        topic: will.topic.clone(),
        payload: will.payload.clone(),
        qos: will.qos,
        retain: will.retain,
        properties: Message::box_properties(properties),
        expires_at: p
            .message_expiry_interval
            .map(|secs| now + Duration::from_secs(u64::from(secs))),
        // A will is not the client's own publication for No Local: the client is gone.
        origin: None,
    }
}
