//! MQTT 5.0 properties (section 2.2.2), one typed struct per packet kind.
//!
//! Decoding rejects unknown identifiers, properties that do not belong to the packet,
//! duplicates of single-valued properties and out-of-range values. Encoding computes
//! sizes first; `trim` leaves out the Reason String and User Properties, which the
//! spec lets a sender drop to fit the peer's Maximum Packet Size.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::primitives::{
    MAX_VARINT, UserProperty, Utf8Bytes, binary_len, check_field, read_binary, read_u8, read_u16,
    read_u32, read_utf8, read_varint, varint_len, write_binary, write_varint,
};
use crate::topic::TopicName;

/// Property identifiers (section 2.2.2.2).
pub(crate) mod id {
    pub(crate) const PAYLOAD_FORMAT_INDICATOR: u32 = 0x01;
    pub(crate) const MESSAGE_EXPIRY_INTERVAL: u32 = 0x02;
    pub(crate) const CONTENT_TYPE: u32 = 0x03;
    pub(crate) const RESPONSE_TOPIC: u32 = 0x08;
    pub(crate) const CORRELATION_DATA: u32 = 0x09;
    pub(crate) const SUBSCRIPTION_IDENTIFIER: u32 = 0x0B;
    pub(crate) const SESSION_EXPIRY_INTERVAL: u32 = 0x11;
    pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u32 = 0x12;
    pub(crate) const SERVER_KEEP_ALIVE: u32 = 0x13;
    pub(crate) const AUTHENTICATION_METHOD: u32 = 0x15;
    pub(crate) const AUTHENTICATION_DATA: u32 = 0x16;
    pub(crate) const REQUEST_PROBLEM_INFORMATION: u32 = 0x17;
    pub(crate) const WILL_DELAY_INTERVAL: u32 = 0x18;
    pub(crate) const REQUEST_RESPONSE_INFORMATION: u32 = 0x19;
    pub(crate) const RESPONSE_INFORMATION: u32 = 0x1A;
    pub(crate) const SERVER_REFERENCE: u32 = 0x1C;
    pub(crate) const REASON_STRING: u32 = 0x1F;
    pub(crate) const RECEIVE_MAXIMUM: u32 = 0x21;
    pub(crate) const TOPIC_ALIAS_MAXIMUM: u32 = 0x22;
    pub(crate) const TOPIC_ALIAS: u32 = 0x23;
    pub(crate) const MAXIMUM_QOS: u32 = 0x24;
    pub(crate) const RETAIN_AVAILABLE: u32 = 0x25;
    pub(crate) const USER_PROPERTY: u32 = 0x26;
    pub(crate) const MAXIMUM_PACKET_SIZE: u32 = 0x27;
    pub(crate) const WILDCARD_SUBSCRIPTION_AVAILABLE: u32 = 0x28;
    pub(crate) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u32 = 0x29;
    pub(crate) const SHARED_SUBSCRIPTION_AVAILABLE: u32 = 0x2A;
}

const AUTH_DATA_WITHOUT_METHOD: &str =
    "[MQTT 3.1.2.11.10] Authentication Data without an Authentication Method";
const DUPLICATE: DecodeError =
    DecodeError::Protocol("[MQTT-2.2.2-2] a property other than User Property appears twice");
/// MQTT 5.0 section 2.2.2.2: an identifier not valid for the packet type makes it a
/// Malformed Packet (0x81).
const NOT_ALLOWED: DecodeError =
    DecodeError::Malformed("[MQTT 2.2.2.2] property identifier not valid for this packet");

/// Reads a property block: its length, then each property handed to `on_property`,
/// which reads the value or rejects the identifier.
fn read_properties(
    buf: &mut Bytes,
    mut on_property: impl FnMut(u32, &mut Bytes) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let len = read_varint(buf)? as usize;
    if buf.len() < len {
        return Err(DecodeError::Malformed(
            "[MQTT-2.2.2-1] property length exceeds the remaining packet",
        ));
    }
    let mut block = buf.split_to(len);
    while !block.is_empty() {
        let identifier = read_varint(&mut block)?;
        on_property(identifier, &mut block)?;
    }
    Ok(())
}

fn set<T>(slot: &mut Option<T>, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(DUPLICATE);
    }
    *slot = Some(value);
    Ok(())
}

fn read_flag(buf: &mut Bytes, rule: &'static str) -> Result<bool, DecodeError> {
    match read_u8(buf)? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::Protocol(rule)),
    }
}

fn read_user_property(buf: &mut Bytes, list: &mut Vec<UserProperty>) -> Result<(), DecodeError> {
    let name = read_utf8(buf)?;
    let value = read_utf8(buf)?;
    list.push((name, value));
    Ok(())
}

fn read_reason_string(buf: &mut Bytes, slot: &mut Option<Utf8Bytes>) -> Result<(), DecodeError> {
    let value = read_utf8(buf)?;
    set(slot, value)
}

// ---------------------------------------------------------------------------------------
// Size and write helpers: each returns 0 / writes nothing for an absent property.

fn u8_len<T>(value: &Option<T>) -> usize {
    value.as_ref().map_or(0, |_| 2)
}
fn u16_len<T>(value: &Option<T>) -> usize {
    value.as_ref().map_or(0, |_| 3)
}
fn u32_len<T>(value: &Option<T>) -> usize {
    value.as_ref().map_or(0, |_| 5)
}
fn bytes_len(value: Option<&[u8]>) -> usize {
    value.map_or(0, |v| 1 + binary_len(v))
}
fn user_properties_len(list: &[UserProperty]) -> usize {
    list.iter()
        .map(|(k, v)| 1 + binary_len(k.as_bytes()) + binary_len(v.as_bytes()))
        .sum()
}
fn check_user_properties(list: &[UserProperty]) -> Result<(), EncodeError> {
    list.iter().try_for_each(|(k, v)| {
        check_field(k.as_bytes())?;
        check_field(v.as_bytes())
    })
}
fn check_opt(value: Option<&[u8]>) -> Result<(), EncodeError> {
    value.map_or(Ok(()), check_field)
}

/// A Subscription Identifier is a variable byte integer, so at most [`MAX_VARINT`].
pub(crate) fn check_subscription_identifier(value: NonZeroU32) -> Result<(), EncodeError> {
    if value.get() > MAX_VARINT {
        return Err(EncodeError::Invalid(
            "[MQTT 3.3.2.3.8] Subscription Identifier is above 268,435,455",
        ));
    }
    Ok(())
}

/// A Response Topic is a topic name, so never empty; only `TopicName::default` is.
fn check_response_topic(value: Option<&TopicName>) -> Result<(), EncodeError> {
    match value {
        Some(topic) if topic.is_empty() => Err(EncodeError::Invalid(
            "[MQTT-3.3.2-13] Response Topic must be a valid topic name",
        )),
        _ => check_opt(value.map(|t| t.as_bytes())),
    }
}

fn put_u8(buf: &mut BytesMut, identifier: u32, value: Option<u8>) {
    if let Some(value) = value {
        buf.put_u8(identifier as u8);
        buf.put_u8(value);
    }
}
fn put_u16(buf: &mut BytesMut, identifier: u32, value: Option<u16>) {
    if let Some(value) = value {
        buf.put_u8(identifier as u8);
        buf.put_u16(value);
    }
}
fn put_u32(buf: &mut BytesMut, identifier: u32, value: Option<u32>) {
    if let Some(value) = value {
        buf.put_u8(identifier as u8);
        buf.put_u32(value);
    }
}
fn put_bytes(buf: &mut BytesMut, identifier: u32, value: Option<&[u8]>) {
    if let Some(value) = value {
        buf.put_u8(identifier as u8);
        write_binary(buf, value);
    }
}
fn put_user_properties(buf: &mut BytesMut, list: &[UserProperty]) {
    for (name, value) in list {
        buf.put_u8(id::USER_PROPERTY as u8);
        write_binary(buf, name.as_bytes());
        write_binary(buf, value.as_bytes());
    }
}
fn as_bytes(value: &Option<Utf8Bytes>) -> Option<&[u8]> {
    value.as_ref().map(|v| v.as_bytes().as_ref())
}

/// Length prefix plus body of a property block whose body is `len` bytes.
pub(crate) fn block_len(len: usize) -> usize {
    varint_len(len) + len
}

// ---------------------------------------------------------------------------------------

/// Properties of CONNECT (section 3.1.2.11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConnectProperties {
    /// Seconds the session outlives the connection; absent means 0.
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1 and 2 PUBLISH packets the client will process at once.
    pub receive_maximum: Option<NonZeroU16>,
    /// The largest packet the client accepts.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// The highest topic alias the client accepts from the server; absent means 0.
    pub topic_alias_maximum: Option<u16>,
    /// Whether the client asks for Response Information in CONNACK.
    pub request_response_information: Option<bool>,
    /// Whether the server may send Reason Strings and User Properties on failures.
    pub request_problem_information: Option<bool>,
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
    /// Enhanced authentication method.
    pub authentication_method: Option<Utf8Bytes>,
    /// Enhanced authentication data.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::option))]
    pub authentication_data: Option<Bytes>,
}

impl ConnectProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::SESSION_EXPIRY_INTERVAL => set(&mut p.session_expiry_interval, read_u32(buf)?),
            id::RECEIVE_MAXIMUM => {
                let value = NonZeroU16::new(read_u16(buf)?).ok_or(DecodeError::Protocol(
                    "[MQTT 3.1.2.11.3] Receive Maximum of 0 is a protocol error",
                ))?;
                set(&mut p.receive_maximum, value)
            }
            id::MAXIMUM_PACKET_SIZE => {
                let value = NonZeroU32::new(read_u32(buf)?).ok_or(DecodeError::Protocol(
                    "[MQTT 3.1.2.11.4] Maximum Packet Size of 0 is a protocol error",
                ))?;
                set(&mut p.maximum_packet_size, value)
            }
            id::TOPIC_ALIAS_MAXIMUM => set(&mut p.topic_alias_maximum, read_u16(buf)?),
            id::REQUEST_RESPONSE_INFORMATION => set(
                &mut p.request_response_information,
                read_flag(
                    buf,
                    "[MQTT 3.1.2.11.6] Request Response Information must be 0 or 1",
                )?,
            ),
            id::REQUEST_PROBLEM_INFORMATION => set(
                &mut p.request_problem_information,
                read_flag(
                    buf,
                    "[MQTT 3.1.2.11.7] Request Problem Information must be 0 or 1",
                )?,
            ),
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            id::AUTHENTICATION_METHOD => set(&mut p.authentication_method, read_utf8(buf)?),
            id::AUTHENTICATION_DATA => set(&mut p.authentication_data, read_binary(buf)?),
            _ => Err(NOT_ALLOWED),
        })?;
        if p.authentication_data.is_some() && p.authentication_method.is_none() {
            return Err(DecodeError::Protocol(AUTH_DATA_WITHOUT_METHOD));
        }
        Ok(p)
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.authentication_data.is_some() && self.authentication_method.is_none() {
            return Err(EncodeError::Invalid(AUTH_DATA_WITHOUT_METHOD));
        }
        check_user_properties(&self.user_properties)?;
        check_opt(as_bytes(&self.authentication_method))?;
        check_opt(self.authentication_data.as_deref())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        u32_len(&self.session_expiry_interval)
            + u16_len(&self.receive_maximum)
            + u32_len(&self.maximum_packet_size)
            + u16_len(&self.topic_alias_maximum)
            + u8_len(&self.request_response_information)
            + u8_len(&self.request_problem_information)
            + user_properties_len(&self.user_properties)
            + bytes_len(as_bytes(&self.authentication_method))
            + bytes_len(self.authentication_data.as_deref())
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        write_varint(buf, self.encoded_len());
        put_u32(
            buf,
            id::SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval,
        );
        put_u16(
            buf,
            id::RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        put_u32(
            buf,
            id::MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        put_u16(buf, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_u8(
            buf,
            id::REQUEST_RESPONSE_INFORMATION,
            self.request_response_information.map(u8::from),
        );
        put_u8(
            buf,
            id::REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information.map(u8::from),
        );
        put_user_properties(buf, &self.user_properties);
        put_bytes(
            buf,
            id::AUTHENTICATION_METHOD,
            as_bytes(&self.authentication_method),
        );
        put_bytes(
            buf,
            id::AUTHENTICATION_DATA,
            self.authentication_data.as_deref(),
        );
    }
}

/// Properties of the Will in CONNECT (section 3.1.3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct WillProperties {
    /// Seconds to wait after the connection ends before publishing the will.
    pub will_delay_interval: Option<u32>,
    /// `Some(true)`: the payload is UTF-8 text.
    pub payload_format_indicator: Option<bool>,
    /// Lifetime of the will message in seconds.
    pub message_expiry_interval: Option<u32>,
    /// MIME type of the payload.
    pub content_type: Option<Utf8Bytes>,
    /// Topic for a response.
    pub response_topic: Option<TopicName>,
    /// Data correlating a response with the request.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::option))]
    pub correlation_data: Option<Bytes>,
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
}

impl WillProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::WILL_DELAY_INTERVAL => set(&mut p.will_delay_interval, read_u32(buf)?),
            id::PAYLOAD_FORMAT_INDICATOR => set(
                &mut p.payload_format_indicator,
                read_flag(
                    buf,
                    "[MQTT 3.1.3.2.3] Payload Format Indicator must be 0 or 1",
                )?,
            ),
            id::MESSAGE_EXPIRY_INTERVAL => set(&mut p.message_expiry_interval, read_u32(buf)?),
            id::CONTENT_TYPE => set(&mut p.content_type, read_utf8(buf)?),
            id::RESPONSE_TOPIC => set(&mut p.response_topic, read_response_topic(buf)?),
            id::CORRELATION_DATA => set(&mut p.correlation_data, read_binary(buf)?),
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        check_user_properties(&self.user_properties)?;
        check_opt(as_bytes(&self.content_type))?;
        check_response_topic(self.response_topic.as_ref())?;
        check_opt(self.correlation_data.as_deref())
    }

    pub(crate) fn encoded_len(&self) -> usize {
        u32_len(&self.will_delay_interval)
            + u8_len(&self.payload_format_indicator)
            + u32_len(&self.message_expiry_interval)
            + bytes_len(as_bytes(&self.content_type))
            + bytes_len(self.response_topic.as_ref().map(|t| t.as_bytes()))
            + bytes_len(self.correlation_data.as_deref())
            + user_properties_len(&self.user_properties)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        write_varint(buf, self.encoded_len());
        put_u32(buf, id::WILL_DELAY_INTERVAL, self.will_delay_interval);
        put_u8(
            buf,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator.map(u8::from),
        );
        put_u32(
            buf,
            id::MESSAGE_EXPIRY_INTERVAL,
            self.message_expiry_interval,
        );
        put_bytes(buf, id::CONTENT_TYPE, as_bytes(&self.content_type));
        put_bytes(
            buf,
            id::RESPONSE_TOPIC,
            self.response_topic.as_ref().map(|t| t.as_bytes()),
        );
        put_bytes(buf, id::CORRELATION_DATA, self.correlation_data.as_deref());
        put_user_properties(buf, &self.user_properties);
    }
}

fn read_response_topic(buf: &mut Bytes) -> Result<TopicName, DecodeError> {
    TopicName::new(read_utf8(buf)?).map_err(|_| {
        DecodeError::Protocol("[MQTT-3.3.2-13] Response Topic must be a valid topic name")
    })
}

/// Properties of CONNACK (section 3.2.2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConnAckProperties {
    /// The session expiry the server uses, when it differs from the client's request.
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1 and 2 PUBLISH packets the server will process at once.
    pub receive_maximum: Option<NonZeroU16>,
    /// The highest QoS the server supports (0 or 1); absent means 2.
    pub maximum_qos: Option<u8>,
    /// Whether the server supports retained messages; absent means yes.
    pub retain_available: Option<bool>,
    /// The largest packet the server accepts.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// The client identifier the server assigned to a client that sent none.
    pub assigned_client_identifier: Option<Utf8Bytes>,
    /// The highest topic alias the server accepts; absent means 0.
    pub topic_alias_maximum: Option<u16>,
    /// Human readable diagnostics.
    pub reason_string: Option<Utf8Bytes>,
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
    /// Whether wildcard subscriptions are supported; absent means yes.
    pub wildcard_subscription_available: Option<bool>,
    /// Whether subscription identifiers are supported; absent means yes.
    pub subscription_identifiers_available: Option<bool>,
    /// Whether shared subscriptions are supported; absent means yes.
    pub shared_subscription_available: Option<bool>,
    /// The keep alive the server requires instead of the client's.
    pub server_keep_alive: Option<u16>,
    /// Basis for response topics, when the client asked for it.
    pub response_information: Option<Utf8Bytes>,
    /// Another server the client may use.
    pub server_reference: Option<Utf8Bytes>,
    /// Enhanced authentication method.
    pub authentication_method: Option<Utf8Bytes>,
    /// Enhanced authentication data.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::option))]
    pub authentication_data: Option<Bytes>,
}

impl ConnAckProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::SESSION_EXPIRY_INTERVAL => set(&mut p.session_expiry_interval, read_u32(buf)?),
            id::RECEIVE_MAXIMUM => {
                let value = NonZeroU16::new(read_u16(buf)?).ok_or(DecodeError::Protocol(
                    "[MQTT 3.2.2.3.3] Receive Maximum of 0 is a protocol error",
                ))?;
                set(&mut p.receive_maximum, value)
            }
            id::MAXIMUM_QOS => {
                let qos = read_u8(buf)?;
                if qos > 1 {
                    return Err(DecodeError::Protocol(
                        "[MQTT 3.2.2.3.4] Maximum QoS must be 0 or 1",
                    ));
                }
                set(&mut p.maximum_qos, qos)
            }
            id::RETAIN_AVAILABLE => set(
                &mut p.retain_available,
                read_flag(buf, "[MQTT 3.2.2.3.5] Retain Available must be 0 or 1")?,
            ),
            id::MAXIMUM_PACKET_SIZE => {
                let value = NonZeroU32::new(read_u32(buf)?).ok_or(DecodeError::Protocol(
                    "[MQTT 3.2.2.3.6] Maximum Packet Size of 0 is a protocol error",
                ))?;
                set(&mut p.maximum_packet_size, value)
            }
            id::ASSIGNED_CLIENT_IDENTIFIER => {
                set(&mut p.assigned_client_identifier, read_utf8(buf)?)
            }
            id::TOPIC_ALIAS_MAXIMUM => set(&mut p.topic_alias_maximum, read_u16(buf)?),
            id::REASON_STRING => read_reason_string(buf, &mut p.reason_string),
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            id::WILDCARD_SUBSCRIPTION_AVAILABLE => set(
                &mut p.wildcard_subscription_available,
                read_flag(
                    buf,
                    "[MQTT 3.2.2.3.11] Wildcard Subscription Available must be 0 or 1",
                )?,
            ),
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => set(
                &mut p.subscription_identifiers_available,
                read_flag(
                    buf,
                    "[MQTT 3.2.2.3.12] Subscription Identifiers Available must be 0 or 1",
                )?,
            ),
            id::SHARED_SUBSCRIPTION_AVAILABLE => set(
                &mut p.shared_subscription_available,
                read_flag(
                    buf,
                    "[MQTT 3.2.2.3.13] Shared Subscription Available must be 0 or 1",
                )?,
            ),
            id::SERVER_KEEP_ALIVE => set(&mut p.server_keep_alive, read_u16(buf)?),
            id::RESPONSE_INFORMATION => set(&mut p.response_information, read_utf8(buf)?),
            id::SERVER_REFERENCE => set(&mut p.server_reference, read_utf8(buf)?),
            id::AUTHENTICATION_METHOD => set(&mut p.authentication_method, read_utf8(buf)?),
            id::AUTHENTICATION_DATA => set(&mut p.authentication_data, read_binary(buf)?),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.maximum_qos.is_some_and(|qos| qos > 1) {
            return Err(EncodeError::Invalid(
                "[MQTT 3.2.2.3.4] Maximum QoS must be 0 or 1",
            ));
        }
        check_user_properties(&self.user_properties)?;
        for field in [
            as_bytes(&self.assigned_client_identifier),
            as_bytes(&self.reason_string),
            as_bytes(&self.response_information),
            as_bytes(&self.server_reference),
            as_bytes(&self.authentication_method),
            self.authentication_data.as_deref(),
        ] {
            check_opt(field)?;
        }
        Ok(())
    }

    pub(crate) fn encoded_len(&self, trim: bool) -> usize {
        let optional = if trim {
            0
        } else {
            bytes_len(as_bytes(&self.reason_string)) + user_properties_len(&self.user_properties)
        };
        optional
            + u32_len(&self.session_expiry_interval)
            + u16_len(&self.receive_maximum)
            + u8_len(&self.maximum_qos)
            + u8_len(&self.retain_available)
            + u32_len(&self.maximum_packet_size)
            + bytes_len(as_bytes(&self.assigned_client_identifier))
            + u16_len(&self.topic_alias_maximum)
            + u8_len(&self.wildcard_subscription_available)
            + u8_len(&self.subscription_identifiers_available)
            + u8_len(&self.shared_subscription_available)
            + u16_len(&self.server_keep_alive)
            + bytes_len(as_bytes(&self.response_information))
            + bytes_len(as_bytes(&self.server_reference))
            + bytes_len(as_bytes(&self.authentication_method))
            + bytes_len(self.authentication_data.as_deref())
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut, trim: bool) {
        write_varint(buf, self.encoded_len(trim));
        put_u32(
            buf,
            id::SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval,
        );
        put_u16(
            buf,
            id::RECEIVE_MAXIMUM,
            self.receive_maximum.map(NonZeroU16::get),
        );
        put_u8(buf, id::MAXIMUM_QOS, self.maximum_qos);
        put_u8(
            buf,
            id::RETAIN_AVAILABLE,
            self.retain_available.map(u8::from),
        );
        put_u32(
            buf,
            id::MAXIMUM_PACKET_SIZE,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        put_bytes(
            buf,
            id::ASSIGNED_CLIENT_IDENTIFIER,
            as_bytes(&self.assigned_client_identifier),
        );
        put_u16(buf, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        if !trim {
            put_bytes(buf, id::REASON_STRING, as_bytes(&self.reason_string));
            put_user_properties(buf, &self.user_properties);
        }
        put_u8(
            buf,
            id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available.map(u8::from),
        );
        put_u8(
            buf,
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifiers_available.map(u8::from),
        );
        put_u8(
            buf,
            id::SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available.map(u8::from),
        );
        put_u16(buf, id::SERVER_KEEP_ALIVE, self.server_keep_alive);
        put_bytes(
            buf,
            id::RESPONSE_INFORMATION,
            as_bytes(&self.response_information),
        );
        put_bytes(buf, id::SERVER_REFERENCE, as_bytes(&self.server_reference));
        put_bytes(
            buf,
            id::AUTHENTICATION_METHOD,
            as_bytes(&self.authentication_method),
        );
        put_bytes(
            buf,
            id::AUTHENTICATION_DATA,
            self.authentication_data.as_deref(),
        );
    }
}

/// Properties of PUBLISH (section 3.3.2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PublishProperties {
    /// `Some(true)`: the payload is UTF-8 text.
    pub payload_format_indicator: Option<bool>,
    /// Lifetime of the message in seconds.
    pub message_expiry_interval: Option<u32>,
    /// A number standing for the topic name on this connection.
    pub topic_alias: Option<NonZeroU16>,
    /// Topic for a response.
    pub response_topic: Option<TopicName>,
    /// Data correlating a response with the request.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::option))]
    pub correlation_data: Option<Bytes>,
    /// Application-defined name-value pairs, forwarded unchanged.
    pub user_properties: Vec<UserProperty>,
    /// Identifiers of the subscriptions that matched (server to client only).
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// MIME type of the payload.
    pub content_type: Option<Utf8Bytes>,
}

impl PublishProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::PAYLOAD_FORMAT_INDICATOR => set(
                &mut p.payload_format_indicator,
                read_flag(
                    buf,
                    "[MQTT 3.3.2.3.2] Payload Format Indicator must be 0 or 1",
                )?,
            ),
            id::MESSAGE_EXPIRY_INTERVAL => set(&mut p.message_expiry_interval, read_u32(buf)?),
            id::TOPIC_ALIAS => {
                let alias =
                    NonZeroU16::new(read_u16(buf)?).ok_or(DecodeError::TopicAliasInvalid(
                        "[MQTT-3.3.2-8] Topic Alias of 0 is not permitted",
                    ))?;
                set(&mut p.topic_alias, alias)
            }
            id::RESPONSE_TOPIC => set(&mut p.response_topic, read_response_topic(buf)?),
            id::CORRELATION_DATA => set(&mut p.correlation_data, read_binary(buf)?),
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            id::SUBSCRIPTION_IDENTIFIER => {
                let value = NonZeroU32::new(read_varint(buf)?).ok_or(DecodeError::Protocol(
                    "[MQTT 3.3.2.3.8] Subscription Identifier of 0 is a protocol error",
                ))?;
                p.subscription_identifiers.push(value);
                Ok(())
            }
            id::CONTENT_TYPE => set(&mut p.content_type, read_utf8(buf)?),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        check_user_properties(&self.user_properties)?;
        check_opt(as_bytes(&self.content_type))?;
        check_response_topic(self.response_topic.as_ref())?;
        check_opt(self.correlation_data.as_deref())
    }

    /// Size of the property block body with the given per-delivery values standing in
    /// for expiry, alias and subscription identifiers.
    pub(crate) fn encoded_len_with(&self, overrides: &PublishOverrides<'_>) -> usize {
        u8_len(&self.payload_format_indicator)
            + u32_len(&overrides.message_expiry_interval)
            + u16_len(&overrides.topic_alias)
            + bytes_len(self.response_topic.as_ref().map(|t| t.as_bytes()))
            + bytes_len(self.correlation_data.as_deref())
            + user_properties_len(&self.user_properties)
            + overrides
                .subscription_identifiers
                .iter()
                .map(|s| 1 + varint_len(s.get() as usize))
                .sum::<usize>()
            + bytes_len(as_bytes(&self.content_type))
    }

    pub(crate) fn encode_with(
        &self,
        buf: &mut BytesMut,
        overrides: &PublishOverrides<'_>,
        len: usize,
    ) {
        write_varint(buf, len);
        put_u8(
            buf,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator.map(u8::from),
        );
        put_u32(
            buf,
            id::MESSAGE_EXPIRY_INTERVAL,
            overrides.message_expiry_interval,
        );
        put_u16(
            buf,
            id::TOPIC_ALIAS,
            overrides.topic_alias.map(NonZeroU16::get),
        );
        put_bytes(
            buf,
            id::RESPONSE_TOPIC,
            self.response_topic.as_ref().map(|t| t.as_bytes()),
        );
        put_bytes(buf, id::CORRELATION_DATA, self.correlation_data.as_deref());
        put_user_properties(buf, &self.user_properties);
        for identifier in overrides.subscription_identifiers {
            buf.put_u8(id::SUBSCRIPTION_IDENTIFIER as u8);
            write_varint(buf, identifier.get() as usize);
        }
        put_bytes(buf, id::CONTENT_TYPE, as_bytes(&self.content_type));
    }
}

/// The PUBLISH properties that differ per delivery rather than per message.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublishOverrides<'a> {
    /// Remaining lifetime of the message in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Topic alias for this connection.
    pub topic_alias: Option<NonZeroU16>,
    /// Identifiers of the receiving session's subscriptions that matched.
    pub subscription_identifiers: &'a [NonZeroU32],
}

/// Properties shared by PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK:
/// a Reason String and User Properties, both optional diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AckProperties {
    /// Human readable diagnostics.
    pub reason_string: Option<Utf8Bytes>,
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::REASON_STRING => read_reason_string(buf, &mut p.reason_string),
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    /// Whether there is nothing to encode.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        check_user_properties(&self.user_properties)?;
        check_opt(as_bytes(&self.reason_string))
    }

    pub(crate) fn encoded_len(&self, trim: bool) -> usize {
        if trim {
            0
        } else {
            bytes_len(as_bytes(&self.reason_string)) + user_properties_len(&self.user_properties)
        }
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut, trim: bool) {
        write_varint(buf, self.encoded_len(trim));
        if !trim {
            put_bytes(buf, id::REASON_STRING, as_bytes(&self.reason_string));
            put_user_properties(buf, &self.user_properties);
        }
    }
}

/// Properties of SUBSCRIBE (section 3.8.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SubscribeProperties {
    /// Identifier the server attaches to messages matching these subscriptions.
    pub subscription_identifier: Option<NonZeroU32>,
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
}

impl SubscribeProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::SUBSCRIPTION_IDENTIFIER => {
                let value = NonZeroU32::new(read_varint(buf)?).ok_or(DecodeError::Protocol(
                    "[MQTT 3.8.2.1.2] Subscription Identifier of 0 is a protocol error",
                ))?;
                set(&mut p.subscription_identifier, value)
            }
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if let Some(identifier) = self.subscription_identifier {
            check_subscription_identifier(identifier)?;
        }
        check_user_properties(&self.user_properties)
    }

    pub(crate) fn encoded_len(&self) -> usize {
        self.subscription_identifier
            .map_or(0, |s| 1 + varint_len(s.get() as usize))
            + user_properties_len(&self.user_properties)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        write_varint(buf, self.encoded_len());
        if let Some(identifier) = self.subscription_identifier {
            buf.put_u8(id::SUBSCRIPTION_IDENTIFIER as u8);
            write_varint(buf, identifier.get() as usize);
        }
        put_user_properties(buf, &self.user_properties);
    }
}

/// Properties of UNSUBSCRIBE (section 3.10.2.1): User Properties only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UnsubscribeProperties {
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
}

impl UnsubscribeProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        check_user_properties(&self.user_properties)
    }

    pub(crate) fn encoded_len(&self) -> usize {
        user_properties_len(&self.user_properties)
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        write_varint(buf, self.encoded_len());
        put_user_properties(buf, &self.user_properties);
    }
}

/// Properties of DISCONNECT (section 3.14.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DisconnectProperties {
    /// A new session expiry (client to server only).
    pub session_expiry_interval: Option<u32>,
    /// Human readable diagnostics.
    pub reason_string: Option<Utf8Bytes>,
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
    /// Another server the client may use.
    pub server_reference: Option<Utf8Bytes>,
}

impl DisconnectProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::SESSION_EXPIRY_INTERVAL => set(&mut p.session_expiry_interval, read_u32(buf)?),
            id::REASON_STRING => read_reason_string(buf, &mut p.reason_string),
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            id::SERVER_REFERENCE => set(&mut p.server_reference, read_utf8(buf)?),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    /// Whether there is nothing to encode.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
            && self.server_reference.is_none()
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        check_user_properties(&self.user_properties)?;
        check_opt(as_bytes(&self.reason_string))?;
        check_opt(as_bytes(&self.server_reference))
    }

    pub(crate) fn encoded_len(&self, trim: bool) -> usize {
        let optional = if trim {
            0
        } else {
            bytes_len(as_bytes(&self.reason_string)) + user_properties_len(&self.user_properties)
        };
        optional
            + u32_len(&self.session_expiry_interval)
            + bytes_len(as_bytes(&self.server_reference))
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut, trim: bool) {
        write_varint(buf, self.encoded_len(trim));
        put_u32(
            buf,
            id::SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval,
        );
        if !trim {
            put_bytes(buf, id::REASON_STRING, as_bytes(&self.reason_string));
            put_user_properties(buf, &self.user_properties);
        }
        put_bytes(buf, id::SERVER_REFERENCE, as_bytes(&self.server_reference));
    }
}

/// Properties of AUTH (section 3.15.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AuthProperties {
    /// Enhanced authentication method.
    pub authentication_method: Option<Utf8Bytes>,
    /// Enhanced authentication data.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::option))]
    pub authentication_data: Option<Bytes>,
    /// Human readable diagnostics.
    pub reason_string: Option<Utf8Bytes>,
    /// Application-defined name-value pairs.
    pub user_properties: Vec<UserProperty>,
}

impl AuthProperties {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut p = Self::default();
        read_properties(buf, |identifier, buf| match identifier {
            id::AUTHENTICATION_METHOD => set(&mut p.authentication_method, read_utf8(buf)?),
            id::AUTHENTICATION_DATA => set(&mut p.authentication_data, read_binary(buf)?),
            id::REASON_STRING => read_reason_string(buf, &mut p.reason_string),
            id::USER_PROPERTY => read_user_property(buf, &mut p.user_properties),
            _ => Err(NOT_ALLOWED),
        })?;
        Ok(p)
    }

    /// Whether there is nothing to encode.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        check_user_properties(&self.user_properties)?;
        check_opt(as_bytes(&self.authentication_method))?;
        check_opt(self.authentication_data.as_deref())?;
        check_opt(as_bytes(&self.reason_string))
    }

    pub(crate) fn encoded_len(&self, trim: bool) -> usize {
        let optional = if trim {
            0
        } else {
            bytes_len(as_bytes(&self.reason_string)) + user_properties_len(&self.user_properties)
        };
        optional
            + bytes_len(as_bytes(&self.authentication_method))
            + bytes_len(self.authentication_data.as_deref())
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut, trim: bool) {
        write_varint(buf, self.encoded_len(trim));
        put_bytes(
            buf,
            id::AUTHENTICATION_METHOD,
            as_bytes(&self.authentication_method),
        );
        put_bytes(
            buf,
            id::AUTHENTICATION_DATA,
            self.authentication_data.as_deref(),
        );
        if !trim {
            put_bytes(buf, id::REASON_STRING, as_bytes(&self.reason_string));
            put_user_properties(buf, &self.user_properties);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_single_valued_property_is_a_protocol_error() {
        // Session Expiry Interval twice.
        let mut buf = Bytes::from_static(&[10, 0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]);
        assert_eq!(ConnectProperties::decode(&mut buf), Err(DUPLICATE));
    }

    #[test]
    fn user_properties_may_repeat() {
        let mut buf =
            Bytes::from_static(&[12, 0x26, 0, 1, b'a', 0, 1, b'1', 0x26, 0, 1, b'a', 0, 0]);
        let props = AckProperties::decode(&mut buf);
        assert!(
            props.is_err(),
            "the second value runs past the 12-byte block"
        );
        let mut buf = Bytes::from_static(&[
            14, 0x26, 0, 1, b'a', 0, 1, b'1', 0x26, 0, 1, b'a', 0, 1, b'2',
        ]);
        let props = AckProperties::decode(&mut buf).unwrap();
        assert_eq!(props.user_properties.len(), 2);
    }

    #[test]
    fn property_of_another_packet_is_rejected() {
        // Topic Alias (0x23) in CONNECT.
        let mut buf = Bytes::from_static(&[3, 0x23, 0, 1]);
        assert_eq!(ConnectProperties::decode(&mut buf), Err(NOT_ALLOWED));
    }

    #[test]
    fn unknown_identifier_is_rejected() {
        let mut buf = Bytes::from_static(&[2, 0x7F, 0]);
        assert_eq!(AckProperties::decode(&mut buf), Err(NOT_ALLOWED));
    }

    #[test]
    fn zero_topic_alias_maps_to_topic_alias_invalid() {
        let mut buf = Bytes::from_static(&[3, 0x23, 0, 0]);
        let err = PublishProperties::decode(&mut buf).unwrap_err();
        assert_eq!(err.reason_code(), crate::ReasonCode::TopicAliasInvalid);
    }

    #[test]
    fn flag_out_of_range_is_a_protocol_error() {
        let mut buf = Bytes::from_static(&[2, 0x01, 2]);
        assert!(PublishProperties::decode(&mut buf).is_err());
    }

    #[test]
    fn block_longer_than_packet_is_malformed() {
        let mut buf = Bytes::from_static(&[9, 0x11, 0, 0]);
        assert!(matches!(
            ConnectProperties::decode(&mut buf),
            Err(DecodeError::Malformed(_))
        ));
    }
}
