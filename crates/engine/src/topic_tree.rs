//! Topic trees: the index behind subscription matching and retained-message lookup.
//!
//! Interim implementation: flat maps scanned with the reference matcher. The real
//! level-by-level trees replace it; the API is the contract between the two.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use gridmq_codec::topic::matches_filter;

/// A map from topic filters to values, queried by topic name.
#[derive(Debug)]
pub struct TopicTree<V> {
    entries: BTreeMap<String, V>,
}

impl<V> Default for TopicTree<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> TopicTree<V> {
    /// An empty tree.
    pub fn new() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }

    /// Number of filters holding a value.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no filter holds a value.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value stored for exactly this filter.
    pub fn get(&self, filter: &str) -> Option<&V> {
        self.entries.get(filter)
    }

    /// The value stored for exactly this filter, mutably.
    pub fn get_mut(&mut self, filter: &str) -> Option<&mut V> {
        self.entries.get_mut(filter)
    }

    /// The value for `filter`, created with `make` if absent.
    pub fn get_or_insert_with(&mut self, filter: &str, make: impl FnOnce() -> V) -> &mut V {
        self.entries.entry(filter.to_owned()).or_insert_with(make)
    }

    /// Removes the value for `filter`.
    pub fn remove(&mut self, filter: &str) -> Option<V> {
        self.entries.remove(filter)
    }

    /// Calls `f` with the value of every filter matching `topic`.
    pub fn for_each_match<'a>(&'a self, topic: &str, mut f: impl FnMut(&'a V)) {
        for (filter, value) in &self.entries {
            if matches_filter(filter, topic) {
                f(value);
            }
        }
    }

    /// Every filter with its value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &V)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// A map from topic names to values, queried by topic filter.
#[derive(Debug)]
pub struct TopicIndex<V> {
    entries: BTreeMap<String, V>,
}

impl<V> Default for TopicIndex<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V> TopicIndex<V> {
    /// An empty index.
    pub fn new() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }

    /// Number of topics stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no topic is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Stores `value` for `topic`, returning the previous value.
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> {
        self.entries.insert(topic.to_owned(), value)
    }

    /// The value for `topic`.
    pub fn get(&self, topic: &str) -> Option<&V> {
        self.entries.get(topic)
    }

    /// The value for `topic`, mutably.
    pub fn get_mut(&mut self, topic: &str) -> Option<&mut V> {
        self.entries.get_mut(topic)
    }

    /// Removes `topic`.
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        self.entries.remove(topic)
    }

    /// Visits every stored topic `filter` matches, in sorted order, until `f` breaks.
    pub fn for_each_match<'a>(
        &'a self,
        filter: &str,
        f: impl FnMut(&str, &'a V) -> ControlFlow<()>,
    ) {
        self.for_each_match_after(filter, None, f);
    }

    /// Like [`Self::for_each_match`], starting after topic `after`.
    pub fn for_each_match_after<'a>(
        &'a self,
        filter: &str,
        after: Option<&str>,
        mut f: impl FnMut(&str, &'a V) -> ControlFlow<()>,
    ) {
        for (topic, value) in &self.entries {
            if after.is_some_and(|a| topic.as_str() <= a) || !matches_filter(filter, topic) {
                continue;
            }
            if f(topic, value).is_break() {
                return;
            }
        }
    }
}
