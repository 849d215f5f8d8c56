//! The incremental decoder: finds packet boundaries in a growing receive buffer.

use bytes::{Buf, BytesMut};

use crate::error::DecodeError;
use crate::packet::{Packet, ProtocolVersion};
use crate::primitives::{VarInt, peek_varint};

/// Splits a byte stream into packets, enforcing a maximum packet size.
///
/// A server-side decoder accepts only CONNECT until it has seen one ([MQTT-3.1.0-1]),
/// then decodes everything in the protocol version that CONNECT asked for.
#[derive(Debug, Clone)]
pub struct Decoder {
    version: Option<ProtocolVersion>,
    max_packet_size: usize,
}

impl Decoder {
    /// A decoder for the server side of a new connection.
    pub fn server(max_packet_size: usize) -> Self {
        Self {
            version: None,
            max_packet_size,
        }
    }

    /// A decoder for a client that has sent CONNECT with `version`.
    pub fn client(version: ProtocolVersion, max_packet_size: usize) -> Self {
        Self {
            version: Some(version),
            max_packet_size,
        }
    }

    /// The protocol version, once known.
    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    /// The largest packet this decoder accepts, in bytes.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }

    /// Decodes the next packet from the front of `buf`, consuming its bytes.
    ///
    /// `Ok(None)` means more bytes are needed; the buffer is left as it was. A packet
    /// over the size limit is rejected as soon as its fixed header has arrived, before
    /// its body is buffered. After an error the stream cannot be resynchronised and the
    /// connection must be closed.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        let Some(&first_byte) = buf.first() else {
            return Ok(None);
        };
        let (body_len, len_len) = match peek_varint(&buf[1..])? {
            VarInt::Value(len, n) => (len as usize, n),
            VarInt::Incomplete => return Ok(None),
        };
        let total = 1 + len_len + body_len;
        if total > self.max_packet_size {
            return Err(DecodeError::PacketTooLarge {
                size: total,
                max: self.max_packet_size,
            });
        }
        if self.version.is_none() && first_byte >> 4 != 1 {
            return Err(DecodeError::Protocol(
                "[MQTT-3.1.0-1] the first packet from a client must be CONNECT",
            ));
        }
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        let mut body = buf.split_to(total).freeze();
        body.advance(1 + len_len);
        let packet = Packet::decode(
            first_byte,
            body,
            self.version.unwrap_or(ProtocolVersion::V5),
        )?;
        if let Packet::Connect(connect) = &packet {
            self.version.get_or_insert(connect.protocol);
        }
        Ok(Some(packet))
    }
}

/// Decodes exactly one packet from a complete byte slice, in the given version.
///
/// A convenience for tests and tools; connections use [`Decoder`].
pub fn decode_packet(bytes: &[u8], version: ProtocolVersion) -> Result<Packet, DecodeError> {
    let mut decoder = Decoder::client(version, usize::MAX);
    let mut buf = BytesMut::from(bytes);
    match decoder.decode(&mut buf)? {
        Some(packet) if buf.is_empty() => Ok(packet),
        Some(_) => Err(DecodeError::Malformed(
            "[MQTT-2.1.4] bytes after the end of the packet",
        )),
        None => Err(DecodeError::truncated()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Packet;

    #[test]
    fn waits_for_a_whole_packet() {
        let mut decoder = Decoder::client(ProtocolVersion::V3_1_1, 1024);
        let bytes = b"\x30\x07\x00\x03a/bhi";
        let mut buf = BytesMut::new();
        for &byte in &bytes[..bytes.len() - 1] {
            buf.extend_from_slice(&[byte]);
            assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        }
        buf.extend_from_slice(&bytes[bytes.len() - 1..]);
        assert!(matches!(
            decoder.decode(&mut buf).unwrap(),
            Some(Packet::Publish(_))
        ));
        assert!(buf.is_empty());
    }

    #[test]
    fn decodes_several_packets_from_one_buffer() {
        let mut decoder = Decoder::client(ProtocolVersion::V3_1_1, 1024);
        let mut buf = BytesMut::from(&b"\xc0\x00\xd0\x00\xe0\x00"[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Packet::PingReq));
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Packet::PingResp));
        assert!(matches!(
            decoder.decode(&mut buf).unwrap(),
            Some(Packet::Disconnect(_))
        ));
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn rejects_oversize_from_the_fixed_header_alone() {
        let mut decoder = Decoder::client(ProtocolVersion::V5, 100);
        // Claims a 16,384-byte body; only the header has arrived.
        let mut buf = BytesMut::from(&b"\x30\x80\x80\x01"[..]);
        let err = decoder.decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::PacketTooLarge {
                size: 16_388,
                max: 100
            }
        ));
    }

    #[test]
    fn five_byte_remaining_length_is_malformed() {
        let mut decoder = Decoder::client(ProtocolVersion::V5, usize::MAX);
        let mut buf = BytesMut::from(&b"\x30\xff\xff\xff\xff\x01"[..]);
        assert!(matches!(
            decoder.decode(&mut buf),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn server_requires_connect_first() {
        let mut decoder = Decoder::server(1024);
        let mut buf = BytesMut::from(&b"\xc0\x00"[..]);
        assert!(matches!(
            decoder.decode(&mut buf),
            Err(DecodeError::Protocol(_))
        ));
    }

    #[test]
    fn server_learns_the_version_from_connect() {
        let mut decoder = Decoder::server(1024);
        let mut buf = BytesMut::from(&b"\x10\x0d\x00\x04MQTT\x05\x02\x00\x3c\x00\x00\x00"[..]);
        buf[1] = (buf.len() - 2) as u8;
        assert!(matches!(
            decoder.decode(&mut buf).unwrap(),
            Some(Packet::Connect(_))
        ));
        assert_eq!(decoder.version(), Some(ProtocolVersion::V5));
    }

    #[test]
    fn packet_type_zero_is_malformed() {
        assert!(decode_packet(b"\x00\x00", ProtocolVersion::V5).is_err());
    }

    #[test]
    fn trailing_bytes_inside_remaining_length_are_malformed() {
        assert!(decode_packet(b"\xc0\x01\x00", ProtocolVersion::V5).is_err());
    }
}
