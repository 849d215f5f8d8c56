//! AUTH (section 3.15), MQTT 5.0 only.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::primitives::read_u8;
use crate::properties::{AuthProperties, block_len};
use crate::reason::ReasonCode;

/// A step of enhanced authentication or re-authentication.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Auth {
    /// Success (0x00), Continue authentication (0x18) or Re-authenticate (0x19).
    pub reason_code: ReasonCode,
    /// Method, data and diagnostics.
    pub properties: AuthProperties,
}

const INVALID_REASON: &str = "[MQTT-3.15.2-1] invalid AUTH reason code";
const NO_METHOD: &str = "[MQTT 3.15.2.2.2] AUTH must carry an Authentication Method";

impl Auth {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut auth = Self::default();
        if !buf.is_empty() {
            auth.reason_code = match read_u8(buf)? {
                0x00 => ReasonCode::Success,
                0x18 => ReasonCode::ContinueAuthentication,
                0x19 => ReasonCode::ReAuthenticate,
                _ => return Err(DecodeError::Malformed(INVALID_REASON)),
            };
            auth.properties = AuthProperties::decode(buf)?;
            if auth.properties.authentication_method.is_none() {
                return Err(DecodeError::Protocol(NO_METHOD));
            }
        }
        Ok(auth)
    }

    /// Only the bare success (an empty body) may leave out the method.
    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if !matches!(
            self.reason_code,
            ReasonCode::Success | ReasonCode::ContinueAuthentication | ReasonCode::ReAuthenticate
        ) {
            return Err(EncodeError::Invalid(INVALID_REASON));
        }
        if self.body_len(false) > 0 && self.properties.authentication_method.is_none() {
            return Err(EncodeError::Invalid(NO_METHOD));
        }
        self.properties.check()
    }

    pub(crate) fn body_len(&self, trim: bool) -> usize {
        match (self.reason_code, self.properties.encoded_len(trim)) {
            (ReasonCode::Success, 0) => 0,
            (_, len) => 1 + block_len(len),
        }
    }

    pub(crate) fn encode_body(&self, trim: bool, buf: &mut BytesMut) {
        if self.body_len(trim) > 0 {
            buf.put_u8(self.reason_code as u8);
            self.properties.encode(buf, trim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ProtocolVersion, decode_packet};

    #[test]
    fn auth_is_reserved_in_v311() {
        assert!(decode_packet(b"\xf0\x00", ProtocolVersion::V3_1_1).is_err());
    }

    #[test]
    fn empty_body_is_a_success() {
        assert_eq!(
            decode_packet(b"\xf0\x00", ProtocolVersion::V5).unwrap(),
            Packet::Auth(Auth::default())
        );
    }

    #[test]
    fn invalid_reason_code_is_malformed() {
        assert!(matches!(
            decode_packet(b"\xf0\x02\x87\x00", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn authentication_method_is_required() {
        assert!(matches!(
            decode_packet(b"\xf0\x02\x18\x00", ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
        let auth = Auth {
            reason_code: ReasonCode::ContinueAuthentication,
            properties: AuthProperties::default(),
        };
        assert!(matches!(
            Packet::Auth(auth).to_bytes(ProtocolVersion::V5),
            Err(EncodeError::Invalid(_))
        ));
    }

    #[test]
    fn reason_code_without_property_length_is_malformed() {
        assert!(matches!(
            decode_packet(b"\xf0\x01\x18", ProtocolVersion::V5),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn authentication_method_twice_is_a_protocol_error() {
        let bytes = b"\xf0\x0a\x18\x08\x15\x00\x01a\x15\x00\x01b";
        assert!(matches!(
            decode_packet(bytes, ProtocolVersion::V5),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn auth_cannot_be_encoded_before_v5() {
        assert!(matches!(
            Packet::Auth(Auth::default()).to_bytes(ProtocolVersion::V3_1_1),
            Err(EncodeError::NotInVersion(_))
        ));
    }

    #[test]
    fn reauthenticate_round_trips() {
        let auth = Auth {
            reason_code: ReasonCode::ReAuthenticate,
            properties: AuthProperties {
                authentication_method: Some("CUSTOM-JWT".into()),
                authentication_data: Some(Bytes::from_static(b"token")),
                ..Default::default()
            },
        };
        let bytes = Packet::Auth(auth.clone())
            .to_bytes(ProtocolVersion::V5)
            .unwrap();
        assert_eq!(
            decode_packet(&bytes, ProtocolVersion::V5).unwrap(),
            Packet::Auth(auth)
        );
    }
}
