//! PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4-3.7): one shape, four meanings.

use bytes::{BufMut, Bytes, BytesMut};

use super::{PacketId, PacketType};
use crate::error::{DecodeError, EncodeError};
use crate::primitives::read_u8;
use crate::properties::{AckProperties, block_len};
use crate::reason::ReasonCode;

/// An acknowledgement in the QoS 1 or QoS 2 flow of one PUBLISH.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PublishAck {
    /// The PUBLISH being acknowledged.
    pub packet_id: PacketId,
    /// The outcome (v5); v3 acknowledgements are always successes.
    pub reason_code: ReasonCode,
    /// v5 diagnostics.
    pub properties: AckProperties,
}

impl PublishAck {
    /// A successful acknowledgement without properties.
    pub fn new(packet_id: PacketId) -> Self {
        Self::with_reason(packet_id, ReasonCode::Success)
    }

    /// An acknowledgement with the given reason and no properties.
    pub fn with_reason(packet_id: PacketId, reason_code: ReasonCode) -> Self {
        Self {
            packet_id,
            reason_code,
            properties: AckProperties::default(),
        }
    }

    pub(crate) fn decode(buf: &mut Bytes, v5: bool, kind: PacketType) -> Result<Self, DecodeError> {
        let packet_id = PacketId::read(buf)?;
        let mut ack = Self::new(packet_id);
        if v5 && !buf.is_empty() {
            let code = read_u8(buf)?;
            ack.reason_code = ReasonCode::from_u8(code)
                .filter(|c| is_valid_reason(kind, *c))
                .ok_or(DecodeError::Malformed(invalid_reason(kind)))?;
            if !buf.is_empty() {
                ack.properties = AckProperties::decode(buf)?;
            }
        }
        Ok(ack)
    }

    pub(crate) fn check(&self, v5: bool, kind: PacketType) -> Result<(), EncodeError> {
        if v5 && !is_valid_reason(kind, self.reason_code) {
            return Err(EncodeError::Invalid(invalid_reason(kind)));
        }
        self.properties.check()
    }

    pub(crate) fn body_len(&self, v5: bool, trim: bool) -> usize {
        let props = self.properties.encoded_len(trim);
        match (v5, self.reason_code, props) {
            (false, _, _) | (true, ReasonCode::Success, 0) => 2,
            (true, _, 0) => 3,
            (true, _, len) => 3 + block_len(len),
        }
    }

    pub(crate) fn encode_body(&self, v5: bool, trim: bool, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        let len = self.body_len(v5, trim);
        if len >= 3 {
            buf.put_u8(self.reason_code as u8);
        }
        if len > 3 {
            self.properties.encode(buf, trim);
        }
    }
}

/// The rule a reason code outside the acknowledgement's table breaks.
fn invalid_reason(kind: PacketType) -> &'static str {
    match kind {
        PacketType::PubAck => "[MQTT-3.4.2-1] reason code not allowed in PUBACK",
        PacketType::PubRec => "[MQTT-3.5.2-1] reason code not allowed in PUBREC",
        PacketType::PubRel => "[MQTT-3.6.2-1] reason code not allowed in PUBREL",
        _ => "[MQTT-3.7.2-1] reason code not allowed in PUBCOMP",
    }
}

/// The reason codes each acknowledgement may carry (sections 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1).
fn is_valid_reason(kind: PacketType, code: ReasonCode) -> bool {
    use ReasonCode::*;
    match kind {
        PacketType::PubAck | PacketType::PubRec => matches!(
            code,
            Success
                | NoMatchingSubscribers
                | UnspecifiedError
                | ImplementationSpecificError
                | NotAuthorized
                | TopicNameInvalid
                | PacketIdentifierInUse
                | QuotaExceeded
                | PayloadFormatInvalid
        ),
        _ => matches!(code, Success | PacketIdentifierNotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ProtocolVersion, decode_packet};

    fn id(value: u16) -> PacketId {
        PacketId::new(value).unwrap()
    }

    #[test]
    fn success_without_properties_is_two_bytes_in_v5() {
        let bytes = Packet::PubAck(PublishAck::new(id(7)))
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(&bytes[..], b"\x40\x02\x00\x07");
    }

    #[test]
    fn reason_code_is_written_when_not_success() {
        let ack = PublishAck::with_reason(id(1), ReasonCode::NoMatchingSubscribers);
        let bytes = Packet::PubRec(ack).to_bytes(ProtocolVersion::V5).unwrap();
        assert_eq!(&bytes[..], b"\x50\x03\x00\x01\x10");
    }

    #[test]
    fn pubrel_has_flags_0010() {
        let bytes = Packet::PubRel(PublishAck::new(id(1)))
            .to_bytes(ProtocolVersion::V3_1_1)
            .unwrap();
        assert_eq!(&bytes[..], b"\x62\x02\x00\x01");
        assert!(decode_packet(b"\x60\x02\x00\x01", ProtocolVersion::V3_1_1).is_err());
    }

    #[test]
    fn packet_id_zero_is_rejected() {
        assert!(decode_packet(b"\x40\x02\x00\x00", ProtocolVersion::V5).is_err());
    }

    #[test]
    fn v311_ack_with_extra_bytes_is_malformed() {
        assert!(decode_packet(b"\x40\x03\x00\x01\x00", ProtocolVersion::V3_1_1).is_err());
    }

    #[test]
    fn pubcomp_rejects_a_puback_only_reason() {
        assert!(decode_packet(b"\x70\x03\x00\x01\x10", ProtocolVersion::V5).is_err());
        assert!(decode_packet(b"\x70\x03\x00\x01\x92", ProtocolVersion::V5).is_ok());
    }

    #[test]
    fn pubrel_rejects_a_puback_only_reason_and_names_its_rule() {
        let err = decode_packet(b"\x62\x03\x00\x01\x10", ProtocolVersion::V5).unwrap_err();
        assert!(err.to_string().contains("[MQTT-3.6.2-1]"), "{err}");
        let err = decode_packet(b"\x50\x03\x00\x01\x92", ProtocolVersion::V5).unwrap_err();
        assert!(err.to_string().contains("[MQTT-3.5.2-1]"), "{err}");
    }

    #[test]
    fn undefined_reason_code_is_malformed() {
        assert!(matches!(
            decode_packet(b"\x40\x03\x00\x01\x03", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn reason_code_only_and_empty_property_block_decode() {
        for bytes in [&b"\x40\x03\x00\x01\x00"[..], b"\x40\x04\x00\x01\x00\x00"] {
            assert_eq!(
                decode_packet(bytes, ProtocolVersion::V5).unwrap(),
                Packet::PubAck(PublishAck::new(id(1)))
            );
        }
    }

    #[test]
    fn property_of_another_packet_is_malformed() {
        // Session Expiry Interval (0x11) in PUBACK: [MQTT 2.2.2.2] a Malformed Packet.
        let bytes = b"\x40\x09\x00\x01\x00\x05\x11\x00\x00\x00\x01";
        assert!(matches!(
            decode_packet(bytes, ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn reason_string_twice_is_a_protocol_error() {
        let bytes = b"\x40\x0c\x00\x01\x80\x08\x1f\x00\x01a\x1f\x00\x01b";
        assert!(matches!(
            decode_packet(bytes, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn v311_ack_is_exactly_two_bytes() {
        assert!(decode_packet(b"\x40\x01\x00", ProtocolVersion::V3_1_1).is_err());
        assert!(decode_packet(b"\x70\x03\x00\x01\x00", ProtocolVersion::V3_1_1).is_err());
    }

    #[test]
    fn encoder_refuses_a_reason_the_packet_cannot_carry() {
        let ack = PublishAck::with_reason(id(1), ReasonCode::NoMatchingSubscribers);
        assert!(matches!(
            Packet::PubComp(ack.clone()).to_bytes(ProtocolVersion::V5),
            Err(crate::EncodeError::Invalid(_))
        ));
        // v3 acknowledgements carry no reason code, so there is nothing to refuse.
        assert!(
            Packet::PubComp(ack)
                .to_bytes(ProtocolVersion::V3_1_1)
                .is_ok()
        );
    }

    #[test]
    fn trimmed_when_over_the_peer_limit() {
        let mut ack = PublishAck::with_reason(id(1), ReasonCode::QuotaExceeded);
        ack.properties.reason_string = Some("x".repeat(100).into());
        let mut buf = BytesMut::new();
        Packet::PubAck(ack)
            .encode(ProtocolVersion::V5, 10, &mut buf)
            .unwrap();
        assert_eq!(&buf[..], b"\x40\x03\x00\x01\x97");
    }
}
