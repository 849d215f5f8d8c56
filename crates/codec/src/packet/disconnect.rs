//! DISCONNECT (section 3.14).

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;
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
                .ok_or(DecodeError::Malformed(
                    "[MQTT-3.14.2-1] invalid DISCONNECT reason code",
                ))?;
            if !buf.is_empty() {
                disconnect.properties = DisconnectProperties::decode(buf)?;
            }
        }
        Ok(disconnect)
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

fn is_disconnect_reason(code: ReasonCode) -> bool {
    use ReasonCode::*;
    !matches!(
        code,
        GrantedQos1
            | GrantedQos2
            | NoMatchingSubscribers
            | NoSubscriptionExisted
            | ContinueAuthentication
            | ReAuthenticate
            | UnsupportedProtocolVersion
            | ClientIdentifierNotValid
            | BadUserNameOrPassword
            | ServerUnavailable
            | Banned
            | BadAuthenticationMethod
            | PacketIdentifierInUse
            | PacketIdentifierNotFound
            | SubscriptionIdentifiersNotSupported
            | ConnectionRateExceeded
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
    fn v311_disconnect_with_body_is_malformed() {
        assert!(decode_packet(b"\xe0\x01\x00", ProtocolVersion::V3_1_1).is_err());
    }
}
