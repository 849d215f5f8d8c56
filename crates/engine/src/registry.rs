//! The session registry: which client ids have a session, whether a connection holds
//! it, and the timers of offline sessions (expiry and delayed wills).
//!
//! This is the single owner of "one live connection per client id". It is a plain
//! data structure; [`crate::Broker`] applies the effects (routing, wills) it reports.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use gridmq_codec::Utf8Bytes;

use crate::control::{ConnectionControl, Handoff};
use crate::message::SessionId;
use crate::session::Session;
use crate::will::PendingWill;

/// Who holds a client id's session.
#[derive(Debug)]
pub(crate) enum SlotState {
    /// A connection holds the session.
    Online(Arc<ConnectionControl>),
    /// No connection; the session waits for its client or its expiry. Boxed, so that
    /// the registry's table stays small for the many sessions that are online.
    Offline(Box<Offline>),
}

/// A session waiting offline.
#[derive(Debug)]
pub(crate) struct Offline {
    pub(crate) session: Box<Session>,
    pub(crate) disconnected_at: Instant,
    pub(crate) expires_at: Option<Instant>,
    pub(crate) will: Option<PendingWill>,
}

/// A connection waiting for the live one to hand the session over.
#[derive(Debug)]
pub(crate) struct Waiter {
    pub(crate) control: Arc<ConnectionControl>,
    pub(crate) handoff: Arc<Handoff>,
    pub(crate) owner: Option<Utf8Bytes>,
}

#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) state: SlotState,
    pub(crate) owner: Option<Utf8Bytes>,
    /// Boxed: rare, and every session's slot would pay for it inline.
    pub(crate) waiter: Option<Box<Waiter>>,
}

/// A deadline for an offline session: its will or its expiry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timer {
    pub(crate) at: Instant,
    pub(crate) session: SessionId,
    pub(crate) client_id: Utf8Bytes,
}

/// Sessions by client id, plus the timers of offline ones and a count of sessions per
/// owning identity.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) slots: HashMap<Utf8Bytes, Slot, foldhash::fast::RandomState>,
    pub(crate) timers: BTreeSet<Timer>,
    owners: HashMap<String, usize, foldhash::fast::RandomState>,
}

/// Authentication names are compared without regard to case.
fn owner_key(owner: &str) -> String {
    owner.to_lowercase()
}

impl Registry {
    /// Adds (or replaces) the slot of `client_id`, keeping the per-owner counts.
    pub(crate) fn insert(&mut self, client_id: Utf8Bytes, slot: Slot) {
        if let Some(owner) = &slot.owner {
            *self.owners.entry(owner_key(owner)).or_default() += 1;
        }
        if let Some(old) = self.slots.insert(client_id, slot) {
            self.forget_owner(old.owner.as_deref());
        }
    }

    /// Removes the slot of `client_id`, keeping the per-owner counts.
    pub(crate) fn remove(&mut self, client_id: &str) -> Option<Slot> {
        let slot = self.slots.remove(client_id)?;
        self.forget_owner(slot.owner.as_deref());
        Some(slot)
    }

    /// Changes the owner recorded for `client_id`.
    pub(crate) fn set_owner(&mut self, client_id: &str, owner: Option<Utf8Bytes>) {
        let Some(slot) = self.slots.get_mut(client_id) else {
            return;
        };
        let old = std::mem::replace(&mut slot.owner, owner.clone());
        if let Some(owner) = &owner {
            *self.owners.entry(owner_key(owner)).or_default() += 1;
        }
        self.forget_owner(old.as_deref());
    }

    fn forget_owner(&mut self, owner: Option<&str>) {
        let Some(owner) = owner else { return };
        let key = owner_key(owner);
        if let Some(count) = self.owners.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.owners.remove(&key);
            }
        }
    }

    /// Sessions (online and offline) owned by `owner`.
    pub(crate) fn sessions_of(&self, owner: &str) -> usize {
        self.owners.get(&owner_key(owner)).copied().unwrap_or(0)
    }

    /// Schedules the next deadline of an offline session.
    pub(crate) fn schedule(
        &mut self,
        client_id: &Utf8Bytes,
        session: SessionId,
        expires_at: Option<Instant>,
        will: Option<&PendingWill>,
    ) {
        let next = match (expires_at, will.map(|w| w.due)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(at) = next {
            self.timers.insert(Timer {
                at,
                session,
                client_id: client_id.clone(),
            });
        }
    }

    /// Removes and returns the timers due at `now`.
    pub(crate) fn due_timers(&mut self, now: Instant) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(first) = self.timers.first() {
            if first.at > now {
                break;
            }
            if let Some(timer) = self.timers.pop_first() {
                due.push(timer);
            }
        }
        due
    }

    /// The earliest timer.
    pub(crate) fn next_timer(&self) -> Option<Instant> {
        self.timers.first().map(|t| t.at)
    }

    /// Number of sessions, online and offline.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}
