//! Oracles shared by the fuzz targets. Each panics, which is how a fuzzer reports a
//! finding, when the codec breaks one of its promises:
//!
//! - decoding never panics, whatever the bytes and however they are split;
//! - whatever decodes is valid: in normal form, accepted by the encoder, and decoded back
//!   to itself;
//! - whatever encodes decodes to [`Packet::normalized_for`] the version it was encoded for.

use bytes::BytesMut;
use gridmq_codec::{DecodeError, Decoder, Packet, ProtocolVersion, decode_packet};

/// Decodes `data` as one packet and as a stream of packets in `version`.
pub fn decode_all(data: &[u8], version: ProtocolVersion) {
    if let Ok(packet) = decode_packet(data, version) {
        assert_valid(&packet, version);
    }
    for limit in [usize::MAX, 64] {
        let mut decoder = Decoder::client(version, limit);
        let mut buf = BytesMut::from(data);
        while let Ok(Some(packet)) = decoder.decode(&mut buf) {
            assert_valid(&packet, version);
        }
    }
}

/// A decoded packet is in normal form, re-encodes, and decodes back to itself.
pub fn assert_valid(packet: &Packet, version: ProtocolVersion) {
    assert_eq!(
        &packet.normalized_for(version),
        packet,
        "a decoded packet is not in normal form"
    );
    match round_trip(packet, version) {
        Ok(Some(again)) => assert_eq!(&again, packet, "re-encoding changed the packet"),
        Ok(None) => panic!("a decoded packet does not re-encode: {packet:?}"),
        Err(err) => panic!("a re-encoded packet does not decode: {err}: {packet:?}"),
    }
}

/// Encodes `packet` for `version` and decodes the bytes; `Ok(None)` when the encoder
/// refuses the packet. Checks that `encode` returns the number of bytes it appended.
pub fn round_trip(
    packet: &Packet,
    version: ProtocolVersion,
) -> Result<Option<Packet>, DecodeError> {
    let mut buf = BytesMut::from(&b"xyz"[..]);
    let Ok(size) = packet.encode(version, usize::MAX, &mut buf) else {
        return Ok(None);
    };
    assert_eq!(size, buf.len() - 3, "encode returned a wrong size");
    decode_packet(&buf[3..], version).map(Some)
}

/// How a stream decode ended: the packets, then the error or the bytes left waiting.
#[derive(Debug, PartialEq)]
pub struct StreamOutcome {
    /// Every packet decoded, in order.
    pub packets: Vec<Packet>,
    /// The error that stopped decoding, if any.
    pub error: Option<DecodeError>,
    /// Bytes buffered but not yet decoded, when no error stopped decoding.
    pub pending: usize,
}

/// Feeds `chunks` to `decoder` one at a time, decoding all it can after each, until
/// the first error.
pub fn decode_stream<'a>(
    mut decoder: Decoder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> StreamOutcome {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(packet)) => {
                    assert_valid(&packet, decoder.version().unwrap_or(ProtocolVersion::V5));
                    packets.push(packet);
                }
                Ok(None) => break,
                Err(err) => {
                    return StreamOutcome {
                        packets,
                        error: Some(err),
                        pending: 0,
                    };
                }
            }
        }
    }
    StreamOutcome {
        packets,
        error: None,
        pending: buf.len(),
    }
}
