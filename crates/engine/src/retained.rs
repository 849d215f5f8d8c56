//! Retained messages: the last message published with RETAIN on each topic, delivered
//! to new subscriptions (MQTT 5.0 section 3.3.1.3).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

use crate::message::Message;
use crate::persist::WallTime;
use crate::topic_tree::TopicIndex;

/// What storing a retained message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainOutcome {
    /// Stored, possibly replacing an earlier message.
    Stored,
    /// An empty payload removed the topic's retained message ([MQTT-3.3.1-6]).
    Cleared,
    /// Not stored: the store's message or byte limit is reached.
    Full,
}

/// A retained message and when it was last set: the retained-message HTTP API reports
/// the time (Event Grid's `lastModifiedTime`).
#[derive(Debug, Clone)]
pub struct RetainedEntry {
    /// The message.
    pub message: Arc<Message>,
    /// When it was stored. For messages restored at start this is the restart: the
    /// stored record has no time of its own.
    pub modified: WallTime,
}

#[derive(Debug, Default)]
struct Inner {
    index: TopicIndex<RetainedEntry>,
    bytes: u64,
}

/// The retained messages of the whole broker, bounded in count and bytes.
#[derive(Debug)]
pub struct RetainedStore {
    inner: RwLock<Inner>,
    max_messages: usize,
    max_bytes: u64,
}

impl RetainedStore {
    /// An empty store with the given bounds.
    pub fn new(max_messages: usize, max_bytes: u64) -> Self {
        Self {
            inner: RwLock::new(Inner::default()),
            max_messages,
            max_bytes,
        }
    }

    /// Stores, replaces or clears the retained message of `message`'s topic, as of
    /// `modified`.
    ///
    /// The stored copy owns its bytes, so it does not pin a connection's receive buffer.
    pub fn apply(&self, message: &Message, modified: WallTime) -> RetainOutcome {
        let mut inner = self.inner.write();
        if message.payload.is_empty() {
            if let Some(old) = inner.index.remove(&message.topic) {
                inner.bytes -= old.message.size() as u64;
            }
            return RetainOutcome::Cleared;
        }
        let size = message.size() as u64;
        let replaced = inner
            .index
            .get(&message.topic)
            .map_or(0, |old| old.message.size() as u64);
        let count_after = inner.index.len() + usize::from(replaced == 0);
        if count_after > self.max_messages || inner.bytes - replaced + size > self.max_bytes {
            return RetainOutcome::Full;
        }
        let mut stored = message.compact();
        stored.retain = true;
        stored.origin = None;
        let entry = RetainedEntry {
            message: Arc::new(stored),
            modified,
        };
        inner.index.insert(&message.topic, entry);
        inner.bytes = inner.bytes - replaced + size;
        RetainOutcome::Stored
    }

    /// Calls `f` with every unexpired retained message whose topic `filter` matches.
    pub fn for_each_match(&self, filter: &str, now: Instant, mut f: impl FnMut(&Arc<Message>)) {
        let inner = self.inner.read();
        let _ = inner.index.for_each_match(filter, |_, entry| {
            if !entry.message.is_expired(now) {
                f(&entry.message);
            }
            ControlFlow::Continue(())
        });
    }

    /// Up to `limit` unexpired messages matching `filter`, in topic order (see
    /// [`TopicIndex`]), starting after topic `after`: one page of a listing.
    pub fn page(
        &self,
        filter: &str,
        after: Option<&str>,
        limit: usize,
        now: Instant,
    ) -> Vec<RetainedEntry> {
        let inner = self.inner.read();
        let mut page = Vec::new();
        let _ = inner.index.for_each_match_after(filter, after, |_, entry| {
            if page.len() >= limit {
                return ControlFlow::Break(());
            }
            if !entry.message.is_expired(now) {
                page.push(entry.clone());
            }
            ControlFlow::Continue(())
        });
        page
    }

    /// The retained message of `topic`, if any and unexpired.
    pub fn get(&self, topic: &str, now: Instant) -> Option<RetainedEntry> {
        let inner = self.inner.read();
        inner
            .index
            .get(topic)
            .filter(|e| !e.message.is_expired(now))
            .cloned()
    }

    /// Removes the retained message of `topic`; returns whether there was one.
    pub fn remove(&self, topic: &str) -> bool {
        let mut inner = self.inner.write();
        match inner.index.remove(topic) {
            Some(old) => {
                inner.bytes -= old.message.size() as u64;
                true
            }
            None => false,
        }
    }

    /// Drops expired messages; returns how many.
    pub fn purge_expired(&self, now: Instant) -> usize {
        let mut expired = Vec::new();
        let _ = self.inner.read().index.for_each(|topic, entry| {
            if entry.message.is_expired(now) {
                expired.push(topic.to_owned());
            }
            ControlFlow::Continue(())
        });
        let count = expired.len();
        for topic in expired {
            self.remove(&topic);
        }
        count
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.inner.read().index.len()
    }

    /// Whether no message is retained.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Payload and topic bytes held.
    pub fn bytes(&self) -> u64 {
        self.inner.read().bytes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use gridmq_codec::{Publish, TopicName};

    use super::*;

    fn message(topic: &str, payload: &'static [u8], now: Instant) -> Message {
        let mut publish = Publish::new(TopicName::new(topic).unwrap(), Bytes::from_static(payload));
        publish.retain = true;
        Message::from_publish(publish, now, None)
    }

    #[test]
    fn entries_keep_their_modification_time_and_page_in_topic_order() {
        let store = RetainedStore::new(100, 1 << 20);
        let now = Instant::now();
        for (i, topic) in ["a/2", "a/1", "a/3", "b/1"].into_iter().enumerate() {
            let outcome = store.apply(&message(topic, b"v", now), WallTime(1000 + i as u64));
            assert_eq!(outcome, RetainOutcome::Stored);
        }
        let topics = |page: Vec<RetainedEntry>| -> Vec<String> {
            page.iter().map(|e| e.message.topic.to_string()).collect()
        };
        assert_eq!(topics(store.page("a/+", None, 2, now)), ["a/1", "a/2"]);
        assert_eq!(topics(store.page("a/+", Some("a/2"), 2, now)), ["a/3"]);
        assert_eq!(store.get("a/1", now).unwrap().modified, WallTime(1001));
        store.apply(&message("a/1", b"again", now), WallTime(5000));
        assert_eq!(store.get("a/1", now).unwrap().modified, WallTime(5000));
        assert!(store.remove("a/1"));
        assert!(store.get("a/1", now + Duration::from_secs(1)).is_none());
        assert_eq!(store.len(), 3);
    }
}
