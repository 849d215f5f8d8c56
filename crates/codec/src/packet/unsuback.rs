//! UNSUBACK (section 3.11).

use bytes::{BufMut, Bytes, BytesMut};

use super::PacketId;
use crate::error::DecodeError;
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
                    .ok_or(DecodeError::Malformed(
                        "[MQTT-3.11.3-2] invalid UNSUBACK reason code",
                    ))?;
                ack.reason_codes.push(code);
            }
            if ack.reason_codes.is_empty() {
                return Err(DecodeError::Protocol(
                    "[MQTT-3.11.3-1] UNSUBACK without reason codes",
                ));
            }
        }
        Ok(ack)
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
    use crate::{Packet, ProtocolVersion};

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
}
