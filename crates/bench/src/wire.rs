//! The hot path of the wire format: finding packet boundaries in a receive buffer and
//! picking the few fields a load tool needs out of PUBLISH and acknowledgements, without
//! building packets. Everything off the hot path (CONNECT, SUBSCRIBE, their answers)
//! goes through `gridmq-codec`.

use bytes::{BufMut, BytesMut};

/// A malformed or oversize frame from the broker; the connection cannot continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The bytes break the packet format.
    #[error("malformed packet from the broker: {0}")]
    Malformed(&'static str),
}

/// Where one complete packet sits in a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The fixed header's first byte: packet type and flags.
    pub first: u8,
    /// Bytes of fixed header (first byte plus remaining length).
    pub header_len: usize,
    /// Bytes of body (the remaining length).
    pub body_len: usize,
}

impl Frame {
    /// Total bytes of the packet.
    pub fn len(&self) -> usize {
        self.header_len + self.body_len
    }

    /// Whether the packet has neither header nor body; never true for a real frame.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The packet type from the high nibble.
    pub fn kind(&self) -> u8 {
        self.first >> 4
    }
}

/// Packet type numbers used on the hot path.
pub mod kind {
    /// PUBLISH
    pub const PUBLISH: u8 = 3;
    /// PUBACK
    pub const PUBACK: u8 = 4;
    /// PUBREC
    pub const PUBREC: u8 = 5;
    /// PUBREL
    pub const PUBREL: u8 = 6;
    /// PUBCOMP
    pub const PUBCOMP: u8 = 7;
    /// DISCONNECT
    pub const DISCONNECT: u8 = 14;
}

/// Finds the packet at the front of `buf`; `Ok(None)` when it is not complete yet.
pub fn next_frame(buf: &[u8]) -> Result<Option<Frame>, WireError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let mut body_len = 0usize;
    for i in 0..4 {
        let Some(&byte) = buf.get(1 + i) else {
            return Ok(None);
        };
        body_len |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let frame = Frame {
                first,
                header_len: 2 + i,
                body_len,
            };
            return Ok((buf.len() >= frame.len()).then_some(frame));
        }
    }
    Err(WireError::Malformed(
        "[MQTT-1.5.5] remaining length longer than four bytes",
    ))
}

/// The fields of a PUBLISH the load tool uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishFields<'a> {
    /// QoS from the fixed header.
    pub qos: u8,
    /// Packet identifier; 0 for QoS 0.
    pub packet_id: u16,
    /// The application payload.
    pub payload: &'a [u8],
}

/// Picks QoS, packet id and payload out of a PUBLISH body, skipping topic and properties.
pub fn publish_fields(first: u8, body: &[u8], v5: bool) -> Result<PublishFields<'_>, WireError> {
    let short = WireError::Malformed("PUBLISH shorter than its headers");
    let qos = (first >> 1) & 0b11;
    let topic_len = usize::from(u16::from_be_bytes([
        *body.first().ok_or(short)?,
        *body.get(1).ok_or(short)?,
    ]));
    let mut at = 2 + topic_len;
    let mut packet_id = 0;
    if qos > 0 {
        let id = body.get(at..at + 2).ok_or(short)?;
        packet_id = u16::from_be_bytes([id[0], id[1]]);
        at += 2;
    }
    if v5 {
        let (props_len, len_len) = read_varint(body.get(at..).ok_or(short)?)?;
        at += len_len + props_len;
    }
    let payload = body.get(at..).ok_or(short)?;
    Ok(PublishFields {
        qos,
        packet_id,
        payload,
    })
}

/// The packet id of PUBACK, PUBREC, PUBREL or PUBCOMP (any version).
pub fn ack_packet_id(body: &[u8]) -> Result<u16, WireError> {
    match body {
        [hi, lo, ..] => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(WireError::Malformed("acknowledgement without a packet id")),
    }
}

/// The reason code of a v5 acknowledgement; 0 (success) when absent and in v3.
pub fn ack_reason(body: &[u8]) -> u8 {
    body.get(2).copied().unwrap_or(0)
}

/// Appends a success PUBACK, PUBREC, PUBREL or PUBCOMP in its short form, valid in
/// every version ([MQTT-3.4.2-1]: v5 may omit the reason code when it is 0).
pub fn put_ack(buf: &mut BytesMut, kind: u8, packet_id: u16) {
    let flags = if kind == kind::PUBREL { 0b0010 } else { 0 };
    buf.put_u8((kind << 4) | flags);
    buf.put_u8(2);
    buf.put_u16(packet_id);
}

/// PINGREQ.
pub const PINGREQ: [u8; 2] = [0xC0, 0x00];

/// DISCONNECT with no reason code or properties, valid in every version.
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

fn read_varint(buf: &[u8]) -> Result<(usize, usize), WireError> {
    let mut value = 0usize;
    for i in 0..4 {
        let byte = *buf
            .get(i)
            .ok_or(WireError::Malformed("truncated variable byte integer"))?;
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(WireError::Malformed(
        "[MQTT-1.5.5] variable byte integer longer than four bytes",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridmq_codec::{
        Packet, PacketId, ProtocolVersion, Publish, PublishAck, QoS, TopicName, decode_packet,
    };

    fn encoded(publish: &Publish, version: ProtocolVersion) -> Vec<u8> {
        Packet::Publish(publish.clone())
            .to_bytes(version)
            .unwrap()
            .to_vec()
    }

    #[test]
    fn reads_publish_fields_as_the_codec_encodes_them() {
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
                let mut p = Publish::new(TopicName::new("a/b/c").unwrap(), vec![7u8; 300]);
                p.qos = qos;
                p.packet_id = (qos != QoS::AtMostOnce).then(|| PacketId::new(513).unwrap());
                if version.is_v5() {
                    p.properties.content_type = Some("x".into());
                }
                let bytes = encoded(&p, version);
                let frame = next_frame(&bytes).unwrap().unwrap();
                assert_eq!(frame.len(), bytes.len());
                assert_eq!(frame.kind(), kind::PUBLISH);
                let body = &bytes[frame.header_len..];
                let fields = publish_fields(frame.first, body, version.is_v5()).unwrap();
                assert_eq!(fields.qos, qos as u8);
                assert_eq!(fields.packet_id, p.packet_id.map_or(0, |id| id.get()));
                assert_eq!(fields.payload, &p.payload[..]);
            }
        }
    }

    #[test]
    fn incomplete_frames_wait_for_more_bytes() {
        let p = Publish::new(TopicName::new("t").unwrap(), vec![0u8; 200]);
        let bytes = encoded(&p, ProtocolVersion::V3_1_1);
        for cut in 0..bytes.len() {
            assert_eq!(next_frame(&bytes[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn five_byte_lengths_are_malformed() {
        assert!(next_frame(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
    }

    #[test]
    fn truncated_publish_bodies_are_errors_not_panics() {
        assert!(publish_fields(0x30, &[0x00], false).is_err());
        assert!(publish_fields(0x32, &[0x00, 0x01, b'a', 0x00], false).is_err());
        assert!(publish_fields(0x30, &[0x00, 0x01, b'a', 0x85], true).is_err());
    }

    #[test]
    fn acks_decode_with_the_codec_in_both_versions() {
        for version in [ProtocolVersion::V3_1_1, ProtocolVersion::V5] {
            let mut buf = BytesMut::new();
            put_ack(&mut buf, kind::PUBACK, 9);
            put_ack(&mut buf, kind::PUBREC, 10);
            put_ack(&mut buf, kind::PUBREL, 11);
            put_ack(&mut buf, kind::PUBCOMP, 12);
            let id = |n| PublishAck::new(PacketId::new(n).unwrap());
            let expected = [
                Packet::PubAck(id(9)),
                Packet::PubRec(id(10)),
                Packet::PubRel(id(11)),
                Packet::PubComp(id(12)),
            ];
            for (chunk, want) in buf.chunks(4).zip(expected) {
                assert_eq!(decode_packet(chunk, version).unwrap(), want);
                let frame = next_frame(chunk).unwrap().unwrap();
                assert_eq!(
                    ack_packet_id(&chunk[frame.header_len..]).unwrap(),
                    match want {
                        Packet::PubAck(a)
                        | Packet::PubRec(a)
                        | Packet::PubRel(a)
                        | Packet::PubComp(a) => a.packet_id.get(),
                        _ => unreachable!(),
                    }
                );
            }
        }
        assert_eq!(
            decode_packet(&DISCONNECT, ProtocolVersion::V5).unwrap(),
            Packet::Disconnect(Default::default())
        );
    }

    #[test]
    fn v5_ack_reason_codes_are_read() {
        assert_eq!(ack_reason(&[0, 1]), 0);
        assert_eq!(ack_reason(&[0, 1, 0x10]), 0x10);
    }
}
