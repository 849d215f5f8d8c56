//! [`Label`]: the text of one topic level, inline when short.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Labels up to this many bytes live inside the label, with no allocation of their own.
const INLINE: usize = 22;

/// The text of one level, 24 bytes like a bare `String`, but holding up to 22 bytes in place.
///
/// Most topic levels are short (`fleet`, `telemetry`, a vehicle number), so most labels cost
/// no allocation. Labels compare and hash as their bytes, so maps keyed by label can be
/// searched with a level's `&[u8]`, and matching never revalidates UTF-8.
pub(super) enum Label {
    /// A label of at most [`INLINE`] bytes, stored in place.
    Inline {
        /// How many bytes of `bytes` the label uses.
        len: u8,
        /// The label, padded with zeroes.
        bytes: [u8; INLINE],
    },
    /// A longer label, on the heap.
    Heap(Box<str>),
}

impl Label {
    /// The label `level`.
    pub(super) fn new(level: &str) -> Self {
        match u8::try_from(level.len()) {
            Ok(len) if level.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..level.len()].copy_from_slice(level.as_bytes());
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(level.into()),
        }
    }

    /// The label's bytes.
    #[inline]
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(label) => label.as_bytes(),
        }
    }

    /// The label as text, for building filter strings.
    pub(super) fn as_str(&self) -> &str {
        match self {
            // Cannot fail: the bytes were copied whole from a `&str`.
            Self::Inline { .. } => std::str::from_utf8(self.bytes()).unwrap_or_default(),
            Self::Heap(label) => label,
        }
    }

    /// Bytes this label owns on the heap.
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Self::Inline { .. } => 0,
            Self::Heap(label) => label.len(),
        }
    }
}

impl PartialEq for Label {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Label {}

/// Hashes exactly as the label's `[u8]` does, so maps can be searched by level bytes.
impl Hash for Label {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bytes().hash(state);
    }
}

impl Borrow<[u8]> for Label {
    fn borrow(&self) -> &[u8] {
        self.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_24_bytes() {
        assert_eq!(size_of::<Label>(), 24);
    }

    #[test]
    fn short_and_long_labels_round_trip() {
        for level in [
            "",
            "a",
            "exactly-22-bytes-long!",
            "twenty-three-bytes-long",
            "ünï/cödé",
        ] {
            let label = Label::new(level);
            assert_eq!(label.as_str(), level);
            assert_eq!(label.bytes(), level.as_bytes());
        }
        assert!(matches!(Label::new(&"x".repeat(22)), Label::Inline { .. }));
        assert!(matches!(Label::new(&"x".repeat(23)), Label::Heap(_)));
    }
}
