//! The shared broker core: router, retained store and session registry, and the
//! session lifecycle that ties them together (claim, takeover, release, expiry, wills).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use gridmq_codec::{Connect, ProtocolVersion, QoS, ReasonCode, Utf8Bytes, Will, WillProperties};
use parking_lot::Mutex;

use crate::config::{EngineConfig, SharedRedelivery};
use crate::control::{ConnectionControl, Handoff, HandoffOutcome};
use crate::durable::{RouteLog, WallClock, restored_delivery, restored_message, stored_message};
use crate::inbox::{Inbox, InboxLimits};
use crate::message::{Delivery, Message, SessionId};
use crate::persist::{
    Change, EntryState, Persistence, Snapshot, StoredEntry, StoredSession, StoredWill, Ticket,
};
use crate::registry::{Offline, Registry, Slot, SlotState, Waiter};
use crate::retained::{RetainOutcome, RetainedStore};
use crate::router::Subscriber;
use crate::router::{RouteReport, Router};
use crate::session::{InflightMessage, OutboundStage, Session, SubscriptionRecord};
use crate::stats::Stats;
use crate::submission::SubmitGuard;
use crate::will::{PendingWill, will_message};

/// A CONNECT that passed the engine's checks, ready for authentication and a session.
#[derive(Debug)]
pub struct ConnectPlan {
    /// The CONNECT packet.
    pub connect: Box<Connect>,
    /// The client identifier: the client's, or one assigned to it.
    pub client_id: Utf8Bytes,
    /// Whether `client_id` was assigned by the broker.
    pub assigned: bool,
    /// The authentication name owning the session; set by the server after
    /// authentication in namespace mode, `None` in open mode.
    pub owner: Option<Utf8Bytes>,
    /// Sessions (online or offline) `owner` may hold at most; `None` is no limit.
    pub max_sessions_per_owner: Option<usize>,
    /// A lower cap on the Session Expiry Interval for this connection, in seconds (the
    /// namespace's `maximumSessionExpiryInHours`); `None` leaves the configured maximum.
    pub max_session_expiry: Option<u32>,
}

/// What [`Broker::restore`] rebuilt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Sessions restored offline.
    pub sessions: usize,
    /// Sessions that expired while the broker was down (their wills are published).
    pub expired: usize,
    /// Queued and in-flight messages restored.
    pub messages: usize,
    /// Retained messages restored.
    pub retained: usize,
    /// Records that could not be read back and were skipped.
    pub skipped: usize,
}

/// A refused CONNECT: the reason code (mapped to a v3 return code for 3.x clients) and
/// a message for the log and the v5 Reason String.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Why.
    pub reason: ReasonCode,
    /// Details.
    pub message: String,
}

impl Refusal {
    /// A refusal with a reason and message.
    pub fn new(reason: ReasonCode, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }
}

/// A session previously held for the client id, taken by a new connection.
#[derive(Debug)]
pub struct Claimed {
    pub(crate) previous: Option<(Box<Session>, Option<PendingWill>)>,
}

/// The result of claiming a client id's session.
#[derive(Debug)]
pub enum Claim {
    /// The session (or none) is available now.
    Ready(Claimed),
    /// A live connection holds the session and has been asked to close; wait for it.
    Wait(PendingClaim),
    /// The client id belongs to another identity.
    Refused(Refusal),
}

/// A claim waiting for the live connection to hand the session over.
#[derive(Debug)]
pub struct PendingClaim {
    handoff: Arc<Handoff>,
    client_id: Utf8Bytes,
    control: Arc<ConnectionControl>,
}

impl PendingClaim {
    /// Ready once the previous connection released the session, or with a refusal if a
    /// later connection claimed the client id meanwhile.
    ///
    /// Cancel safety: nothing is lost if the future polling this is dropped before
    /// `Ready`; call [`Broker::abandon_claim`] if the claim will not be polled again.
    pub fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<Claimed, Refusal>> {
        self.handoff.poll_outcome(cx).map(|outcome| match outcome {
            HandoffOutcome::Session(session, will) => Ok(Claimed {
                previous: Some((session, will)),
            }),
            HandoffOutcome::Fresh => Ok(Claimed { previous: None }),
            HandoffOutcome::Superseded => Err(Refusal::new(
                ReasonCode::SessionTakenOver,
                "another connection claimed this client id",
            )),
        })
    }
}

/// The shared core of a broker. One per process; every connection holds an `Arc`.
#[derive(Debug)]
pub struct Broker {
    config: EngineConfig,
    /// The queue limits of every session, shared rather than copied into each inbox.
    inbox_limits: Arc<InboxLimits>,
    router: Router,
    retained: RetainedStore,
    registry: Mutex<Registry>,
    stats: Stats,
    next_id: AtomicU64,
    id_seed: u64,
    clock: WallClock,
    persistence: Option<Arc<dyn Persistence>>,
}

impl Broker {
    /// A broker with the given configuration, no sessions and no durable storage.
    pub fn new(config: EngineConfig) -> Arc<Self> {
        Self::with_persistence(
            config,
            None,
            WallClock::new(Instant::now(), SystemTime::now()),
        )
    }

    /// A broker that records its durable state through `persistence` (if any), with
    /// `clock` relating `now` values to wall-clock time.
    pub fn with_persistence(
        config: EngineConfig,
        persistence: Option<Arc<dyn Persistence>>,
        clock: WallClock,
    ) -> Arc<Self> {
        let retained = RetainedStore::new(config.max_retained_messages, config.max_retained_bytes);
        let inbox_limits = Arc::new(InboxLimits {
            max_messages: config.max_queued_messages,
            max_bytes: config.max_queued_bytes,
            overflow: config.queue_overflow,
            queue_qos0_offline: config.queue_qos0_offline,
            congestion_threshold: config.congestion_threshold,
        });
        Arc::new(Self {
            config,
            inbox_limits,
            router: Router::new(),
            retained,
            registry: Mutex::new(Registry::default()),
            stats: Stats::default(),
            next_id: AtomicU64::new(1),
            id_seed: random_seed(),
            clock,
            persistence,
        })
    }

    /// The durable storage, if any.
    pub fn persistence(&self) -> Option<&Arc<dyn Persistence>> {
        self.persistence.as_ref()
    }

    /// The clock relating `now` values to wall-clock time.
    pub fn clock(&self) -> &WallClock {
        &self.clock
    }

    /// A fresh id for sessions and stored messages.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Submits changes to durable storage, if there is any and anything changed.
    pub(crate) fn submit(&self, changes: Vec<Change>) -> Option<Ticket> {
        if changes.is_empty() {
            return None;
        }
        self.persistence.as_ref().map(|p| p.submit(changes))
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The subscription router.
    pub fn router(&self) -> &Router {
        &self.router
    }

    /// The retained messages.
    pub fn retained(&self) -> &RetainedStore {
        &self.retained
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Sessions held, online and offline.
    pub fn session_count(&self) -> usize {
        self.registry.lock().len()
    }

    /// Publishes a message at `now`: stores or clears it as retained if flagged, then
    /// queues it for every matching subscription. Durable changes are submitted without
    /// waiting.
    pub fn publish(&self, message: Arc<Message>, now: Instant) -> RouteReport {
        self.publish_durable(message, now).0
    }

    /// Publishes a message at `now` and returns the ticket that completes once it is
    /// durable for every persistent session it was queued for (and as retained); `None`
    /// when nothing needed storing. A publisher may be told the message was accepted
    /// only then.
    pub fn publish_durable(
        &self,
        message: Arc<Message>,
        now: Instant,
    ) -> (RouteReport, Option<Ticket>) {
        let mut guard = None;
        let (report, changes) = self.publish_logged(message, now, &mut guard);
        let ticket = self.submit(changes);
        drop(guard);
        (report, ticket)
    }

    /// Removes the retained message of `topic` without publishing anything, and records
    /// the removal; returns whether there was one, and the ticket of the record.
    pub fn remove_retained(&self, topic: &str) -> (bool, Option<Ticket>) {
        if !self.retained.remove(topic) {
            return (false, None);
        }
        let ticket = self.persistence.as_ref().map(|p| {
            p.submit(vec![Change::DeleteRetained {
                topic: topic.to_owned(),
            }])
        });
        (true, ticket)
    }

    /// Publishes a message and returns the durable changes it causes, for the caller to
    /// submit in its own batch; deliveries queued durably wait for the submission of
    /// `guard` (created if needed), which the caller drops once it has submitted.
    pub(crate) fn publish_logged(
        &self,
        message: Arc<Message>,
        now: Instant,
        guard: &mut Option<SubmitGuard>,
    ) -> (RouteReport, Vec<Change>) {
        let mut changes = Vec::new();
        if message.retain && self.config.retain_available {
            match self.retained.apply(&message, self.clock.wall(now)) {
                RetainOutcome::Full => Stats::add(&self.stats.retained_refused, 1),
                _ if self.persistence.is_none() => {}
                RetainOutcome::Stored => {
                    changes.push(Change::PutRetained(stored_message(&message, &self.clock)));
                }
                RetainOutcome::Cleared => changes.push(Change::DeleteRetained {
                    topic: message.topic.to_string(),
                }),
            }
        }
        if self.persistence.is_none() || message.qos == QoS::AtMostOnce {
            return (self.router.route(&message), changes);
        }
        let submission = guard.get_or_insert_with(SubmitGuard::default).submission();
        let mut log = RouteLog::new(self.next_id(), submission);
        let report = self.router.route_logged(&message, Some(&mut log));
        changes.extend(log.finish(&message, &self.clock));
        (report, changes)
    }

    /// Checks a CONNECT against the client identifier rules and the configured limits,
    /// assigning a client identifier where the protocol allows.
    pub fn check_connect(&self, connect: Box<Connect>) -> Result<ConnectPlan, Refusal> {
        let config = &self.config;
        if let Some(method) = &connect.properties.authentication_method {
            if !config.delegate_authentication_methods
                && !config
                    .authentication_methods
                    .iter()
                    .any(|m| m == method.as_str())
            {
                return Err(Refusal::new(
                    ReasonCode::BadAuthenticationMethod,
                    format!("authentication method {method:?} is not configured"),
                ));
            }
        }
        if let Some(will) = &connect.will {
            if will.properties.payload_format_indicator == Some(true)
                && config.validate_utf8_payloads
                && std::str::from_utf8(&will.payload).is_err()
            {
                return Err(Refusal::new(
                    ReasonCode::PayloadFormatInvalid,
                    "[MQTT 3.1.3.2.3] will payload flagged as UTF-8 is not valid UTF-8",
                ));
            }
        }
        if connect.client_id.len() > config.max_client_id_length {
            return Err(Refusal::new(
                ReasonCode::ClientIdentifierNotValid,
                format!(
                    "client identifier longer than {} bytes",
                    config.max_client_id_length
                ),
            ));
        }
        if !connect.client_id.is_empty() {
            // Owned, so that the session's name does not keep CONNECT's receive buffer.
            let client_id = connect.client_id.compact();
            return Ok(ConnectPlan {
                connect,
                client_id,
                assigned: false,
                owner: None,
                max_sessions_per_owner: None,
                max_session_expiry: None,
            });
        }
        match connect.protocol {
            ProtocolVersion::V3_1 => Err(Refusal::new(
                ReasonCode::ClientIdentifierNotValid,
                "MQTT 3.1 requires a client identifier",
            )),
            ProtocolVersion::V3_1_1 if !connect.clean_start => Err(Refusal::new(
                ReasonCode::ClientIdentifierNotValid,
                "[MQTT-3.1.3-8] an empty client identifier needs Clean Session 1",
            )),
            _ => {
                let client_id = self.assign_client_id();
                Ok(ConnectPlan {
                    connect,
                    client_id,
                    assigned: true,
                    owner: None,
                    max_sessions_per_owner: None,
                    max_session_expiry: None,
                })
            }
        }
    }

    fn assign_client_id(&self) -> Utf8Bytes {
        let n = self.next_id();
        format!(
            "{}{:016x}{:08x}",
            self.config.assigned_client_id_prefix, self.id_seed, n
        )
        .into()
    }

    pub(crate) fn new_session(&self, client_id: Utf8Bytes, owner: Option<Utf8Bytes>) -> Session {
        self.new_session_with_id(SessionId(self.next_id()), client_id, owner)
    }

    fn new_session_with_id(
        &self,
        id: SessionId,
        client_id: Utf8Bytes,
        owner: Option<Utf8Bytes>,
    ) -> Session {
        let inbox = Arc::new(Inbox::new(id.0, self.inbox_limits.clone()));
        Session::new(id, client_id, owner, inbox)
    }

    /// Claims the session of `plan.client_id` for a new connection identified by
    /// `control`. A live holder is asked to close with Session taken over (0x8E).
    pub fn claim(&self, plan: &ConnectPlan, control: Arc<ConnectionControl>) -> Claim {
        let mut registry = self.registry.lock();
        let Some(slot) = registry.slots.get_mut(&plan.client_id) else {
            if let (Some(owner), Some(max)) = (&plan.owner, plan.max_sessions_per_owner) {
                let held = registry.sessions_of(owner);
                if held >= max {
                    return Claim::Refused(Refusal::new(
                        ReasonCode::QuotaExceeded,
                        format!("{owner} already holds {held} session(s), the most it may"),
                    ));
                }
            }
            registry.insert(
                plan.client_id.clone(),
                Slot {
                    state: SlotState::Online(control),
                    owner: plan.owner.clone(),
                    waiter: None,
                },
            );
            return Claim::Ready(Claimed { previous: None });
        };
        if !same_owner(slot.owner.as_ref(), plan.owner.as_ref()) {
            return Claim::Refused(Refusal::new(
                ReasonCode::NotAuthorized,
                "the client identifier is a session of another client",
            ));
        }
        match &slot.state {
            SlotState::Online(live) => {
                live.kick(
                    ReasonCode::SessionTakenOver,
                    "another connection took over the session",
                );
                let handoff = Arc::new(Handoff::default());
                let previous_waiter = slot.waiter.replace(Box::new(Waiter {
                    control: control.clone(),
                    handoff: handoff.clone(),
                    owner: plan.owner.clone(),
                }));
                if let Some(waiter) = previous_waiter {
                    // An earlier claimant that never got the session loses to this one.
                    let _ = waiter.handoff.complete(HandoffOutcome::Superseded);
                }
                Claim::Wait(PendingClaim {
                    handoff,
                    client_id: plan.client_id.clone(),
                    control,
                })
            }
            SlotState::Offline(_) => {
                let state = std::mem::replace(&mut slot.state, SlotState::Online(control));
                registry.set_owner(&plan.client_id, plan.owner.clone());
                let SlotState::Offline(offline) = state else {
                    return Claim::Ready(Claimed { previous: None });
                };
                let Offline { session, will, .. } = *offline;
                Claim::Ready(Claimed {
                    previous: Some((session, will)),
                })
            }
        }
    }

    /// Gives up a pending claim that will not be polled again; a session already handed
    /// over is released as if its connection had ended.
    pub fn abandon_claim(&self, claim: PendingClaim, now: Instant) {
        {
            let mut registry = self.registry.lock();
            if let Some(slot) = registry.slots.get_mut(&claim.client_id) {
                if slot
                    .waiter
                    .as_ref()
                    .is_some_and(|w| Arc::ptr_eq(&w.handoff, &claim.handoff))
                {
                    slot.waiter = None;
                }
            }
        }
        match claim.handoff.abandon() {
            Some(HandoffOutcome::Session(session, will)) => {
                self.release(&claim.control, session, will.map(|w| w.will), now);
            }
            Some(HandoffOutcome::Fresh) => {
                let mut registry = self.registry.lock();
                let ours = registry.slots.get(&claim.client_id).is_some_and(
                    |slot| matches!(&slot.state, SlotState::Online(c) if Arc::ptr_eq(c, &claim.control)),
                );
                if ours {
                    registry.remove(&claim.client_id);
                }
            }
            Some(HandoffOutcome::Superseded) | None => {}
        }
    }

    /// The stored form of a session.
    pub(crate) fn session_record(
        &self,
        session: &Session,
        disconnected_at: Option<Instant>,
        will: Option<&PendingWill>,
    ) -> StoredSession {
        StoredSession {
            client_id: session.client_id.to_string(),
            session_id: session.id.0,
            owner: session.owner.as_ref().map(|o| o.to_string()),
            expiry_interval: session.expiry_interval,
            subscriptions: session
                .subscriptions
                .iter()
                .map(|(raw, record)| record.stored(raw))
                .collect(),
            disconnected_at: disconnected_at.map(|at| self.clock.wall(at)),
            will: will.map(|pending| self.stored_will(pending)),
        }
    }

    fn stored_will(&self, pending: &PendingWill) -> StoredWill {
        let mut message = stored_message(
            &will_message(&pending.will, pending.due, SessionId(0)),
            &self.clock,
        );
        message.expires_at = None;
        StoredWill {
            message,
            message_expiry_interval: pending.will.properties.message_expiry_interval,
            due: self.clock.wall(pending.due),
        }
    }

    /// Returns a session from a connection that ended: hands it to a waiting
    /// connection, keeps it offline until it expires, or ends it. `will` is the will of
    /// a connection that ended abnormally.
    pub(crate) fn release(
        &self,
        control: &Arc<ConnectionControl>,
        mut session: Box<Session>,
        will: Option<Will>,
        now: Instant,
    ) {
        session.inbox.set_online(false);
        let mut pending_will = will.map(|w| PendingWill::new(w, now, session.expiry_interval));
        let mut due_will = pending_will.take_if(|w| w.due <= now);
        let mut changes = Vec::new();
        let mut guard = None;
        if session.is_persistent() {
            if self.config.shared_redelivery == SharedRedelivery::OnDisconnect {
                changes.extend(self.redistribute_shared(&mut session, &mut guard));
            }
            if self.persistence.is_some() {
                changes.push(Change::PutSession(self.session_record(
                    &session,
                    Some(now),
                    pending_will.as_ref(),
                )));
                session.stored = true;
            }
        }
        self.submit(changes);
        drop(guard);
        let mut ended = None;
        {
            let mut registry = self.registry.lock();
            let Some(slot) = registry.slots.get_mut(&session.client_id) else {
                drop(registry);
                self.end_session(session, pending_will.take(), now);
                return self.publish_due_will(due_will, now);
            };
            let ours = matches!(&slot.state, SlotState::Online(c) if Arc::ptr_eq(c, control));
            if !ours {
                drop(registry);
                self.end_session(session, pending_will.take(), now);
                return self.publish_due_will(due_will, now);
            }
            let client_id = session.client_id.clone();
            let mut outcome = None;
            let mut new_owner = None;
            if let Some(waiter) = slot.waiter.take() {
                slot.state = SlotState::Online(waiter.control.clone());
                new_owner = Some(waiter.owner.clone());
                let handoff = if session.expiry_interval == 0 {
                    ended = Some((session, pending_will.take()));
                    HandoffOutcome::Fresh
                } else {
                    HandoffOutcome::Session(session, pending_will.take())
                };
                outcome = waiter.handoff.complete(handoff).err();
            } else if session.expiry_interval == 0 {
                registry.remove(&client_id);
                ended = Some((session, pending_will.take()));
            } else {
                outcome = Some(HandoffOutcome::Session(session, pending_will.take()));
            }
            if let Some(owner) = new_owner {
                registry.set_owner(&client_id, owner);
            }
            // Nobody took it: the session waits offline (or, if it ended, is gone).
            match outcome {
                Some(HandoffOutcome::Session(session, will)) => {
                    let expires_at = expiry_deadline(session.expiry_interval, now);
                    registry.schedule(&client_id, session.id, expires_at, will.as_ref());
                    if let Some(slot) = registry.slots.get_mut(&client_id) {
                        slot.state = SlotState::Offline(Box::new(Offline {
                            session,
                            disconnected_at: now,
                            expires_at,
                            will,
                        }));
                    }
                }
                Some(HandoffOutcome::Fresh) => {
                    registry.remove(&client_id);
                }
                Some(HandoffOutcome::Superseded) | None => {}
            }
        }
        if let Some((session, will)) = ended {
            if let Some(will) = will {
                due_will.get_or_insert(will);
            }
            self.end_session(session, None, now);
        }
        self.publish_due_will(due_will, now);
    }

    fn publish_due_will(&self, will: Option<PendingWill>, now: Instant) {
        if let Some(pending) = will {
            self.publish_will(&pending.will, now);
        }
    }

    /// Publishes a will message now.
    pub(crate) fn publish_will(&self, will: &Will, now: Instant) {
        Stats::add(&self.stats.wills_published, 1);
        self.publish(Arc::new(will_message(will, now, SessionId(0))), now);
    }

    /// Ends a session for good: removes its subscriptions and its durable record,
    /// offers its unacknowledged shared-subscription messages to other members, and
    /// publishes a pending will.
    pub(crate) fn end_session(
        &self,
        mut session: Box<Session>,
        will: Option<PendingWill>,
        now: Instant,
    ) {
        for record in session.subscriptions.values() {
            self.router.unsubscribe(&record.filter, session.id);
        }
        session.subscriptions.clear();
        let mut guard = None;
        let mut changes = self.redistribute_shared(&mut session, &mut guard);
        session.inbox.close();
        if session.stored {
            changes.push(Change::DeleteSession {
                client_id: session.client_id.to_string(),
                session_id: session.id.0,
            });
        }
        self.submit(changes);
        drop(guard);
        if let Some(pending) = will {
            self.publish_will(&pending.will, now);
        }
    }

    /// Moves the session's unacknowledged QoS 1 messages of shared subscriptions to
    /// other members of their groups ([MQTT 4.8.2]); QoS 2 messages stay, as the
    /// exchange must complete on the session that started it. Messages no other member
    /// takes stay with the session. Returns the durable changes of the moves.
    fn redistribute_shared(
        &self,
        session: &mut Session,
        guard: &mut Option<SubmitGuard>,
    ) -> Vec<Change> {
        let is_shared_qos1 = |d: &Delivery| d.shared.is_some() && d.qos == QoS::AtLeastOnce;
        let mut moving: Vec<Delivery> = session.inbox.extract(is_shared_qos1);
        let mut kept = std::collections::VecDeque::new();
        for delivery in session.pending.drain(..) {
            if is_shared_qos1(&delivery) {
                moving.push(delivery);
            } else {
                kept.push_back(delivery);
            }
        }
        session.pending = kept;
        let inflight = session
            .outbound
            .extract(|m| m.stage == OutboundStage::AwaitingPubAck && is_shared_qos1(&m.delivery));
        moving.extend(inflight.into_iter().map(|m| m.delivery));
        let mut changes = Vec::new();
        for mut delivery in moving {
            let Some(shared) = delivery.shared.clone() else {
                continue;
            };
            let submission = guard.get_or_insert_with(SubmitGuard::default).submission();
            let mut log = RouteLog::new(self.next_id(), submission);
            let logged = self.persistence.is_some();
            if self.router.redeliver_shared_logged(
                &shared,
                delivery.clone(),
                session.id,
                logged.then_some(&mut log),
            ) {
                changes.extend(log.finish(&delivery.message, &self.clock));
                if let Some(durable) = delivery.durable.take() {
                    changes.push(Change::DeleteEntry {
                        session_id: session.id.0,
                        seq: durable.seq.get(),
                    });
                }
            } else {
                session.pending.push_back(delivery);
            }
        }
        changes
    }

    /// Fires due timers of offline sessions: delayed wills and session expiry.
    pub fn handle_timeout(&self, now: Instant) {
        let mut wills = Vec::new();
        let mut ended = Vec::new();
        let mut changes = Vec::new();
        {
            let mut registry = self.registry.lock();
            for timer in registry.due_timers(now) {
                let Some(slot) = registry.slots.get_mut(&timer.client_id) else {
                    continue;
                };
                let SlotState::Offline(offline) = &mut slot.state else {
                    continue;
                };
                let Offline {
                    session,
                    disconnected_at,
                    expires_at,
                    will,
                } = &mut **offline;
                if session.id != timer.session {
                    continue;
                }
                let fired = will.take_if(|w| w.due <= now);
                if expires_at.is_some_and(|at| at <= now) {
                    wills.extend(fired);
                    if let Some(Slot {
                        state: SlotState::Offline(offline),
                        ..
                    }) = registry.remove(&timer.client_id)
                    {
                        let Offline { session, will, .. } = *offline;
                        ended.push((session, will));
                    }
                    continue;
                }
                if let Some(fired) = fired {
                    wills.push(fired);
                    if session.stored && self.persistence.is_some() {
                        changes.push(Change::PutSession(self.session_record(
                            session,
                            Some(*disconnected_at),
                            None,
                        )));
                    }
                }
                let (id, expires_at, will) = (session.id, *expires_at, will.clone());
                registry.schedule(&timer.client_id, id, expires_at, will.as_ref());
            }
        }
        self.submit(changes);
        for will in wills {
            self.publish_will(&will.will, now);
        }
        for (session, will) in ended {
            Stats::add(&self.stats.sessions_expired, 1);
            self.end_session(session, will, now);
        }
    }

    /// Rebuilds durable state read at startup: retained messages, and every stored
    /// session offline with its subscriptions, queue, in-flight messages, QoS 2 packet
    /// ids and pending will. Session and message expiry count from the stored wall-clock
    /// times, so time spent down counts. Call before accepting connections.
    pub fn restore(&self, snapshot: &Snapshot, now: Instant) -> RestoreReport {
        let mut report = RestoreReport::default();
        self.next_id
            .fetch_max(snapshot.next_id(), Ordering::Relaxed);
        for stored in &snapshot.retained {
            match restored_message(stored, &self.clock) {
                Some(message) if !message.is_expired(now) => {
                    self.retained.apply(&message, self.clock.wall(now));
                    report.retained += 1;
                }
                Some(_) => {}
                None => report.skipped += 1,
            }
        }
        let messages: HashMap<u64, Arc<Message>> = snapshot
            .messages
            .iter()
            .filter_map(|(id, stored)| {
                Some((*id, Arc::new(restored_message(stored, &self.clock)?)))
            })
            .collect();
        let mut entries: HashMap<u64, Vec<(u64, &StoredEntry)>> = HashMap::new();
        for (session_id, seq, entry) in &snapshot.entries {
            entries.entry(*session_id).or_default().push((*seq, entry));
        }
        let mut inbound: HashMap<u64, Vec<u16>> = HashMap::new();
        for (session_id, packet_id) in &snapshot.inbound_qos2 {
            inbound.entry(*session_id).or_default().push(*packet_id);
        }
        for stored in &snapshot.sessions {
            let mut session_entries = entries.remove(&stored.session_id).unwrap_or_default();
            session_entries.sort_by_key(|(seq, _)| *seq);
            let inbound = inbound.remove(&stored.session_id).unwrap_or_default();
            self.restore_session(
                stored,
                &session_entries,
                &inbound,
                &messages,
                now,
                &mut report,
            );
        }
        report
    }

    fn restore_session(
        &self,
        stored: &StoredSession,
        entries: &[(u64, &StoredEntry)],
        inbound: &[u16],
        messages: &HashMap<u64, Arc<Message>>,
        now: Instant,
        report: &mut RestoreReport,
    ) {
        let client_id = Utf8Bytes::from(stored.client_id.as_str());
        let owner = stored.owner.as_deref().map(Utf8Bytes::from);
        let mut session = Box::new(self.new_session_with_id(
            SessionId(stored.session_id),
            client_id.clone(),
            owner.clone(),
        ));
        session.expiry_interval = stored.expiry_interval;
        session.stored = true;
        session.inbox.set_persistent(session.is_persistent());
        for subscription in &stored.subscriptions {
            let Some((raw, record)) = SubscriptionRecord::restored(subscription) else {
                report.skipped += 1;
                continue;
            };
            self.router.subscribe(
                &record.filter,
                Subscriber {
                    session: session.id,
                    inbox: session.inbox.clone(),
                    options: record.options,
                    id: record.id,
                },
            );
            session.subscriptions.insert(raw, record);
        }
        for (seq, entry) in entries {
            session.inbox.resume_seq_after(*seq);
            let delivery = messages
                .get(&entry.message_id)
                .and_then(|message| restored_delivery(entry, message.clone(), *seq));
            let Some(delivery) = delivery else {
                report.skipped += 1;
                continue;
            };
            report.messages += 1;
            let (packet_id, stage) = match entry.state {
                EntryState::Queued => {
                    session.inbox.restore(delivery);
                    continue;
                }
                EntryState::AwaitingPubAck(id) => (id, OutboundStage::AwaitingPubAck),
                EntryState::AwaitingPubRec(id) => (id, OutboundStage::AwaitingPubRec),
                EntryState::AwaitingPubComp(id) => (id, OutboundStage::AwaitingPubComp),
            };
            match gridmq_codec::PacketId::new(packet_id) {
                Some(packet_id) => session.outbound.push(InflightMessage {
                    packet_id,
                    delivery,
                    stage,
                }),
                None => report.skipped += 1,
            }
        }
        session.inbound_qos2.extend(inbound.iter().copied());
        let will = stored.will.as_ref().and_then(|w| self.restored_will(w));
        let disconnected_at = stored
            .disconnected_at
            .map_or(now, |at| self.clock.instant(at));
        let expires_at = expiry_deadline(session.expiry_interval, disconnected_at);
        if expires_at.is_some_and(|at| at <= now) || !session.is_persistent() {
            report.expired += 1;
            return self.end_session(session, will, now);
        }
        report.sessions += 1;
        let mut registry = self.registry.lock();
        registry.schedule(&client_id, session.id, expires_at, will.as_ref());
        registry.insert(
            client_id,
            Slot {
                state: SlotState::Offline(Box::new(Offline {
                    session,
                    disconnected_at,
                    expires_at,
                    will,
                })),
                owner,
                waiter: None,
            },
        );
    }

    fn restored_will(&self, stored: &StoredWill) -> Option<PendingWill> {
        let message = restored_message(&stored.message, &self.clock)?;
        let p = message.properties.map(|p| *p).unwrap_or_default();
        let properties = WillProperties {
            will_delay_interval: None,
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval: stored.message_expiry_interval,
            content_type: p.content_type,
            response_topic: p.response_topic,
            correlation_data: p.correlation_data,
            user_properties: p.user_properties,
        };
        Some(PendingWill {
            will: Will {
                qos: message.qos,
                retain: message.retain,
                topic: message.topic,
                payload: message.payload,
                properties,
            },
            due: self.clock.instant(stored.due),
        })
    }

    /// The earliest instant at which [`Broker::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.registry.lock().next_timer()
    }

    /// Asks the live connection of `client_id` to close. Returns whether there was one.
    pub fn disconnect_client(&self, client_id: &str, reason: ReasonCode, message: &str) -> bool {
        let registry = self.registry.lock();
        match registry.slots.get(client_id).map(|slot| &slot.state) {
            Some(SlotState::Online(control)) => {
                control.kick(reason, message);
                true
            }
            _ => false,
        }
    }

    /// Asks every live connection to close with `reason`; used at shutdown.
    pub fn disconnect_all(&self, reason: ReasonCode, message: &str) {
        let registry = self.registry.lock();
        for slot in registry.slots.values() {
            if let SlotState::Online(control) = &slot.state {
                control.kick(reason, message);
            }
        }
    }
}

/// Whether `claimant` may take a session owned by `current`: authentication names are
/// compared without regard to case, as the registry counts them.
fn same_owner(current: Option<&Utf8Bytes>, claimant: Option<&Utf8Bytes>) -> bool {
    match (current, claimant) {
        (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
        _ => true,
    }
}

/// When an offline session with this Session Expiry Interval ends; `None` is never.
fn expiry_deadline(expiry_interval: u32, now: Instant) -> Option<Instant> {
    (expiry_interval != u32::MAX).then(|| now + Duration::from_secs(u64::from(expiry_interval)))
}

/// A per-process value that makes assigned client identifiers unique across restarts.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(std::process::id().into());
    hasher.finish()
}
