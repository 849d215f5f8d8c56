//! Retained messages: the last message published with RETAIN on each topic, delivered
//! to new subscriptions (MQTT 5.0 section 3.3.1.3).

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;

use crate::message::Message;
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

#[derive(Debug, Default)]
struct Inner {
    index: TopicIndex<Arc<Message>>,
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

    /// Stores, replaces or clears the retained message of `message`'s topic.
    ///
    /// The stored copy owns its bytes, so it does not pin a connection's receive buffer.
    pub fn apply(&self, message: &Message) -> RetainOutcome {
        let mut inner = self.inner.write();
        if message.payload.is_empty() {
            if let Some(old) = inner.index.remove(&message.topic) {
                inner.bytes -= old.size() as u64;
            }
            return RetainOutcome::Cleared;
        }
        let size = message.size() as u64;
        let replaced = inner
            .index
            .get(&message.topic)
            .map_or(0, |old| old.size() as u64);
        let count_after = inner.index.len() + usize::from(replaced == 0);
        if count_after > self.max_messages || inner.bytes - replaced + size > self.max_bytes {
            return RetainOutcome::Full;
        }
        let mut stored = message.compact();
        stored.retain = true;
        stored.origin = None;
        inner.index.insert(&message.topic, Arc::new(stored));
        inner.bytes = inner.bytes - replaced + size;
        RetainOutcome::Stored
    }

    /// Calls `f` with every unexpired retained message whose topic `filter` matches.
    pub fn for_each_match(&self, filter: &str, now: Instant, mut f: impl FnMut(&Arc<Message>)) {
        let inner = self.inner.read();
        let _ = inner.index.for_each_match(filter, |_, message| {
            if !message.is_expired(now) {
                f(message);
            }
            ControlFlow::Continue(())
        });
    }

    /// Up to `limit` unexpired messages matching `filter`, in topic order, starting after
    /// topic `after`: one page of a listing.
    pub fn page(
        &self,
        filter: &str,
        after: Option<&str>,
        limit: usize,
        now: Instant,
    ) -> Vec<Arc<Message>> {
        let inner = self.inner.read();
        let mut page = Vec::new();
        let _ = inner
            .index
            .for_each_match_after(filter, after, |_, message| {
                if page.len() >= limit {
                    return ControlFlow::Break(());
                }
                if !message.is_expired(now) {
                    page.push(message.clone());
                }
                ControlFlow::Continue(())
            });
        page
    }

    /// The retained message of `topic`, if any and unexpired.
    pub fn get(&self, topic: &str, now: Instant) -> Option<Arc<Message>> {
        let inner = self.inner.read();
        inner
            .index
            .get(topic)
            .filter(|m| !m.is_expired(now))
            .cloned()
    }

    /// Removes the retained message of `topic`; returns whether there was one.
    pub fn remove(&self, topic: &str) -> bool {
        let mut inner = self.inner.write();
        match inner.index.remove(topic) {
            Some(old) => {
                inner.bytes -= old.size() as u64;
                true
            }
            None => false,
        }
    }

    /// Drops expired messages; returns how many.
    pub fn purge_expired(&self, now: Instant) -> usize {
        let mut expired = Vec::new();
        let _ = self.inner.read().index.for_each(|topic, message| {
            if message.is_expired(now) {
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
