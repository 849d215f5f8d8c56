//! Errors of decoding and encoding, each mapped to exactly one reason code.

use crate::ReasonCode;

/// Why a byte sequence is not a valid MQTT packet.
///
/// Every message names the normative statement it enforces, so a log line tells the
/// client's author what to fix. [`DecodeError::reason_code`] is the code the broker
/// answers with (CONNACK or DISCONNECT in v5; v3 clients are disconnected).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes do not follow the packet grammar.
    #[error("malformed packet: {0}")]
    Malformed(&'static str),
    /// The packet is well formed but breaks a protocol rule.
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    /// The packet exceeds the receiver's Maximum Packet Size; found from the fixed header
    /// before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Size of the whole packet in bytes, fixed header included.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// CONNECT asks for a protocol name or level this codec does not speak.
    #[error("unsupported protocol {name:?} level {level}")]
    UnsupportedProtocol {
        /// The protocol name read from CONNECT.
        name: String,
        /// The protocol level read from CONNECT.
        level: u8,
    },
    /// A PUBLISH topic name breaks the topic rules.
    #[error("invalid topic name: {0}")]
    TopicNameInvalid(&'static str),
    /// A PUBLISH carries a Topic Alias of 0.
    #[error("invalid topic alias: {0}")]
    TopicAliasInvalid(&'static str),
}

impl DecodeError {
    /// The reason code to report this error with.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            Self::Malformed(_) => ReasonCode::MalformedPacket,
            Self::Protocol(_) => ReasonCode::ProtocolError,
            Self::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            Self::UnsupportedProtocol { .. } => ReasonCode::UnsupportedProtocolVersion,
            Self::TopicNameInvalid(_) => ReasonCode::TopicNameInvalid,
            Self::TopicAliasInvalid(_) => ReasonCode::TopicAliasInvalid,
        }
    }

    pub(crate) const fn truncated() -> Self {
        Self::Malformed("[MQTT-1.5] field runs past the end of the packet")
    }
}

/// Why a packet could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// Even without optional properties the packet exceeds the peer's Maximum Packet Size;
    /// the sender must not send it ([MQTT-3.1.2-24]).
    #[error("packet of {size} bytes exceeds the peer's maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Smallest size the packet could be encoded in.
        size: usize,
        /// The peer's limit.
        max: usize,
    },
    /// A string or binary field is longer than the 65,535 bytes its length prefix can say.
    #[error("field of {0} bytes is longer than 65535 bytes")]
    FieldTooLong(usize),
    /// The packet cannot be expressed in the negotiated protocol version.
    #[error("packet cannot be encoded for this protocol version: {0}")]
    NotInVersion(&'static str),
    /// The remaining length exceeds the 268,435,455 bytes a variable byte integer can say.
    #[error("packet body of {0} bytes exceeds the MQTT maximum")]
    BodyTooLong(usize),
    /// A field breaks a rule of the packet format, so the peer would reject the packet;
    /// the message names the rule. The encoder never writes such a packet.
    #[error("invalid packet: {0}")]
    Invalid(&'static str),
}
