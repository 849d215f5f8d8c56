//! The shared broker core: router, retained store and session registry, and the
//! session lifecycle that ties them together (claim, takeover, release, expiry, wills).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use gridmq_codec::{Connect, ProtocolVersion, QoS, ReasonCode, Utf8Bytes, Will};
use parking_lot::Mutex;

use crate::config::{EngineConfig, SharedRedelivery};
use crate::control::{ConnectionControl, Handoff, HandoffOutcome};
use crate::inbox::{Inbox, InboxLimits};
use crate::message::{Delivery, Message, SessionId};
use crate::registry::{Registry, Slot, SlotState, Waiter};
use crate::retained::{RetainOutcome, RetainedStore};
use crate::router::{RouteReport, Router};
use crate::session::{OutboundStage, Session};
use crate::stats::Stats;
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
    router: Router,
    retained: RetainedStore,
    registry: Mutex<Registry>,
    stats: Stats,
    next_session: AtomicU64,
    id_seed: u64,
}

impl Broker {
    /// A broker with the given configuration and no sessions.
    pub fn new(config: EngineConfig) -> Arc<Self> {
        let retained = RetainedStore::new(config.max_retained_messages, config.max_retained_bytes);
        Arc::new(Self {
            config,
            router: Router::new(),
            retained,
            registry: Mutex::new(Registry::default()),
            stats: Stats::default(),
            next_session: AtomicU64::new(1),
            id_seed: random_seed(),
        })
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

    /// Publishes a message: stores or clears it as retained if flagged, then queues it
    /// for every matching subscription.
    pub fn publish(&self, message: Arc<Message>) -> RouteReport {
        if message.retain
            && self.config.retain_available
            && self.retained.apply(&message) == RetainOutcome::Full
        {
            Stats::add(&self.stats.retained_refused, 1);
        }
        self.router.route(&message)
    }

    /// Checks a CONNECT against the client identifier rules and the configured limits,
    /// assigning a client identifier where the protocol allows.
    pub fn check_connect(&self, connect: Box<Connect>) -> Result<ConnectPlan, Refusal> {
        let config = &self.config;
        if let Some(method) = &connect.properties.authentication_method {
            if !config
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
            let client_id = connect.client_id.clone();
            return Ok(ConnectPlan {
                connect,
                client_id,
                assigned: false,
                owner: None,
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
                })
            }
        }
    }

    fn assign_client_id(&self) -> Utf8Bytes {
        let n = self.next_session.fetch_add(1, Ordering::Relaxed);
        format!(
            "{}{:016x}{:08x}",
            self.config.assigned_client_id_prefix, self.id_seed, n
        )
        .into()
    }

    pub(crate) fn new_session(&self, client_id: Utf8Bytes, owner: Option<Utf8Bytes>) -> Session {
        let id = SessionId(self.next_session.fetch_add(1, Ordering::Relaxed));
        let inbox = Arc::new(Inbox::new(InboxLimits {
            max_messages: self.config.max_queued_messages,
            max_bytes: self.config.max_queued_bytes,
            overflow: self.config.queue_overflow,
            queue_qos0_offline: self.config.queue_qos0_offline,
        }));
        Session::new(id, client_id, owner, inbox)
    }

    /// Claims the session of `plan.client_id` for a new connection identified by
    /// `control`. A live holder is asked to close with Session taken over (0x8E).
    pub fn claim(&self, plan: &ConnectPlan, control: Arc<ConnectionControl>) -> Claim {
        let mut registry = self.registry.lock();
        let Some(slot) = registry.slots.get_mut(&plan.client_id) else {
            registry.slots.insert(
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
                let previous_waiter = slot.waiter.replace(Waiter {
                    control: control.clone(),
                    handoff: handoff.clone(),
                    owner: plan.owner.clone(),
                });
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
            SlotState::Offline { .. } => {
                let state = std::mem::replace(&mut slot.state, SlotState::Online(control));
                slot.owner = plan.owner.clone();
                let SlotState::Offline { session, will, .. } = state else {
                    return Claim::Ready(Claimed { previous: None });
                };
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
                    registry.slots.remove(&claim.client_id);
                }
            }
            Some(HandoffOutcome::Superseded) | None => {}
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
        if session.expiry_interval > 0
            && self.config.shared_redelivery == SharedRedelivery::OnDisconnect
        {
            self.redistribute_shared(&mut session);
        }
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
            if let Some(waiter) = slot.waiter.take() {
                slot.state = SlotState::Online(waiter.control.clone());
                slot.owner = waiter.owner.clone();
                let handoff = if session.expiry_interval == 0 {
                    ended = Some((session, pending_will.take()));
                    HandoffOutcome::Fresh
                } else {
                    HandoffOutcome::Session(session, pending_will.take())
                };
                outcome = waiter.handoff.complete(handoff).err();
            } else if session.expiry_interval == 0 {
                registry.slots.remove(&client_id);
                ended = Some((session, pending_will.take()));
            } else {
                outcome = Some(HandoffOutcome::Session(session, pending_will.take()));
            }
            // Nobody took it: the session waits offline (or, if it ended, is gone).
            match outcome {
                Some(HandoffOutcome::Session(session, will)) => {
                    let expires_at = expiry_deadline(session.expiry_interval, now);
                    registry.schedule(&client_id, session.id, expires_at, will.as_ref());
                    if let Some(slot) = registry.slots.get_mut(&client_id) {
                        slot.state = SlotState::Offline {
                            session,
                            expires_at,
                            will,
                        };
                    }
                }
                Some(HandoffOutcome::Fresh) => {
                    registry.slots.remove(&client_id);
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
        self.publish(Arc::new(will_message(will, now, SessionId(0))));
    }

    /// Ends a session for good: removes its subscriptions, offers its unacknowledged
    /// shared-subscription messages to other members, and publishes a pending will.
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
        self.redistribute_shared(&mut session);
        session.inbox.close();
        if let Some(pending) = will {
            self.publish_will(&pending.will, now);
        }
    }

    /// Moves the session's unacknowledged QoS 1 messages of shared subscriptions to
    /// other members of their groups ([MQTT 4.8.2]); QoS 2 messages stay, as the
    /// exchange must complete on the session that started it. Messages no other member
    /// takes stay with the session.
    fn redistribute_shared(&self, session: &mut Session) {
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
        for delivery in moving {
            let Some(shared) = delivery.shared.clone() else {
                continue;
            };
            if !self
                .router
                .redeliver_shared(&shared, delivery.clone(), session.id)
            {
                session.pending.push_back(delivery);
            }
        }
    }

    /// Fires due timers of offline sessions: delayed wills and session expiry.
    pub fn handle_timeout(&self, now: Instant) {
        let mut wills = Vec::new();
        let mut ended = Vec::new();
        {
            let mut registry = self.registry.lock();
            for timer in registry.due_timers(now) {
                let Some(slot) = registry.slots.get_mut(&timer.client_id) else {
                    continue;
                };
                let SlotState::Offline {
                    session,
                    expires_at,
                    will,
                } = &mut slot.state
                else {
                    continue;
                };
                if session.id != timer.session {
                    continue;
                }
                if let Some(due) = will.take_if(|w| w.due <= now) {
                    wills.push(due);
                }
                if expires_at.is_some_and(|at| at <= now) {
                    if let Some(Slot {
                        state: SlotState::Offline { session, will, .. },
                        ..
                    }) = registry.slots.remove(&timer.client_id)
                    {
                        ended.push((session, will));
                    }
                } else {
                    let (id, expires_at, will) = (session.id, *expires_at, will.clone());
                    registry.schedule(&timer.client_id, id, expires_at, will.as_ref());
                }
            }
        }
        for will in wills {
            self.publish_will(&will.will, now);
        }
        for (session, will) in ended {
            Stats::add(&self.stats.sessions_expired, 1);
            self.end_session(session, will, now);
        }
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

fn same_owner(current: Option<&Utf8Bytes>, claimant: Option<&Utf8Bytes>) -> bool {
    match (current, claimant) {
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
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
