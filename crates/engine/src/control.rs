//! Signals between connections that need no async runtime: a request to close a live
//! connection, and the hand-over of a session from the connection that held it to the
//! one taking it over. Both wake their receiver through a plain [`Waker`].

use std::task::{Context, Poll, Waker};

use gridmq_codec::ReasonCode;
use parking_lot::Mutex;

use crate::session::Session;
use crate::will::PendingWill;

/// Why a live connection is asked to close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kick {
    /// The DISCONNECT reason code for v5 clients.
    pub reason: ReasonCode,
    /// The reason string, also logged.
    pub message: String,
}

#[derive(Debug, Default)]
struct ControlState {
    kick: Option<Kick>,
    waker: Option<Waker>,
}

/// The handle through which others ask a live connection to close: session takeover,
/// administrative action, shutdown.
#[derive(Debug, Default)]
pub struct ConnectionControl {
    state: Mutex<ControlState>,
}

impl ConnectionControl {
    /// A handle with nothing requested.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the connection to close. The first request wins.
    pub fn kick(&self, reason: ReasonCode, message: impl Into<String>) {
        let waker = {
            let mut state = self.state.lock();
            if state.kick.is_some() {
                return;
            }
            state.kick = Some(Kick {
                reason,
                message: message.into(),
            });
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ready with the request once someone asked the connection to close.
    ///
    /// Cancel safety: the request stays until taken by a `Ready` poll.
    pub fn poll_kick(&self, cx: &mut Context<'_>) -> Poll<Kick> {
        let mut state = self.state.lock();
        match state.kick.take() {
            Some(kick) => Poll::Ready(kick),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// What a connection waiting to take over a session receives.
// Moved once per takeover, never stored in bulk: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum HandoffOutcome {
    /// The session, released by the previous connection, with a will whose delay had
    /// not run out.
    Session(Box<Session>, Option<PendingWill>),
    /// The previous connection ended its session; start a new one.
    Fresh,
    /// A later connection claimed the same client id first.
    Superseded,
}

#[derive(Debug, Default)]
struct HandoffState {
    outcome: Option<HandoffOutcome>,
    waker: Option<Waker>,
    abandoned: bool,
}

/// A one-shot slot through which a session passes from one connection to the next.
#[derive(Debug, Default)]
pub struct Handoff {
    state: Mutex<HandoffState>,
}

impl Handoff {
    /// Delivers the outcome, unless the waiter has gone; then gives it back.
    #[allow(clippy::result_large_err)]
    pub(crate) fn complete(&self, outcome: HandoffOutcome) -> Result<(), HandoffOutcome> {
        let waker = {
            let mut state = self.state.lock();
            if state.abandoned {
                return Err(outcome);
            }
            state.outcome = Some(outcome);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Ready once the previous connection has released the session.
    ///
    /// Cancel safety: the outcome stays until taken by a `Ready` poll.
    pub fn poll_outcome(&self, cx: &mut Context<'_>) -> Poll<HandoffOutcome> {
        let mut state = self.state.lock();
        match state.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => {
                state.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// Marks the waiter gone; returns an outcome that had already arrived, which the
    /// caller must give back.
    pub(crate) fn abandon(&self) -> Option<HandoffOutcome> {
        let mut state = self.state.lock();
        state.abandoned = true;
        state.outcome.take()
    }
}
