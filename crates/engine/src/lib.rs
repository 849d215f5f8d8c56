//! The broker core: sessions, routing, retained messages and wills, with no I/O.
//!
//! # Layout
//! - [`topic_tree`]: maps from topic filters (and topic names) to values, matched level by level.

pub mod topic_tree;
