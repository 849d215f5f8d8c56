//! Structure-aware: an arbitrary packet that the encoder accepts decodes back to
//! `Packet::normalized_for` the version it was encoded for, however the bytes arrive.
#![no_main]

use bytes::BytesMut;
use gridmq_codec::{Decoder, Packet, ProtocolVersion};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Packet, ProtocolVersion, u16)| {
    let (packet, version, split) = input;
    let decoded = match gridmq_codec_fuzz::round_trip(&packet, version) {
        Ok(Some(decoded)) => decoded,
        // Unencodable (too long a field, AUTH before v5, an invalid reason code...).
        Ok(None) => return,
        Err(err) => panic!("an encoded packet does not decode: {err}: {packet:?}"),
    };
    let expected = packet.normalized_for(version);
    assert_eq!(decoded, expected, "round trip differs from the normal form");

    let Ok(bytes) = packet.to_bytes(version) else {
        panic!("to_bytes refused what encode accepted: {packet:?}");
    };
    let split = usize::from(split) % (bytes.len() + 1);
    let mut decoder = Decoder::client(version, bytes.len());
    let mut buf = BytesMut::from(&bytes[..split]);
    let first = decoder.decode(&mut buf);
    buf.extend_from_slice(&bytes[split..]);
    let packet = match first {
        Ok(Some(packet)) => packet,
        Ok(None) => match decoder.decode(&mut buf) {
            Ok(Some(packet)) => packet,
            other => panic!("split at {split} gave {other:?}"),
        },
        Err(err) => panic!("split at {split} gave {err}"),
    };
    assert_eq!(packet, expected, "split decoding differs");
    assert!(buf.is_empty(), "bytes left after the packet");
});
