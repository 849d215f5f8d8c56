//! SUBACK (section 3.9).

use bytes::{BufMut, Bytes, BytesMut};

use super::PacketId;
use crate::error::{DecodeError, EncodeError};
use crate::primitives::read_u8;
use crate::properties::{AckProperties, block_len};
use crate::reason::ReasonCode;

/// The server's answer to SUBSCRIBE: one code per requested filter, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct SubAck {
    /// The SUBSCRIBE being answered.
    pub packet_id: PacketId,
    /// v5 diagnostics.
    pub properties: AckProperties,
    /// Granted QoS or failure, per filter. v3 clients see every failure as 0x80.
    pub reason_codes: Vec<ReasonCode>,
}

fn is_suback_reason(code: ReasonCode) -> bool {
    use ReasonCode::*;
    matches!(
        code,
        Success
            | GrantedQos1
            | GrantedQos2
            | UnspecifiedError
            | ImplementationSpecificError
            | NotAuthorized
            | TopicFilterInvalid
            | PacketIdentifierInUse
            | QuotaExceeded
            | SharedSubscriptionsNotSupported
            | SubscriptionIdentifiersNotSupported
            | WildcardSubscriptionsNotSupported
    )
}

const INVALID_REASON: &str = "[MQTT-3.9.3-2] invalid SUBACK return code";
const EMPTY: &str = "[MQTT-3.9.3-1] SUBACK without return codes";

impl SubAck {
    pub(crate) fn decode(buf: &mut Bytes, v5: bool) -> Result<Self, DecodeError> {
        let packet_id = PacketId::read(buf)?;
        let properties = if v5 {
            AckProperties::decode(buf)?
        } else {
            AckProperties::default()
        };
        let mut reason_codes = Vec::with_capacity(buf.len());
        while !buf.is_empty() {
            let byte = read_u8(buf)?;
            let code = if v5 {
                ReasonCode::from_u8(byte).filter(|c| is_suback_reason(*c))
            } else {
                match byte {
                    0..=2 => ReasonCode::from_u8(byte),
                    0x80 => Some(ReasonCode::UnspecifiedError),
                    _ => None,
                }
            };
            reason_codes.push(code.ok_or(DecodeError::Malformed(INVALID_REASON))?);
        }
        if reason_codes.is_empty() {
            return Err(DecodeError::Protocol(EMPTY));
        }
        Ok(Self {
            packet_id,
            properties,
            reason_codes,
        })
    }

    /// Every code must be one of Table 3-8; v3 sends failures as 0x80, so the same
    /// set is valid there.
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.reason_codes.is_empty() {
            return Err(EncodeError::Invalid(EMPTY));
        }
        if !self.reason_codes.iter().all(|c| is_suback_reason(*c)) {
            return Err(EncodeError::Invalid(INVALID_REASON));
        }
        self.properties.check()
    }

    pub(crate) fn body_len(&self, v5: bool, trim: bool) -> usize {
        let props = if v5 {
            block_len(self.properties.encoded_len(trim))
        } else {
            0
        };
        2 + props + self.reason_codes.len()
    }

    pub(crate) fn encode_body(&self, v5: bool, trim: bool, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v5 {
            self.properties.encode(buf, trim);
        }
        for code in &self.reason_codes {
            let byte = if v5 || !code.is_error() {
                *code as u8
            } else {
                0x80
            };
            buf.put_u8(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ProtocolVersion, decode_packet};

    #[test]
    fn v3_failures_encode_as_0x80() {
        let ack = SubAck {
            packet_id: PacketId::new(1).unwrap(),
            properties: AckProperties::default(),
            reason_codes: vec![ReasonCode::GrantedQos1, ReasonCode::NotAuthorized],
        };
        let bytes = Packet::SubAck(ack)
            .to_bytes(ProtocolVersion::V3_1_1)
            .unwrap();
        assert_eq!(&bytes[..], b"\x90\x04\x00\x01\x01\x80");
    }

    #[test]
    fn v311_return_codes_are_0_1_2_and_0x80() {
        let Packet::SubAck(ack) =
            decode_packet(b"\x90\x06\x00\x01\x00\x01\x02\x80", ProtocolVersion::V3_1_1).unwrap()
        else {
            panic!()
        };
        assert_eq!(ack.reason_codes[3], ReasonCode::UnspecifiedError);
        for code in [0x03, 0x10, 0x87, 0x8F] {
            assert!(matches!(
                decode_packet(&[0x90, 0x03, 0x00, 0x01, code], ProtocolVersion::V3_1_1),
                Err(DecodeError::Malformed(_))
            ));
        }
    }

    #[test]
    fn empty_suback_is_a_protocol_error() {
        assert!(matches!(
            decode_packet(b"\x90\x02\x00\x01", ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            decode_packet(b"\x90\x03\x00\x01\x00", ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn v5_reason_outside_table_3_8_is_malformed() {
        assert!(matches!(
            decode_packet(b"\x90\x04\x00\x01\x00\x11", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
        let ack = SubAck {
            packet_id: PacketId::new(1).unwrap(),
            properties: AckProperties::default(),
            reason_codes: vec![ReasonCode::NoSubscriptionExisted],
        };
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            assert!(matches!(
                Packet::SubAck(ack.clone()).to_bytes(version),
                Err(EncodeError::Invalid(_))
            ));
        }
    }

    #[test]
    fn v5_keeps_specific_failure_codes() {
        let ack = SubAck {
            packet_id: PacketId::new(1).unwrap(),
            properties: AckProperties::default(),
            reason_codes: vec![ReasonCode::TopicFilterInvalid],
        };
        let bytes = Packet::SubAck(ack.clone())
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(&bytes[..], b"\x90\x04\x00\x01\x00\x8f");
        assert_eq!(
            decode_packet(&bytes, ProtocolVersion::V5).unwrap(),
            Packet::SubAck(ack)
        );
    }
}
