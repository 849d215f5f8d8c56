//! The node arena behind [`TopicIndex`](super::TopicIndex): nodes linked by `u32` ids.

use std::collections::BTreeSet;
use std::mem::{size_of, take};

use smallvec::SmallVec;

use super::edge::Edge;
use super::slab::COMPACT_MIN;
pub(super) use super::slab::NONE;

/// The root node, which stands for no level at all and is never freed.
pub(super) const ROOT: u32 = 0;

/// Up to this many children sit in a sorted inline slice that lookups scan; more move into a
/// B-tree. Scanning 8 edges touches three cache lines.
const SMALL_MAX: usize = 8;

/// A wide node whose children fall to this many moves them back to a slice.
const SHRINK_AT: usize = SMALL_MAX / 2;

/// Wide nodes keep their children sorted, so pages resume after a label in `O(log n)`.
pub(super) type Wide = BTreeSet<Edge>;

/// One level of a topic.
pub(super) struct Node {
    /// The labelled children, sorted by label, while there are at most [`SMALL_MAX`].
    edges: Box<[Edge]>,
    /// The index of this node's map in [`Trie::maps`] once it has more children, else [`NONE`].
    big: u32,
    /// The slot in the value slab of the value stored at this node, or [`NONE`].
    pub(super) value: u32,
}

impl Default for Node {
    fn default() -> Self {
        Self {
            edges: Box::default(),
            big: NONE,
            value: NONE,
        }
    }
}

/// Nodes in one vector, addressed by `u32` ids, with the children of wide nodes in a side table.
///
/// Ids instead of boxes halve the size of a link, spare one allocation per node, and let
/// dropping a deep tree run without recursion. Freed ids are reused; a trie that empties
/// completely gives all of its memory back.
pub(super) struct Trie {
    nodes: Vec<Node>,
    free_nodes: Vec<u32>,
    maps: Vec<Wide>,
    free_maps: Vec<u32>,
}

impl Trie {
    /// A trie with only the root.
    pub(super) fn new() -> Self {
        Self {
            nodes: vec![Node::default()],
            free_nodes: Vec::new(),
            maps: Vec::new(),
            free_maps: Vec::new(),
        }
    }

    /// The node with id `id`.
    #[inline]
    pub(super) fn node(&self, id: u32) -> &Node {
        &self.nodes[id as usize]
    }

    /// The node with id `id`, mutably.
    #[inline]
    pub(super) fn node_mut(&mut self, id: u32) -> &mut Node {
        &mut self.nodes[id as usize]
    }

    /// The child of `id` behind the level `label`.
    #[inline]
    pub(super) fn child(&self, id: u32, label: &[u8]) -> Option<u32> {
        let node = self.node(id);
        if node.big == NONE {
            node.edges
                .iter()
                .find(|edge| edge.label() == label)
                .map(Edge::child)
        } else {
            self.maps[node.big as usize].get(label).map(Edge::child)
        }
    }

    /// The child of `id` behind `label`, created if missing.
    pub(super) fn child_or_insert(&mut self, id: u32, label: &str) -> u32 {
        if let Some(child) = self.child(id, label.as_bytes()) {
            return child;
        }
        let child = self.alloc();
        self.add_edge(id, Edge::new(label, child));
        child
    }

    /// A fresh, empty node.
    ///
    /// # Panics
    /// When the trie already holds `u32::MAX - 1` nodes; memory runs out long before.
    pub(super) fn alloc(&mut self) -> u32 {
        if let Some(id) = self.free_nodes.pop() {
            return id;
        }
        let id = match u32::try_from(self.nodes.len()) {
            Ok(id) if id != NONE => id,
            _ => panic!("topic tree is full: node ids are 32 bits"),
        };
        self.nodes.push(Node::default());
        id
    }

    /// Adds `edge`, whose label `id` has no child for yet.
    fn add_edge(&mut self, id: u32, edge: Edge) {
        let node = &mut self.nodes[id as usize];
        if node.big != NONE {
            self.maps[node.big as usize].insert(edge);
        } else if node.edges.len() < SMALL_MAX {
            let at = node.edges.partition_point(|e| e.label() < edge.label());
            let mut old = take(&mut node.edges).into_vec().into_iter();
            let mut edges = Vec::with_capacity(old.len() + 1);
            edges.extend(old.by_ref().take(at));
            edges.push(edge);
            edges.extend(old);
            node.edges = edges.into_boxed_slice();
        } else {
            let mut map = Wide::new();
            for old in take(&mut node.edges) {
                map.insert(old);
            }
            map.insert(edge);
            let big = self.alloc_map(map);
            self.nodes[id as usize].big = big;
        }
    }

    /// Removes the edge of `id` labelled `label` and returns the child it led to.
    pub(super) fn remove_edge(&mut self, id: u32, label: &[u8]) -> Option<u32> {
        let node = &mut self.nodes[id as usize];
        if node.big == NONE {
            let at = node.edges.iter().position(|e| e.label() == label)?;
            let mut edges = take(&mut node.edges).into_vec();
            let edge = edges.remove(at);
            node.edges = edges.into_boxed_slice();
            return Some(edge.child());
        }
        let big = node.big;
        let map = &mut self.maps[big as usize];
        let edge = map.take(label)?;
        if map.len() <= SHRINK_AT {
            node.edges = take(map).into_iter().collect();
            node.big = NONE;
            self.free_maps.push(big);
        }
        Some(edge.child())
    }

    fn alloc_map(&mut self, map: Wide) -> u32 {
        if let Some(id) = self.free_maps.pop() {
            self.maps[id as usize] = map;
            return id;
        }
        // Fewer maps than nodes exist, so the id fits whenever node ids do.
        let id = u32::try_from(self.maps.len()).unwrap_or(NONE);
        self.maps.push(map);
        id
    }

    /// The number of labelled children of `id`.
    pub(super) fn edge_count(&self, id: u32) -> usize {
        let node = self.node(id);
        if node.big == NONE {
            node.edges.len()
        } else {
            self.maps[node.big as usize].len()
        }
    }

    /// The labelled children of `id` while it has few, sorted by label.
    pub(super) fn small_edges(&self, id: u32) -> &[Edge] {
        &self.node(id).edges
    }

    /// The map holding the labelled children of `id`, if it has many.
    pub(super) fn big_map(&self, id: u32) -> Option<&Wide> {
        let big = self.node(id).big;
        (big != NONE).then(|| &self.maps[big as usize])
    }

    /// Whether `id` has no value and no children.
    pub(super) fn is_bare(&self, id: u32) -> bool {
        let node = self.node(id);
        node.value == NONE && node.big == NONE && node.edges.is_empty()
    }

    /// Frees `top` and every node below it.
    pub(super) fn free_subtree(&mut self, top: u32) {
        // Pruning frees a chain of single children, so the stack stays at one entry.
        let mut stack: SmallVec<[u32; 8]> = SmallVec::new();
        stack.push(top);
        while let Some(id) = stack.pop() {
            let node = take(&mut self.nodes[id as usize]);
            stack.extend(node.edges.iter().map(Edge::child));
            if node.big != NONE {
                let map = take(&mut self.maps[node.big as usize]);
                stack.extend(map.iter().map(Edge::child));
                self.free_maps.push(node.big);
            }
            self.free_nodes.push(id);
        }
    }

    /// Gives every allocation back once the root is all that is left.
    pub(super) fn reset_if_bare(&mut self) {
        if self.is_bare(ROOT) {
            *self = Self::new();
        }
    }

    /// Calls `f` with the value slot of every node.
    pub(super) fn for_each_slot_mut(&mut self, f: &mut dyn FnMut(&mut u32)) {
        self.nodes.iter_mut().for_each(|node| f(&mut node.value));
    }

    /// Renumbers the nodes into a vector sized to fit once three quarters of it are free, so
    /// memory comes back after mass removals; amortised `O(1)` per removal.
    pub(super) fn compact_if_sparse(&mut self) {
        let live = self.nodes.len() - self.free_nodes.len();
        if self.nodes.len() < COMPACT_MIN || live >= self.nodes.len() / 4 {
            return;
        }
        let mut renumber = vec![0; self.nodes.len()];
        for &id in &self.free_nodes {
            renumber[id as usize] = NONE;
        }
        let mut next = 0;
        for id in &mut renumber {
            if *id != NONE {
                *id = next;
                next += 1;
            }
        }
        let mut old_maps = take(&mut self.maps);
        let old_nodes = take(&mut self.nodes);
        self.nodes.reserve_exact(live);
        self.free_nodes = Vec::new();
        self.free_maps = Vec::new();
        let moved = |edge: Edge| {
            let child = renumber.get(edge.child() as usize).copied().unwrap_or(NONE);
            edge.with_child(child)
        };
        for (node, id) in old_nodes.into_iter().zip(&renumber) {
            if *id == NONE {
                continue;
            }
            let mut node = node;
            node.edges = take(&mut node.edges)
                .into_vec()
                .into_iter()
                .map(moved)
                .collect();
            if node.big != NONE {
                let map = take(&mut old_maps[node.big as usize]);
                node.big = self.alloc_map(map.into_iter().map(moved).collect());
            }
            self.nodes.push(node);
        }
    }

    /// The number of nodes besides the root.
    pub(super) fn node_count(&self) -> usize {
        self.nodes.len() - self.free_nodes.len() - 1
    }

    /// Bytes owned on the heap, estimated from capacities.
    pub(super) fn heap_bytes(&self) -> usize {
        let edges: usize = self
            .nodes
            .iter()
            .flat_map(|node| node.edges.iter())
            .map(|edge| size_of::<Edge>() + edge.heap_bytes())
            .sum();
        // B-tree nodes hold up to 11 edges and run about two thirds full.
        let maps: usize = (self.maps.iter())
            .map(|map| map.len() * size_of::<Edge>() * 3 / 2)
            .sum::<usize>()
            + (self.maps.iter().flatten().map(Edge::heap_bytes)).sum::<usize>();
        self.nodes.capacity() * size_of::<Node>()
            + self.maps.capacity() * size_of::<Wide>()
            + (self.free_nodes.capacity() + self.free_maps.capacity()) * size_of::<u32>()
            + edges
            + maps
    }
}
