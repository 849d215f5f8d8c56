//! Wire primitives: integers, variable byte integers, UTF-8 strings and binary data
//! (MQTT 5.0 section 1.5), plus [`Utf8Bytes`], the shared string type of the codec.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use bytestring::ByteString;

use crate::error::{DecodeError, EncodeError};

/// Largest value a variable byte integer can hold (section 1.5.5).
pub const MAX_VARINT: u32 = 268_435_455;

/// An immutable UTF-8 string backed by [`Bytes`]: cloning is a reference-count increment,
/// and decoding slices it out of the packet buffer without copying.
///
/// Invariant: the bytes are valid UTF-8. Strings read off the wire additionally hold no
/// U+0000 ([MQTT-1.5.4-2]); strings built by the program are not checked for that.
///
/// Backed by [`ByteString`], so reading the text back costs no second validation on the
/// hot path (topic matching, encoding).
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(ByteString);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Self(ByteString::new())
    }

    /// Wraps a `'static` string without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Self(ByteString::from_static(s))
    }

    /// Validates `bytes` as an MQTT UTF-8 string: well formed, no U+0000.
    pub fn try_from_bytes(bytes: Bytes) -> Result<Self, DecodeError> {
        let text = ByteString::try_from(bytes).map_err(|_| {
            DecodeError::Malformed("[MQTT-1.5.4-1] string is not well-formed UTF-8")
        })?;
        if text.as_bytes().contains(&0) {
            return Err(DecodeError::Malformed(
                "[MQTT-1.5.4-2] string contains the null character U+0000",
            ));
        }
        Ok(Self(text))
    }

    /// The string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// Copies the string into its own allocation, so that it no longer keeps a larger
    /// receive buffer alive. Use before storing a value for a long time.
    pub fn compact(&self) -> Self {
        Self(ByteString::from(self.as_str()))
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Utf8Bytes {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Self(ByteString::from(s))
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Self(ByteString::from(s))
    }
}

impl From<Utf8Bytes> for String {
    fn from(s: Utf8Bytes) -> Self {
        s.as_str().to_owned()
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for Utf8Bytes {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let s: String = u.arbitrary()?;
        Ok(Self::from(s.replace('\0', "")))
    }
}

/// `Arbitrary` for `Bytes` fields (the `bytes` crate does not implement it); used through
/// `#[arbitrary(with = ...)]` on the packet structs.
#[cfg(feature = "arbitrary")]
pub(crate) mod arbitrary_bytes {
    use arbitrary::{Result, Unstructured};
    use bytes::Bytes;

    /// Any byte string.
    pub(crate) fn bytes(u: &mut Unstructured<'_>) -> Result<Bytes> {
        Ok(Bytes::copy_from_slice(u.arbitrary()?))
    }

    /// Absent or any byte string.
    pub(crate) fn option(u: &mut Unstructured<'_>) -> Result<Option<Bytes>> {
        Ok(if u.arbitrary()? {
            Some(bytes(u)?)
        } else {
            None
        })
    }
}

/// A user property: a name-value pair of UTF-8 strings that may repeat (section 3.1.2.11.8).
pub type UserProperty = (Utf8Bytes, Utf8Bytes);

// ---------------------------------------------------------------------------------------
// Reading. All readers take the packet body as `Bytes` that is already complete: running
// out of bytes means the remaining length lied, which is a malformed packet.

pub(crate) fn read_u8(buf: &mut Bytes) -> Result<u8, DecodeError> {
    if buf.has_remaining() {
        Ok(buf.get_u8())
    } else {
        Err(DecodeError::truncated())
    }
}

pub(crate) fn read_u16(buf: &mut Bytes) -> Result<u16, DecodeError> {
    if buf.remaining() >= 2 {
        Ok(buf.get_u16())
    } else {
        Err(DecodeError::truncated())
    }
}

pub(crate) fn read_u32(buf: &mut Bytes) -> Result<u32, DecodeError> {
    if buf.remaining() >= 4 {
        Ok(buf.get_u32())
    } else {
        Err(DecodeError::truncated())
    }
}

/// Outcome of reading a variable byte integer from a buffer that may be incomplete.
pub(crate) enum VarInt {
    /// The value and the number of bytes it took.
    Value(u32, usize),
    /// More bytes are needed.
    Incomplete,
}

/// Reads a variable byte integer from the front of `bytes` without consuming it.
///
/// Rejects encodings longer than four bytes and non-minimal encodings ([MQTT-1.5.5-1]).
pub(crate) fn peek_varint(bytes: &[u8]) -> Result<VarInt, DecodeError> {
    let mut value: u32 = 0;
    for (index, &byte) in bytes.iter().enumerate().take(4) {
        value |= u32::from(byte & 0x7F) << (7 * index);
        if byte & 0x80 == 0 {
            if index > 0 && byte == 0 {
                return Err(DecodeError::Malformed(
                    "[MQTT-1.5.5-1] variable byte integer is not minimally encoded",
                ));
            }
            return Ok(VarInt::Value(value, index + 1));
        }
    }
    if bytes.len() >= 4 {
        Err(DecodeError::Malformed(
            "[MQTT-1.5.5] variable byte integer is longer than four bytes",
        ))
    } else {
        Ok(VarInt::Incomplete)
    }
}

pub(crate) fn read_varint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    match peek_varint(buf)? {
        VarInt::Value(value, len) => {
            buf.advance(len);
            Ok(value)
        }
        VarInt::Incomplete => Err(DecodeError::truncated()),
    }
}

pub(crate) fn read_binary(buf: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = usize::from(read_u16(buf)?);
    if buf.remaining() < len {
        return Err(DecodeError::truncated());
    }
    Ok(buf.split_to(len))
}

pub(crate) fn read_utf8(buf: &mut Bytes) -> Result<Utf8Bytes, DecodeError> {
    Utf8Bytes::try_from_bytes(read_binary(buf)?)
}

// ---------------------------------------------------------------------------------------
// Writing. Sizes are computed first (`*_len`) so that encoders can check limits before
// writing anything.

/// Number of bytes `value` takes as a variable byte integer.
pub(crate) fn varint_len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

pub(crate) fn write_varint(buf: &mut BytesMut, mut value: usize) {
    loop {
        let mut byte = (value % 128) as u8;
        value /= 128;
        if value > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if value == 0 {
            break;
        }
    }
}

/// Encoded size of a length-prefixed string or binary field.
pub(crate) fn binary_len(data: &[u8]) -> usize {
    2 + data.len()
}

pub(crate) fn check_field(data: &[u8]) -> Result<(), EncodeError> {
    if data.len() > usize::from(u16::MAX) {
        Err(EncodeError::FieldTooLong(data.len()))
    } else {
        Ok(())
    }
}

/// Writes a length-prefixed field; callers check the length with [`check_field`] first.
pub(crate) fn write_binary(buf: &mut BytesMut, data: &[u8]) {
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case(&[0x00] => Some((0, 1)); "zero")]
    #[test_case(&[0x7F] => Some((127, 1)); "one byte max")]
    #[test_case(&[0x80, 0x01] => Some((128, 2)); "two bytes min")]
    #[test_case(&[0xFF, 0x7F] => Some((16_383, 2)); "two bytes max")]
    #[test_case(&[0x80, 0x80, 0x01] => Some((16_384, 3)); "three bytes min")]
    #[test_case(&[0xFF, 0xFF, 0xFF, 0x7F] => Some((MAX_VARINT, 4)); "four bytes max")]
    #[test_case(&[0x80] => None; "incomplete")]
    fn varint_decodes(bytes: &[u8]) -> Option<(u32, usize)> {
        match peek_varint(bytes).unwrap() {
            VarInt::Value(v, n) => Some((v, n)),
            VarInt::Incomplete => None,
        }
    }

    #[test]
    fn varint_longer_than_four_bytes_is_malformed() {
        assert!(peek_varint(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]).is_err());
    }

    #[test]
    fn varint_non_minimal_is_malformed() {
        assert!(peek_varint(&[0x80, 0x00]).is_err());
    }

    #[test]
    fn varint_round_trips_at_boundaries() {
        for value in [
            0,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            MAX_VARINT as usize,
        ] {
            let mut buf = BytesMut::new();
            write_varint(&mut buf, value);
            assert_eq!(buf.len(), varint_len(value));
            let mut bytes = buf.freeze();
            assert_eq!(read_varint(&mut bytes).unwrap() as usize, value);
        }
    }

    #[test]
    fn utf8_rejects_null_and_invalid_sequences() {
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"a\0b")).is_err());
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xC3\x28")).is_err());
        // An encoded UTF-16 surrogate (U+D800) is not well-formed UTF-8 [MQTT-1.5.4-1].
        assert!(Utf8Bytes::try_from_bytes(Bytes::from_static(b"\xED\xA0\x80")).is_err());
        assert_eq!(
            Utf8Bytes::try_from_bytes(Bytes::from_static("héllo".as_bytes())).unwrap(),
            "héllo"
        );
    }

    #[test]
    fn read_binary_checks_length_prefix() {
        let mut ok = Bytes::from_static(b"\x00\x02ab");
        assert_eq!(read_binary(&mut ok).unwrap(), Bytes::from_static(b"ab"));
        let mut short = Bytes::from_static(b"\x00\x05ab");
        assert!(read_binary(&mut short).is_err());
    }
}
