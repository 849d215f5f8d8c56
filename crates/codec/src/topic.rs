//! Topic names, topic filters and shared-subscription filters (MQTT 5.0 section 4.7-4.8),
//! validated once at construction.

use std::fmt;
use std::ops::Deref;

use crate::primitives::Utf8Bytes;

/// Why a string is not a valid topic name or filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TopicError {
    /// Topic names and filters must be at least one character long.
    #[error("[MQTT-4.7.3-1] topic must be at least one character long")]
    Empty,
    /// A topic name contains `+` or `#`.
    #[error("[MQTT-4.7.0-1] topic name contains a wildcard character")]
    WildcardInName,
    /// `#` is not alone in the last level of a filter.
    #[error("[MQTT-4.7.1-1] multi-level wildcard must be alone in the last topic level")]
    MisplacedMultiLevelWildcard,
    /// `+` shares a level with other characters.
    #[error("[MQTT-4.7.1-2] single-level wildcard must occupy an entire topic level")]
    MisplacedSingleLevelWildcard,
    /// A `$share/` filter without a valid share name.
    #[error("[MQTT-4.8.2-1] shared subscription needs a share name without '/', '+' or '#'")]
    InvalidShareName,
    /// A `$share/{name}` filter not followed by `/` and a topic filter.
    #[error("[MQTT-4.8.2-2] shared subscription needs a topic filter after the share name")]
    MissingSharedFilter,
    /// Longer than the 65,535 bytes a string may be.
    #[error("[MQTT-4.7.3-3] topic is longer than 65535 bytes")]
    TooLong,
}

fn check_length(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        Err(TopicError::Empty)
    } else if s.len() > usize::from(u16::MAX) {
        Err(TopicError::TooLong)
    } else {
        Ok(())
    }
}

/// A topic name a message is published to: non-empty, no wildcards.
///
/// The one exception is a PUBLISH that carries a Topic Alias, whose topic may be empty on
/// the wire; [`TopicName::from_wire`] admits that, and the session resolves the alias.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TopicName(Utf8Bytes);

impl TopicName {
    /// Validates a topic name.
    pub fn new(name: impl Into<Utf8Bytes>) -> Result<Self, TopicError> {
        let name = name.into();
        check_length(&name)?;
        Self::check_no_wildcards(&name)?;
        Ok(Self(name))
    }

    /// Validates a topic name as read from a PUBLISH, where empty means "use the alias".
    pub fn from_wire(name: Utf8Bytes) -> Result<Self, TopicError> {
        Self::check_no_wildcards(&name)?;
        Ok(Self(name))
    }

    fn check_no_wildcards(name: &str) -> Result<(), TopicError> {
        if name.bytes().any(|b| b == b'+' || b == b'#') {
            Err(TopicError::WildcardInName)
        } else {
            Ok(())
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as shared UTF-8 bytes.
    pub fn as_utf8(&self) -> &Utf8Bytes {
        &self.0
    }

    /// Topics starting with `$` are not matched by filters that start with a wildcard
    /// ([MQTT-4.7.2-1]).
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }

    /// The topic's levels, split at `/`.
    pub fn levels(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// A copy that owns its bytes (see [`Utf8Bytes::compact`]).
    pub fn compact(&self) -> Self {
        Self(self.0.compact())
    }
}

impl Deref for TopicName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for TopicName {
    type Error = TopicError;
    fn try_from(value: &str) -> Result<Self, TopicError> {
        Self::new(value)
    }
}

/// Always a valid, non-empty name: wildcards and U+0000 are dropped from the generated
/// string, and an empty result becomes `t`.
#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for TopicName {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let raw: String = u.arbitrary()?;
        let cleaned: String = raw
            .chars()
            .filter(|c| !matches!(c, '+' | '#' | '\0'))
            .collect();
        Self::new(cleaned)
            .or_else(|_| Self::new("t").map_err(|_| arbitrary::Error::IncorrectFormat))
    }
}

/// A topic filter of a subscription: levels with optional `+` and a trailing `#`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicFilter(Utf8Bytes);

impl TopicFilter {
    /// Validates a (non-shared) topic filter.
    pub fn new(filter: impl Into<Utf8Bytes>) -> Result<Self, TopicError> {
        let filter = filter.into();
        check_length(&filter)?;
        let mut levels = filter.split('/').peekable();
        while let Some(level) = levels.next() {
            if level.contains('#') && (level != "#" || levels.peek().is_some()) {
                return Err(TopicError::MisplacedMultiLevelWildcard);
            }
            if level.contains('+') && level != "+" {
                return Err(TopicError::MisplacedSingleLevelWildcard);
            }
        }
        Ok(Self(filter))
    }

    /// The filter as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The filter as shared UTF-8 bytes.
    pub fn as_utf8(&self) -> &Utf8Bytes {
        &self.0
    }

    /// The filter's levels, split at `/`.
    pub fn levels(&self) -> std::str::Split<'_, char> {
        self.0.split('/')
    }

    /// Whether the filter contains `+` or `#`.
    pub fn has_wildcards(&self) -> bool {
        self.0.bytes().any(|b| b == b'+' || b == b'#')
    }

    /// Whether this filter matches `topic`, by the rules of section 4.7.
    ///
    /// This is the reference matcher: simple and obviously right. The router's topic
    /// tree is tested against it.
    pub fn matches(&self, topic: &str) -> bool {
        matches_filter(self, topic)
    }
}

/// Whether `filter` matches `topic`, by the rules of section 4.7 (see [`TopicFilter::matches`]).
pub fn matches_filter(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for filter_level in filter.split('/') {
        if filter_level == "#" {
            return true;
        }
        match topic_levels.next() {
            Some(level) if filter_level == "+" || filter_level == level => {}
            _ => return false,
        }
    }
    topic_levels.next().is_none()
}

impl Deref for TopicFilter {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for TopicFilter {
    type Error = TopicError;
    fn try_from(value: &str) -> Result<Self, TopicError> {
        Self::new(value)
    }
}

/// The prefix that marks a shared subscription (section 4.8.2).
pub const SHARE_PREFIX: &str = "$share/";

/// A subscription's filter as the client wrote it: plain, or shared by a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SubscriptionFilter {
    /// `filter`: every session subscribed gets each matching message.
    Plain(TopicFilter),
    /// `$share/{group}/{filter}`: one member of the group gets each matching message.
    Shared {
        /// The share name.
        group: Utf8Bytes,
        /// The topic filter after the share name.
        filter: TopicFilter,
    },
}

impl SubscriptionFilter {
    /// Parses a filter from a SUBSCRIBE or UNSUBSCRIBE packet.
    pub fn parse(raw: &Utf8Bytes) -> Result<Self, TopicError> {
        let Some(rest) = raw.strip_prefix(SHARE_PREFIX) else {
            return TopicFilter::new(raw.clone()).map(Self::Plain);
        };
        let (group, filter) = rest
            .split_once('/')
            .ok_or(TopicError::MissingSharedFilter)?;
        if group.is_empty() || group.contains(['+', '#']) {
            return Err(TopicError::InvalidShareName);
        }
        if filter.is_empty() {
            return Err(TopicError::MissingSharedFilter);
        }
        // Slice the group and filter out of the original bytes instead of copying.
        let bytes = raw.as_bytes();
        let group_start = SHARE_PREFIX.len();
        let filter_start = group_start + group.len() + 1;
        let group = Utf8Bytes::try_from_bytes(bytes.slice(group_start..filter_start - 1))
            .map_err(|_| TopicError::InvalidShareName)?;
        let filter = Utf8Bytes::try_from_bytes(bytes.slice(filter_start..))
            .map_err(|_| TopicError::MissingSharedFilter)?;
        Ok(Self::Shared {
            group,
            filter: TopicFilter::new(filter)?,
        })
    }

    /// The topic filter, without any share prefix.
    pub fn filter(&self) -> &TopicFilter {
        match self {
            Self::Plain(filter) | Self::Shared { filter, .. } => filter,
        }
    }

    /// The share group, for shared subscriptions.
    pub fn group(&self) -> Option<&Utf8Bytes> {
        match self {
            Self::Plain(_) => None,
            Self::Shared { group, .. } => Some(group),
        }
    }
}

impl fmt::Display for SubscriptionFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Plain(filter) => f.write_str(filter),
            Self::Shared { group, filter } => write!(f, "{SHARE_PREFIX}{group}/{filter}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("a/b" => true)]
    #[test_case("/" => true)]
    #[test_case("a//b" => true)]
    #[test_case("$SYS/x" => true)]
    #[test_case("" => false)]
    #[test_case("a/+" => false)]
    #[test_case("a/#" => false)]
    #[test_case("a+b" => false)]
    fn topic_name_validity(name: &str) -> bool {
        TopicName::new(name).is_ok()
    }

    #[test_case("#" => true)]
    #[test_case("+" => true)]
    #[test_case("a/+/b" => true)]
    #[test_case("a/#" => true)]
    #[test_case("+/+" => true)]
    #[test_case("/+" => true)]
    #[test_case("a//b" => true)]
    #[test_case("" => false)]
    #[test_case("a/#/b" => false)]
    #[test_case("a#" => false)]
    #[test_case("a/b#" => false)]
    #[test_case("a+/b" => false)]
    #[test_case("+a" => false)]
    #[test_case("##" => false)]
    fn topic_filter_validity(filter: &str) -> bool {
        TopicFilter::new(filter).is_ok()
    }

    #[test_case("a/b", "a/b" => true)]
    #[test_case("a/+", "a/b" => true)]
    #[test_case("a/+", "a/b/c" => false)]
    #[test_case("a/#", "a" => true; "hash matches parent")]
    #[test_case("a/#", "a/b/c" => true)]
    #[test_case("#", "a/b" => true)]
    #[test_case("+", "a" => true)]
    #[test_case("+", "a/b" => false)]
    #[test_case("+/+", "/x" => true)]
    #[test_case("/+", "/x" => true)]
    #[test_case("#", "$SYS/x" => false; "hash skips dollar topics")]
    #[test_case("+/x", "$SYS/x" => false; "plus skips dollar topics")]
    #[test_case("$SYS/#", "$SYS/x" => true)]
    #[test_case("a/b", "a/b/c" => false)]
    #[test_case("a/b/c", "a/b" => false)]
    #[test_case("sport/tennis/+", "sport/tennis/player1" => true)]
    #[test_case("sport/+", "sport/" => true)]
    fn filter_matching(filter: &str, topic: &str) -> bool {
        matches_filter(filter, topic)
    }

    #[test]
    fn shared_filters_parse_group_and_filter() {
        let parsed = SubscriptionFilter::parse(&"$share/g1/a/+/c".into()).unwrap();
        assert_eq!(parsed.group().map(|g| g.as_str()), Some("g1"));
        assert_eq!(parsed.filter().as_str(), "a/+/c");
        assert_eq!(parsed.to_string(), "$share/g1/a/+/c");
    }

    #[test_case("$share/g" => Err(TopicError::MissingSharedFilter))]
    #[test_case("$share/g/" => Err(TopicError::MissingSharedFilter))]
    #[test_case("$share//a" => Err(TopicError::InvalidShareName))]
    #[test_case("$share/g+/a" => Err(TopicError::InvalidShareName))]
    #[test_case("$share/g#/a" => Err(TopicError::InvalidShareName))]
    #[test_case("$share/g/a#" => Err(TopicError::MisplacedMultiLevelWildcard))]
    #[test_case("$shared/g/a" => Ok(()); "not the share prefix")]
    fn shared_filter_errors(raw: &str) -> Result<(), TopicError> {
        SubscriptionFilter::parse(&raw.into()).map(|_| ())
    }
}
