//! Both structures against the reference matcher [`matches_filter`].

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::ControlFlow;

use gridmq_codec::topic::matches_filter;
use proptest::prelude::*;
use test_case::test_case;

use super::{TopicIndex, TopicTree};

/// The filters of `tree` whose values `topic` reaches, sorted; values are the filters.
fn tree_matches(tree: &TopicTree<String>, topic: &str) -> Vec<String> {
    let mut found = Vec::new();
    tree.for_each_match(topic, |filter| found.push(filter.clone()));
    found.sort();
    found
}

/// The topics `filter` matches in `index`, in visit order, resuming after `after`.
fn index_matches(index: &TopicIndex<String>, filter: &str, after: Option<&str>) -> Vec<String> {
    let mut found = Vec::new();
    let flow = index.for_each_match_after(filter, after, |topic, value| {
        assert_eq!(topic, value, "the value is the topic it was stored under");
        found.push(topic.to_owned());
        ControlFlow::Continue(())
    });
    assert_eq!(flow, ControlFlow::Continue(()));
    found
}

/// Level order: level by level, each by its bytes.
fn level_cmp(a: &str, b: &str) -> Ordering {
    a.split('/').cmp(b.split('/'))
}

/// The reference answer for an index query.
fn oracle_index(topics: &BTreeSet<String>, filter: &str, after: Option<&str>) -> Vec<String> {
    let mut expected: Vec<String> = topics
        .iter()
        .filter(|topic| matches_filter(filter, topic))
        .filter(|topic| after.is_none_or(|after| level_cmp(topic, after) == Ordering::Greater))
        .cloned()
        .collect();
    expected.sort_by(|a, b| level_cmp(a, b));
    expected
}

#[test_case("a/#", "a" => true; "hash matches the parent level")]
#[test_case("a/#", "a/b/c" => true; "hash matches many levels")]
#[test_case("a/#", "ab" => false; "hash needs the level boundary")]
#[test_case("#", "a/b" => true; "hash alone matches all")]
#[test_case("#", "/" => true; "hash matches empty levels")]
#[test_case("a//b", "a//b" => true; "empty middle level")]
#[test_case("a/+/b", "a//b" => true; "plus matches an empty level")]
#[test_case("a/+/b", "a/b" => false; "plus needs a level")]
#[test_case("/+", "/x" => true; "leading slash is an empty level")]
#[test_case("+/+", "/x" => true; "plus matches the empty first level")]
#[test_case("+", "/x" => false; "leading slash adds a level")]
#[test_case("a/+", "a/" => true; "trailing slash is an empty level")]
#[test_case("a/", "a" => false; "trailing slash in filter needs the level")]
#[test_case("a", "a/" => false; "trailing slash in topic adds a level")]
#[test_case("a/#", "a/" => true; "hash matches a trailing empty level")]
#[test_case("#", "$SYS/x" => false; "hash skips dollar topics")]
#[test_case("+/x", "$SYS/x" => false; "plus skips dollar topics")]
#[test_case("+", "$SYS" => false; "plus skips a single dollar level")]
#[test_case("$SYS/#", "$SYS/x" => true; "dollar filter matches dollar topics")]
#[test_case("$SYS/#", "$SYS" => true; "dollar filter matches its parent")]
#[test_case("a/$b", "a/$b" => true; "dollar in a later level is plain")]
#[test_case("a/+", "a/$b" => true; "plus matches dollar in a later level")]
#[test_case("a/#", "a/$b" => true; "hash matches dollar in a later level")]
#[test_case("+", "a" => true; "single level plus")]
#[test_case("a", "a" => true; "single level exact")]
#[test_case("a", "b" => false; "single level mismatch")]
#[test_case("+", "a/b" => false; "plus matches one level only")]
#[test_case("a/b", "a/b/c" => false; "exact needs all levels")]
#[test_case("a/b/c", "a/b" => false; "exact needs no more levels")]
#[test_case("sport/tennis/+", "sport/tennis/player1" => true; "spec example")]
fn matching_rules(filter: &str, topic: &str) -> bool {
    let expected = matches_filter(filter, topic);

    let mut tree = TopicTree::new();
    tree.get_or_insert_with(filter, || filter.to_owned());
    let by_tree = !tree_matches(&tree, topic).is_empty();
    assert_eq!(by_tree, expected, "tree disagrees with the reference");

    let mut index = TopicIndex::new();
    index.insert(topic, topic.to_owned());
    let by_index = !index_matches(&index, filter, None).is_empty();
    assert_eq!(by_index, expected, "index disagrees with the reference");
    expected
}

#[test]
fn tree_api_round_trip() {
    let mut tree = TopicTree::new();
    assert!(tree.is_empty());
    *tree.get_or_insert_with("a/+/c", || 0) += 1;
    *tree.get_or_insert_with("a/+/c", || 0) += 1;
    *tree.get_or_insert_with("a/#", || 10) += 1;
    assert_eq!(tree.len(), 2);
    assert_eq!(tree.get("a/+/c"), Some(&2));
    assert_eq!(tree.get("a/#"), Some(&11));
    assert_eq!(tree.get("a/+"), None);
    assert_eq!(tree.get("a"), None);
    if let Some(value) = tree.get_mut("a/#") {
        *value = 20;
    }
    let mut seen = Vec::new();
    tree.for_each_filter(|filter, value| seen.push((filter.to_owned(), *value)));
    seen.sort();
    assert_eq!(seen, [("a/#".to_owned(), 20), ("a/+/c".to_owned(), 2)]);
    assert_eq!(tree.remove("a/+"), None);
    assert_eq!(tree.remove("a/+/c"), Some(2));
    assert_eq!(tree.remove("a/+/c"), None);
    assert_eq!(tree.remove("a/#"), Some(20));
    assert_eq!(tree.node_count(), 0);
    assert!(tree.is_empty());
}

#[test]
fn index_api_round_trip() {
    let mut index = TopicIndex::new();
    assert_eq!(index.insert("a/b", 1), None);
    assert_eq!(index.insert("a/b", 2), Some(1));
    assert_eq!(index.insert("a", 3), None);
    assert_eq!(index.len(), 2);
    assert_eq!(index.get("a/b"), Some(&2));
    assert_eq!(index.get("a/c"), None);
    if let Some(value) = index.get_mut("a") {
        *value = 4;
    }
    assert_eq!(format!("{index:?}"), r#"{"a": 4, "a/b": 2}"#);
    assert_eq!(index.remove("a"), Some(4));
    assert_eq!(index.node_count(), 2, "a stays while a/b needs it");
    assert_eq!(index.remove("a/b"), Some(2));
    assert_eq!(index.node_count(), 0);
}

#[test]
fn index_queries_stop_when_told() {
    let mut index = TopicIndex::new();
    for topic in ["a/1", "a/2", "a/3"] {
        index.insert(topic, ());
    }
    let mut seen = Vec::new();
    let flow = index.for_each_match("a/+", |topic, ()| {
        seen.push(topic.to_owned());
        if seen.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    assert_eq!(flow, ControlFlow::Break(()));
    assert_eq!(seen, ["a/1", "a/2"]);
}

#[test]
fn index_lists_in_level_order() {
    let mut index = TopicIndex::new();
    for topic in ["a-b", "a/b", "a", "$SYS/x", "/", "", "b"] {
        index.insert(topic, topic.to_owned());
    }
    assert_eq!(
        index_matches(&index, "#", None),
        ["", "/", "a", "a/b", "a-b", "b"]
    );
    let mut all = Vec::new();
    let _ = index.for_each(|topic, _| {
        all.push(topic.to_owned());
        ControlFlow::Continue(())
    });
    assert_eq!(all, ["", "/", "$SYS/x", "a", "a/b", "a-b", "b"]);
}

#[test]
fn deep_topics_do_not_overflow_the_stack() {
    let deep = "x/".repeat(30_000) + "x";
    let mut tree = TopicTree::new();
    tree.get_or_insert_with(&deep, || 1);
    let plus_chain = "+/".repeat(30_000) + "#";
    tree.get_or_insert_with(&plus_chain, || 2);
    let mut found = Vec::new();
    tree.for_each_match(&deep, |v| found.push(*v));
    found.sort_unstable();
    assert_eq!(found, [1, 2]);
    let mut filters = 0;
    tree.for_each_filter(|_, _| filters += 1);
    assert_eq!(filters, 2);
    assert_eq!(tree.remove(&deep), Some(1));
    assert_eq!(tree.remove(&plus_chain), Some(2));
    assert_eq!(tree.node_count(), 0);

    let mut index = TopicIndex::new();
    index.insert(&deep, deep.clone());
    assert_eq!(index_matches(&index, "#", None), [deep.as_str()]);
    assert_eq!(index_matches(&index, &plus_chain, None), [deep.as_str()]);
    assert_eq!(index.remove(&deep), Some(deep));
    assert_eq!(index.node_count(), 0);
}

#[test]
fn wide_nodes_grow_and_shrink() {
    let mut tree = TopicTree::new();
    let mut index = TopicIndex::new();
    let topics: Vec<String> = (0..100).map(|i| format!("w/{i}")).collect();
    for topic in &topics {
        tree.get_or_insert_with(topic, || topic.clone());
        index.insert(topic, topic.clone());
    }
    assert_eq!(tree_matches(&tree, "w/42"), ["w/42"]);
    assert_eq!(index_matches(&index, "w/+", None).len(), 100);
    for topic in &topics[..97] {
        assert_eq!(tree.remove(topic).as_ref(), Some(topic));
        assert_eq!(index.remove(topic).as_ref(), Some(topic));
    }
    assert_eq!(tree_matches(&tree, "w/98"), ["w/98"]);
    assert_eq!(index_matches(&index, "w/+", None), ["w/97", "w/98", "w/99"]);
    for topic in &topics[97..] {
        tree.remove(topic);
        index.remove(topic);
    }
    assert_eq!((tree.node_count(), index.node_count()), (0, 0));
    assert_eq!(
        (tree.heap_bytes(), index.heap_bytes()),
        (0, 24),
        "only the root is left"
    );
}

#[test]
fn memory_comes_back_after_mass_removal() {
    let topics: Vec<String> = (0..10_000)
        .map(|i| format!("site/{}/dev/{i}", i % 50))
        .collect();
    let mut tree = TopicTree::new();
    let mut index = TopicIndex::new();
    for topic in &topics {
        tree.get_or_insert_with(topic, || topic.clone());
        index.insert(topic, topic.clone());
    }
    let (tree_peak, index_peak) = (tree.heap_bytes(), index.heap_bytes());
    let (kept, gone) = topics.split_at(20);
    for topic in gone {
        assert_eq!(tree.remove(topic).as_ref(), Some(topic));
        assert_eq!(index.remove(topic).as_ref(), Some(topic));
    }
    assert!(
        tree.heap_bytes() * 50 < tree_peak,
        "{} of {tree_peak}",
        tree.heap_bytes()
    );
    assert!(
        index.heap_bytes() * 50 < index_peak,
        "{} of {index_peak}",
        index.heap_bytes()
    );
    for topic in kept {
        assert_eq!(tree_matches(&tree, topic), [topic.as_str()]);
        assert_eq!(index_matches(&index, topic, None), [topic.as_str()]);
        assert_eq!(tree.get(topic), Some(topic));
        assert_eq!(index.get(topic), Some(topic));
    }
    assert_eq!(
        index_matches(&index, "site/+/dev/+", None).len(),
        kept.len()
    );
}

/// Levels drawn from a small alphabet, with empty and `$` levels, so matches are common.
fn narrow_level() -> impl Strategy<Value = String> + Clone {
    prop::sample::select(vec!["a", "b", "", "$s", "ab"]).prop_map(str::to_owned)
}

/// Levels drawn from a wide alphabet with long labels, so nodes outgrow their slices.
fn wide_level() -> impl Strategy<Value = String> + Clone {
    (0..40u32).prop_map(|i| match i % 4 {
        0 => format!("a-label-longer-than-eighteen-bytes-{i}"),
        _ => format!("l{i}"),
    })
}

fn topic(level: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    prop::collection::vec(level, 1..6).prop_map(|levels| levels.join("/"))
}

fn filter(level: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = String> {
    let level = prop_oneof![4 => level, 1 => Just("+".to_owned())];
    (prop::collection::vec(level, 0..5), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash || levels.is_empty() {
            levels.push("#".to_owned());
        }
        levels.join("/")
    })
}

/// Checks the tree against the reference for `filters`, then removes them all.
fn check_tree(
    filters: &[String],
    topics: &[String],
    removed: &[bool],
) -> Result<(), TestCaseError> {
    let mut tree = TopicTree::new();
    for filter in filters {
        tree.get_or_insert_with(filter, || filter.clone());
    }
    let mut stored: BTreeSet<String> = filters.iter().cloned().collect();
    prop_assert_eq!(tree.len(), stored.len());
    let mut listed = Vec::new();
    tree.for_each_filter(|filter, value| {
        assert_eq!(filter, value);
        listed.push(filter.to_owned());
    });
    listed.sort();
    prop_assert_eq!(&listed, &stored.iter().cloned().collect::<Vec<_>>());

    for (filter, remove) in filters.iter().zip(removed) {
        if *remove && stored.remove(filter) {
            prop_assert_eq!(tree.remove(filter), Some(filter.clone()));
        }
    }
    for topic in topics {
        let expected: Vec<String> = stored
            .iter()
            .filter(|filter| matches_filter(filter, topic))
            .cloned()
            .collect();
        prop_assert_eq!(tree_matches(&tree, topic), expected, "topic {:?}", topic);
    }
    for filter in &stored {
        prop_assert_eq!(tree.get(filter), Some(filter));
        prop_assert_eq!(tree.remove(filter), Some(filter.clone()));
    }
    prop_assert!(tree.is_empty());
    prop_assert_eq!(tree.node_count(), 0);
    Ok(())
}

/// Checks the index against the reference for `topics`, then removes them all.
fn check_index(topics: &[String], filters: &[String], page: usize) -> Result<(), TestCaseError> {
    let mut index = TopicIndex::new();
    for topic in topics {
        index.insert(topic, topic.clone());
    }
    let stored: BTreeSet<String> = topics.iter().cloned().collect();
    prop_assert_eq!(index.len(), stored.len());
    for filter in filters {
        let expected = oracle_index(&stored, filter, None);
        prop_assert_eq!(
            &index_matches(&index, filter, None),
            &expected,
            "filter {:?}",
            filter
        );
        // Resuming after any topic, stored or not.
        for after in topics.iter().chain(filters) {
            let expected = oracle_index(&stored, filter, Some(after));
            prop_assert_eq!(index_matches(&index, filter, Some(after)), expected);
        }
        // Paging through with the last topic of each page as the token.
        let mut paged: Vec<String> = Vec::new();
        loop {
            let mut batch = Vec::new();
            let _ = index.for_each_match_after(filter, paged.last().map(String::as_str), |t, _| {
                batch.push(t.to_owned());
                if batch.len() == page {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
            if batch.is_empty() {
                break;
            }
            paged.extend(batch);
        }
        prop_assert_eq!(&paged, &expected);
    }
    for topic in &stored {
        prop_assert_eq!(index.remove(topic), Some(topic.clone()));
    }
    prop_assert!(index.is_empty());
    prop_assert_eq!(index.node_count(), 0);
    Ok(())
}

/// One step of a random workload.
#[derive(Debug, Clone)]
enum Op {
    Insert(String),
    Remove(String),
}

/// Applies `ops` to a tree and an index and to `BTreeMap` models, comparing as it goes; then
/// removes what is left and checks that both structures are back to nothing.
fn check_churn(ops: &[Op]) -> Result<(), TestCaseError> {
    let mut tree = TopicTree::new();
    let mut index = TopicIndex::new();
    let mut filters = std::collections::BTreeMap::new();
    let mut topics = std::collections::BTreeMap::new();
    for (n, op) in ops.iter().enumerate() {
        match op {
            Op::Insert(filter) => {
                *tree.get_or_insert_with(filter, || 0) += 1;
                *filters.entry(filter.clone()).or_insert(0) += 1;
                let topic = filter.replace(['+', '#'], "w");
                prop_assert_eq!(index.insert(&topic, n), topics.insert(topic, n));
            }
            Op::Remove(filter) => {
                prop_assert_eq!(tree.remove(filter), filters.remove(filter));
                let topic = filter.replace(['+', '#'], "w");
                prop_assert_eq!(index.remove(&topic), topics.remove(&topic));
            }
        }
        prop_assert_eq!(tree.len(), filters.len());
        prop_assert_eq!(index.len(), topics.len());
    }
    for (filter, count) in &filters {
        prop_assert_eq!(tree.get(filter), Some(count));
        prop_assert_eq!(tree.remove(filter), Some(*count));
    }
    for (topic, n) in &topics {
        prop_assert_eq!(index.get(topic), Some(n));
        prop_assert_eq!(index.remove(topic), Some(*n));
    }
    prop_assert_eq!(
        (tree.len(), tree.node_count(), tree.heap_bytes()),
        (0, 0, 0)
    );
    prop_assert_eq!((index.len(), index.node_count()), (0, 0));
    Ok(())
}

fn ops(level: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => filter(level.clone()).prop_map(Op::Insert),
        2 => filter(level).prop_map(Op::Remove),
    ];
    prop::collection::vec(op, 0..150)
}

proptest! {
    #[test]
    fn insert_remove_sequences_match_a_model(ops in ops(narrow_level())) {
        check_churn(&ops)?;
    }

    #[test]
    fn insert_remove_sequences_with_wide_nodes_match_a_model(ops in ops(wide_level())) {
        check_churn(&ops)?;
    }

    #[test]
    fn tree_matches_like_the_reference(
        filters in prop::collection::vec(filter(narrow_level()), 0..40),
        topics in prop::collection::vec(topic(narrow_level()), 1..20),
        removed in prop::collection::vec(any::<bool>(), 40),
    ) {
        check_tree(&filters, &topics, &removed)?;
    }

    #[test]
    fn tree_with_wide_nodes_matches_like_the_reference(
        filters in prop::collection::vec(filter(wide_level()), 0..120),
        topics in prop::collection::vec(topic(wide_level()), 1..20),
        removed in prop::collection::vec(any::<bool>(), 120),
    ) {
        check_tree(&filters, &topics, &removed)?;
    }

    #[test]
    fn index_matches_like_the_reference(
        topics in prop::collection::vec(topic(narrow_level()), 0..40),
        filters in prop::collection::vec(filter(narrow_level()), 1..6),
        page in 1..4usize,
    ) {
        check_index(&topics, &filters, page)?;
    }

    #[test]
    fn index_with_wide_nodes_matches_like_the_reference(
        topics in prop::collection::vec(topic(wide_level()), 0..120),
        filters in prop::collection::vec(filter(wide_level()), 1..4),
        page in 1..8usize,
    ) {
        check_index(&topics, &filters, page)?;
    }
}
