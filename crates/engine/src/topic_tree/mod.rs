//! Topic trees: the index behind subscription matching and retained-message lookup.
//!
//! - [`TopicTree`] maps topic *filters* to values and finds those matching a topic *name*:
//!   the router's subscription index, walked once per published message.
//! - [`TopicIndex`] maps topic *names* to values and finds those matching a *filter*, in a
//!   stable order that can resume after any topic: the retained-message store.
//!
//! # Design
//! Both are tries over topic levels (the text between `/`), because matching is a walk that
//! visits only the levels a topic or filter can reach: its cost grows with the number of
//! levels and of matches, not with the number of entries. What makes them fast and lean:
//!
//! - **An arena, not boxes.** Nodes live in one `Vec` and link by `u32` ids. A node is 32 bytes
//!   in the filter tree and 24 in the index; there is no allocation per node, and dropping a
//!   deep tree does not recurse.
//! - **Labels stored once, on the edge.** A parent keeps `(label, child)` edges of 24 bytes with
//!   labels of up to 18 bytes inline, so the usual level costs no allocation of its own, and a
//!   lookup compares labels without touching the children.
//! - **Small nodes scan, wide nodes hash.** Up to 8 children sit in a sorted boxed slice sized
//!   exactly (leaves, most nodes, have none and allocate nothing); past that they move into a
//!   side table of maps: a `foldhash` hash set for the filter tree, whose hot path wants one
//!   probe per level, and a B-tree for the index, whose queries want sorted order and `O(log n)`
//!   resumption. A wide node shrinking to 4 children moves back to a slice.
//! - **Wildcards off to the side.** A filter-tree node holds its `+` child and the value of
//!   `<node>/#` in dedicated fields: matching checks them with no lookup, and `#`, which always
//!   ends a filter, needs no node at all.
//! - **Values in a slab.** Nodes hold a `u32` slot, so their size does not depend on `V` and a
//!   walk through intermediate levels never pulls values into the cache.
//! - **Pruned on removal.** Removing an entry frees the chain of nodes that led only to it, so
//!   memory comes back after unsubscribes; an emptied tree frees everything.
//!
//! Walks use explicit work lists, never recursion, so topics with thousands of levels are
//! safe. Matching follows MQTT 5.0 section 4.7, as [`gridmq_codec::topic::matches_filter`]
//! states it; the tests compare both structures against that reference.
//!
//! # Layout
//! - `edge`: the 24-byte labelled edge and the maps that hold many of them.
//! - `trie`: the node arena and value slab both structures share.
//! - `tree`: [`TopicTree`].
//! - `index`: [`TopicIndex`].

mod edge;
mod index;
mod tree;
mod trie;

#[cfg(test)]
mod tests;

pub use index::TopicIndex;
pub use tree::TopicTree;
