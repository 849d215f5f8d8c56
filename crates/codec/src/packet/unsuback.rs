//! UNSUBACK (section 3.11).

use bytes::{BufMut, Bytes, BytesMut};

use super::PacketId;
use crate::error::{DecodeError, EncodeError};
use crate::primitives::read_u8;
use crate::properties::{AckProperties, block_len};
use crate::reason::ReasonCode;

/// The server's answer to UNSUBSCRIBE. v3 carries only the packet identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct UnsubAck {
    /// The UNSUBSCRIBE being answered.
    pub packet_id: PacketId,
    /// v5 diagnostics.
    pub properties: AckProperties,
    /// One code per filter (v5 only).
    pub reason_codes: Vec<ReasonCode>,
}

fn is_unsuback_reason(code: ReasonCode) -> bool {
    use ReasonCode::*;
    matches!(
        code,
        Success
            | NoSubscriptionExisted
            | UnspecifiedError
            | ImplementationSpecificError
            | NotAuthorized
            | TopicFilterInvalid
            | PacketIdentifierInUse
    )
}

const INVALID_REASON: &str = "[MQTT-3.11.3-2] invalid UNSUBACK reason code";
const EMPTY: &str = "[MQTT-3.11.3-1] UNSUBACK without reason codes";

impl UnsubAck {
    pub(crate) fn decode(buf: &mut Bytes, v5: bool) -> Result<Self, DecodeError> {
        let packet_id = PacketId::read(buf)?;
        let mut ack = Self {
            packet_id,
            properties: AckProperties::default(),
            reason_codes: Vec::new(),
        };
        if v5 {
            ack.properties = AckProperties::decode(buf)?;
            while !buf.is_empty() {
                let code = ReasonCode::from_u8(read_u8(buf)?)
                    .filter(|c| is_unsuback_reason(*c))
                    .ok_or(DecodeError::Malformed(INVALID_REASON))?;
                ack.reason_codes.push(code);
            }
            if ack.reason_codes.is_empty() {
                return Err(DecodeError::Protocol(EMPTY));
            }
        }
        Ok(ack)
    }

    /// v5 needs one code from Table 3-9 per filter; v3 sends no codes at all.
    pub(crate) fn check(&self, v5: bool) -> Result<(), EncodeError> {
        if v5 && self.reason_codes.is_empty() {
            return Err(EncodeError::Invalid(EMPTY));
        }
        if v5 && !self.reason_codes.iter().all(|c| is_unsuback_reason(*c)) {
            return Err(EncodeError::Invalid(INVALID_REASON));
        }
        self.properties.check()
    }

    pub(crate) fn body_len(&self, v5: bool, trim: bool) -> usize {
        if v5 {
            2 + block_len(self.properties.encoded_len(trim)) + self.reason_codes.len()
        } else {
            2
        }
    }

    pub(crate) fn encode_body(&self, v5: bool, trim: bool, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v5 {
            self.properties.encode(buf, trim);
            for code in &self.reason_codes {
                buf.put_u8(*code as u8);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ProtocolVersion, decode_packet};

    #[test]
    fn v311_unsuback_is_the_packet_id_only() {
        let ack = UnsubAck {
            packet_id: PacketId::new(9).unwrap(),
            properties: AckProperties::default(),
            reason_codes: vec![ReasonCode::Success],
        };
        let bytes = Packet::UnsubAck(ack)
            .to_bytes(ProtocolVersion::V3_1_1)
            .unwrap();
        assert_eq!(&bytes[..], b"\xb0\x02\x00\x09");
    }

    #[test]
    fn v311_unsuback_with_codes_is_malformed() {
        assert!(matches!(
            decode_packet(b"\xb0\x03\x00\x09\x00", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn v5_unsuback_needs_valid_codes() {
        assert!(matches!(
            decode_packet(b"\xb0\x03\x00\x09\x00", ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        // 0x01 Granted QoS 1 is a SUBACK code.
        assert!(matches!(
            decode_packet(b"\xb0\x04\x00\x09\x00\x01", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
        assert!(decode_packet(b"\xb0\x05\x00\x09\x00\x00\x11", ProtocolVersion::V5).is_ok());
        let ack = UnsubAck {
            packet_id: PacketId::new(9).unwrap(),
            properties: AckProperties::default(),
            reason_codes: vec![],
        };
        assert!(matches!(
            Packet::UnsubAck(ack).to_bytes(ProtocolVersion::V5),
            Err(EncodeError::Invalid(_))
        ));
    }
}
