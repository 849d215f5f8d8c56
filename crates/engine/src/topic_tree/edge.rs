//! [`Edge`]: a level label and the node it leads to, for the index's node arena.

use std::borrow::Borrow;
use std::cmp::Ordering;

/// Labels up to this many bytes live inside the edge, with no allocation of their own.
const INLINE: usize = 18;

/// A labelled edge from a node to one of its children, in 24 bytes.
///
/// Most topic levels are short (`fleet`, `telemetry`, a vehicle number), so the label is
/// stored inline and the child id packs into what would be padding: the whole edge is as big
/// as a bare `String`. Edges compare and order by label alone, so a sorted set of edges is a
/// map from label to child that stores each label once.
pub(super) enum Edge {
    /// A label of at most [`INLINE`] bytes, stored in place.
    Inline {
        /// How many bytes of `bytes` the label uses.
        len: u8,
        /// The label, padded with zeroes.
        bytes: [u8; INLINE],
        /// The node this edge leads to.
        child: u32,
    },
    /// A longer label, on the heap.
    Heap {
        /// The label.
        label: Box<str>,
        /// The node this edge leads to.
        child: u32,
    },
}

impl Edge {
    /// An edge labelled `label` leading to `child`.
    pub(super) fn new(label: &str, child: u32) -> Self {
        match u8::try_from(label.len()) {
            Ok(len) if label.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..label.len()].copy_from_slice(label.as_bytes());
                Self::Inline { len, bytes, child }
            }
            _ => Self::Heap {
                label: label.into(),
                child,
            },
        }
    }

    /// The label's bytes; matching compares bytes, so the hot path never revalidates UTF-8.
    #[inline]
    pub(super) fn label(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes, .. } => &bytes[..usize::from(*len)],
            Self::Heap { label, .. } => label.as_bytes(),
        }
    }

    /// The label as text, for building topic and filter strings.
    pub(super) fn label_str(&self) -> &str {
        match self {
            // Cannot fail: the bytes were copied whole from a `&str`.
            Self::Inline { .. } => std::str::from_utf8(self.label()).unwrap_or_default(),
            Self::Heap { label, .. } => label,
        }
    }

    /// The node this edge leads to.
    #[inline]
    pub(super) fn child(&self) -> u32 {
        match self {
            Self::Inline { child, .. } | Self::Heap { child, .. } => *child,
        }
    }

    /// The same edge leading to `child` instead.
    pub(super) fn with_child(self, child: u32) -> Self {
        match self {
            Self::Inline { len, bytes, .. } => Self::Inline { len, bytes, child },
            Self::Heap { label, .. } => Self::Heap { label, child },
        }
    }

    /// Bytes this edge owns on the heap besides itself.
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Self::Inline { .. } => 0,
            Self::Heap { label, .. } => label.len(),
        }
    }
}

impl PartialEq for Edge {
    fn eq(&self, other: &Self) -> bool {
        self.label() == other.label()
    }
}

impl Eq for Edge {}

impl PartialOrd for Edge {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Byte order of labels, which for UTF-8 is also the order of their characters.
impl Ord for Edge {
    fn cmp(&self, other: &Self) -> Ordering {
        self.label().cmp(other.label())
    }
}

impl Borrow<[u8]> for Edge {
    fn borrow(&self) -> &[u8] {
        self.label()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_24_bytes() {
        assert_eq!(size_of::<Edge>(), 24);
    }

    #[test]
    fn short_and_long_labels_round_trip() {
        for label in [
            "",
            "a",
            "exactly-18-bytes!!",
            "nineteen-bytes-long",
            "ünïcödé/ish",
        ] {
            let edge = Edge::new(label, 7);
            assert_eq!(edge.label_str(), label);
            assert_eq!(edge.label(), label.as_bytes());
            assert_eq!(edge.child(), 7);
        }
        assert!(matches!(Edge::new(&"x".repeat(18), 0), Edge::Inline { .. }));
        assert!(matches!(Edge::new(&"x".repeat(19), 0), Edge::Heap { .. }));
    }
}
