//! Whether a batch of durable changes has been submitted: the ordering point between a
//! publisher's batch and the deliveries it routed into persistent sessions.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use smallvec::SmallVec;

/// Whether the batch that creates some queue entries has been submitted to storage.
///
/// Batches are applied in the order they are submitted, and a publisher submits its
/// batch at the end of its turn, after routing has already queued the deliveries. A
/// session that sent such a delivery and recorded its acknowledgement first would have
/// its `DeleteEntry` applied before the publisher's `PutEntry`, which would bring the
/// entry back (the message delivered again after a restart; for QoS 2, twice). So a
/// durable delivery waits at the head of its session's queue until its submission is
/// marked; nothing about its entry is recorded before.
#[derive(Debug, Default)]
pub(crate) struct Submission {
    submitted: AtomicBool,
    wakers: parking_lot::Mutex<SmallVec<[Waker; 1]>>,
}

impl Submission {
    /// Whether the batch has been submitted (or never will be).
    pub(crate) fn is_submitted(&self) -> bool {
        self.submitted.load(Ordering::Acquire)
    }

    /// Ready once the batch has been submitted; otherwise wakes `cx` then.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_submitted() {
            return Poll::Ready(());
        }
        let mut wakers = self.wakers.lock();
        // Checked again under the lock that `mark` takes after setting the flag.
        if self.is_submitted() {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    fn mark(&self) {
        self.submitted.store(true, Ordering::Release);
        let wakers = std::mem::take(&mut *self.wakers.lock());
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// The [`Submission`] of the batch being gathered; marks it when dropped, which its
/// owner does right after submitting the batch (or when the batch is abandoned: then the
/// entries never exist and nothing needs to wait for them).
#[derive(Debug, Default)]
pub(crate) struct SubmitGuard(Arc<Submission>);

impl SubmitGuard {
    /// The submission deliveries routed into this batch wait for.
    pub(crate) fn submission(&self) -> &Arc<Submission> {
        &self.0
    }
}

impl Drop for SubmitGuard {
    fn drop(&mut self) {
        self.0.mark();
    }
}
