//! A set of topic filters compiled into a tree, answering "does any filter match this
//! topic?" and "does one filter cover every topic this filter matches?" in one walk,
//! without allocating.

/// A set of topic filters (the expanded templates of one permission).
///
/// Two sets holding the same filters are equal, whatever the insertion order: children
/// are kept sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TopicSet {
    root: Node,
    len: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Node {
    /// Literal next levels, sorted by text.
    literals: Vec<(Box<str>, Node)>,
    /// The `+` next level.
    plus: Option<Box<Node>>,
    /// A filter continues with `#` here.
    hash: bool,
    /// A filter ends here.
    end: bool,
}

/// Splits off the first level of a topic or filter.
fn split(levels: &str) -> (&str, Option<&str>) {
    match levels.find('/') {
        Some(i) => (&levels[..i], Some(&levels[i + 1..])),
        None => (levels, None),
    }
}

impl TopicSet {
    /// Adds a valid topic filter.
    pub(crate) fn insert(&mut self, filter: &str) {
        let mut node = &mut self.root;
        let mut rest = Some(filter);
        while let Some(levels) = rest {
            let (level, tail) = split(levels);
            rest = tail;
            node = match level {
                "#" => {
                    self.len += usize::from(!node.hash);
                    node.hash = true;
                    return;
                }
                "+" => node.plus.get_or_insert_with(Box::default),
                _ => node.literal_mut(level),
            };
        }
        self.len += usize::from(!node.end);
        node.end = true;
    }

    /// How many distinct filters the set holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether some filter matches the topic name (section 4.7, with the `$` rule).
    pub(crate) fn matches(&self, topic: &str) -> bool {
        let (level, tail) = split(topic);
        self.root.matches(level, tail, topic.starts_with('$'))
    }

    /// Whether one filter matches every topic that `filter` matches.
    pub(crate) fn covers(&self, filter: &str) -> bool {
        let (level, tail) = split(filter);
        self.root.covers(level, tail, true)
    }

    /// The filters in the set, in no particular order.
    pub(crate) fn filters(&self) -> Vec<String> {
        let mut out = Vec::with_capacity(self.len);
        self.root.collect(&mut String::new(), &mut out);
        out
    }

    /// Whether every filter of `other` is covered by one filter of this set: then this
    /// set allows at least what `other` allows (conservatively: filters of this set
    /// that only together cover one of `other`'s do not count).
    pub(crate) fn covers_set(&self, other: &TopicSet) -> bool {
        other.filters().iter().all(|f| self.covers(f))
    }
}

impl Node {
    fn literal_mut(&mut self, level: &str) -> &mut Node {
        let i = match self.literals.binary_search_by(|(k, _)| (**k).cmp(level)) {
            Ok(i) => i,
            Err(i) => {
                self.literals.insert(i, (level.into(), Node::default()));
                i
            }
        };
        &mut self.literals[i].1
    }

    fn literal(&self, level: &str) -> Option<&Node> {
        self.literals
            .binary_search_by(|(k, _)| (**k).cmp(level))
            .ok()
            .map(|i| &self.literals[i].1)
    }

    /// Appends the filters below this node to `out`; `prefix` is the path to it, with a
    /// trailing `/` unless it is the root.
    fn collect(&self, prefix: &mut String, out: &mut Vec<String>) {
        if self.end {
            out.push(prefix.strip_suffix('/').unwrap_or(prefix).to_owned());
        }
        if self.hash {
            out.push(format!("{prefix}#"));
        }
        let len = prefix.len();
        let children = self
            .literals
            .iter()
            .map(|(level, node)| (&**level, node))
            .chain(self.plus.as_deref().map(|node| ("+", node)));
        for (level, node) in children {
            prefix.push_str(level);
            prefix.push('/');
            node.collect(prefix, out);
            prefix.truncate(len);
        }
    }

    /// Whether a filter ends at this node, `#` included since it matches its parent level.
    fn accepts_end(&self) -> bool {
        self.end || self.hash
    }

    /// `level` is the next topic level, `tail` the levels after it; `system` is true only
    /// for the first level of a `$`-topic, which wildcards do not match [MQTT-4.7.2-1].
    fn matches(&self, level: &str, tail: Option<&str>, system: bool) -> bool {
        if self.hash && !system {
            return true;
        }
        let step = |child: &Node| match tail {
            None => child.accepts_end(),
            Some(rest) => {
                let (next, tail) = split(rest);
                child.matches(next, tail, false)
            }
        };
        if self.literal(level).is_some_and(step) {
            return true;
        }
        !system && self.plus.as_deref().is_some_and(step)
    }

    /// Whether a single filter below this node covers the filter levels `level`/`tail`.
    fn covers(&self, level: &str, tail: Option<&str>, first: bool) -> bool {
        // At the first level, a literal `$...` level only has `$`-topics, which wildcards
        // do not match; a wildcard level only has non-`$` topics.
        let wild_ok = !(first && level.starts_with('$'));
        if self.hash && wild_ok {
            return true;
        }
        let step = |child: &Node| match tail {
            None => child.accepts_end(),
            Some(rest) => {
                let (next, tail) = split(rest);
                child.covers(next, tail, false)
            }
        };
        match level {
            // `#` also matches the parent level, which only another `#` matches, except
            // at the first level: a topic has at least one level, so `+/#` covers `#`.
            "#" => first && self.plus.as_deref().is_some_and(|c| c.hash),
            "+" => self.plus.as_deref().is_some_and(step),
            _ => {
                self.literal(level).is_some_and(step)
                    || (wild_ok && self.plus.as_deref().is_some_and(step))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn set(filters: &[&str]) -> TopicSet {
        let mut s = TopicSet::default();
        for f in filters {
            s.insert(f);
        }
        s
    }

    #[test_case(&["a/b"], "a/b", true)]
    #[test_case(&["a/b"], "a/b/c", false)]
    #[test_case(&["a/+"], "a/b", true)]
    #[test_case(&["a/+"], "a", false)]
    #[test_case(&["a/+"], "a/", true; "plus matches an empty level")]
    #[test_case(&["a/#"], "a", true; "hash matches the parent")]
    #[test_case(&["a/#"], "a/b/c", true)]
    #[test_case(&["#"], "$SYS/x", false; "hash skips dollar topics")]
    #[test_case(&["+/x"], "$SYS/x", false; "plus skips dollar topics")]
    #[test_case(&["$SYS/#"], "$SYS/x", true)]
    #[test_case(&["a/+/c", "a/b/d"], "a/b/c", true; "backtracks from literal to plus")]
    #[test_case(&["x/+/#"], "x/y", true)]
    #[test_case(&[], "a", false)]
    fn matches(filters: &[&str], topic: &str, expected: bool) {
        assert_eq!(set(filters).matches(topic), expected);
    }

    #[test_case(&["vehicles/#"], "vehicles/+/position", true; "doc sample")]
    #[test_case(&["sample/#"], "sample/+", true; "doc sample 2")]
    #[test_case(&["machines/m1/telemetry"], "machines/+/telemetry", false)]
    #[test_case(&["a/#"], "a", true)]
    #[test_case(&["a/#"], "a/#", true)]
    #[test_case(&["a/+/#"], "a/#", false; "a/# also matches a")]
    #[test_case(&["a", "a/+/#"], "a/#", false; "no single filter covers")]
    #[test_case(&["a/+"], "a/#", false)]
    #[test_case(&["+"], "+", true)]
    #[test_case(&["+"], "$SYS", false)]
    #[test_case(&["#"], "$SYS/#", false)]
    #[test_case(&["#"], "+/#", true)]
    #[test_case(&["#"], "#", true)]
    #[test_case(&["+/#"], "#", true; "a topic has at least one level")]
    #[test_case(&["a/+/#"], "a/#", false; "but a/# includes a")]
    #[test_case(&["$SYS/#"], "$SYS/+", true)]
    #[test_case(&["+/b"], "$x/b", false)]
    #[test_case(&["a/+/c"], "a/b/c", true)]
    #[test_case(&["a/b/c"], "a/+/c", false)]
    fn covers(filters: &[&str], filter: &str, expected: bool) {
        assert_eq!(set(filters).covers(filter), expected);
    }

    #[test]
    fn filters_list_what_was_inserted() {
        let inserted = ["a/b", "a/+", "x/#", "#", "+", "a/b/c", "a//b", "/", "e"];
        let mut listed = set(&inserted).filters();
        listed.sort();
        let mut expected: Vec<String> = inserted.iter().map(|f| (*f).to_owned()).collect();
        expected.sort();
        assert_eq!(listed, expected);
    }

    #[test_case(&["a/#"], &["a/b", "a/+/c"], true)]
    #[test_case(&["a/+"], &["a/b", "a/c"], true)]
    #[test_case(&["a/b"], &["a/+"], false)]
    #[test_case(&["a/b", "a/c"], &["a/b"], true)]
    #[test_case(&["a/b"], &[], true; "nothing is always covered")]
    #[test_case(&[], &["a"], false)]
    #[test_case(&["a", "a/+/#"], &["a/#"], false; "conservative about unions")]
    fn covers_set(wider: &[&str], narrower: &[&str], expected: bool) {
        assert_eq!(set(wider).covers_set(&set(narrower)), expected);
    }

    #[test]
    fn equal_sets_compare_equal_and_count_distinct_filters() {
        let a = set(&["x/#", "a/b", "a/+", "a/b"]);
        let b = set(&["a/+", "a/b", "x/#"]);
        assert_eq!(a, b);
        assert_eq!(a.len(), 3);
    }
}
