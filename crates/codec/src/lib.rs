//! The MQTT 3.1, 3.1.1 and 5.0 wire format: bytes in, packets out, no I/O.
//!
//! Decoding is total and strict: it never panics, consumes exactly the remaining length,
//! and rejects every violation of the packet format the specification makes normative,
//! with an error that names the rule and maps to one reason code. Encoding is aware of
//! the peer's Maximum Packet Size.
//!
//! # Layout
//! - [`packet`]: the version-independent packet model, one file per packet.
//! - `properties`: typed MQTT 5.0 properties per packet kind.
//! - [`reason`]: reason codes and their MQTT 3.x return-code equivalents.
//! - [`topic`]: topic names, topic filters and shared-subscription filters.
//! - `primitives`: integers, variable byte integers, strings; [`Utf8Bytes`].
//! - `decoder`: the incremental [`Decoder`] over a receive buffer.
//! - `error`: [`DecodeError`] and [`EncodeError`].

mod decoder;
mod error;
pub mod packet;
mod primitives;
mod properties;
pub mod reason;
pub mod topic;

pub use decoder::{Decoder, decode_packet};
pub use error::{DecodeError, EncodeError};
pub use packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, PacketId, PacketType, ProtocolVersion, Publish,
    PublishAck, PublishView, QoS, RetainHandling, SubAck, Subscribe, SubscribeOptions,
    Subscription, UnsubAck, Unsubscribe, Will, encode_publish,
};
pub use primitives::{MAX_VARINT, UserProperty, Utf8Bytes};
pub use properties::{
    AckProperties, AuthProperties, ConnAckProperties, ConnectProperties, DisconnectProperties,
    PublishOverrides, PublishProperties, SubscribeProperties, UnsubscribeProperties,
    WillProperties,
};
pub use reason::{ConnectReturnCode, ReasonCode};
pub use topic::{SubscriptionFilter, TopicError, TopicFilter, TopicName};

/// Decodes one packet in MQTT 5.0; shorthand for tests.
#[cfg(test)]
pub(crate) fn decode_one(bytes: &[u8]) -> Result<Packet, DecodeError> {
    decode_packet(bytes, ProtocolVersion::V5)
}
