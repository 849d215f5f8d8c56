//! A server-side decoder over arbitrary chunks: no panic, and the outcome does not
//! depend on how the stream was split.
#![no_main]

use arbitrary::Arbitrary;
use gridmq_codec::Decoder;
use gridmq_codec_fuzz::decode_stream;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    max_packet_size: u16,
    chunks: Vec<&'a [u8]>,
}

fuzz_target!(|input: Input<'_>| {
    let limit = usize::from(input.max_packet_size);
    let chunked = decode_stream(Decoder::server(limit), input.chunks.iter().copied());
    let whole: Vec<u8> = input.chunks.concat();
    let at_once = decode_stream(Decoder::server(limit), [&whole[..]]);
    assert_eq!(chunked, at_once, "the outcome depends on the chunking");
});
