//! Arbitrary bytes decoded as MQTT 5.0: no panic, and whatever decodes is valid.
#![no_main]

use gridmq_codec::ProtocolVersion;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gridmq_codec_fuzz::decode_all(data, ProtocolVersion::V5);
});
