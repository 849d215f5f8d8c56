//! PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4-3.7): one shape, four meanings.

use bytes::{BufMut, Bytes, BytesMut};

use super::{PacketId, PacketType};
use crate::error::DecodeError;
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
                .ok_or(DecodeError::Malformed(
                    "[MQTT-3.4.2-1] reason code not allowed in this acknowledgement",
                ))?;
            if !buf.is_empty() {
                ack.properties = AckProperties::decode(buf)?;
            }
        }
        Ok(ack)
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
