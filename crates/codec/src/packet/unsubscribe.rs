//! UNSUBSCRIBE (section 3.10).

use bytes::{BufMut, Bytes, BytesMut};

use super::PacketId;
use crate::error::{DecodeError, EncodeError};
use crate::primitives::{Utf8Bytes, binary_len, check_field, read_utf8, write_binary};
use crate::properties::{UnsubscribeProperties, block_len};

/// A request to remove subscriptions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Unsubscribe {
    /// Identifies the matching UNSUBACK.
    pub packet_id: PacketId,
    /// v5 properties.
    pub properties: UnsubscribeProperties,
    /// At least one filter, exactly as it was subscribed.
    pub filters: Vec<Utf8Bytes>,
}

const EMPTY: &str = "[MQTT-3.10.3-2] UNSUBSCRIBE must contain at least one topic filter";

impl Unsubscribe {
    pub(crate) fn decode(buf: &mut Bytes, v5: bool) -> Result<Self, DecodeError> {
        let packet_id = PacketId::read(buf)?;
        let properties = if v5 {
            UnsubscribeProperties::decode(buf)?
        } else {
            UnsubscribeProperties::default()
        };
        let mut filters = Vec::new();
        while !buf.is_empty() {
            filters.push(read_utf8(buf)?);
        }
        if filters.is_empty() {
            return Err(DecodeError::Protocol(EMPTY));
        }
        Ok(Self {
            packet_id,
            properties,
            filters,
        })
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        if self.filters.is_empty() {
            return Err(EncodeError::Invalid(EMPTY));
        }
        self.filters
            .iter()
            .try_for_each(|f| check_field(f.as_bytes()))?;
        self.properties.check()
    }

    pub(crate) fn body_len(&self, v5: bool) -> usize {
        let props = if v5 {
            block_len(self.properties.encoded_len())
        } else {
            0
        };
        2 + props
            + self
                .filters
                .iter()
                .map(|f| binary_len(f.as_bytes()))
                .sum::<usize>()
    }

    pub(crate) fn encode_body(&self, v5: bool, buf: &mut BytesMut) {
        buf.put_u16(self.packet_id.get());
        if v5 {
            self.properties.encode(buf);
        }
        for filter in &self.filters {
            write_binary(buf, filter.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{DecodeError, ProtocolVersion, decode_packet};

    #[test]
    fn empty_unsubscribe_is_a_protocol_error() {
        assert!(matches!(
            decode_packet(b"\xa2\x02\x00\x01", ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn wrong_fixed_header_flags_are_malformed() {
        assert!(matches!(
            decode_packet(b"\xa0\x05\x00\x01\x00\x01a", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn packet_id_zero_is_rejected() {
        assert!(matches!(
            decode_packet(b"\xa2\x05\x00\x00\x00\x01a", ProtocolVersion::V3_1_1),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn invalid_utf8_filter_is_malformed() {
        assert!(matches!(
            decode_packet(b"\xa2\x05\x00\x01\x00\x01\xff", ProtocolVersion::V3_1_1),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn only_user_properties_are_allowed_in_v5() {
        // Subscription Identifier (0x0B) in UNSUBSCRIBE.
        assert!(matches!(
            decode_packet(
                b"\xa2\x08\x00\x01\x02\x0b\x01\x00\x01a",
                ProtocolVersion::V5
            ),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn empty_unsubscribe_is_refused_by_the_encoder() {
        let unsub = crate::Unsubscribe {
            packet_id: crate::PacketId::new(1).unwrap(),
            properties: Default::default(),
            filters: vec![],
        };
        assert!(matches!(
            crate::Packet::Unsubscribe(unsub).to_bytes(ProtocolVersion::V3_1_1),
            Err(crate::EncodeError::Invalid(_))
        ));
    }

    #[test]
    fn decodes_filters() {
        let packet = decode_packet(
            b"\xa2\x09\x00\x01\x00\x00\x01a\x00\x01b",
            ProtocolVersion::V5,
        )
        .unwrap();
        let crate::Packet::Unsubscribe(unsub) = packet else {
            panic!()
        };
        assert_eq!(unsub.filters, vec!["a", "b"]);
    }
}
