//! Topic trees: the index behind subscription matching and retained-message lookup.
//!
//! - [`TopicTree`] maps topic *filters* to values and finds those matching a topic *name*:
//!   the router's subscription index, walked once per published message.
//! - [`TopicIndex`] maps topic *names* to values and finds those matching a *filter*, in a
//!   stable order that can resume after any topic: the retained-message store.
//!
//! # Design
//! Both are tries over topic levels (the text between `/`): matching visits only the levels a
//! topic or filter can reach, so its cost grows with the number of levels and of matches, not
//! with the number of entries. They differ where their workloads differ.
//!
//! **[`TopicTree`] is laid out for the publish path**, one walk per message, where a big tree
//! is out of cache and the cost is the memory accesses per level:
//!
//! - *A child lives inside its parent.* A node's children are `(label, body)` pairs in one
//!   exactly-sized boxed slice, so one access per level reaches the label to compare, the
//!   child's value slots and the pointer to its own children. (An earlier arena layout, with
//!   labels on the parent's edges and bodies in a separate `Vec`, paid two accesses per level
//!   and matched at 0.7M instead of 1.9M topics/s on 1M subscriptions.)
//! - *Labels are stored once, inline when short:* 24 bytes, up to 22 of them in place, so the
//!   usual level costs no allocation of its own, and matching compares bytes.
//! - *Small nodes scan, wide nodes hash.* Up to 8 children sit sorted in the slice (a leaf
//!   has none and allocates nothing); more move into a `foldhash` hash map, one probe per level.
//!   A wide node that shrinks to 4 children goes back to a slice.
//! - *Wildcards are fields, not children.* A node holds the value of `<node>/#` in a slot and
//!   its `+` child out of line together with the wide map, both rare: matching checks them
//!   with no lookup, `#` needs no node, and a common node stays at 56 bytes.
//! - *Values sit in a slab* and nodes hold a 4-byte slot, so node size does not depend on `V`
//!   and walking through intermediate levels never pulls values into the cache.
//! - *Removal prunes* the chain of nodes that led only to the removed filter, and a value slab
//!   three quarters empty is rebuilt to fit, so memory comes back after unsubscribes. Drops
//!   run on a work list, so deep filters cannot overflow the stack.
//!
//! **[`TopicIndex`] is laid out for sorted, resumable listing** (retained messages on
//! subscribe, pages of an HTTP listing), where memory matters more than one access per level:
//! nodes sit in one arena linked by `u32` ids (24 bytes a node, plus a 24-byte edge in the
//! parent holding an inline label of up to 18 bytes and the child id); wide nodes keep their
//! children in a B-tree, which yields them in order and starts after a given label in
//! `O(log n)`, so a page resumes without rescanning what came before. The arena is renumbered
//! to fit once three quarters of it are free.
//!
//! Walks use explicit work lists, never recursion, so topics with thousands of levels are
//! safe. Matching follows MQTT 5.0 section 4.7, as [`gridmq_codec::topic::matches_filter`]
//! states it; the tests compare both structures against that reference.
//!
//! # Layout
//! - `tree`: [`TopicTree`] and its nodes.
//! - `label`: the inline-when-short level text of the tree's nodes.
//! - `index`: [`TopicIndex`] and its resumable walk.
//! - `trie`, `edge`: the index's node arena and its 24-byte labelled edges.
//! - `slab`: the value slab both use.

mod edge;
mod index;
mod label;
mod slab;
mod tree;
mod trie;

#[cfg(test)]
mod tests;

pub use index::TopicIndex;
pub use tree::TopicTree;
