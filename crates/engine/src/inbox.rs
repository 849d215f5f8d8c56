//! A session's bounded queue of deliveries, filled by the router from any thread and
//! drained by the session's connection.
//!
//! It wakes the connection through a plain [`Waker`], so the engine needs no async
//! runtime: the driver polls [`Inbox::poll_ready`] from its event loop.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use gridmq_codec::QoS;
use parking_lot::Mutex;

use crate::config::OverflowPolicy;
use crate::durable::RouteLog;
use crate::message::{Delivery, DurableRef};

/// The outcome of offering a delivery to an inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued.
    Queued,
    /// Queued after dropping the oldest queued delivery.
    QueuedDroppedOldest,
    /// Not queued: the inbox is full and drops new messages.
    DroppedFull,
    /// Not queued: the inbox is full and the publisher should hear 0x97.
    RefusedFull,
    /// Not queued: a QoS 0 message for an offline session that does not keep them.
    SkippedOffline,
    /// Not queued: the session has ended.
    Closed,
}

impl PushOutcome {
    /// Whether the delivery was queued.
    pub fn is_queued(self) -> bool {
        matches!(self, Self::Queued | Self::QueuedDroppedOldest)
    }
}

/// Bounds of one inbox.
#[derive(Debug, Clone, Copy)]
pub struct InboxLimits {
    /// Deliveries queued at most.
    pub max_messages: usize,
    /// Payload bytes queued at most.
    pub max_bytes: u64,
    /// What a full inbox does.
    pub overflow: OverflowPolicy,
    /// Whether QoS 0 messages are queued while the session is offline.
    pub queue_qos0_offline: bool,
    /// Queue length from which the inbox counts as congested: publishers whose messages
    /// land here are throttled until it drains.
    pub congestion_threshold: usize,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Delivery>,
    bytes: u64,
    waker: Option<Waker>,
    online: bool,
    closed: bool,
    persistent: bool,
    next_seq: u64,
    /// Publishers throttled until this inbox drains.
    throttled: Vec<Waker>,
    /// Set when a throttled publisher gave up waiting: the session does not read, so
    /// it stops throttling others (its queue's overflow policy applies) until it drains.
    stalled: bool,
}

impl State {
    /// Only a connected session throttles its publishers: an offline one keeps its
    /// queue for later, bounded by its limits and overflow policy.
    fn congested(&self, threshold: usize) -> bool {
        self.online && !self.stalled && self.queue.len() >= threshold
    }
}

/// A session's queue of undelivered messages.
#[derive(Debug)]
pub struct Inbox {
    state: Mutex<State>,
    session_id: u64,
    limits: Arc<InboxLimits>,
    dropped: AtomicU64,
}

impl Inbox {
    /// An empty, offline inbox of session `session_id`.
    pub fn new(session_id: u64, limits: impl Into<Arc<InboxLimits>>) -> Self {
        Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                waker: None,
                online: false,
                closed: false,
                persistent: false,
                next_seq: 1,
                throttled: Vec::new(),
                stalled: false,
            }),
            session_id,
            limits: limits.into(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Marks whether the session outlives its connection; QoS 1/2 deliveries to a
    /// persistent inbox are recorded in the route log for durable storage.
    pub fn set_persistent(&self, persistent: bool) {
        self.state.lock().persistent = persistent;
    }

    /// Continues queue positions after `seq`, for a session restored from storage.
    pub(crate) fn resume_seq_after(&self, seq: u64) {
        let mut state = self.state.lock();
        state.next_seq = state.next_seq.max(seq + 1);
    }

    /// Queues a restored delivery as is: no limits, no logging.
    pub(crate) fn restore(&self, delivery: Delivery) {
        let mut state = self.state.lock();
        state.bytes += delivery.message.size() as u64;
        state.queue.push_back(delivery);
    }

    /// Offers a delivery, applying the overflow policy when full, and wakes the
    /// connection if it waits. With a `log`, a QoS 1/2 delivery to a persistent inbox
    /// gets a queue position and is recorded, and evicted deliveries are recorded as
    /// removed.
    pub fn push(&self, delivery: Delivery) -> PushOutcome {
        self.push_logged(delivery, None).0
    }

    /// [`Inbox::push`], also telling whether the inbox is congested afterwards.
    pub(crate) fn push_logged(
        &self,
        mut delivery: Delivery,
        mut log: Option<&mut RouteLog>,
    ) -> (PushOutcome, bool) {
        let size = delivery.message.size() as u64;
        let waker;
        let outcome;
        let congested;
        {
            let mut state = self.state.lock();
            if state.closed {
                return (PushOutcome::Closed, false);
            }
            if !state.online && delivery.qos == QoS::AtMostOnce && !self.limits.queue_qos0_offline {
                return (PushOutcome::SkippedOffline, false);
            }
            let full = state.queue.len() >= self.limits.max_messages
                || state.bytes + size > self.limits.max_bytes;
            outcome = if !full {
                PushOutcome::Queued
            } else {
                match self.limits.overflow {
                    OverflowPolicy::DropNewest => PushOutcome::DroppedFull,
                    OverflowPolicy::Refuse => PushOutcome::RefusedFull,
                    OverflowPolicy::DropOldest => {
                        if !self.make_room(&mut state, size, log.as_deref_mut()) {
                            PushOutcome::DroppedFull
                        } else {
                            PushOutcome::QueuedDroppedOldest
                        }
                    }
                }
            };
            if !outcome.is_queued() {
                let congested = state.congested(self.limits.congestion_threshold);
                drop(state);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return (outcome, congested);
            }
            if let Some(log) = log.filter(|_| state.persistent && delivery.qos != QoS::AtMostOnce) {
                let seq = state.next_seq;
                state.next_seq += 1;
                if let Some(seq) = std::num::NonZeroU64::new(seq) {
                    delivery.durable = Some(DurableRef {
                        message_id: log.message_id,
                        seq,
                        submission: Some(log.submission.clone()),
                    });
                    log.put_entry(self.session_id, seq.get(), &delivery);
                }
            }
            state.bytes += size;
            state.queue.push_back(delivery);
            waker = state.waker.take();
            congested = state.congested(self.limits.congestion_threshold);
        }
        if outcome == PushOutcome::QueuedDroppedOldest {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(waker) = waker {
            waker.wake();
        }
        (outcome, congested)
    }

    /// Ready once the inbox is not congested; otherwise remembers the waker of the
    /// throttled publisher, woken when the session drains its queue.
    ///
    /// Cancel safety: polling takes nothing.
    pub fn poll_uncongested(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if !state.congested(self.limits.congestion_threshold) {
            return Poll::Ready(());
        }
        if !state.throttled.iter().any(|w| w.will_wake(cx.waker())) {
            state.throttled.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Stops this inbox from throttling publishers until its session drains it: a
    /// publisher waited too long, so the session is taken not to be reading.
    pub fn mark_stalled(&self) {
        let waiters = {
            let mut state = self.state.lock();
            state.stalled = true;
            std::mem::take(&mut state.throttled)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Drops oldest deliveries until `size` more bytes and one more message fit; a
    /// dropped durable delivery is recorded as removed.
    fn make_room(&self, state: &mut State, size: u64, mut log: Option<&mut RouteLog>) -> bool {
        let limits = &*self.limits;
        if size > limits.max_bytes {
            return false;
        }
        while state.queue.len() >= limits.max_messages || state.bytes + size > limits.max_bytes {
            let Some(oldest) = state.queue.pop_front() else {
                return false;
            };
            state.bytes -= oldest.message.size() as u64;
            if let (Some(durable), Some(log)) = (oldest.durable, log.as_deref_mut()) {
                log.delete_entry(self.session_id, durable.seq.get());
            }
        }
        true
    }

    /// Moves every queued delivery to the back of `out`, in order.
    pub fn take_all(&self, out: &mut VecDeque<Delivery>) {
        let waiters = {
            let mut state = self.state.lock();
            state.bytes = 0;
            if out.is_empty() {
                std::mem::swap(out, &mut state.queue);
                // Give back the memory of a burst once it has been taken.
                if state.queue.capacity() > 1024 {
                    state.queue = VecDeque::new();
                }
            } else {
                out.append(&mut state.queue);
            }
            state.stalled = false;
            std::mem::take(&mut state.throttled)
        };
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Ready when deliveries are queued; otherwise remembers the waker to wake on the
    /// next push.
    ///
    /// Cancel safety: this takes nothing out of the inbox, so dropping the future that
    /// polls it loses nothing.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.lock();
        if state.queue.is_empty() {
            match &state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Marks whether a connection is attached; offline sessions skip QoS 0 messages
    /// unless configured to keep them.
    pub fn set_online(&self, online: bool) {
        let throttled = {
            let mut state = self.state.lock();
            state.online = online;
            if online {
                return;
            }
            state.waker = None;
            // Gone offline: no longer congested, so its throttled publishers go on.
            std::mem::take(&mut state.throttled)
        };
        throttled.into_iter().for_each(Waker::wake);
    }

    /// Whether a connection is attached.
    pub fn is_online(&self) -> bool {
        self.state.lock().online
    }

    /// Ends the inbox: later pushes are refused; returns what was queued.
    pub fn close(&self) -> VecDeque<Delivery> {
        let mut state = self.state.lock();
        state.closed = true;
        state.bytes = 0;
        state.waker = None;
        std::mem::take(&mut state.queue)
    }

    /// Removes and returns the queued deliveries that `select` picks, keeping the rest
    /// in order.
    pub fn extract(&self, mut select: impl FnMut(&Delivery) -> bool) -> Vec<Delivery> {
        let mut state = self.state.lock();
        let mut kept = VecDeque::with_capacity(state.queue.len());
        let mut taken = Vec::new();
        for delivery in state.queue.drain(..) {
            if select(&delivery) {
                taken.push(delivery);
            } else {
                kept.push_back(delivery);
            }
        }
        state.bytes = kept.iter().map(|d| d.message.size() as u64).sum();
        state.queue = kept;
        taken
    }

    /// Number of queued deliveries.
    pub fn len(&self) -> usize {
        self.state.lock().queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Deliveries dropped or refused because the inbox was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use bytes::Bytes;
    use gridmq_codec::{Publish, TopicName};

    use super::*;
    use crate::message::Message;

    fn delivery(payload: &'static str, qos: QoS) -> Delivery {
        let publish = Publish::new(
            TopicName::new("t").unwrap(),
            Bytes::from_static(payload.as_bytes()),
        );
        Delivery::new(
            Arc::new(Message::from_publish(publish, Instant::now(), None)),
            qos,
            false,
        )
    }

    impl Inbox {
        fn test(limits: InboxLimits) -> Self {
            Self::new(1, limits)
        }
    }

    fn limits(max_messages: usize, overflow: OverflowPolicy) -> InboxLimits {
        InboxLimits {
            max_messages,
            max_bytes: u64::MAX,
            overflow,
            queue_qos0_offline: false,
            congestion_threshold: usize::MAX,
        }
    }

    fn payloads(inbox: &Inbox) -> Vec<Bytes> {
        let mut out = VecDeque::new();
        inbox.take_all(&mut out);
        out.into_iter().map(|d| d.message.payload.clone()).collect()
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let inbox = Inbox::test(limits(2, OverflowPolicy::DropOldest));
        inbox.set_online(true);
        for p in ["a", "b", "c"] {
            assert!(inbox.push(delivery(p, QoS::AtLeastOnce)).is_queued());
        }
        assert_eq!(payloads(&inbox), vec!["b", "c"]);
        assert_eq!(inbox.dropped(), 1);
    }

    #[test]
    fn drop_newest_and_refuse_keep_the_oldest() {
        for (policy, expected) in [
            (OverflowPolicy::DropNewest, PushOutcome::DroppedFull),
            (OverflowPolicy::Refuse, PushOutcome::RefusedFull),
        ] {
            let inbox = Inbox::test(limits(1, policy));
            inbox.set_online(true);
            assert_eq!(
                inbox.push(delivery("a", QoS::AtLeastOnce)),
                PushOutcome::Queued
            );
            assert_eq!(inbox.push(delivery("b", QoS::AtLeastOnce)), expected);
            assert_eq!(payloads(&inbox), vec!["a"]);
            assert_eq!(inbox.dropped(), 1);
        }
    }

    #[test]
    fn byte_limit_applies() {
        let inbox = Inbox::test(InboxLimits {
            max_bytes: 5,
            ..limits(100, OverflowPolicy::DropNewest)
        });
        inbox.set_online(true);
        assert!(inbox.push(delivery("abc", QoS::AtLeastOnce)).is_queued()); // 3 + topic 1
        assert_eq!(
            inbox.push(delivery("abc", QoS::AtLeastOnce)),
            PushOutcome::DroppedFull
        );
    }

    #[test]
    fn offline_sessions_skip_qos0_by_default() {
        let inbox = Inbox::test(limits(10, OverflowPolicy::DropOldest));
        assert_eq!(
            inbox.push(delivery("a", QoS::AtMostOnce)),
            PushOutcome::SkippedOffline
        );
        assert_eq!(
            inbox.push(delivery("b", QoS::AtLeastOnce)),
            PushOutcome::Queued
        );
    }

    #[test]
    fn closed_inbox_refuses() {
        let inbox = Inbox::test(limits(10, OverflowPolicy::DropOldest));
        inbox.push(delivery("a", QoS::AtLeastOnce));
        assert_eq!(inbox.close().len(), 1);
        assert_eq!(
            inbox.push(delivery("b", QoS::AtLeastOnce)),
            PushOutcome::Closed
        );
    }

    #[test]
    fn push_wakes_a_waiting_connection() {
        struct Flag(std::sync::atomic::AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        let inbox = Inbox::test(limits(10, OverflowPolicy::DropOldest));
        inbox.set_online(true);
        assert!(inbox.poll_ready(&mut cx).is_pending());
        inbox.push(delivery("a", QoS::AtMostOnce));
        assert!(flag.0.load(Ordering::SeqCst));
        assert!(inbox.poll_ready(&mut cx).is_ready());
    }
}

#[cfg(test)]
mod congestion_tests {
    use std::sync::Arc;
    use std::time::Instant;

    use bytes::Bytes;
    use gridmq_codec::{Publish, QoS, TopicName};

    use super::*;
    use crate::message::Message;

    fn delivery() -> Delivery {
        let publish = Publish::new(TopicName::new("t").unwrap(), Bytes::from_static(b"x"));
        Delivery::new(
            Arc::new(Message::from_publish(publish, Instant::now(), None)),
            QoS::AtLeastOnce,
            false,
        )
    }

    #[test]
    fn congestion_throttles_until_the_session_drains() {
        let inbox = Inbox::new(
            1,
            InboxLimits {
                max_messages: 100,
                max_bytes: u64::MAX,
                overflow: OverflowPolicy::DropOldest,
                queue_qos0_offline: false,
                congestion_threshold: 2,
            },
        );
        inbox.set_online(true);
        assert!(!inbox.push_logged(delivery(), None).1);
        assert!(
            inbox.push_logged(delivery(), None).1,
            "congested at the threshold"
        );
        let mut cx = Context::from_waker(Waker::noop());
        assert!(inbox.poll_uncongested(&mut cx).is_pending());
        inbox.take_all(&mut VecDeque::new());
        assert!(inbox.poll_uncongested(&mut cx).is_ready());
    }

    #[test]
    fn an_offline_session_never_throttles_and_going_offline_releases_publishers() {
        let inbox = Inbox::new(
            1,
            InboxLimits {
                max_messages: 100,
                max_bytes: u64::MAX,
                overflow: OverflowPolicy::DropOldest,
                queue_qos0_offline: false,
                congestion_threshold: 1,
            },
        );
        assert!(
            !inbox.push_logged(delivery(), None).1,
            "offline: kept for later"
        );
        inbox.set_online(true);
        assert!(inbox.push_logged(delivery(), None).1);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(inbox.poll_uncongested(&mut cx).is_pending());
        inbox.set_online(false);
        assert!(inbox.poll_uncongested(&mut cx).is_ready());
    }

    #[test]
    fn a_stalled_inbox_stops_throttling_until_drained() {
        let inbox = Inbox::new(
            1,
            InboxLimits {
                max_messages: 100,
                max_bytes: u64::MAX,
                overflow: OverflowPolicy::DropOldest,
                queue_qos0_offline: false,
                congestion_threshold: 1,
            },
        );
        inbox.set_online(true);
        assert!(inbox.push_logged(delivery(), None).1);
        inbox.mark_stalled();
        assert!(!inbox.push_logged(delivery(), None).1);
        inbox.take_all(&mut VecDeque::new());
        assert!(
            inbox.push_logged(delivery(), None).1,
            "draining clears the stall"
        );
    }
}
