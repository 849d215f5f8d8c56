//! [`TopicTree`]: values keyed by topic filter, found by the topic names they match.

use std::collections::HashMap;
use std::fmt;
use std::mem::{size_of, take};

use foldhash::fast::RandomState;
use smallvec::SmallVec;

use super::label::Label;
use super::slab::{NONE, Slab};

/// Up to this many labelled children sit in a sorted slice that lookups scan; more move into
/// a hash map. Scanning 8 children costs about what one hash probe does.
const SMALL_MAX: usize = 8;

/// A wide node whose labelled children fall to this many moves them back to a slice.
const SHRINK_AT: usize = SMALL_MAX / 2;

/// Labelled children of a wide node, hashed with a per-process random seed.
type Wide = HashMap<Label, Body, RandomState>;

/// One level of a filter, without its label (which its parent keeps).
///
/// A child's body sits inside its parent's child slice or map, so a matching walk reaches a
/// child's label, value slots and grandchildren in one memory access per level.
pub(super) struct Body {
    /// The slot in the value slab of the filter ending at this level, or [`NONE`].
    value: u32,
    /// The slot of the filter `<this level>/#`: `#` ends a filter, so it needs no node.
    hash: u32,
    /// The labelled children, sorted by label, while there are at most [`SMALL_MAX`] (and no
    /// wide map).
    children: Box<[Node]>,
    /// The `+` child and the wide map, which few nodes have.
    extra: Option<Box<Extra>>,
}

/// A labelled child.
struct Node {
    label: Label,
    body: Body,
}

/// The rarer parts of a node, kept out of line so that common nodes stay at 56 bytes.
#[derive(Default)]
struct Extra {
    /// The child for a `+` level.
    plus: Option<Body>,
    /// The labelled children, once there are more than [`SMALL_MAX`].
    wide: Option<Wide>,
}

impl Default for Body {
    fn default() -> Self {
        Self {
            value: NONE,
            hash: NONE,
            children: Box::default(),
            extra: None,
        }
    }
}

/// One step down from a node.
#[derive(Clone, Copy)]
enum Step<'a> {
    /// Through the child with this label.
    Label(&'a str),
    /// Through the `+` child.
    Plus,
}

impl<'a> Step<'a> {
    fn of(level: &'a str) -> Self {
        if level == "+" {
            Self::Plus
        } else {
            Self::Label(level)
        }
    }
}

/// The steps from the root to where a filter's value lives, and whether it lives in that
/// node's `hash` slot (a final `#`) rather than its `value` slot.
fn parse(filter: &str) -> (impl Iterator<Item = Step<'_>> + Clone, bool) {
    let (path, hash) = match filter.strip_suffix('#') {
        Some("") => (None, true),
        Some(path) => match path.strip_suffix('/') {
            Some(path) => (Some(path), true),
            None => (Some(filter), false),
        },
        None => (Some(filter), false),
    };
    let steps = path
        .into_iter()
        .flat_map(|path| path.split('/'))
        .map(Step::of);
    (steps, hash)
}

impl Body {
    fn plus(&self) -> Option<&Body> {
        self.extra.as_ref()?.plus.as_ref()
    }

    fn wide(&self) -> Option<&Wide> {
        self.extra.as_ref()?.wide.as_ref()
    }

    /// The child behind the level `label`.
    #[inline]
    fn child(&self, label: &[u8]) -> Option<&Body> {
        if let Some(wide) = self.wide() {
            return wide.get(label);
        }
        self.children
            .iter()
            .find(|node| node.label.bytes() == label)
            .map(|node| &node.body)
    }

    fn step(&self, step: Step<'_>) -> Option<&Body> {
        match step {
            Step::Label(label) => self.child(label.as_bytes()),
            Step::Plus => self.plus(),
        }
    }

    fn step_mut(&mut self, step: Step<'_>) -> Option<&mut Body> {
        let extra = self.extra.as_deref_mut();
        match step {
            Step::Plus => extra?.plus.as_mut(),
            Step::Label(label) => match extra {
                Some(Extra {
                    wide: Some(wide), ..
                }) => wide.get_mut(label.as_bytes()),
                _ => self
                    .children
                    .iter_mut()
                    .find(|node| node.label.bytes() == label.as_bytes())
                    .map(|node| &mut node.body),
            },
        }
    }

    /// The child reached by `step`, created if missing; and whether it was.
    fn step_or_insert(&mut self, step: Step<'_>) -> (&mut Body, bool) {
        let label = match step {
            Step::Label(label) => label,
            Step::Plus => {
                let plus = &mut self.extra.get_or_insert_with(Box::default).plus;
                let created = plus.is_none();
                return (plus.get_or_insert_with(Body::default), created);
            }
        };
        if self.wide().is_some() {
            return self.wide_or_insert(label);
        }
        let at = self
            .children
            .partition_point(|node| node.label.bytes() < label.as_bytes());
        if self
            .children
            .get(at)
            .is_some_and(|node| node.label.bytes() == label.as_bytes())
        {
            return (&mut self.children[at].body, false);
        }
        if self.children.len() < SMALL_MAX {
            let mut old = take(&mut self.children).into_vec().into_iter();
            let mut children = Vec::with_capacity(old.len() + 1);
            children.extend(old.by_ref().take(at));
            children.push(Node {
                label: Label::new(label),
                body: Body::default(),
            });
            children.extend(old);
            self.children = children.into_boxed_slice();
            return (&mut self.children[at].body, true);
        }
        let mut wide = Wide::default();
        wide.extend(
            take(&mut self.children)
                .into_vec()
                .into_iter()
                .map(|n| (n.label, n.body)),
        );
        self.extra.get_or_insert_with(Box::default).wide = Some(wide);
        self.wide_or_insert(label)
    }

    /// The child labelled `label` in the wide map, created (with the map) if missing.
    fn wide_or_insert(&mut self, label: &str) -> (&mut Body, bool) {
        let extra = self.extra.get_or_insert_with(Box::default);
        let wide = extra.wide.get_or_insert_with(Wide::default);
        let created = !wide.contains_key(label.as_bytes());
        (wide.entry(Label::new(label)).or_default(), created)
    }

    /// Unlinks and returns the child reached by `step`.
    fn detach(&mut self, step: Step<'_>) -> Option<Body> {
        let label = match step {
            Step::Label(label) => label.as_bytes(),
            Step::Plus => {
                let plus = self.extra.as_mut()?.plus.take();
                self.drop_empty_extra();
                return plus;
            }
        };
        if let Some(Extra {
            wide: Some(wide), ..
        }) = self.extra.as_deref_mut()
        {
            let child = wide.remove(label);
            if wide.len() <= SHRINK_AT {
                let mut children: Vec<Node> = wide
                    .drain()
                    .map(|(label, body)| Node { label, body })
                    .collect();
                children.sort_unstable_by(|a, b| a.label.bytes().cmp(b.label.bytes()));
                self.children = children.into_boxed_slice();
                if let Some(extra) = self.extra.as_mut() {
                    extra.wide = None;
                }
                self.drop_empty_extra();
            } else if wide.len() < wide.capacity() / 4 {
                wide.shrink_to_fit();
            }
            return child;
        }
        let at = self
            .children
            .iter()
            .position(|node| node.label.bytes() == label)?;
        let mut children = take(&mut self.children).into_vec();
        let node = children.remove(at);
        self.children = children.into_boxed_slice();
        Some(node.body)
    }

    fn drop_empty_extra(&mut self) {
        if self
            .extra
            .as_ref()
            .is_some_and(|e| e.plus.is_none() && e.wide.is_none())
        {
            self.extra = None;
        }
    }

    /// Whether this node holds anything besides the child reached by `step`.
    fn has_more_than(&self, step: Step<'_>) -> bool {
        let labelled = self.wide().map_or(self.children.len(), HashMap::len);
        let others = match step {
            Step::Label(_) => labelled > 1 || self.plus().is_some(),
            Step::Plus => labelled > 0,
        };
        self.value != NONE || self.hash != NONE || others
    }

    /// Whether this node has no children at all.
    fn is_leaf(&self) -> bool {
        self.children.is_empty() && self.extra.is_none()
    }

    /// Moves every child of this node onto `stack`.
    fn take_children(&mut self, stack: &mut Vec<Body>) {
        stack.extend(
            take(&mut self.children)
                .into_vec()
                .into_iter()
                .map(|node| node.body),
        );
        if let Some(extra) = self.extra.take() {
            let Extra { plus, wide } = *extra;
            stack.extend(plus);
            stack.extend(wide.into_iter().flat_map(|wide| wide.into_values()));
        }
    }

    /// Calls `f` with every value slot of this node and all below it.
    fn for_each_slot_mut(&mut self, f: &mut dyn FnMut(&mut u32)) {
        let mut stack = vec![self];
        while let Some(body) = stack.pop() {
            f(&mut body.value);
            f(&mut body.hash);
            stack.extend(body.children.iter_mut().map(|node| &mut node.body));
            if let Some(extra) = body.extra.as_deref_mut() {
                stack.extend(extra.plus.as_mut());
                stack.extend(extra.wide.iter_mut().flat_map(|wide| wide.values_mut()));
            }
        }
    }

    /// Calls `f` with each child, `+` as the label of the plus child.
    fn for_each_child<'a>(&'a self, mut f: impl FnMut(&'a str, &'a Body)) {
        if let Some(plus) = self.plus() {
            f("+", plus);
        }
        match self.wide() {
            Some(wide) => wide
                .iter()
                .for_each(|(label, body)| f(label.as_str(), body)),
            None => self
                .children
                .iter()
                .for_each(|node| f(node.label.as_str(), &node.body)),
        }
    }

    /// Bytes owned on the heap by this node alone (not its children's own allocations).
    fn heap_bytes(&self) -> usize {
        let labels: usize = self
            .children
            .iter()
            .map(|node| node.label.heap_bytes())
            .sum();
        let mut bytes = self.children.len() * size_of::<Node>() + labels;
        if let Some(extra) = &self.extra {
            bytes += size_of::<Extra>();
            if let Some(wide) = &extra.wide {
                // The table keeps one control byte per bucket and fills 7/8 of its buckets.
                let buckets = (wide.capacity() * 8 / 7).next_power_of_two();
                let labels: usize = wide.keys().map(Label::heap_bytes).sum();
                bytes += buckets * (size_of::<(Label, Body)>() + 1) + labels;
            }
        }
        bytes
    }
}

/// Dropping frees children through a work list: a recursive drop of a filter with thousands of
/// levels would overflow the stack.
impl Drop for Body {
    fn drop(&mut self) {
        if self.is_leaf() {
            return;
        }
        let mut stack = Vec::new();
        self.take_children(&mut stack);
        while let Some(mut body) = stack.pop() {
            body.take_children(&mut stack);
        }
    }
}

/// Topic-name bytes left to match: the offset of the next level, or [`DONE`].
type Pos = usize;

/// The topic has no levels left.
const DONE: Pos = usize::MAX;

/// The level of `topic` starting at byte `pos`, and where the next one starts.
#[inline]
fn split_level(topic: &str, pos: Pos) -> (&[u8], Pos) {
    let rest = topic.as_bytes().get(pos..).unwrap_or_default();
    // Levels are short: a plain loop beats a vectorised search's setup.
    match rest.iter().position(|&b| b == b'/') {
        Some(slash) => (&rest[..slash], pos + slash + 1),
        None => (rest, DONE),
    }
}

/// Work items a match keeps without allocating: one per `+` branch still pending, which is at
/// most the depth of the deepest stored filter.
type WorkList<'a> = SmallVec<[(&'a Body, Pos); 16]>;

/// A map from topic filters to values, queried by topic name: the subscription index.
///
/// Filters are expected to be valid ([`gridmq_codec::TopicFilter`] checks them): `+` is a
/// wildcard wherever it fills a level and `#` when it fills the last one. A `#` anywhere else
/// is stored as a plain level, which no valid topic name can match.
///
/// ```
/// use gridmq_engine::topic_tree::TopicTree;
///
/// let mut subscriptions: TopicTree<Vec<&str>> = TopicTree::new();
/// subscriptions.get_or_insert_with("fleet/+/alerts/#", Vec::new).push("ops");
/// subscriptions.get_or_insert_with("fleet/v7/alerts", Vec::new).push("driver");
/// subscriptions.get_or_insert_with("#", Vec::new).push("audit");
///
/// let mut sessions: Vec<&str> = Vec::new();
/// subscriptions.for_each_match("fleet/v7/alerts", |s| sessions.extend(s));
/// sessions.sort();
/// assert_eq!(sessions, ["audit", "driver", "ops"]);
///
/// // `#` and `+` at the start do not match `$` topics.
/// let mut count = 0;
/// subscriptions.for_each_match("$SYS/load", |_| count += 1);
/// assert_eq!(count, 0);
///
/// assert_eq!(subscriptions.remove("fleet/v7/alerts"), Some(vec!["driver"]));
/// ```
pub struct TopicTree<V> {
    root: Body,
    values: Slab<V>,
    /// The number of nodes besides the root.
    nodes: usize,
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
            root: Body::default(),
            values: Slab::new(),
            nodes: 0,
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
        self.nodes
    }

    /// Bytes the tree owns on the heap, excluding what the values themselves own; an estimate
    /// from capacities, for metrics. Walks the whole tree.
    pub fn heap_bytes(&self) -> usize {
        let mut bytes = self.values.heap_bytes();
        let mut stack = vec![&self.root];
        while let Some(body) = stack.pop() {
            bytes += body.heap_bytes();
            body.for_each_child(|_, child| stack.push(child));
        }
        bytes
    }

    /// The value stored for exactly `filter`.
    pub fn get(&self, filter: &str) -> Option<&V> {
        let (mut steps, hash) = parse(filter);
        let body = steps.try_fold(&self.root, |body, step| body.step(step))?;
        self.values.get(if hash { body.hash } else { body.value })
    }

    /// The value stored for exactly `filter`, mutably.
    pub fn get_mut(&mut self, filter: &str) -> Option<&mut V> {
        let (mut steps, hash) = parse(filter);
        let body = steps.try_fold(&mut self.root, |body, step| body.step_mut(step))?;
        self.values
            .get_mut(if hash { body.hash } else { body.value })
    }

    /// The value stored for `filter`, made by `make` and stored first if there is none.
    ///
    /// # Panics
    /// When the tree already holds about 4 billion values (slots are 32 bits).
    pub fn get_or_insert_with(&mut self, filter: &str, make: impl FnOnce() -> V) -> &mut V {
        let (steps, hash) = parse(filter);
        let mut body = &mut self.root;
        for step in steps {
            let (child, created) = body.step_or_insert(step);
            self.nodes += usize::from(created);
            body = child;
        }
        let slot = if hash {
            &mut body.hash
        } else {
            &mut body.value
        };
        self.values.get_or_insert_with(slot, make)
    }

    /// Removes `filter` and returns its value, freeing the nodes that no longer lead anywhere.
    pub fn remove(&mut self, filter: &str) -> Option<V> {
        let (steps, hash) = parse(filter);
        // The depth of the deepest node above the value that must stay: everything below it
        // on the way to the value exists only for this filter.
        let mut cut = 0;
        let mut depth = 0;
        let mut body = &self.root;
        for step in steps.clone() {
            let child = body.step(step)?;
            if body.has_more_than(step) {
                cut = depth;
            }
            body = child;
            depth += 1;
        }
        let (mut slot, other) = if hash {
            (body.hash, body.value)
        } else {
            (body.value, body.hash)
        };
        let value = self.values.take(&mut slot)?;
        let prune = depth > 0 && other == NONE && body.is_leaf();
        if prune {
            let parent = steps
                .clone()
                .take(cut)
                .try_fold(&mut self.root, |body, step| body.step_mut(step));
            if let (Some(parent), Some(step)) = (parent, steps.clone().nth(cut)) {
                parent.detach(step);
                self.nodes -= depth - cut;
            }
        } else if let Some(body) = steps
            .clone()
            .try_fold(&mut self.root, |body, step| body.step_mut(step))
        {
            *(if hash {
                &mut body.hash
            } else {
                &mut body.value
            }) = NONE;
        }
        if self.values.is_sparse() {
            self.values
                .compact(|visit| self.root.for_each_slot_mut(visit));
        }
        Some(value)
    }

    /// Calls `f` with the value of every filter that matches `topic` (MQTT 5.0 section 4.7).
    ///
    /// One walk down the tree that follows the topic's level, the `+` child and the `#` slot
    /// of each node it reaches; it allocates nothing unless stored filters nest `+` levels
    /// deeper than the work list's inline capacity. The order of the calls is unspecified.
    pub fn for_each_match<'a>(&'a self, topic: &str, mut f: impl FnMut(&'a V)) {
        let mut work = WorkList::new();
        let root = &self.root;
        let (level, after) = split_level(topic, 0);
        // [MQTT-4.7.2-1] Filters starting with a wildcard do not match topics starting with `$`.
        if !topic.starts_with('$') {
            self.emit(root.hash, &mut f);
            if let Some(plus) = root.plus() {
                work.push((plus, after));
            }
        }
        let mut next = root.child(level).map(|child| (child, after));
        while let Some((body, pos)) = next.take().or_else(|| work.pop()) {
            if pos == DONE {
                self.emit(body.value, &mut f);
                // [MQTT-4.7.1-2] `#` also matches the level before it.
                self.emit(body.hash, &mut f);
                continue;
            }
            let (level, after) = split_level(topic, pos);
            self.emit(body.hash, &mut f);
            if let Some(plus) = body.plus() {
                work.push((plus, after));
            }
            next = body.child(level).map(|child| (child, after));
        }
    }

    /// Calls `f` with every filter and its value, in no particular order (for snapshots).
    pub fn for_each_filter<'a>(&'a self, mut f: impl FnMut(&str, &'a V)) {
        let mut filter = String::new();
        // (node, length of its parent's filter, the level leading to it)
        let mut stack: Vec<(&Body, usize, &str)> = Vec::new();
        self.visit(&self.root, &mut filter, &mut f);
        self.root
            .for_each_child(|level, child| stack.push((child, NO_PARENT, level)));
        while let Some((body, parent_len, level)) = stack.pop() {
            push_level(&mut filter, parent_len, level);
            self.visit(body, &mut filter, &mut f);
            let len = filter.len();
            body.for_each_child(|level, child| stack.push((child, len, level)));
        }
    }

    /// Calls `f` with the filters ending at `body`, whose filter is in `filter`.
    fn visit<'a>(&'a self, body: &Body, filter: &mut String, f: &mut impl FnMut(&str, &'a V)) {
        let len = filter.len();
        let root = std::ptr::eq(body, &self.root);
        if let Some(value) = self.values.get(body.value) {
            f(filter, value);
        }
        if let Some(value) = self.values.get(body.hash) {
            push_level(filter, if root { NO_PARENT } else { len }, "#");
            f(filter, value);
            filter.truncate(len);
        }
    }

    #[inline]
    fn emit<'a>(&'a self, slot: u32, f: &mut impl FnMut(&'a V)) {
        if let Some(value) = self.values.get(slot) {
            f(value);
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_nodes_are_56_bytes() {
        assert_eq!(size_of::<Body>(), 32);
        assert_eq!(size_of::<Node>(), 56);
    }
}
