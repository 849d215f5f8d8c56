//! The packet model: one set of named-field structs for every protocol version.
//!
//! MQTT 3.x packets decode into the same structs with v5-only fields left at their
//! defaults, and encode by leaving those fields out. Version differences end here;
//! [`Packet::normalized_for`] (in `normalize.rs`) states exactly what is left out.
//!
//! The encoder refuses ([`EncodeError::Invalid`]) any packet the decoder would reject,
//! so what it writes is valid for the peer; the one thing it does not scan for is a
//! U+0000 inside a string the program built (see [`crate::Utf8Bytes`]).

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod normalize;
mod publish;
mod suback;
mod subscribe;
mod unsuback;
mod unsubscribe;

use std::fmt;
use std::num::NonZeroU16;

use bytes::{BufMut, Bytes, BytesMut};

pub use ack::PublishAck;
pub use auth::Auth;
pub use connack::ConnAck;
pub use connect::{Connect, Will};
pub use disconnect::Disconnect;
pub use publish::{Publish, PublishView, encode_publish};
pub use suback::SubAck;
pub use subscribe::{RetainHandling, Subscribe, SubscribeOptions, Subscription};
pub use unsuback::UnsubAck;
pub use unsubscribe::Unsubscribe;

use crate::error::{DecodeError, EncodeError};
use crate::primitives::{MAX_VARINT, read_u16, varint_len, write_varint};

/// The protocol level a connection speaks, fixed by its CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum ProtocolVersion {
    /// MQTT 3.1 (protocol name `MQIsdp`, level 3).
    V3_1 = 3,
    /// MQTT 3.1.1 (level 4).
    V3_1_1 = 4,
    /// MQTT 5.0 (level 5).
    V5 = 5,
}

impl ProtocolVersion {
    /// Whether this is MQTT 5.0, which has properties and reason codes everywhere.
    pub fn is_v5(self) -> bool {
        self == Self::V5
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V3_1 => "3.1",
            Self::V3_1_1 => "3.1.1",
            Self::V5 => "5.0",
        })
    }
}

/// Quality of service of a message delivery (section 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum QoS {
    /// At most once: fire and forget.
    #[default]
    AtMostOnce = 0,
    /// At least once: acknowledged with PUBACK.
    AtLeastOnce = 1,
    /// Exactly once: the PUBREC / PUBREL / PUBCOMP exchange.
    ExactlyOnce = 2,
}

impl QoS {
    /// Parses a QoS value; 3 and above are not QoS levels.
    pub fn from_u8(value: u8) -> Option<Self> {
        match value {
            0 => Some(Self::AtMostOnce),
            1 => Some(Self::AtLeastOnce),
            2 => Some(Self::ExactlyOnce),
            _ => None,
        }
    }
}

/// A packet identifier: never zero ([MQTT-2.2.1-3]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PacketId(NonZeroU16);

impl PacketId {
    /// A packet id from a raw value; `None` for 0.
    pub const fn new(value: u16) -> Option<Self> {
        match NonZeroU16::new(value) {
            Some(id) => Some(Self(id)),
            None => None,
        }
    }

    /// The raw value.
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The next id after this one, wrapping from 65535 to 1.
    pub fn next(self) -> Self {
        Self(self.0.checked_add(1).unwrap_or(NonZeroU16::MIN))
    }

    pub(crate) fn read(buf: &mut Bytes) -> Result<Self, DecodeError> {
        Self::new(read_u16(buf)?).ok_or(DecodeError::Protocol(
            "[MQTT-2.2.1-3] packet identifier must be non-zero",
        ))
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An MQTT control packet of any version.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Packet {
    /// CONNECT: a client asks to open a session.
    Connect(Box<Connect>),
    /// CONNACK: the server's answer to CONNECT.
    ConnAck(ConnAck),
    /// PUBLISH: an application message.
    Publish(Publish),
    /// PUBACK: QoS 1 acknowledgement.
    PubAck(PublishAck),
    /// PUBREC: QoS 2 step one, publish received.
    PubRec(PublishAck),
    /// PUBREL: QoS 2 step two, publish released.
    PubRel(PublishAck),
    /// PUBCOMP: QoS 2 step three, publish complete.
    PubComp(PublishAck),
    /// SUBSCRIBE: add subscriptions.
    Subscribe(Subscribe),
    /// SUBACK: one reason code per requested subscription.
    SubAck(SubAck),
    /// UNSUBSCRIBE: remove subscriptions.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK: one reason code per removed filter (v5).
    UnsubAck(UnsubAck),
    /// PINGREQ: keep-alive probe.
    PingReq,
    /// PINGRESP: keep-alive answer.
    PingResp,
    /// DISCONNECT: the end of a connection, with a reason in v5.
    Disconnect(Disconnect),
    /// AUTH: enhanced authentication exchange (v5 only).
    Auth(Auth),
}

/// The kind of a packet, from the high nibble of its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// CONNECT
    Connect = 1,
    /// CONNACK
    ConnAck = 2,
    /// PUBLISH
    Publish = 3,
    /// PUBACK
    PubAck = 4,
    /// PUBREC
    PubRec = 5,
    /// PUBREL
    PubRel = 6,
    /// PUBCOMP
    PubComp = 7,
    /// SUBSCRIBE
    Subscribe = 8,
    /// SUBACK
    SubAck = 9,
    /// UNSUBSCRIBE
    Unsubscribe = 10,
    /// UNSUBACK
    UnsubAck = 11,
    /// PINGREQ
    PingReq = 12,
    /// PINGRESP
    PingResp = 13,
    /// DISCONNECT
    Disconnect = 14,
    /// AUTH
    Auth = 15,
}

impl PacketType {
    fn from_nibble(value: u8) -> Option<Self> {
        Some(match value {
            1 => Self::Connect,
            2 => Self::ConnAck,
            3 => Self::Publish,
            4 => Self::PubAck,
            5 => Self::PubRec,
            6 => Self::PubRel,
            7 => Self::PubComp,
            8 => Self::Subscribe,
            9 => Self::SubAck,
            10 => Self::Unsubscribe,
            11 => Self::UnsubAck,
            12 => Self::PingReq,
            13 => Self::PingResp,
            14 => Self::Disconnect,
            15 => Self::Auth,
            _ => return None,
        })
    }

    /// The flags the fixed header must carry for every type but PUBLISH ([MQTT-2.1.3-1]).
    fn required_flags(self) -> u8 {
        match self {
            Self::PubRel | Self::Subscribe | Self::Unsubscribe => 0b0010,
            _ => 0,
        }
    }
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Self::Connect(_) => PacketType::Connect,
            Self::ConnAck(_) => PacketType::ConnAck,
            Self::Publish(_) => PacketType::Publish,
            Self::PubAck(_) => PacketType::PubAck,
            Self::PubRec(_) => PacketType::PubRec,
            Self::PubRel(_) => PacketType::PubRel,
            Self::PubComp(_) => PacketType::PubComp,
            Self::Subscribe(_) => PacketType::Subscribe,
            Self::SubAck(_) => PacketType::SubAck,
            Self::Unsubscribe(_) => PacketType::Unsubscribe,
            Self::UnsubAck(_) => PacketType::UnsubAck,
            Self::PingReq => PacketType::PingReq,
            Self::PingResp => PacketType::PingResp,
            Self::Disconnect(_) => PacketType::Disconnect,
            Self::Auth(_) => PacketType::Auth,
        }
    }

    /// Decodes one packet from its first byte and complete body.
    ///
    /// `version` is the connection's protocol; a CONNECT carries its own and may be
    /// decoded with any value here.
    pub fn decode(
        first_byte: u8,
        mut body: Bytes,
        version: ProtocolVersion,
    ) -> Result<Self, DecodeError> {
        let packet_type = PacketType::from_nibble(first_byte >> 4).ok_or(
            DecodeError::Malformed("[MQTT-2.1.2] packet type 0 is reserved"),
        )?;
        let flags = first_byte & 0x0F;
        if packet_type != PacketType::Publish && flags != packet_type.required_flags() {
            return Err(DecodeError::Malformed(
                "[MQTT-2.1.3-1] reserved flags in the fixed header are not as specified",
            ));
        }
        let v5 = version.is_v5();
        let packet = match packet_type {
            PacketType::Connect => Self::Connect(Box::new(Connect::decode(&mut body)?)),
            PacketType::ConnAck => Self::ConnAck(ConnAck::decode(&mut body, version)?),
            PacketType::Publish => Self::Publish(Publish::decode(flags, &mut body, version)?),
            PacketType::PubAck => Self::PubAck(PublishAck::decode(&mut body, v5, packet_type)?),
            PacketType::PubRec => Self::PubRec(PublishAck::decode(&mut body, v5, packet_type)?),
            PacketType::PubRel => Self::PubRel(PublishAck::decode(&mut body, v5, packet_type)?),
            PacketType::PubComp => Self::PubComp(PublishAck::decode(&mut body, v5, packet_type)?),
            PacketType::Subscribe => Self::Subscribe(Subscribe::decode(&mut body, v5)?),
            PacketType::SubAck => Self::SubAck(SubAck::decode(&mut body, v5)?),
            PacketType::Unsubscribe => Self::Unsubscribe(Unsubscribe::decode(&mut body, v5)?),
            PacketType::UnsubAck => Self::UnsubAck(UnsubAck::decode(&mut body, v5)?),
            PacketType::PingReq => Self::PingReq,
            PacketType::PingResp => Self::PingResp,
            PacketType::Disconnect => Self::Disconnect(Disconnect::decode(&mut body, v5)?),
            PacketType::Auth if v5 => Self::Auth(Auth::decode(&mut body)?),
            PacketType::Auth => {
                return Err(DecodeError::Malformed(
                    "[MQTT-2.1.2] AUTH is reserved before MQTT 5.0",
                ));
            }
        };
        if !body.is_empty() {
            return Err(DecodeError::Malformed(
                "[MQTT-2.1.4] bytes left over after the end of the packet",
            ));
        }
        Ok(packet)
    }

    /// Appends the encoded packet to `buf`.
    ///
    /// When the packet would exceed `max_size` (the peer's Maximum Packet Size), the
    /// Reason String and User Properties of acknowledgements are left out first
    /// ([MQTT-3.1.2-25]); if it still does not fit, nothing is written and
    /// [`EncodeError::PacketTooLarge`] tells the caller not to send it.
    pub fn encode(
        &self,
        version: ProtocolVersion,
        max_size: usize,
        buf: &mut BytesMut,
    ) -> Result<usize, EncodeError> {
        if let Self::Publish(publish) = self {
            return encode_publish(&publish.view(), version, max_size, buf);
        }
        self.check_fields(version)?;
        let mut trim = false;
        let mut body_len = self.body_len(version, trim);
        if fixed_len(body_len) > max_size && self.can_trim() {
            trim = true;
            body_len = self.body_len(version, trim);
        }
        let size = fixed_len(body_len);
        if size > max_size {
            return Err(EncodeError::PacketTooLarge {
                size,
                max: max_size,
            });
        }
        if body_len > MAX_VARINT as usize {
            return Err(EncodeError::BodyTooLong(body_len));
        }
        buf.reserve(size);
        buf.put_u8(self.first_byte());
        write_varint(buf, body_len);
        let start = buf.len();
        self.encode_body(version, trim, buf);
        debug_assert_eq!(buf.len() - start, body_len, "{:?}", self.packet_type());
        Ok(size)
    }

    /// Encodes into a fresh buffer with no size limit; convenient for tests and clients.
    pub fn to_bytes(&self, version: ProtocolVersion) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::new();
        self.encode(version, usize::MAX, &mut buf)?;
        Ok(buf.freeze())
    }

    fn first_byte(&self) -> u8 {
        let packet_type = self.packet_type();
        ((packet_type as u8) << 4) | packet_type.required_flags()
    }

    fn can_trim(&self) -> bool {
        !matches!(
            self,
            Self::Connect(_) | Self::Publish(_) | Self::Subscribe(_) | Self::Unsubscribe(_)
        )
    }

    /// Refuses packets the peer would reject, so that `encode` never writes one.
    fn check_fields(&self, version: ProtocolVersion) -> Result<(), EncodeError> {
        let v5 = version.is_v5();
        match self {
            Self::Connect(p) => p.check(),
            Self::ConnAck(p) => p.check(v5),
            Self::Publish(p) => p.view().check(version),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => {
                p.check(v5, self.packet_type())
            }
            Self::Subscribe(p) => p.check(v5),
            Self::SubAck(p) => p.check(),
            Self::Unsubscribe(p) => p.check(),
            Self::UnsubAck(p) => p.check(v5),
            Self::PingReq | Self::PingResp => Ok(()),
            Self::Disconnect(p) => p.check(v5),
            Self::Auth(_) if !v5 => Err(EncodeError::NotInVersion("AUTH needs MQTT 5.0")),
            Self::Auth(p) => p.check(),
        }
    }

    fn body_len(&self, version: ProtocolVersion, trim: bool) -> usize {
        let v5 = version.is_v5();
        match self {
            Self::Connect(p) => p.body_len(),
            Self::ConnAck(p) => p.body_len(v5, trim),
            Self::Publish(p) => p.view().body_len(version),
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => {
                p.body_len(v5, trim)
            }
            Self::Subscribe(p) => p.body_len(v5),
            Self::SubAck(p) => p.body_len(v5, trim),
            Self::Unsubscribe(p) => p.body_len(v5),
            Self::UnsubAck(p) => p.body_len(v5, trim),
            Self::PingReq | Self::PingResp => 0,
            Self::Disconnect(p) => p.body_len(v5, trim),
            Self::Auth(p) => p.body_len(trim),
        }
    }

    fn encode_body(&self, version: ProtocolVersion, trim: bool, buf: &mut BytesMut) {
        let v5 = version.is_v5();
        match self {
            Self::Connect(p) => p.encode_body(buf),
            Self::ConnAck(p) => p.encode_body(version, trim, buf),
            Self::Publish(_) => {}
            Self::PubAck(p) | Self::PubRec(p) | Self::PubRel(p) | Self::PubComp(p) => {
                p.encode_body(v5, trim, buf)
            }
            Self::Subscribe(p) => p.encode_body(v5, buf),
            Self::SubAck(p) => p.encode_body(v5, trim, buf),
            Self::Unsubscribe(p) => p.encode_body(v5, buf),
            Self::UnsubAck(p) => p.encode_body(v5, trim, buf),
            Self::PingReq | Self::PingResp => {}
            Self::Disconnect(p) => p.encode_body(v5, trim, buf),
            Self::Auth(p) => p.encode_body(trim, buf),
        }
    }
}

/// Size of a whole packet whose body is `body_len` bytes.
pub(crate) fn fixed_len(body_len: usize) -> usize {
    1 + varint_len(body_len) + body_len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode_packet;
    use test_case::test_case;

    /// The smallest valid body of each packet type in v5, to vary the flags around.
    fn minimal_body(packet_type: u8) -> &'static [u8] {
        match packet_type {
            1 => b"\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x01x",
            2 => b"\x00\x00\x00",
            3 => b"\x00\x01a\x00",
            4..=7 => b"\x00\x01",
            8 => b"\x00\x01\x00\x00\x01a\x00",
            9 | 11 => b"\x00\x01\x00\x00",
            10 => b"\x00\x01\x00\x00\x01a",
            _ => b"",
        }
    }

    fn packet_bytes(first_byte: u8) -> Vec<u8> {
        let body = minimal_body(first_byte >> 4);
        let mut bytes = vec![first_byte, body.len() as u8];
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn only_the_specified_fixed_header_flags_are_accepted() {
        // [MQTT-2.1.3-1]: 0b0010 for PUBREL, SUBSCRIBE, UNSUBSCRIBE; 0 for the others
        // but PUBLISH, whose flags are DUP, QoS and RETAIN.
        for packet_type in 1..=15u8 {
            let required = if matches!(packet_type, 6 | 8 | 10) {
                2
            } else {
                0
            };
            if packet_type == 3 {
                continue;
            }
            for flags in 0..=15u8 {
                let first_byte = (packet_type << 4) | flags;
                let result = decode_packet(&packet_bytes(first_byte), ProtocolVersion::V5);
                if flags == required {
                    assert!(
                        result.is_ok(),
                        "type {packet_type} flags {flags:#06b}: {result:?}"
                    );
                } else {
                    assert!(
                        matches!(result, Err(DecodeError::Malformed(_))),
                        "type {packet_type} flags {flags:#06b}: {result:?}"
                    );
                }
            }
        }
    }

    #[test_case(0x30 => true; "qos 0")]
    #[test_case(0x31 => true; "qos 0 retain")]
    #[test_case(0x38 => false; "qos 0 dup")]
    #[test_case(0x36 => false; "qos 3")]
    #[test_case(0x3E => false; "qos 3 dup")]
    fn publish_flags(first_byte: u8) -> bool {
        decode_packet(&packet_bytes(first_byte), ProtocolVersion::V5).is_ok()
    }

    #[test]
    fn packet_type_zero_is_malformed() {
        assert!(matches!(
            decode_packet(b"\x00\x00", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn non_minimal_remaining_length_is_malformed() {
        // PINGREQ with its length 0 written in two bytes [MQTT-1.5.5-1].
        assert!(matches!(
            decode_packet(b"\xc0\x80\x00", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn remaining_length_longer_than_the_bytes_is_truncated() {
        assert!(matches!(
            decode_packet(b"\xc0\x02\x00", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn non_minimal_property_identifier_is_malformed() {
        // Reason String (0x1F) written as the two-byte varint 0x9F 0x00.
        assert!(matches!(
            decode_packet(
                b"\x40\x09\x00\x01\x80\x05\x9f\x00\x00\x01r",
                ProtocolVersion::V5
            ),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn pingreq_and_pingresp_have_no_body() {
        for first_byte in [0xC0, 0xD0] {
            assert!(decode_packet(&[first_byte, 0x00], ProtocolVersion::V3_1_1).is_ok());
            assert!(matches!(
                decode_packet(&[first_byte, 0x01, 0x00], ProtocolVersion::V3_1_1),
                Err(DecodeError::Malformed(_))
            ));
        }
    }
}
