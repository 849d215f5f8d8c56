//! CONNACK (section 3.2).

use bytes::{BufMut, Bytes, BytesMut};

use super::ProtocolVersion;
use crate::error::{DecodeError, EncodeError};
use crate::primitives::read_u8;
use crate::properties::{ConnAckProperties, block_len};
use crate::reason::{ConnectReturnCode, ReasonCode};

/// The server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ConnAck {
    /// Whether the server resumed an existing session.
    pub session_present: bool,
    /// The outcome; v3 clients see it as a return code.
    pub reason_code: ReasonCode,
    /// v5 properties.
    pub properties: ConnAckProperties,
}

/// The CONNACK reason codes MQTT 5.0 allows (section 3.2.2.2).
fn is_connack_reason(code: ReasonCode) -> bool {
    use ReasonCode::*;
    matches!(
        code,
        Success
            | UnspecifiedError
            | MalformedPacket
            | ProtocolError
            | ImplementationSpecificError
            | UnsupportedProtocolVersion
            | ClientIdentifierNotValid
            | BadUserNameOrPassword
            | NotAuthorized
            | ServerUnavailable
            | ServerBusy
            | Banned
            | BadAuthenticationMethod
            | TopicNameInvalid
            | PacketTooLarge
            | QuotaExceeded
            | PayloadFormatInvalid
            | RetainNotSupported
            | QosNotSupported
            | UseAnotherServer
            | ServerMoved
            | ConnectionRateExceeded
    )
}

const INVALID_REASON: &str = "[MQTT-3.2.2-8] invalid CONNACK reason code";

impl ConnAck {
    pub(crate) fn decode(buf: &mut Bytes, version: ProtocolVersion) -> Result<Self, DecodeError> {
        let flags = read_u8(buf)?;
        // MQTT 3.1 has no Session Present: the whole byte is reserved and unused.
        let flags = if version == ProtocolVersion::V3_1 {
            0
        } else {
            flags
        };
        if flags & 0xFE != 0 {
            return Err(DecodeError::Malformed(
                "[MQTT-3.2.2-1] reserved CONNACK acknowledge flags must be 0",
            ));
        }
        let session_present = flags & 1 == 1;
        let code = read_u8(buf)?;
        let (reason_code, properties) = if version.is_v5() {
            let reason = ReasonCode::from_u8(code)
                .filter(|c| is_connack_reason(*c))
                .ok_or(DecodeError::Malformed(INVALID_REASON))?;
            (reason, ConnAckProperties::decode(buf)?)
        } else {
            let code = ConnectReturnCode::from_u8(code).ok_or(DecodeError::Malformed(
                "[MQTT-3.2.2-6] invalid CONNACK return code",
            ))?;
            (
                ReasonCode::from_v3_connack(code),
                ConnAckProperties::default(),
            )
        };
        if session_present && reason_code.is_error() {
            return Err(DecodeError::Protocol(
                "[MQTT-3.2.2-6] Session Present must be 0 when the connection is refused",
            ));
        }
        Ok(Self {
            session_present,
            reason_code,
            properties,
        })
    }

    pub(crate) fn check(&self, v5: bool) -> Result<(), EncodeError> {
        if v5 && !is_connack_reason(self.reason_code) {
            return Err(EncodeError::Invalid(INVALID_REASON));
        }
        self.properties.check()
    }

    pub(crate) fn body_len(&self, v5: bool, trim: bool) -> usize {
        if v5 {
            2 + block_len(self.properties.encoded_len(trim))
        } else {
            2
        }
    }

    /// Whether Session Present goes on the wire: only with the success the peer will read
    /// ([MQTT-3.2.2-6]; in v3 the return code the reason maps to), and never in MQTT 3.1,
    /// where the byte is reserved.
    pub(crate) fn sends_session_present(&self, version: ProtocolVersion) -> bool {
        let accepted = match version {
            ProtocolVersion::V5 => !self.reason_code.is_error(),
            ProtocolVersion::V3_1_1 => {
                self.reason_code.to_v3_connack() == ConnectReturnCode::Accepted
            }
            ProtocolVersion::V3_1 => false,
        };
        self.session_present && accepted
    }

    pub(crate) fn encode_body(&self, version: ProtocolVersion, trim: bool, buf: &mut BytesMut) {
        buf.put_u8(u8::from(self.sends_session_present(version)));
        if version.is_v5() {
            buf.put_u8(self.reason_code as u8);
            self.properties.encode(buf, trim);
        } else {
            buf.put_u8(self.reason_code.to_v3_connack() as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, decode_packet};

    #[test]
    fn v311_connack_encodes_return_code() {
        let ack = ConnAck {
            session_present: false,
            reason_code: ReasonCode::NotAuthorized,
            properties: ConnAckProperties::default(),
        };
        let bytes = Packet::ConnAck(ack)
            .to_bytes(ProtocolVersion::V3_1_1)
            .unwrap();
        assert_eq!(&bytes[..], b"\x20\x02\x00\x05");
    }

    #[test]
    fn v5_connack_with_assigned_client_id() {
        let ack = ConnAck {
            session_present: true,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties {
                assigned_client_identifier: Some("id".into()),
                ..Default::default()
            },
        };
        let bytes = Packet::ConnAck(ack.clone())
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(&bytes[..], b"\x20\x08\x01\x00\x05\x12\x00\x02id");
        assert_eq!(
            decode_packet(&bytes, ProtocolVersion::V5).unwrap(),
            Packet::ConnAck(ack)
        );
    }

    #[test]
    fn session_present_is_never_sent_with_a_refusal() {
        let ack = ConnAck {
            session_present: true,
            reason_code: ReasonCode::Banned,
            properties: ConnAckProperties::default(),
        };
        let bytes = Packet::ConnAck(ack).to_bytes(ProtocolVersion::V5).unwrap();
        assert_eq!(bytes[2], 0);
    }

    #[test]
    fn reserved_ack_flags_are_malformed() {
        assert!(matches!(
            decode_packet(b"\x20\x02\x02\x00", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
        assert!(decode_packet(b"\x20\x03\x80\x00\x00", ProtocolVersion::V5).is_err());
    }

    #[test]
    fn v311_return_codes_above_5_are_malformed() {
        for code in 0..=5u8 {
            assert!(decode_packet(&[0x20, 0x02, 0x00, code], ProtocolVersion::V3_1_1).is_ok());
        }
        assert!(matches!(
            decode_packet(b"\x20\x02\x00\x06", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn session_present_with_a_refusal_is_a_protocol_error() {
        assert!(matches!(
            decode_packet(b"\x20\x02\x01\x05", ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
        assert!(matches!(
            decode_packet(b"\x20\x03\x01\x87\x00", ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn v5_reason_outside_table_3_1_is_malformed() {
        // 0x10 No matching subscribers is a PUBACK code.
        assert!(matches!(
            decode_packet(b"\x20\x03\x00\x10\x00", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
        let ack = ConnAck {
            reason_code: ReasonCode::NoMatchingSubscribers,
            ..ConnAck::default()
        };
        assert!(matches!(
            Packet::ConnAck(ack).to_bytes(ProtocolVersion::V5),
            Err(EncodeError::Invalid(_))
        ));
    }

    #[test]
    fn v5_connack_needs_its_property_length() {
        assert!(matches!(
            decode_packet(b"\x20\x02\x00\x00", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn maximum_qos_above_1_is_rejected_both_ways() {
        assert!(matches!(
            decode_packet(b"\x20\x05\x00\x00\x02\x24\x02", ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        let mut ack = ConnAck::default();
        ack.properties.maximum_qos = Some(2);
        assert!(matches!(
            Packet::ConnAck(ack).to_bytes(ProtocolVersion::V5),
            Err(EncodeError::Invalid(_))
        ));
    }

    #[test]
    fn v311_session_present_follows_the_return_code_sent() {
        // Found by the roundtrip fuzz target: 0x11 is not a v5 error, but it maps to the
        // v3 refusal "server unavailable", which must not come with a session.
        let ack = ConnAck {
            session_present: true,
            reason_code: ReasonCode::NoSubscriptionExisted,
            properties: ConnAckProperties::default(),
        };
        let bytes = Packet::ConnAck(ack)
            .to_bytes(ProtocolVersion::V3_1_1)
            .unwrap();
        assert_eq!(&bytes[..], b"\x20\x02\x00\x03");
        assert!(decode_packet(&bytes, ProtocolVersion::V3_1_1).is_ok());
    }

    #[test]
    fn mqtt31_connack_never_sets_the_reserved_byte() {
        let ack = ConnAck {
            session_present: true,
            ..ConnAck::default()
        };
        let bytes = Packet::ConnAck(ack)
            .to_bytes(ProtocolVersion::V3_1)
            .unwrap();
        assert_eq!(&bytes[..], b"\x20\x02\x00\x00");
        let Packet::ConnAck(ack) =
            decode_packet(b"\x20\x02\x01\x00", ProtocolVersion::V3_1).unwrap()
        else {
            panic!()
        };
        assert!(!ack.session_present);
    }
}
