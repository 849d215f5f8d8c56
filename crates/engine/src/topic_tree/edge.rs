//! Child edges (a level label and the node it leads to) and the maps that hold many of them.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};
use std::hash::{BuildHasher, Hash, Hasher};
use std::mem::size_of;

/// Labels up to this many bytes live inside the edge, with no allocation of their own.
const INLINE: usize = 18;

/// A labelled edge from a node to one of its children, in 24 bytes.
///
/// Most topic levels are short (`fleet`, `telemetry`, a vehicle number), so the label is
/// stored inline and the child id packs into what would be padding: the whole edge is as big
/// as a bare `String`. Edges compare, order and hash by label alone, so a set of edges is a
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

/// Hashes exactly as the label's `[u8]` does, so sets can be searched by label.
impl Hash for Edge {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.label().hash(state);
    }
}

impl Borrow<[u8]> for Edge {
    fn borrow(&self) -> &[u8] {
        self.label()
    }
}

/// The children of a node with too many to scan: a set of edges keyed by label.
pub(super) trait ChildMap: Default {
    /// The child behind `label`.
    fn child(&self, label: &[u8]) -> Option<u32>;
    /// Adds an edge whose label is not in the map yet.
    fn insert(&mut self, edge: Edge);
    /// Removes the edge labelled `label`.
    fn remove(&mut self, label: &[u8]) -> Option<Edge>;
    /// The number of edges.
    fn len(&self) -> usize;
    /// Takes every edge out, sorted by label.
    fn take_sorted(&mut self) -> Vec<Edge>;
    /// The edges, in no particular order.
    fn edges(&self) -> impl Iterator<Item = &Edge>;
    /// Bytes owned on the heap, estimated from the map's capacity.
    fn heap_bytes(&self) -> usize;
}

/// The filter tree's wide nodes: the hot path wants one hash probe per level.
impl<S: BuildHasher + Default> ChildMap for HashSet<Edge, S> {
    #[inline]
    fn child(&self, label: &[u8]) -> Option<u32> {
        self.get(label).map(Edge::child)
    }

    fn insert(&mut self, edge: Edge) {
        HashSet::insert(self, edge);
    }

    fn remove(&mut self, label: &[u8]) -> Option<Edge> {
        let edge = self.take(label);
        // Give memory back once a wide node has lost most of its children.
        if self.len() < self.capacity() / 4 {
            self.shrink_to_fit();
        }
        edge
    }

    fn len(&self) -> usize {
        HashSet::len(self)
    }

    fn take_sorted(&mut self) -> Vec<Edge> {
        let mut edges: Vec<Edge> = self.drain().collect();
        edges.sort_unstable();
        edges
    }

    fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.iter()
    }

    fn heap_bytes(&self) -> usize {
        // The table keeps one control byte per bucket and fills 7/8 of its buckets.
        let buckets = match self.capacity() {
            0 => 0,
            cap => (cap * 8 / 7).next_power_of_two(),
        };
        let labels: usize = self.iter().map(Edge::heap_bytes).sum();
        buckets * (size_of::<Edge>() + 1) + labels
    }
}

/// The retained index's wide nodes: sorted, so pages resume after a label in `O(log n)`.
impl ChildMap for BTreeSet<Edge> {
    fn child(&self, label: &[u8]) -> Option<u32> {
        self.get(label).map(Edge::child)
    }

    fn insert(&mut self, edge: Edge) {
        BTreeSet::insert(self, edge);
    }

    fn remove(&mut self, label: &[u8]) -> Option<Edge> {
        self.take(label)
    }

    fn len(&self) -> usize {
        BTreeSet::len(self)
    }

    fn take_sorted(&mut self) -> Vec<Edge> {
        std::mem::take(self).into_iter().collect()
    }

    fn edges(&self) -> impl Iterator<Item = &Edge> {
        self.iter()
    }

    fn heap_bytes(&self) -> usize {
        // B-tree nodes hold up to 11 edges and run about two thirds full.
        let labels: usize = self.iter().map(Edge::heap_bytes).sum();
        self.len() * size_of::<Edge>() * 3 / 2 + labels
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

    #[test]
    fn sets_of_edges_are_maps_by_label() {
        let mut hashed: HashSet<Edge, foldhash::fast::RandomState> = HashSet::default();
        let mut sorted = BTreeSet::new();
        for (child, label) in (0..).zip(["b", "a", "a-much-longer-label-on-the-heap"]) {
            ChildMap::insert(&mut hashed, Edge::new(label, child));
            ChildMap::insert(&mut sorted, Edge::new(label, child));
        }
        assert_eq!(hashed.child(b"a"), Some(1));
        assert_eq!(hashed.child(b"a-much-longer-label-on-the-heap"), Some(2));
        assert_eq!(sorted.child(b"b"), Some(0));
        let edges = sorted.take_sorted();
        let order: Vec<&str> = edges.iter().map(Edge::label_str).collect();
        assert_eq!(order, ["a", "a-much-longer-label-on-the-heap", "b"]);
    }
}
