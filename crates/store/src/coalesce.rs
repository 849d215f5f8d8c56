//! Dropping changes that a later change in the same batch makes moot, so that a message
//! acknowledged within one commit interval never touches the disk.
//!
//! Rules, applied in order over the batch (every rule leaves the state the store ends up
//! in unchanged, given the semantics in [`crate::kv`]):
//! - A put of a key (entry, inbound QoS 2 id, retained topic, resource, session) is dropped
//!   when a later put or delete of the same key follows. Deletes are kept: the key may
//!   exist on disk, and a delete of a missing key costs only a lookup.
//! - A `DeleteSession` drops the earlier puts of its session's entries and inbound ids
//!   (it deletes them anyway). An earlier put of the session record stays: it may replace
//!   another session's record, which the delete would then spare.
//! - A `PutMessage` is dropped when entries referring to it were dropped and none that
//!   remains refers to it: it would have been put and collected in the same commit.
//!   (Messages are immutable, so skipping the rewrite of a stored one changes nothing.)

use std::collections::{HashMap, HashSet};

use gridmq_engine::persist::Change;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key<'a> {
    Entry(u64, u64),
    Inbound(u64, u16),
    Retained(&'a str),
    Resource(&'a str, &'a str),
    Session(&'a str),
}

impl Key<'_> {
    fn session_id(&self) -> Option<u64> {
        match self {
            Key::Entry(s, _) | Key::Inbound(s, _) => Some(*s),
            _ => None,
        }
    }
}

/// What a change does to a key: puts it, or deletes it.
fn target(change: &Change) -> Option<(Key<'_>, bool)> {
    Some(match change {
        Change::PutEntry {
            session_id, seq, ..
        } => (Key::Entry(*session_id, *seq), true),
        Change::DeleteEntry { session_id, seq } => (Key::Entry(*session_id, *seq), false),
        Change::PutInboundQos2 {
            session_id,
            packet_id,
        } => (Key::Inbound(*session_id, *packet_id), true),
        Change::DeleteInboundQos2 {
            session_id,
            packet_id,
        } => (Key::Inbound(*session_id, *packet_id), false),
        Change::PutRetained(message) => (Key::Retained(&message.topic), true),
        Change::DeleteRetained { topic } => (Key::Retained(topic), false),
        Change::PutResource { kind, name, .. } => (Key::Resource(kind, name), true),
        Change::DeleteResource { kind, name } => (Key::Resource(kind, name), false),
        Change::PutSession(session) => (Key::Session(&session.client_id), true),
        Change::DeleteSession { .. } | Change::PutMessage { .. } => return None,
    })
}

/// Removes changes made moot by later ones; returns the batch and how many were dropped.
pub fn coalesce(batch: Vec<Change>) -> (Vec<Change>, usize) {
    let dead = moot(&batch);
    if dead.is_empty() {
        return (batch, 0);
    }
    let dropped = dead.len();
    let kept = batch
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !dead.contains(i))
        .map(|(_, c)| c)
        .collect();
    (kept, dropped)
}

fn moot(batch: &[Change]) -> HashSet<usize> {
    let mut dead = HashSet::new();
    // The live put of each key, by index.
    let mut puts: HashMap<Key<'_>, usize> = HashMap::new();
    for (i, change) in batch.iter().enumerate() {
        if let Change::DeleteSession { session_id, .. } = change {
            puts.retain(|key, at| {
                let doomed = key.session_id() == Some(*session_id);
                if doomed {
                    dead.insert(*at);
                }
                !doomed
            });
            continue;
        }
        let Some((key, is_put)) = target(change) else {
            continue;
        };
        let earlier = if is_put {
            puts.insert(key, i)
        } else {
            puts.remove(&key)
        };
        if let Some(earlier) = earlier {
            dead.insert(earlier);
        }
    }
    drop_orphan_messages(batch, &mut dead);
    dead
}

fn drop_orphan_messages(batch: &[Change], dead: &mut HashSet<usize>) {
    let mut live_refs = HashSet::new();
    let mut dead_refs = HashSet::new();
    for (i, change) in batch.iter().enumerate() {
        if let Change::PutEntry { entry, .. } = change {
            if dead.contains(&i) {
                dead_refs.insert(entry.message_id);
            } else {
                live_refs.insert(entry.message_id);
            }
        }
    }
    for (i, change) in batch.iter().enumerate() {
        if let Change::PutMessage { id, .. } = change {
            if dead_refs.contains(id) && !live_refs.contains(id) {
                dead.insert(i);
            }
        }
    }
}
