//! SUBSCRIBE (section 3.8).

use bytes::{BufMut, Bytes, BytesMut};

use super::{PacketId, QoS};
use crate::error::{DecodeError, EncodeError};
use crate::primitives::{Utf8Bytes, binary_len, check_field, read_u8, read_utf8, write_binary};
use crate::properties::{SubscribeProperties, block_len};
use crate::topic::SHARE_PREFIX;

/// A request to add one or more subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Subscribe {
    /// Identifies the matching SUBACK.
    pub packet_id: PacketId,
    /// v5 properties.
    pub properties: SubscribeProperties,
    /// At least one filter with its options.
    pub subscriptions: Vec<Subscription>,
}

/// One topic filter of a SUBSCRIBE, as the client wrote it.
///
/// The filter is checked by the session (see `topic::SubscriptionFilter::parse`), which
/// answers an invalid one with SUBACK 0x8F in v5 rather than failing the whole packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Subscription {
    /// The topic filter, possibly `$share/{group}/...`.
    pub filter: Utf8Bytes,
    /// The subscription options.
    pub options: SubscribeOptions,
}

/// Subscription options (section 3.8.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SubscribeOptions {
    /// The highest QoS the client wants messages delivered with.
    pub qos: QoS,
    /// Do not send the client its own messages (v5).
    pub no_local: bool,
    /// Keep the RETAIN flag of forwarded messages (v5).
    pub retain_as_published: bool,
    /// When retained messages are sent (v5).
    pub retain_handling: RetainHandling,
}

/// When to send retained messages for a new subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not already exist.
    SendIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

impl Subscription {
    /// No Local makes no sense for a shared subscription, and v5 forbids it
    /// ([MQTT-3.8.3-4]); v3 has no No Local bit.
    fn is_shared_no_local(&self) -> bool {
        self.options.no_local && self.filter.starts_with(SHARE_PREFIX)
    }
}

const EMPTY: &str = "[MQTT-3.8.3-2] SUBSCRIBE must contain at least one topic filter";
const SHARED_NO_LOCAL: &str = "[MQTT-3.8.3-4] No Local must not be set on a shared subscription";

impl SubscribeOptions {
    fn decode(byte: u8, v5: bool) -> Result<Self, DecodeError> {
        let reserved = if v5 { 0b1100_0000 } else { 0b1111_1100 };
        if byte & reserved != 0 {
            return Err(DecodeError::Malformed(
                "[MQTT-3.8.3-5] reserved bits of the subscription options must be 0",
            ));
        }
        let qos = QoS::from_u8(byte & 0b11).ok_or(if v5 {
            DecodeError::Protocol("[MQTT 3.8.3.1] Maximum QoS must not be 3")
        } else {
            DecodeError::Malformed("[MQTT-3.8.3-4] (3.1.1) subscription QoS must not be 3")
        })?;
        let retain_handling = match (byte >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => {
                return Err(DecodeError::Protocol(
                    "[MQTT 3.8.3.1] Retain Handling must not be 3",
                ));
            }
        };
        Ok(Self {
            qos,
            no_local: byte & 0b0100 != 0,
            retain_as_published: byte & 0b1000 != 0,
            retain_handling,
        })
    }

    fn encode(self, v5: bool) -> u8 {
        let mut byte = self.qos as u8;
        if v5 {
            byte |= u8::from(self.no_local) << 2;
            byte |= u8::from(self.retain_as_published) << 3;
            byte |= (self.retain_handling as u8) << 4;
        }
        byte
    }
}

impl Subscribe {
    pub(crate) fn decode(buf: &mut Bytes, v5: bool) -> Result<Self, DecodeError> {
        let packet_id = PacketId::read(buf)?;
        let properties = if v5 {
            SubscribeProperties::decode(buf)?
        } else {
            SubscribeProperties::default()
        };
        let mut subscriptions = Vec::new();
        while !buf.is_empty() {
            let filter = read_utf8(buf)?;
            let options = SubscribeOptions::decode(read_u8(buf)?, v5)?;
            let subscription = Subscription { filter, options };
            if subscription.is_shared_no_local() {
                return Err(DecodeError::Protocol(SHARED_NO_LOCAL));
            }
            subscriptions.push(subscription);
        }
        if subscriptions.is_empty() {
            return Err(DecodeError::Protocol(EMPTY));
        }
        Ok(Self {
            packet_id,
            properties,
            subscriptions,
        })
    }

    pub(crate) fn check(&self, v5: bool) -> Result<(), EncodeError> {
        if self.subscriptions.is_empty() {
            return Err(EncodeError::Invalid(EMPTY));
        }
        if v5
            && self
                .subscriptions
                .iter()
                .any(Subscription::is_shared_no_local)
        {
            return Err(EncodeError::Invalid(SHARED_NO_LOCAL));
        }
        self.subscriptions
            .iter()
            .try_for_each(|s| check_field(s.filter.as_bytes()))?;
        self.properties.check()
    }

    pub(crate) fn body_len(&self, v5: bool) -> usize {
        let props = if v5 {
            block_len(self.properties.encoded_len())
        } else {
            0
        };
        2 + props
            + self
                .subscriptions
                .iter()
                .map(|s| binary_len(s.filter.as_bytes()) + 1)
                .sum::<usize>()
    }

    pub(crate) fn encode_body(&self, v5: bool, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v5 {
            self.properties.encode(buf);
        }
        for subscription in &self.subscriptions {
            write_binary(buf, subscription.filter.as_bytes());
            buf.put_u8(subscription.options.encode(v5));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ProtocolVersion, decode_packet};

    #[test]
    fn v311_subscribe_from_spec_bytes() {
        let packet =
            decode_packet(b"\x82\x08\x00\x01\x00\x03a/b\x01", ProtocolVersion::V3_1_1).unwrap();
        let Packet::Subscribe(sub) = packet else {
            panic!("not a SUBSCRIBE")
        };
        assert_eq!(sub.packet_id.get(), 1);
        assert_eq!(sub.subscriptions[0].filter, "a/b");
        assert_eq!(sub.subscriptions[0].options.qos, QoS::AtLeastOnce);
    }

    #[test]
    fn truncated_second_filter_is_malformed() {
        assert!(
            decode_packet(
                b"\x82\x0a\x00\x01\x00\x03a/b\x01\x00\x00",
                ProtocolVersion::V3_1_1
            )
            .is_err()
        );
    }

    #[test]
    fn v5_options_round_trip() {
        let sub = Subscribe {
            packet_id: PacketId::new(3).unwrap(),
            properties: SubscribeProperties {
                subscription_identifier: std::num::NonZeroU32::new(200),
                user_properties: vec![],
            },
            subscriptions: vec![Subscription {
                filter: "a/#".into(),
                options: SubscribeOptions {
                    qos: QoS::ExactlyOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            }],
        };
        let bytes = Packet::Subscribe(sub.clone())
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(*bytes.last().unwrap(), 0b0010_1110);
        assert_eq!(
            decode_packet(&bytes, ProtocolVersion::V5).unwrap(),
            Packet::Subscribe(sub)
        );
    }

    #[test]
    fn empty_subscribe_is_a_protocol_error() {
        assert!(matches!(
            decode_packet(b"\x82\x02\x00\x01", ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn wrong_fixed_header_flags_are_malformed() {
        assert!(decode_packet(b"\x80\x06\x00\x01\x00\x01a\x00", ProtocolVersion::V3_1_1).is_err());
    }

    #[test]
    fn reserved_option_bits_are_malformed() {
        assert!(decode_packet(b"\x82\x06\x00\x01\x00\x01a\x04", ProtocolVersion::V3_1_1).is_err());
        assert!(decode_packet(b"\x82\x07\x00\x01\x00\x00\x01a\x40", ProtocolVersion::V5).is_err());
    }

    #[test]
    fn qos_3_and_retain_handling_3_are_rejected() {
        assert!(matches!(
            decode_packet(b"\x82\x07\x00\x01\x00\x00\x01a\x03", ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            decode_packet(b"\x82\x07\x00\x01\x00\x00\x01a\x30", ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            decode_packet(b"\x82\x06\x00\x01\x00\x01a\x03", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v311_options_are_qos_only() {
        // No Local, Retain As Published and Retain Handling bits are reserved in 3.1.1.
        for options in [0x04, 0x08, 0x10, 0x20] {
            let bytes = [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b'a', options];
            assert!(matches!(
                decode_packet(&bytes, ProtocolVersion::V3_1_1),
                Err(DecodeError::Malformed(_))
            ));
        }
    }

    #[test]
    fn packet_id_zero_is_rejected() {
        assert!(matches!(
            decode_packet(b"\x82\x06\x00\x00\x00\x01a\x00", ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn filter_without_options_byte_is_malformed() {
        assert!(matches!(
            decode_packet(b"\x82\x05\x00\x01\x00\x01a", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn no_local_on_a_shared_subscription_is_a_protocol_error() {
        let shared = b"\x82\x10\x00\x01\x00\x00\x0a$share/g/a\x04";
        assert!(matches!(
            decode_packet(shared, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        let plain = b"\x82\x07\x00\x01\x00\x00\x01a\x04";
        assert!(decode_packet(plain, ProtocolVersion::V5).is_ok());
        let sub = Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            properties: SubscribeProperties::default(),
            subscriptions: vec![Subscription {
                filter: "$share/g/a".into(),
                options: SubscribeOptions {
                    no_local: true,
                    ..SubscribeOptions::default()
                },
            }],
        };
        assert!(matches!(
            Packet::Subscribe(sub.clone()).to_bytes(ProtocolVersion::V5),
            Err(EncodeError::Invalid(_))
        ));
        // v3 drops No Local, so the same request is fine there.
        assert!(
            Packet::Subscribe(sub)
                .to_bytes(ProtocolVersion::V3_1_1)
                .is_ok()
        );
    }

    #[test]
    fn invalid_filters_are_left_to_the_session() {
        // The session answers SUBACK 0x8F; the codec passes the filter through.
        let bytes = b"\x82\x08\x00\x01\x00\x03a#b\x00";
        assert!(decode_packet(bytes, ProtocolVersion::V3_1_1).is_ok());
    }

    #[test]
    fn v5_property_rules() {
        // Subscription Identifier 0.
        let zero = b"\x82\x09\x00\x01\x02\x0b\x00\x00\x01a\x00";
        assert!(matches!(
            decode_packet(zero, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        // Subscription Identifier twice.
        let twice = b"\x82\x0b\x00\x01\x04\x0b\x01\x0b\x02\x00\x01a\x00";
        assert!(matches!(
            decode_packet(twice, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        // Reason String is not a SUBSCRIBE property.
        let foreign = b"\x82\x0b\x00\x01\x04\x1f\x00\x01r\x00\x01a\x00";
        assert!(matches!(
            decode_packet(foreign, ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn empty_subscribe_is_refused_by_the_encoder() {
        let sub = Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            properties: SubscribeProperties::default(),
            subscriptions: vec![],
        };
        assert!(matches!(
            Packet::Subscribe(sub).to_bytes(ProtocolVersion::V5),
            Err(EncodeError::Invalid(_))
        ));
    }
}
