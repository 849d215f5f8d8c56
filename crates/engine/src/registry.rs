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
    /// No connection; the session waits for its client or its expiry.
    Offline {
        session: Box<Session>,
        disconnected_at: Instant,
        expires_at: Option<Instant>,
        will: Option<PendingWill>,
    },
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
    pub(crate) waiter: Option<Waiter>,
}

/// A deadline for an offline session: its will or its expiry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Timer {
    pub(crate) at: Instant,
    pub(crate) session: SessionId,
    pub(crate) client_id: Utf8Bytes,
}

/// Sessions by client id, plus the timers of offline ones.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) slots: HashMap<Utf8Bytes, Slot, foldhash::fast::RandomState>,
    pub(crate) timers: BTreeSet<Timer>,
}

impl Registry {
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
