//! How a value is stored: a versioned, checksummed envelope around its postcard encoding.
//!
//! ```text
//! [format: u8 = 1][crc32 (IEEE) of key ++ format ++ body: u32 LE][body: postcard]
//! ```
//!
//! The checksum covers the key too, so a value that ends up under the wrong key is
//! caught as well as flipped bits. The format byte lets one record kind change shape
//! later without rewriting the others; the store-wide schema version (see
//! [`crate::kv::SCHEMA_VERSION`]) guards the layout as a whole.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The record format this build writes and reads.
pub const RECORD_FORMAT: u8 = 1;

const HEADER: usize = 5;

/// Why a stored value could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Shorter than the envelope's header.
    #[error("record truncated ({0} bytes)")]
    Truncated(usize),
    /// The format byte is not one this build reads.
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    /// The checksum does not match the content.
    #[error("checksum mismatch")]
    Checksum,
    /// The body is not a valid encoding of the expected type.
    #[error("undecodable body: {0}")]
    Body(String),
}

fn checksum(key: &[u8], format: u8, body: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(key);
    hasher.update(&[format]);
    hasher.update(body);
    hasher.finalize()
}

/// Encodes `value` stored under `key`.
pub fn encode<T: Serialize>(key: &[u8], value: &T) -> Vec<u8> {
    let mut out = vec![RECORD_FORMAT, 0, 0, 0, 0];
    // Serializing plain data into a Vec cannot fail: postcard only fails for a full
    // fixed-size buffer or for types serde cannot describe, and ours are plain structs.
    out = postcard::to_extend(value, out).unwrap_or_else(|_| vec![RECORD_FORMAT, 0, 0, 0, 0]);
    let sum = checksum(key, RECORD_FORMAT, &out[HEADER..]);
    out[1..HEADER].copy_from_slice(&sum.to_le_bytes());
    out
}

/// Decodes a value stored under `key`, checking its envelope.
pub fn decode<T: DeserializeOwned>(key: &[u8], stored: &[u8]) -> Result<T, RecordError> {
    if stored.len() < HEADER {
        return Err(RecordError::Truncated(stored.len()));
    }
    let format = stored[0];
    if format != RECORD_FORMAT {
        return Err(RecordError::UnknownFormat(format));
    }
    let mut sum = [0; 4];
    sum.copy_from_slice(&stored[1..HEADER]);
    let body = &stored[HEADER..];
    if u32::from_le_bytes(sum) != checksum(key, format, body) {
        return Err(RecordError::Checksum);
    }
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| RecordError::Body(e.to_string()))?;
    if !rest.is_empty() {
        return Err(RecordError::Body(format!("{} trailing bytes", rest.len())));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_key_and_bits() {
        let stored = encode(b"k", &("topic".to_string(), 7u64));
        let back: (String, u64) = decode(b"k", &stored).unwrap_or_default();
        assert_eq!(back, ("topic".to_string(), 7));
        assert_eq!(
            decode::<(String, u64)>(b"other", &stored),
            Err(RecordError::Checksum)
        );
        for i in 0..stored.len() {
            let mut flipped = stored.clone();
            flipped[i] ^= 0x10;
            assert!(decode::<(String, u64)>(b"k", &flipped).is_err(), "byte {i}");
        }
        assert_eq!(
            decode::<u8>(b"k", &stored[..3]),
            Err(RecordError::Truncated(3))
        );
    }

    #[test]
    fn rejects_unknown_format_and_trailing_bytes() {
        let mut stored = encode(b"k", &1u8);
        stored[0] = 9;
        assert_eq!(
            decode::<u8>(b"k", &stored),
            Err(RecordError::UnknownFormat(9))
        );
        let two = encode(b"k", &(1u8, 2u8));
        assert!(matches!(
            decode::<u8>(b"k", &two),
            Err(RecordError::Body(_))
        ));
    }
}
