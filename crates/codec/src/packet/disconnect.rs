//! DISCONNECT (section 3.14).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::primitives::read_u8;
use crate::properties::{DisconnectProperties, block_len};
use crate::reason::ReasonCode;

/// The end of a connection; in v5 either side may send it, with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Disconnect {
    /// Why the connection ends (v5).
    pub reason_code: ReasonCode,
    /// v5 properties.
    pub properties: DisconnectProperties,
}

const INVALID_REASON: &str = "[MQTT-3.14.2-1] invalid DISCONNECT reason code";

impl Disconnect {
    /// A DISCONNECT with the given reason and a reason string.
    pub fn new(reason_code: ReasonCode, reason_string: impl Into<Option<String>>) -> Self {
        Self {
            reason_code,
            properties: DisconnectProperties {
                reason_string: reason_string.into().map(Into::into),
                ..Default::default()
            },
        }
    }

    pub(crate) fn decode(buf: &mut Bytes, v5: bool) -> Result<Self, DecodeError> {
        let mut disconnect = Self::default();
        if v5 && !buf.is_empty() {
            let code = read_u8(buf)?;
            disconnect.reason_code = ReasonCode::from_u8(code)
                .filter(|c| is_disconnect_reason(*c))
                .ok_or(DecodeError::Malformed(INVALID_REASON))?;
            if !buf.is_empty() {
                disconnect.properties = DisconnectProperties::decode(buf)?;
            }
        }
        Ok(disconnect)
    }

    pub(crate) fn check(&self, v5: bool) -> Result<(), EncodeError> {
        if v5 && !is_disconnect_reason(self.reason_code) {
            return Err(EncodeError::Invalid(INVALID_REASON));
        }
        self.properties.check()
    }

    pub(crate) fn body_len(&self, v5: bool, trim: bool) -> usize {
        if !v5 {
            return 0;
        }
        match (self.reason_code, self.properties.encoded_len(trim)) {
            (ReasonCode::Success, 0) => 0,
            (_, 0) => 1,
            (_, len) => 1 + block_len(len),
        }
    }

    pub(crate) fn encode_body(&self, v5: bool, trim: bool, buf: &mut BytesMut) {
        let len = self.body_len(v5, trim);
        if len >= 1 {
            buf.put_u8(self.reason_code as u8);
        }
        if len > 1 {
            self.properties.encode(buf, trim);
        }
    }
}

/// The DISCONNECT reason codes MQTT 5.0 allows (section 3.14.2.1, Table 3-10).
fn is_disconnect_reason(code: ReasonCode) -> bool {
    use ReasonCode::*;
    matches!(
        code,
        Success
            | DisconnectWithWill
            | UnspecifiedError
            | MalformedPacket
            | ProtocolError
            | ImplementationSpecificError
            | NotAuthorized
            | ServerBusy
            | ServerShuttingDown
            | KeepAliveTimeout
            | SessionTakenOver
            | TopicFilterInvalid
            | TopicNameInvalid
            | ReceiveMaximumExceeded
            | TopicAliasInvalid
            | PacketTooLarge
            | MessageRateTooHigh
            | QuotaExceeded
            | AdministrativeAction
            | PayloadFormatInvalid
            | RetainNotSupported
            | QosNotSupported
            | UseAnotherServer
            | ServerMoved
            | SharedSubscriptionsNotSupported
            | ConnectionRateExceeded
            | MaximumConnectTime
            | SubscriptionIdentifiersNotSupported
            | WildcardSubscriptionsNotSupported
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ProtocolVersion, decode_packet};

    #[test]
    fn normal_disconnect_is_two_bytes() {
        let bytes = Packet::Disconnect(Disconnect::default())
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(&bytes[..], b"\xe0\x00");
    }

    #[test]
    fn v5_with_reason_and_session_expiry() {
        let packet =
            decode_packet(b"\xe0\x07\x04\x05\x11\x00\x00\x00\x3c", ProtocolVersion::V5).unwrap();
        let Packet::Disconnect(d) = packet else {
            panic!()
        };
        assert_eq!(d.reason_code, ReasonCode::DisconnectWithWill);
        assert_eq!(d.properties.session_expiry_interval, Some(60));
    }

    #[test]
    fn server_disconnect_carries_reason_string() {
        let d = Disconnect::new(
            ReasonCode::SessionTakenOver,
            "another connection took over".to_string(),
        );
        let bytes = Packet::Disconnect(d.clone())
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(bytes[2], 0x8E);
        assert_eq!(
            decode_packet(&bytes, ProtocolVersion::V5).unwrap(),
            Packet::Disconnect(d)
        );
    }

    #[test]
    fn every_table_3_10_reason_is_accepted() {
        // 0x9F Connection rate exceeded and 0xA1 Subscription Identifiers not supported
        // were once rejected.
        for byte in [
            0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
            0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1,
            0xA2,
        ] {
            let packet = decode_packet(&[0xE0, 0x01, byte], ProtocolVersion::V5);
            assert!(packet.is_ok(), "0x{byte:02X}: {packet:?}");
        }
    }

    #[test]
    fn reasons_outside_table_3_10_are_malformed() {
        for byte in [
            0x01, 0x02, 0x10, 0x11, 0x18, 0x19, 0x84, 0x85, 0x86, 0x88, 0x8A, 0x8C, 0x91, 0x92,
            0xA3, 0xFF,
        ] {
            assert!(
                matches!(
                    decode_packet(&[0xE0, 0x01, byte], ProtocolVersion::V5),
                    Err(DecodeError::Malformed(_))
                ),
                "0x{byte:02X}"
            );
            let disconnect = Disconnect {
                reason_code: ReasonCode::from_u8(byte).unwrap_or(ReasonCode::Banned),
                properties: DisconnectProperties::default(),
            };
            assert!(matches!(
                Packet::Disconnect(disconnect).to_bytes(ProtocolVersion::V5),
                Err(EncodeError::Invalid(_))
            ));
        }
    }

    #[test]
    fn reason_code_only_and_empty_property_block_decode() {
        let Packet::Disconnect(d) =
            decode_packet(b"\xe0\x02\x8b\x00", ProtocolVersion::V5).unwrap()
        else {
            panic!()
        };
        assert_eq!(d.reason_code, ReasonCode::ServerShuttingDown);
        assert!(d.properties.is_empty());
    }

    #[test]
    fn session_expiry_twice_is_a_protocol_error() {
        let bytes = b"\xe0\x0c\x00\x0a\x11\x00\x00\x00\x01\x11\x00\x00\x00\x02";
        assert!(matches!(
            decode_packet(bytes, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn v311_disconnect_with_body_is_malformed() {
        assert!(decode_packet(b"\xe0\x01\x00", ProtocolVersion::V3_1_1).is_err());
    }
}
