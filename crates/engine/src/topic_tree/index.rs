//! [`TopicIndex`]: values keyed by topic name, found by the filters that match them.

use std::cmp::Ordering;
use std::collections::btree_set;
use std::fmt;
use std::ops::{Bound, ControlFlow};
use std::slice;

use super::edge::Edge;
use super::slab::Slab;
use super::trie::{NONE, ROOT, Trie};

/// A map from topic names to values, queried by topic filter: the retained-message store.
///
/// Queries visit topics in *level order*: topics compare level by level, each level by its
/// bytes, so `a` < `a/b` < `a-b` (whereas plain string order puts `a-b` first). The order is
/// stable, which lets a listing resume after the last topic it returned
/// ([`TopicIndex::for_each_match_after`]).
///
/// Topic names are expected to be valid ([`gridmq_codec::TopicName`] checks them); a `+` or
/// `#` in one is stored as a plain level.
///
/// ```
/// use std::ops::ControlFlow;
/// use gridmq_engine::topic_tree::TopicIndex;
///
/// let mut retained = TopicIndex::new();
/// for topic in ["fleet/v1/status", "fleet/v2/status", "fleet/v3/status", "$SYS/uptime"] {
///     retained.insert(topic, topic.len());
/// }
/// // Pages of two, each resuming after the last topic of the one before.
/// let mut pages = Vec::new();
/// let mut token: Option<String> = None;
/// loop {
///     let mut page = Vec::new();
///     let _ = retained.for_each_match_after("#", token.as_deref(), |topic, _| {
///         page.push(topic.to_owned());
///         if page.len() == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
///     });
///     let Some(last) = page.last() else { break };
///     token = Some(last.clone());
///     pages.push(page);
/// }
/// assert_eq!(pages, [vec!["fleet/v1/status", "fleet/v2/status"], vec!["fleet/v3/status"]]);
/// ```
pub struct TopicIndex<V> {
    trie: Trie,
    values: Slab<V>,
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
            trie: Trie::new(),
            values: Slab::new(),
        }
    }

    /// The number of topics holding a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no topic holds a value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of nodes besides the root; 0 once every topic is removed.
    pub fn node_count(&self) -> usize {
        self.trie.node_count()
    }

    /// Bytes the index owns on the heap, excluding what the values themselves own; an
    /// estimate from capacities, for metrics.
    pub fn heap_bytes(&self) -> usize {
        self.trie.heap_bytes() + self.values.heap_bytes()
    }

    /// Stores `value` under `topic` and returns the value it replaces.
    ///
    /// # Panics
    /// When the index already holds about 4 billion levels or values (ids are 32 bits).
    pub fn insert(&mut self, topic: &str, value: V) -> Option<V> {
        let mut node = ROOT;
        for level in topic.split('/') {
            node = self.trie.child_or_insert(node, level);
        }
        self.values
            .replace(&mut self.trie.node_mut(node).value, value)
    }

    /// The value stored under `topic`.
    pub fn get(&self, topic: &str) -> Option<&V> {
        let node = self.locate(topic)?;
        self.values.get(self.trie.node(node).value)
    }

    /// The value stored under `topic`, mutably.
    pub fn get_mut(&mut self, topic: &str) -> Option<&mut V> {
        let node = self.locate(topic)?;
        self.values.get_mut(self.trie.node(node).value)
    }

    /// Removes `topic` and returns its value, freeing the nodes that no longer lead anywhere.
    pub fn remove(&mut self, topic: &str) -> Option<V> {
        // The deepest node above the value that must stay, and the level below it that leads
        // only to this topic.
        let mut cut = (ROOT, "");
        let mut node = ROOT;
        for level in topic.split('/') {
            let child = self.trie.child(node, level.as_bytes())?;
            let shared = self.trie.node(node).value != NONE || self.trie.edge_count(node) > 1;
            if node == ROOT || shared {
                cut = (node, level);
            }
            node = child;
        }
        let value = self.values.take(&mut self.trie.node_mut(node).value)?;
        if self.trie.is_bare(node) {
            let (parent, level) = cut;
            if let Some(child) = self.trie.remove_edge(parent, level.as_bytes()) {
                self.trie.free_subtree(child);
            }
        }
        self.trie.reset_if_bare();
        self.trie.compact_if_sparse();
        if self.values.is_sparse() {
            self.values
                .compact(|visit| self.trie.for_each_slot_mut(visit));
        }
        Some(value)
    }

    /// Calls `f` with every stored topic that `filter` matches (MQTT 5.0 section 4.7) and its
    /// value, in level order, until `f` breaks; returns whether it did.
    pub fn for_each_match<'a>(
        &'a self,
        filter: &str,
        f: impl FnMut(&str, &'a V) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        self.for_each_match_after(filter, None, f)
    }

    /// Like [`for_each_match`](Self::for_each_match), but skips every topic up to and
    /// including `after` in level order: pass the last topic of one page to get the next.
    /// `after` need not be stored, nor match the filter.
    pub fn for_each_match_after<'a>(
        &'a self,
        filter: &str,
        after: Option<&str>,
        f: impl FnMut(&str, &'a V) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        Walk::new(self, filter, after, f).run()
    }

    /// Calls `f` with every stored topic, `$` topics included, and its value, in level order,
    /// until `f` breaks (for snapshots).
    pub fn for_each<'a>(
        &'a self,
        f: impl FnMut(&str, &'a V) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        let mut walk = Walk::new(self, "#", None, f);
        walk.system = true;
        walk.run()
    }

    /// The node of `topic`, if it exists.
    fn locate(&self, topic: &str) -> Option<u32> {
        topic
            .split('/')
            .try_fold(ROOT, |node, level| self.trie.child(node, level.as_bytes()))
    }

    /// The children of `id` in label order, starting at `from` if given.
    fn children(&self, id: u32, from: Option<&[u8]>) -> Children<'_> {
        match self.trie.big_map(id) {
            Some(map) => Children::Big(match from {
                Some(from) => map.range::<[u8], _>((Bound::Included(from), Bound::Unbounded)),
                None => map.range::<[u8], _>(..),
            }),
            None => {
                let edges = self.trie.small_edges(id);
                let start = from.map_or(0, |from| edges.partition_point(|e| e.label() < from));
                Children::Small(edges[start..].iter())
            }
        }
    }
}

/// The children of one node, in label order.
enum Children<'t> {
    Small(slice::Iter<'t, Edge>),
    Big(btree_set::Range<'t, Edge>),
}

impl<'t> Iterator for Children<'t> {
    type Item = &'t Edge;

    fn next(&mut self) -> Option<&'t Edge> {
        match self {
            Self::Small(edges) => edges.next(),
            Self::Big(edges) => edges.next(),
        }
    }
}

/// What the levels below a node have to match.
#[derive(Clone, Copy)]
enum Rest {
    /// The filter level starting at this byte offset, and those after it.
    Level(usize),
    /// Nothing: the filter is used up.
    End,
    /// Anything: the node sits under a `#`.
    Any,
}

/// How a node's topic relates to the topic a query resumes after.
#[derive(Clone, Copy)]
enum Resume {
    /// It and everything below it come later: visit them.
    Free,
    /// It is a prefix of, or equal to, the resume topic, so skip its value. The offset is that
    /// of the resume topic's next level, [`RESUME_END`] if there is none; children with a
    /// smaller label come earlier and are skipped.
    Along(usize),
}

/// The resume topic has no more levels: the node is the resume topic itself.
const RESUME_END: usize = usize::MAX;

/// A node whose children are being visited.
struct Frame<'t> {
    children: Children<'t>,
    /// What the children must match.
    rest: Rest,
    /// Where the node stands relative to the resume topic.
    resume: Resume,
    /// The length of the node's topic in the buffer.
    topic_len: usize,
    /// Whether the node is the root, whose children start the topic.
    root: bool,
}

/// One query over a [`TopicIndex`]: a depth-first walk in level order with an explicit stack,
/// building the current topic in one reused buffer.
struct Walk<'t, 'q, V, F> {
    index: &'t TopicIndex<V>,
    filter: &'q str,
    after: Option<&'q str>,
    /// Whether `+` and `#` in the first level also match `$` topics (for full listings).
    system: bool,
    topic: String,
    stack: Vec<Frame<'t>>,
    f: F,
}

impl<'t, 'q, V, F> Walk<'t, 'q, V, F>
where
    F: FnMut(&str, &'t V) -> ControlFlow<()>,
{
    fn new(index: &'t TopicIndex<V>, filter: &'q str, after: Option<&'q str>, f: F) -> Self {
        Self {
            index,
            filter,
            after,
            system: false,
            topic: String::new(),
            stack: Vec::new(),
            f,
        }
    }

    fn run(mut self) -> ControlFlow<()> {
        let resume = match self.after {
            Some(_) => Resume::Along(0),
            None => Resume::Free,
        };
        self.enter(ROOT, Rest::Level(0), resume)?;
        while let Some(frame) = self.stack.last_mut() {
            let Some(edge) = frame.children.next() else {
                self.stack.pop();
                continue;
            };
            let (rest, resume, topic_len, root) =
                (frame.rest, frame.resume, frame.topic_len, frame.root);
            // [MQTT-4.7.2-1] Wildcards in the first level do not match `$` topics.
            if root && !self.system && edge.label().first() == Some(&b'$') {
                continue;
            }
            let Some(resume) = self.resume_below(resume, edge.label()) else {
                continue;
            };
            self.push_level(topic_len, root, edge.label_str());
            self.enter(edge.child(), rest, resume)?;
        }
        ControlFlow::Continue(())
    }

    /// Visits node `id`, whose topic is in the buffer, given what the levels below it must
    /// match; follows plain filter levels straight down and leaves wildcards to the stack.
    fn enter(&mut self, mut id: u32, mut rest: Rest, mut resume: Resume) -> ControlFlow<()> {
        loop {
            let Rest::Level(pos) = rest else {
                self.emit(id, resume)?;
                if let Rest::Any = rest {
                    self.push_frame(id, Rest::Any, resume);
                }
                return ControlFlow::Continue(());
            };
            let (level, next) = split_level(self.filter, pos);
            let next = next.map_or(Rest::End, Rest::Level);
            match level {
                "#" => {
                    // [MQTT-4.7.1-2] `#` also matches the level before it.
                    self.emit(id, resume)?;
                    self.push_frame(id, Rest::Any, resume);
                    return ControlFlow::Continue(());
                }
                "+" => {
                    self.push_frame(id, next, resume);
                    return ControlFlow::Continue(());
                }
                _ => {
                    let Some(child) = self.index.trie.child(id, level.as_bytes()) else {
                        return ControlFlow::Continue(());
                    };
                    let Some(below) = self.resume_below(resume, level.as_bytes()) else {
                        return ControlFlow::Continue(());
                    };
                    self.push_level(self.topic.len(), id == ROOT, level);
                    (id, rest, resume) = (child, next, below);
                }
            }
        }
    }

    /// Calls `f` with the value of node `id`, if it has one that comes after the resume topic.
    fn emit(&mut self, id: u32, resume: Resume) -> ControlFlow<()> {
        let slot = self.index.trie.node(id).value;
        match (resume, self.index.values.get(slot)) {
            (Resume::Free, Some(value)) => (self.f)(&self.topic, value),
            _ => ControlFlow::Continue(()),
        }
    }

    /// Schedules the children of node `id`, skipping those before the resume topic.
    fn push_frame(&mut self, id: u32, rest: Rest, resume: Resume) {
        if self.index.trie.edge_count(id) == 0 {
            return;
        }
        let from = match (resume, self.after) {
            (Resume::Along(pos), Some(after)) if pos != RESUME_END => {
                Some(split_level(after, pos).0.as_bytes())
            }
            _ => None,
        };
        self.stack.push(Frame {
            children: self.index.children(id, from),
            rest,
            resume,
            topic_len: self.topic.len(),
            root: id == ROOT,
        });
    }

    /// Where a child labelled `label` stands relative to the resume topic, given where its
    /// parent stands; `None` if the child and everything below it come before it.
    fn resume_below(&self, parent: Resume, label: &[u8]) -> Option<Resume> {
        let (Resume::Along(pos), Some(after)) = (parent, self.after) else {
            return Some(Resume::Free);
        };
        if pos == RESUME_END {
            return Some(Resume::Free);
        }
        let (level, next) = split_level(after, pos);
        match label.cmp(level.as_bytes()) {
            Ordering::Less => None,
            Ordering::Equal => Some(Resume::Along(next.unwrap_or(RESUME_END))),
            Ordering::Greater => Some(Resume::Free),
        }
    }

    /// Makes the buffer hold the topic of a child labelled `label` whose parent's topic is
    /// the first `parent_len` bytes; children of the root start the topic.
    fn push_level(&mut self, parent_len: usize, root: bool, label: &str) {
        self.topic.truncate(parent_len);
        if !root {
            self.topic.push('/');
        }
        self.topic.push_str(label);
    }
}

/// The level of `s` starting at byte `pos`, and where the next one starts, if any.
fn split_level(s: &str, pos: usize) -> (&str, Option<usize>) {
    let rest = s.get(pos..).unwrap_or_default();
    match rest.find('/') {
        Some(slash) => (&rest[..slash], Some(pos + slash + 1)),
        None => (rest, None),
    }
}

impl<V: fmt::Debug> fmt::Debug for TopicIndex<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        let _ = self.for_each(|topic, value| {
            map.entry(&topic, value);
            ControlFlow::Continue(())
        });
        map.finish()
    }
}
