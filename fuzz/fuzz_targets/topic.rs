//! Topic names, filters and shared-subscription filters: parsing and matching never
//! panic, and the parsers agree with each other and with the matcher.
#![no_main]

use bytes::Bytes;
use gridmq_codec::Utf8Bytes;
use gridmq_codec::topic::{SubscriptionFilter, TopicFilter, TopicName, matches_filter};
use libfuzzer_sys::fuzz_target;

fn utf8(bytes: &[u8]) -> Option<Utf8Bytes> {
    Utf8Bytes::try_from_bytes(Bytes::copy_from_slice(bytes)).ok()
}

fn check_one(s: &Utf8Bytes) {
    let name = TopicName::new(s.clone());
    let filter = TopicFilter::new(s.clone());
    let wire = TopicName::from_wire(s.clone());
    if name.is_ok() {
        assert!(wire.is_ok(), "a valid name is valid on the wire");
    }
    if let (Ok(name), Ok(filter)) = (&name, &filter) {
        assert!(
            filter.matches(name),
            "a filter equal to a name matches it: {s:?}"
        );
        assert!(!filter.has_wildcards());
    }
    if let Ok(parsed) = SubscriptionFilter::parse(s) {
        let printed = Utf8Bytes::from(parsed.to_string());
        assert_eq!(
            SubscriptionFilter::parse(&printed).ok(),
            Some(parsed.clone())
        );
        if parsed.group().is_none() {
            assert_eq!(printed, *s, "a plain filter prints as written");
        }
    }
}

fuzz_target!(|input: (&[u8], &[u8])| {
    let (Some(a), Some(b)) = (utf8(input.0), utf8(input.1)) else {
        return;
    };
    check_one(&a);
    check_one(&b);
    let matched = matches_filter(&a, &b);
    let _ = matches_filter(&b, &a);
    if let (Ok(filter), Ok(name)) = (TopicFilter::new(a.clone()), TopicName::new(b.clone())) {
        assert_eq!(filter.matches(&name), matched);
        if filter.as_str() == "#" {
            assert_eq!(matched, !name.is_system(), "# matches every non-$ topic");
        }
    }
});
