//! [`TopicTree`]: values keyed by topic filter, found by the topic names they match.

use std::collections::HashSet;
use std::fmt;

use foldhash::fast::RandomState;
use smallvec::SmallVec;

use super::edge::{ChildMap, Edge};
use super::trie::{Extra, NONE, ROOT, Slab, Trie};

/// The wildcard parts of a filter-tree node.
pub(super) struct Wild {
    /// The value slot of the filter `<this node>/#`: `#` ends a filter, so it needs no node.
    hash: u32,
    /// The child for a `+` level, kept apart so matching finds it without a lookup.
    plus: u32,
}

impl Default for Wild {
    fn default() -> Self {
        Self {
            hash: NONE,
            plus: NONE,
        }
    }
}

impl Extra for Wild {
    fn unlabelled_child(&self) -> Option<u32> {
        (self.plus != NONE).then_some(self.plus)
    }

    fn is_bare(&self) -> bool {
        self.hash == NONE && self.plus == NONE
    }
}

/// Wide nodes hash their children with a per-process random seed.
type HashMap = HashSet<Edge, RandomState>;

/// Where a filter's value lives.
#[derive(Clone, Copy)]
enum Spot {
    /// In the node the filter's last level leads to.
    Value(u32),
    /// In the `hash` slot of the node before a final `#`.
    Hash(u32),
}

/// One step down from a node.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// Through the edge with this label.
    Label(&'a str),
    /// Through the `+` child.
    Plus,
}

/// Topic-name bytes left to match: the offset of the next level, or [`DONE`].
type Pos = usize;

/// The topic has no levels left.
const DONE: Pos = usize::MAX;

/// Work items a match keeps without allocating: one per `+` branch still pending, which is at
/// most the depth of the deepest stored filter.
type WorkList = SmallVec<[(u32, Pos); 16]>;

/// A map from topic filters to values, queried by topic name: the subscription index.
///
/// Filters are expected to be valid ([`gridmq_codec::TopicFilter`] checks them): `+` is a
/// wildcard wherever it fills a level and `#` when it fills the last one. A `#` anywhere else
/// is stored as a plain level, which no valid topic name can match.
pub struct TopicTree<V> {
    trie: Trie<Wild, HashMap>,
    values: Slab<V>,
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
            trie: Trie::new(),
            values: Slab::new(),
        }
    }

    /// The number of filters holding a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no filter holds a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of nodes besides the root; 0 once every filter is removed.
    pub fn node_count(&self) -> usize {
        self.trie.node_count()
    }

    /// Bytes the tree owns on the heap, excluding what the values themselves own; an estimate
    /// from capacities, for metrics.
    pub fn heap_bytes(&self) -> usize {
        self.trie.heap_bytes() + self.values.heap_bytes()
    }

    /// The value stored for exactly `filter`.
    pub fn get(&self, filter: &str) -> Option<&V> {
        let slot = self.slot(self.locate(filter)?);
        self.values.get(slot)
    }

    /// The value stored for exactly `filter`, mutably.
    pub fn get_mut(&mut self, filter: &str) -> Option<&mut V> {
        let slot = self.slot(self.locate(filter)?);
        self.values.get_mut(slot)
    }

    /// The value stored for `filter`, made by `make` and stored first if there is none.
    ///
    /// # Panics
    /// When the tree already holds about 4 billion levels or values (ids are 32 bits).
    pub fn get_or_insert_with(&mut self, filter: &str, make: impl FnOnce() -> V) -> &mut V {
        let mut node = ROOT;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            let last = levels.peek().is_none();
            if last && level == "#" {
                let slot = &mut self.trie.node_mut(node).extra.hash;
                return self.values.get_or_insert_with(slot, make);
            }
            node = if level == "+" {
                self.plus_or_insert(node)
            } else {
                self.trie.child_or_insert(node, level)
            };
        }
        let slot = &mut self.trie.node_mut(node).value;
        self.values.get_or_insert_with(slot, make)
    }

    /// Removes `filter` and returns its value, freeing the nodes that no longer lead anywhere.
    pub fn remove(&mut self, filter: &str) -> Option<V> {
        // The deepest node above the value that must stay, and the step from it toward the
        // value: everything below that step is a chain that exists only for this filter.
        let mut cut: Option<(u32, Step<'_>)> = None;
        let mut node = ROOT;
        let mut levels = filter.split('/').peekable();
        let spot = loop {
            let level = levels.next()?;
            let last = levels.peek().is_none();
            if last && level == "#" {
                break Spot::Hash(node);
            }
            let step = if level == "+" {
                Step::Plus
            } else {
                Step::Label(level)
            };
            let child = self.step(node, step)?;
            if node == ROOT || self.has_more_than(node, step) {
                cut = Some((node, step));
            }
            node = child;
            if last {
                break Spot::Value(node);
            }
        };
        let value = match spot {
            Spot::Value(id) => self.values.take(&mut self.trie.node_mut(id).value),
            Spot::Hash(id) => self.values.take(&mut self.trie.node_mut(id).extra.hash),
        }?;
        if let Some((parent, step)) = cut {
            if self.trie.is_bare(node) {
                self.detach(parent, step);
            }
        }
        self.trie.reset_if_bare();
        Some(value)
    }

    /// Calls `f` with the value of every filter that matches `topic` (MQTT 5.0 section 4.7).
    ///
    /// One walk down the tree that follows the topic's level, the `+` child and the `#` slot
    /// of each node it reaches; it allocates nothing unless stored filters nest `+` levels
    /// deeper than the work list's inline capacity. The order of the calls is unspecified.
    pub fn for_each_match<'a>(&'a self, topic: &str, mut f: impl FnMut(&'a V)) {
        // [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with `$`.
        let system = topic.starts_with('$');
        let mut work = WorkList::new();
        let mut next = Some((ROOT, 0));
        while let Some((id, pos)) = next.take().or_else(|| work.pop()) {
            let node = self.trie.node(id);
            if pos == DONE {
                self.emit(node.value, &mut f);
                // [MQTT-4.7.1-2] `#` also matches the level before it.
                self.emit(node.extra.hash, &mut f);
                continue;
            }
            let rest = &topic[pos..];
            let (level, after) = match rest.find('/') {
                Some(slash) => (&rest[..slash], pos + slash + 1),
                None => (rest, DONE),
            };
            if !(system && id == ROOT) {
                self.emit(node.extra.hash, &mut f);
                if node.extra.plus != NONE {
                    work.push((node.extra.plus, after));
                }
            }
            next = self
                .trie
                .child(id, level.as_bytes())
                .map(|child| (child, after));
        }
    }

    /// Calls `f` with every filter and its value, in no particular order (for snapshots).
    pub fn for_each_filter<'a>(&'a self, mut f: impl FnMut(&str, &'a V)) {
        let mut filter = String::new();
        // (node, length of its parent's filter, the level leading to it); the root's children
        // start the filter, the others follow a `/`.
        let mut stack: Vec<(u32, usize, &str)> = vec![(ROOT, 0, "")];
        while let Some((id, parent_len, level)) = stack.pop() {
            let node = self.trie.node(id);
            if id != ROOT {
                push_level(&mut filter, parent_len, level);
                if let Some(value) = self.values.get(node.value) {
                    f(&filter, value);
                }
            }
            let len = filter.len();
            // Children of the root have no parent level to separate from.
            let children_at = if id == ROOT { NO_PARENT } else { len };
            if let Some(value) = self.values.get(node.extra.hash) {
                push_level(&mut filter, children_at, "#");
                f(&filter, value);
                filter.truncate(len);
            }
            if node.extra.plus != NONE {
                stack.push((node.extra.plus, children_at, "+"));
            }
            let child = |edge| edge_entry(edge, children_at);
            match self.trie.big_map(id) {
                Some(map) => stack.extend(map.edges().map(child)),
                None => stack.extend(self.trie.small_edges(id).iter().map(child)),
            }
        }
    }

    fn emit<'a>(&'a self, slot: u32, f: &mut impl FnMut(&'a V)) {
        if let Some(value) = self.values.get(slot) {
            f(value);
        }
    }

    /// Where the value of `filter` lives, if its nodes exist.
    fn locate(&self, filter: &str) -> Option<Spot> {
        let mut node = ROOT;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level == "#" && levels.peek().is_none() {
                return Some(Spot::Hash(node));
            }
            let step = if level == "+" {
                Step::Plus
            } else {
                Step::Label(level)
            };
            node = self.step(node, step)?;
        }
        Some(Spot::Value(node))
    }

    fn slot(&self, spot: Spot) -> u32 {
        match spot {
            Spot::Value(id) => self.trie.node(id).value,
            Spot::Hash(id) => self.trie.node(id).extra.hash,
        }
    }

    fn step(&self, id: u32, step: Step<'_>) -> Option<u32> {
        match step {
            Step::Label(label) => self.trie.child(id, label.as_bytes()),
            Step::Plus => Some(self.trie.node(id).extra.plus).filter(|&plus| plus != NONE),
        }
    }

    fn plus_or_insert(&mut self, id: u32) -> u32 {
        let plus = self.trie.node(id).extra.plus;
        if plus != NONE {
            return plus;
        }
        let child = self.trie.alloc();
        self.trie.node_mut(id).extra.plus = child;
        child
    }

    /// Whether `id` holds anything besides the child reached by `step`.
    fn has_more_than(&self, id: u32, step: Step<'_>) -> bool {
        let node = self.trie.node(id);
        let labelled = self.trie.edge_count(id);
        let other_children = match step {
            Step::Label(_) => labelled > 1 || node.extra.plus != NONE,
            Step::Plus => labelled > 0,
        };
        node.value != NONE || node.extra.hash != NONE || other_children
    }

    /// Unlinks the child of `id` reached by `step` and frees it with everything below.
    fn detach(&mut self, id: u32, step: Step<'_>) {
        let child = match step {
            Step::Label(label) => self.trie.remove_edge(id, label.as_bytes()),
            Step::Plus => {
                let plus = &mut self.trie.node_mut(id).extra.plus;
                Some(std::mem::replace(plus, NONE)).filter(|&plus| plus != NONE)
            }
        };
        if let Some(child) = child {
            self.trie.free_subtree(child);
        }
    }
}

/// A work item of [`TopicTree::for_each_filter`] for the child behind `edge`.
fn edge_entry(edge: &Edge, parent_len: usize) -> (u32, usize, &str) {
    (edge.child(), parent_len, edge.label_str())
}

/// The parent length given to children of the root, which write no `/` before their level.
const NO_PARENT: usize = usize::MAX;

/// Truncates `filter` to its parent's `parent_len` bytes and appends `/` and `level`, or
/// replaces it with `level` alone for a child of the root.
fn push_level(filter: &mut String, parent_len: usize, level: &str) {
    if parent_len == NO_PARENT {
        filter.clear();
    } else {
        filter.truncate(parent_len);
        filter.push('/');
    }
    filter.push_str(level);
}

impl<V: fmt::Debug> fmt::Debug for TopicTree<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut entries = Vec::new();
        self.for_each_filter(|filter, value| entries.push((filter.to_owned(), value)));
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        f.debug_map().entries(entries).finish()
    }
}
