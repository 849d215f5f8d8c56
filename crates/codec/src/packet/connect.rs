//! CONNECT (section 3.1).

use bytes::{BufMut, Bytes, BytesMut};

use super::{ProtocolVersion, QoS};
use crate::error::{DecodeError, EncodeError};
use crate::primitives::{
    Utf8Bytes, binary_len, check_field, read_binary, read_u8, read_u16, read_utf8, write_binary,
};
use crate::properties::{ConnectProperties, WillProperties, block_len};
use crate::topic::TopicName;

/// A client's request to open a session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Connect {
    /// The protocol the client speaks for the rest of the connection.
    pub protocol: ProtocolVersion,
    /// Clean Start (v5) / Clean Session (v3): discard any existing session.
    pub clean_start: bool,
    /// Keep Alive in seconds; 0 turns the mechanism off.
    pub keep_alive: u16,
    /// v5 properties (defaults for v3).
    pub properties: ConnectProperties,
    /// The client identifier; may be empty, asking the server to assign one.
    pub client_id: Utf8Bytes,
    /// The will message, published if the connection ends abnormally.
    pub will: Option<Will>,
    /// User Name.
    pub username: Option<Utf8Bytes>,
    /// Password (any bytes).
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::option))]
    pub password: Option<Bytes>,
}

/// The Will Message of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Will {
    /// QoS to publish the will with.
    pub qos: QoS,
    /// Whether the will is published as a retained message.
    pub retain: bool,
    /// Topic of the will.
    pub topic: TopicName,
    /// Payload of the will.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::primitives::arbitrary_bytes::bytes))]
    pub payload: Bytes,
    /// v5 will properties.
    pub properties: WillProperties,
}

const INVALID_WILL_TOPIC: &str = "[MQTT-3.1.3-11] Will Topic is not a valid topic name";

const FLAG_RESERVED: u8 = 0x01;
const FLAG_CLEAN_START: u8 = 0x02;
const FLAG_WILL: u8 = 0x04;
const FLAG_WILL_RETAIN: u8 = 0x20;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_USERNAME: u8 = 0x80;

impl Connect {
    pub(crate) fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let name = read_utf8(buf)?;
        let level = read_u8(buf)?;
        let protocol = match (&*name, level) {
            ("MQTT", 4) => ProtocolVersion::V3_1_1,
            ("MQTT", 5) => ProtocolVersion::V5,
            ("MQIsdp", 3) => ProtocolVersion::V3_1,
            _ => {
                return Err(DecodeError::UnsupportedProtocol {
                    name: name.to_string(),
                    level,
                });
            }
        };
        let flags = read_u8(buf)?;
        if flags & FLAG_RESERVED != 0 {
            return Err(DecodeError::Malformed(
                "[MQTT-3.1.2-3] reserved flag in CONNECT must be 0",
            ));
        }
        let will_flag = flags & FLAG_WILL != 0;
        let will_qos = QoS::from_u8((flags >> 3) & 0x03).ok_or(DecodeError::Malformed(
            "[MQTT-3.1.2-12] Will QoS must not be 3",
        ))?;
        let will_retain = flags & FLAG_WILL_RETAIN != 0;
        if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::Malformed(
                "[MQTT-3.1.2-11] Will QoS and Will Retain must be 0 without a Will",
            ));
        }
        let has_username = flags & FLAG_USERNAME != 0;
        let has_password = flags & FLAG_PASSWORD != 0;
        if has_password && !has_username && protocol != ProtocolVersion::V5 {
            return Err(DecodeError::Malformed(
                "[MQTT-3.1.2-22] Password flag set without the User Name flag",
            ));
        }
        let keep_alive = read_u16(buf)?;
        let properties = if protocol.is_v5() {
            ConnectProperties::decode(buf)?
        } else {
            ConnectProperties::default()
        };
        let client_id = read_utf8(buf)?;
        let will = if will_flag {
            let properties = if protocol.is_v5() {
                WillProperties::decode(buf)?
            } else {
                WillProperties::default()
            };
            let topic = TopicName::new(read_utf8(buf)?)
                .map_err(|_| DecodeError::TopicNameInvalid(INVALID_WILL_TOPIC))?;
            let payload = read_binary(buf)?;
            Some(Will {
                qos: will_qos,
                retain: will_retain,
                topic,
                payload,
                properties,
            })
        } else {
            None
        };
        let username = if has_username {
            Some(read_utf8(buf)?)
        } else {
            None
        };
        let password = if has_password {
            Some(read_binary(buf)?)
        } else {
            None
        };
        Ok(Self {
            protocol,
            clean_start: flags & FLAG_CLEAN_START != 0,
            keep_alive,
            properties,
            client_id,
            will,
            username,
            password,
        })
    }

    fn protocol_name(&self) -> &'static [u8] {
        match self.protocol {
            ProtocolVersion::V3_1 => b"MQIsdp",
            _ => b"MQTT",
        }
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        check_field(self.client_id.as_bytes())?;
        if let Some(will) = &self.will {
            if will.topic.is_empty() {
                return Err(EncodeError::Invalid(INVALID_WILL_TOPIC));
            }
            check_field(will.topic.as_bytes())?;
            check_field(&will.payload)?;
            will.properties.check()?;
        }
        if let Some(username) = &self.username {
            check_field(username.as_bytes())?;
        }
        if let Some(password) = &self.password {
            check_field(password)?;
        }
        if self.password.is_some() && self.username.is_none() && !self.protocol.is_v5() {
            return Err(EncodeError::NotInVersion(
                "a password needs a user name before MQTT 5.0",
            ));
        }
        self.properties.check()
    }

    pub(crate) fn body_len(&self) -> usize {
        let v5 = self.protocol.is_v5();
        let mut len = binary_len(self.protocol_name()) + 1 + 1 + 2;
        if v5 {
            len += block_len(self.properties.encoded_len());
        }
        len += binary_len(self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if v5 {
                len += block_len(will.properties.encoded_len());
            }
            len += binary_len(will.topic.as_bytes()) + binary_len(&will.payload);
        }
        len += self
            .username
            .as_ref()
            .map_or(0, |u| binary_len(u.as_bytes()));
        len += self.password.as_ref().map_or(0, |p| binary_len(p));
        len
    }

    pub(crate) fn encode_body(&self, buf: &mut BytesMut) {
        let v5 = self.protocol.is_v5();
        write_binary(buf, self.protocol_name());
        buf.put_u8(self.protocol as u8);
        let mut flags = 0;
        if self.clean_start {
            flags |= FLAG_CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= FLAG_WILL | ((will.qos as u8) << 3);
            if will.retain {
                flags |= FLAG_WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= FLAG_USERNAME;
        }
        if self.password.is_some() {
            flags |= FLAG_PASSWORD;
        }
        buf.put_u8(flags);
        buf.put_u16(self.keep_alive);
        if v5 {
            self.properties.encode(buf);
        }
        write_binary(buf, self.client_id.as_bytes());
        if let Some(will) = &self.will {
            if v5 {
                will.properties.encode(buf);
            }
            write_binary(buf, will.topic.as_bytes());
            write_binary(buf, &will.payload);
        }
        if let Some(username) = &self.username {
            write_binary(buf, username.as_bytes());
        }
        if let Some(password) = &self.password {
            write_binary(buf, password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, decode_one};

    #[test]
    fn decodes_a_minimal_v311_connect_from_spec_bytes() {
        let bytes = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd";
        let Packet::Connect(connect) = decode_one(bytes).unwrap() else {
            panic!("not a CONNECT");
        };
        assert_eq!(connect.protocol, ProtocolVersion::V3_1_1);
        assert!(connect.clean_start);
        assert_eq!(connect.keep_alive, 60);
        assert_eq!(connect.client_id, "abcd");
        assert!(connect.will.is_none() && connect.username.is_none());
    }

    #[test]
    fn decodes_a_v5_connect_with_will_and_credentials() {
        let bytes: &[u8] = b"\x10\x2a\x00\x04MQTT\x05\xee\x00\x0a\x05\x11\x00\x00\x00\x10\x00\x01c\x05\x18\x00\x00\x00\x05\x00\x01t\x00\x01p\x00\x01u\x00\x02pw";
        // flags 0xEE: username, password, will retain, will QoS 1, will, clean start
        let mut fixed = bytes.to_vec();
        fixed[1] = (fixed.len() - 2) as u8;
        let Packet::Connect(connect) = decode_one(&fixed).unwrap() else {
            panic!("not a CONNECT");
        };
        assert_eq!(connect.protocol, ProtocolVersion::V5);
        assert_eq!(connect.properties.session_expiry_interval, Some(16));
        let will = connect.will.as_ref().unwrap();
        assert_eq!(will.qos, QoS::AtLeastOnce);
        assert!(will.retain);
        assert_eq!(will.topic.as_str(), "t");
        assert_eq!(will.properties.will_delay_interval, Some(5));
        assert_eq!(connect.username.as_deref(), Some("u"));
        assert_eq!(connect.password.as_deref(), Some(&b"pw"[..]));
    }

    #[test]
    fn mqtt31_is_recognised_by_its_protocol_name() {
        let bytes = b"\x10\x0f\x00\x06MQIsdp\x03\x02\x00\x3c\x00\x01x";
        let Packet::Connect(connect) = decode_one(bytes).unwrap() else {
            panic!("not a CONNECT");
        };
        assert_eq!(connect.protocol, ProtocolVersion::V3_1);
    }

    #[test]
    fn unknown_protocol_level_is_reported_as_unsupported() {
        let bytes = b"\x10\x0d\x00\x04MQTT\x06\x02\x00\x3c\x00\x01x";
        let err = decode_one(bytes).unwrap_err();
        assert_eq!(
            err.reason_code(),
            crate::ReasonCode::UnsupportedProtocolVersion
        );
    }

    #[test]
    fn reserved_connect_flag_is_malformed() {
        let bytes = b"\x10\x0d\x00\x04MQTT\x04\x03\x00\x3c\x00\x01x";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn will_qos_without_will_flag_is_malformed() {
        let bytes = b"\x10\x0d\x00\x04MQTT\x04\x0a\x00\x3c\x00\x01x";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn will_qos_3_is_malformed() {
        let bytes = b"\x10\x12\x00\x04MQTT\x04\x1e\x00\x3c\x00\x01x\x00\x01t\x00\x00";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn v311_password_without_username_is_malformed() {
        let bytes = b"\x10\x11\x00\x04MQTT\x04\x42\x00\x3c\x00\x01x\x00\x02pw";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn v5_password_without_username_is_allowed() {
        let bytes = b"\x10\x12\x00\x04MQTT\x05\x42\x00\x3c\x00\x00\x01x\x00\x02pw";
        let Packet::Connect(connect) = decode_one(bytes).unwrap() else {
            panic!("not a CONNECT");
        };
        assert_eq!(connect.password.as_deref(), Some(&b"pw"[..]));
        assert_eq!(connect.username, None);
    }

    #[test]
    fn will_retain_without_will_flag_is_malformed() {
        let bytes = b"\x10\x0d\x00\x04MQTT\x04\x22\x00\x3c\x00\x01x";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn protocol_name_and_level_must_agree() {
        for bytes in [
            &b"\x10\x0d\x00\x04MQTT\x03\x02\x00\x3c\x00\x01x"[..],
            b"\x10\x0f\x00\x06MQIsdp\x04\x02\x00\x3c\x00\x01x",
            b"\x10\x0d\x00\x04mqtt\x04\x02\x00\x3c\x00\x01x",
        ] {
            assert!(matches!(
                decode_one(bytes),
                Err(DecodeError::UnsupportedProtocol { .. })
            ));
        }
    }

    #[test]
    fn authentication_data_without_method_is_a_protocol_error() {
        let bytes = b"\x10\x12\x00\x04MQTT\x05\x02\x00\x3c\x04\x16\x00\x01d\x00\x01x";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Protocol(_))));
        let mut connect = Connect {
            protocol: ProtocolVersion::V5,
            clean_start: true,
            keep_alive: 0,
            properties: ConnectProperties::default(),
            client_id: "x".into(),
            will: None,
            username: None,
            password: None,
        };
        connect.properties.authentication_data = Some(Bytes::from_static(b"d"));
        assert!(matches!(
            Packet::Connect(Box::new(connect)).to_bytes(ProtocolVersion::V5),
            Err(EncodeError::Invalid(_))
        ));
    }

    #[test]
    fn v5_connect_property_rules() {
        // Receive Maximum 0.
        let receive_max = b"\x10\x11\x00\x04MQTT\x05\x02\x00\x3c\x03\x21\x00\x00\x00\x01x";
        assert!(matches!(
            decode_one(receive_max),
            Err(DecodeError::Protocol(_))
        ));
        // Maximum Packet Size 0.
        let max_size = b"\x10\x13\x00\x04MQTT\x05\x02\x00\x3c\x05\x27\x00\x00\x00\x00\x00\x01x";
        assert!(matches!(
            decode_one(max_size),
            Err(DecodeError::Protocol(_))
        ));
        // Request Problem Information 2.
        let flag = b"\x10\x10\x00\x04MQTT\x05\x02\x00\x3c\x02\x17\x02\x00\x01x";
        assert!(matches!(decode_one(flag), Err(DecodeError::Protocol(_))));
        // Will Delay Interval (a Will property) among the CONNECT properties.
        let foreign = b"\x10\x13\x00\x04MQTT\x05\x02\x00\x3c\x05\x18\x00\x00\x00\x01\x00\x01x";
        assert!(matches!(
            decode_one(foreign),
            Err(DecodeError::Malformed(_))
        ));
        // Property length running past the packet.
        let long = b"\x10\x0e\x00\x04MQTT\x05\x02\x00\x3c\x09\x11\x00\x00";
        assert!(matches!(decode_one(long), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn null_character_in_client_id_is_malformed() {
        let bytes = b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x02a\x00";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn missing_payload_fields_are_malformed() {
        // Will flag set but no Will Topic / Payload.
        let no_will = b"\x10\x0d\x00\x04MQTT\x04\x06\x00\x3c\x00\x01x";
        assert!(matches!(
            decode_one(no_will),
            Err(DecodeError::Malformed(_))
        ));
        // User Name flag set but no User Name.
        let no_user = b"\x10\x0d\x00\x04MQTT\x04\x82\x00\x3c\x00\x01x";
        assert!(matches!(
            decode_one(no_user),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn trailing_bytes_after_the_payload_are_malformed() {
        let bytes = b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\x00\x01xy";
        assert!(matches!(decode_one(bytes), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn empty_will_topic_is_invalid_both_ways() {
        let bytes = b"\x10\x11\x00\x04MQTT\x04\x06\x00\x3c\x00\x01x\x00\x00\x00\x00";
        let err = decode_one(bytes).unwrap_err();
        assert_eq!(err.reason_code(), crate::ReasonCode::TopicNameInvalid);
        let connect = Connect {
            protocol: ProtocolVersion::V3_1_1,
            clean_start: true,
            keep_alive: 0,
            properties: ConnectProperties::default(),
            client_id: "x".into(),
            will: Some(Will {
                qos: QoS::AtMostOnce,
                retain: false,
                topic: TopicName::default(),
                payload: Bytes::new(),
                properties: WillProperties::default(),
            }),
            username: None,
            password: None,
        };
        assert!(matches!(
            Packet::Connect(Box::new(connect)).to_bytes(ProtocolVersion::V3_1_1),
            Err(EncodeError::Invalid(_))
        ));
    }

    #[test]
    fn will_topic_with_wildcard_is_invalid() {
        let bytes = b"\x10\x12\x00\x04MQTT\x04\x06\x00\x3c\x00\x01x\x00\x01#\x00\x00";
        let err = decode_one(bytes).unwrap_err();
        assert_eq!(err.reason_code(), crate::ReasonCode::TopicNameInvalid);
    }
}
