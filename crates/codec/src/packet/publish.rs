//! PUBLISH (section 3.3).

use bytes::{BufMut, Bytes, BytesMut};

use super::{PacketId, ProtocolVersion, QoS, fixed_len};
use crate::error::{DecodeError, EncodeError};
use crate::primitives::{
    MAX_VARINT, binary_len, check_field, read_utf8, write_binary, write_varint,
};
use crate::properties::{
    PublishOverrides, PublishProperties, block_len, check_subscription_identifier,
};
use crate::topic::TopicName;

/// An application message on its way between client and server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Publish {
    /// Whether this is a redelivery of an earlier attempt.
    pub dup: bool,
    /// The QoS of this delivery.
    pub qos: QoS,
    /// Retain flag.
    pub retain: bool,
    /// The topic; empty only when `properties.topic_alias` stands for it.
    pub topic: TopicName,
    /// Present exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// v5 properties.
    pub properties: PublishProperties,
    /// The application payload.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::bytes))]
    pub payload: Bytes,
}

/// A borrowed PUBLISH to encode: the message's shared parts plus what differs per
/// delivery, so fan-out encodes without cloning the message.
#[derive(Debug, Clone, Copy)]
pub struct PublishView<'a> {
    /// Whether this is a redelivery.
    pub dup: bool,
    /// The QoS of this delivery.
    pub qos: QoS,
    /// Retain flag of this delivery.
    pub retain: bool,
    /// The topic; may be empty when `overrides.topic_alias` is set.
    pub topic: &'a str,
    /// Present exactly when `qos` is 1 or 2.
    pub packet_id: Option<PacketId>,
    /// The message's properties. Their expiry, alias and subscription identifiers are
    /// ignored in favour of `overrides`.
    pub properties: &'a PublishProperties,
    /// Per-delivery property values.
    pub overrides: PublishOverrides<'a>,
    /// The application payload.
    pub payload: &'a [u8],
}

impl Publish {
    /// A QoS 0 message with no properties.
    pub fn new(topic: TopicName, payload: impl Into<Bytes>) -> Self {
        Self {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic,
            packet_id: None,
            properties: PublishProperties::default(),
            payload: payload.into(),
        }
    }

    /// This packet as a view for [`encode_publish`].
    pub fn view(&self) -> PublishView<'_> {
        PublishView {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: &self.topic,
            packet_id: self.packet_id,
            properties: &self.properties,
            overrides: PublishOverrides {
                message_expiry_interval: self.properties.message_expiry_interval,
                topic_alias: self.properties.topic_alias,
                subscription_identifiers: &self.properties.subscription_identifiers,
            },
            payload: &self.payload,
        }
    }

    pub(crate) fn decode(
        flags: u8,
        buf: &mut Bytes,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let dup = flags & 0b1000 != 0;
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::Malformed(
            "[MQTT-3.3.1-4] PUBLISH must not have QoS 3",
        ))?;
        if dup && qos == QoS::AtMostOnce {
            return Err(DecodeError::Malformed(
                "[MQTT-3.3.1-2] DUP must be 0 for QoS 0 messages",
            ));
        }
        let topic = TopicName::from_wire(read_utf8(buf)?).map_err(|_| {
            DecodeError::TopicNameInvalid("[MQTT-3.3.2-2] PUBLISH topic name contains a wildcard")
        })?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(PacketId::read(buf)?),
        };
        let properties = if version.is_v5() {
            PublishProperties::decode(buf)?
        } else {
            PublishProperties::default()
        };
        if topic.is_empty() && properties.topic_alias.is_none() {
            return Err(if version.is_v5() {
                DecodeError::Protocol("[MQTT-3.3.2-1] empty topic name without a Topic Alias")
            } else {
                DecodeError::TopicNameInvalid("[MQTT-4.7.3-1] topic name must not be empty")
            });
        }
        let payload = std::mem::take(buf);
        Ok(Self {
            dup,
            qos,
            retain: flags & 1 != 0,
            topic,
            packet_id,
            properties,
            payload,
        })
    }
}

impl PublishView<'_> {
    /// Refuses what the receiver would reject: a few comparisons, cheap enough for
    /// every delivery of a fan-out.
    pub(crate) fn check(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        if (self.qos == QoS::AtMostOnce) != self.packet_id.is_none() {
            return Err(EncodeError::NotInVersion(
                "a packet identifier is required exactly for QoS 1 and 2",
            ));
        }
        if self.dup && self.qos == QoS::AtMostOnce {
            return Err(EncodeError::Invalid(
                "[MQTT-3.3.1-2] DUP must be 0 for QoS 0 messages",
            ));
        }
        if self.topic.is_empty() {
            if !version.is_v5() {
                return Err(EncodeError::Invalid(
                    "[MQTT-4.7.3-1] topic name must not be empty before MQTT 5.0",
                ));
            }
            if self.overrides.topic_alias.is_none() {
                return Err(EncodeError::Invalid(
                    "[MQTT-3.3.2-1] empty topic name without a Topic Alias",
                ));
            }
        }
        check_field(self.topic.as_bytes())?;
        self.overrides
            .subscription_identifiers
            .iter()
            .try_for_each(|id| check_subscription_identifier(*id))?;
        self.properties.check()
    }

    /// The size of this PUBLISH on the wire in `version`, fixed header included, after
    /// the checks [`encode_publish`] makes: what a Maximum Packet Size is compared with.
    pub fn encoded_len(&self, version: ProtocolVersion) -> Result<usize, EncodeError> {
        self.check(version)?;
        let body_len = self.body_len(version);
        if body_len > MAX_VARINT as usize {
            return Err(EncodeError::BodyTooLong(body_len));
        }
        Ok(fixed_len(body_len))
    }

    fn properties_len(&self) -> usize {
        self.properties.encoded_len_with(&self.overrides)
    }

    pub(crate) fn body_len(&self, version: ProtocolVersion) -> usize {
        let mut len = binary_len(self.topic.as_bytes()) + self.payload.len();
        if self.packet_id.is_some() {
            len += 2;
        }
        if version.is_v5() {
            len += block_len(self.properties_len());
        }
        len
    }
}

/// Appends a PUBLISH to `buf`, or returns [`EncodeError::PacketTooLarge`] without writing
/// when it exceeds `max_size` (the receiver's Maximum Packet Size): a message is never
/// trimmed, the caller drops it for that receiver ([MQTT-3.1.2-24]).
pub fn encode_publish(
    view: &PublishView<'_>,
    version: ProtocolVersion,
    max_size: usize,
    buf: &mut BytesMut,
) -> Result<usize, EncodeError> {
    view.check(version)?;
    let v5 = version.is_v5();
    let properties_len = if v5 { view.properties_len() } else { 0 };
    let body_len = view.body_len(version);
    let size = fixed_len(body_len);
    if size > max_size {
        return Err(EncodeError::PacketTooLarge {
            size,
            max: max_size,
        });
    }
    if body_len > MAX_VARINT as usize {
        return Err(EncodeError::BodyTooLong(body_len));
    }
    buf.reserve(size);
    let mut first = 0x30 | ((view.qos as u8) << 1);
    if view.dup {
        first |= 0b1000;
    }
    if view.retain {
        first |= 1;
    }
    buf.put_u8(first);
    write_varint(buf, body_len);
    write_binary(buf, view.topic.as_bytes());
    if let Some(id) = view.packet_id {
        buf.put_u16(id.get());
    }
    if v5 {
        view.properties
            .encode_with(buf, &view.overrides, properties_len);
    }
    buf.put_slice(view.payload);
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeError, Packet, ReasonCode, decode_packet};

    #[test]
    fn encoded_len_is_the_size_encode_writes() {
        let mut publish = Publish::new(TopicName::new("a/b").unwrap(), &b"payload"[..]);
        publish.qos = QoS::AtLeastOnce;
        publish.packet_id = PacketId::new(1);
        publish.properties.content_type = Some("text/plain".into());
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let mut buf = BytesMut::new();
            let written = encode_publish(&publish.view(), version, usize::MAX, &mut buf).unwrap();
            assert_eq!(publish.view().encoded_len(version).unwrap(), written);
            assert_eq!(buf.len(), written);
        }
        publish.packet_id = None;
        assert!(publish.view().encoded_len(ProtocolVersion::V5).is_err());
    }

    #[test]
    fn qos0_v311_publish_from_spec_bytes() {
        let packet = decode_packet(b"\x30\x07\x00\x03a/bhi", ProtocolVersion::V3_1_1).unwrap();
        let Packet::Publish(publish) = packet else {
            panic!("not a PUBLISH")
        };
        assert_eq!(publish.topic.as_str(), "a/b");
        assert_eq!(&publish.payload[..], b"hi");
        assert_eq!(publish.packet_id, None);
    }

    #[test]
    fn qos1_v5_publish_with_properties_round_trips() {
        let mut publish = Publish::new(TopicName::new("t").unwrap(), &b"p"[..]);
        publish.qos = QoS::AtLeastOnce;
        publish.retain = true;
        publish.packet_id = PacketId::new(10);
        publish.properties.content_type = Some("text/plain".into());
        publish
            .properties
            .user_properties
            .push(("k".into(), "v".into()));
        let bytes = Packet::Publish(publish.clone())
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(bytes[0], 0x33);
        assert_eq!(
            decode_packet(&bytes, ProtocolVersion::V5).unwrap(),
            Packet::Publish(publish)
        );
    }

    #[test]
    fn qos3_is_malformed() {
        assert!(matches!(
            decode_packet(b"\x36\x05\x00\x01a\x00\x01", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn dup_on_qos0_is_malformed() {
        assert!(decode_packet(b"\x38\x03\x00\x01a", ProtocolVersion::V3_1_1).is_err());
    }

    #[test]
    fn wildcard_topic_is_topic_name_invalid() {
        let err = decode_packet(b"\x30\x03\x00\x01#", ProtocolVersion::V5).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::TopicNameInvalid);
    }

    #[test]
    fn null_in_topic_is_malformed() {
        let err = decode_packet(b"\x30\x05\x00\x03a\x00b", ProtocolVersion::V5).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn invalid_utf8_topic_is_malformed() {
        let err = decode_packet(b"\x30\x04\x00\x02\xC3\x28", ProtocolVersion::V3_1_1).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn empty_topic_needs_an_alias_in_v5() {
        assert!(decode_packet(b"\x30\x03\x00\x00\x00", ProtocolVersion::V5).is_err());
        let Packet::Publish(p) =
            decode_packet(b"\x30\x06\x00\x00\x03\x23\x00\x01", ProtocolVersion::V5).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.properties.topic_alias.map(|a| a.get()), Some(1));
    }

    #[test]
    fn empty_topic_is_topic_name_invalid_in_v311() {
        let err = decode_packet(b"\x30\x02\x00\x00", ProtocolVersion::V3_1_1).unwrap_err();
        assert_eq!(err.reason_code(), ReasonCode::TopicNameInvalid);
    }

    #[test]
    fn packet_id_zero_is_rejected() {
        let err = decode_packet(b"\x32\x05\x00\x01a\x00\x00", ProtocolVersion::V3_1_1);
        assert!(matches!(err, Err(DecodeError::Protocol(_))), "{err:?}");
    }

    #[test]
    fn qos1_without_room_for_a_packet_id_is_malformed() {
        assert!(matches!(
            decode_packet(b"\x32\x04\x00\x01a\x00", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn topic_longer_than_the_packet_is_malformed() {
        assert!(matches!(
            decode_packet(b"\x30\x03\x00\x05a", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v5_publish_needs_its_property_length() {
        assert!(matches!(
            decode_packet(b"\x30\x03\x00\x01a", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v5_property_rules() {
        // Topic Alias twice.
        let twice = b"\x30\x0a\x00\x01a\x06\x23\x00\x01\x23\x00\x02";
        assert!(matches!(
            decode_packet(twice, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        // Subscription Identifier may repeat in PUBLISH.
        let ids = b"\x30\x08\x00\x01a\x04\x0b\x01\x0b\x02";
        let Packet::Publish(p) = decode_packet(ids, ProtocolVersion::V5).unwrap() else {
            panic!()
        };
        assert_eq!(p.properties.subscription_identifiers.len(), 2);
        // Subscription Identifier 0.
        let zero = b"\x30\x06\x00\x01a\x02\x0b\x00";
        assert!(matches!(
            decode_packet(zero, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        // Session Expiry Interval belongs to CONNECT, CONNACK and DISCONNECT.
        let foreign = b"\x30\x09\x00\x01a\x05\x11\x00\x00\x00\x01";
        assert!(matches!(
            decode_packet(foreign, ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
        // Response Topic with a wildcard.
        let response = b"\x30\x08\x00\x01a\x04\x08\x00\x01#";
        assert!(matches!(
            decode_packet(response, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        // User Property with invalid UTF-8 in its value.
        let user = b"\x30\x0b\x00\x01a\x07\x26\x00\x01k\x00\x01\xff";
        assert!(matches!(
            decode_packet(user, ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn encoder_refuses_what_the_receiver_would_reject() {
        let topic = TopicName::new("t").unwrap();
        let mut dup = Publish::new(topic.clone(), &b""[..]);
        dup.dup = true;
        let mut empty = Publish::new(TopicName::default(), &b""[..]);
        let mut big_id = Publish::new(topic.clone(), &b""[..]);
        big_id.properties.subscription_identifiers =
            vec![std::num::NonZeroU32::new(MAX_VARINT + 1).unwrap()];
        let mut response = Publish::new(topic, &b""[..]);
        response.properties.response_topic = Some(TopicName::default());
        for (packet, version) in [
            (&dup, ProtocolVersion::V3_1_1),
            (&empty, ProtocolVersion::V5),
            (&big_id, ProtocolVersion::V5),
            (&response, ProtocolVersion::V5),
        ] {
            let result = Packet::Publish(packet.clone()).to_bytes(version);
            assert!(matches!(result, Err(EncodeError::Invalid(_))), "{result:?}");
        }
        empty.properties.topic_alias = std::num::NonZeroU16::new(1);
        assert!(
            Packet::Publish(empty.clone())
                .to_bytes(ProtocolVersion::V5)
                .is_ok()
        );
        assert!(matches!(
            Packet::Publish(empty).to_bytes(ProtocolVersion::V3_1_1),
            Err(EncodeError::Invalid(_))
        ));
    }

    #[test]
    fn publish_over_the_limit_is_not_written() {
        let publish = Publish::new(TopicName::new("t").unwrap(), vec![0u8; 100]);
        let mut buf = BytesMut::new();
        let err = encode_publish(&publish.view(), ProtocolVersion::V5, 50, &mut buf).unwrap_err();
        assert!(matches!(err, EncodeError::PacketTooLarge { .. }));
        assert!(buf.is_empty());
    }

    #[test]
    fn view_overrides_replace_per_delivery_properties() {
        let mut publish = Publish::new(TopicName::new("t").unwrap(), &b""[..]);
        publish.properties.message_expiry_interval = Some(100);
        let ids = [std::num::NonZeroU32::new(5).unwrap()];
        let mut view = publish.view();
        view.overrides = PublishOverrides {
            message_expiry_interval: Some(40),
            topic_alias: None,
            subscription_identifiers: &ids,
        };
        let mut buf = BytesMut::new();
        encode_publish(&view, ProtocolVersion::V5, usize::MAX, &mut buf).unwrap();
        let Packet::Publish(decoded) = decode_packet(&buf, ProtocolVersion::V5).unwrap() else {
            panic!()
        };
        assert_eq!(decoded.properties.message_expiry_interval, Some(40));
        assert_eq!(decoded.properties.subscription_identifiers, ids);
    }
}
