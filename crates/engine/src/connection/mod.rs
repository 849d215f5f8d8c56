//! One client connection, from CONNACK to close, as a sans-IO state machine.
//!
//! The driver (in the server crate) feeds it decoded packets with
//! [`Connection::handle_packet`], close requests with [`Connection::handle_kick`] and
//! timer expiries with [`Connection::handle_timeout`]; after each, it calls
//! [`Connection::poll_transmit`] to get bytes to write, and checks
//! [`Connection::is_closing`]. When the socket is done it calls [`Connection::finish`],
//! which returns the session to the broker and publishes the will if due. Time comes in
//! as `now`; nothing here reads a clock or touches a socket.
//!
//! # Layout
//! - `inbound`: PUBLISH and the acknowledgements a client sends.
//! - `subscriptions`: SUBSCRIBE and UNSUBSCRIBE.
//! - `outbound`: deliveries to the client, flow control, resends, encoding.

mod inbound;
mod outbound;
mod subscriptions;

use std::collections::VecDeque;
use std::num::{NonZeroU16, NonZeroU32};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use gridmq_codec::{
    Auth, AuthProperties, ConnAck, ConnAckProperties, Disconnect, Packet, PacketId,
    ProtocolVersion, QoS, ReasonCode, TopicName, Utf8Bytes, Will,
};

use bytes::{Bytes, BytesMut};

use crate::authz::Authorizer;
use crate::broker::{Broker, Claimed, ConnectPlan};
use crate::control::{ConnectionControl, Kick};
use crate::persist::{Change, Ticket, TicketStatus};
use crate::session::Session;
use crate::stats::{LocalStats, Stats};
use crate::submission::SubmitGuard;

/// What the client told us about itself in CONNECT.
#[derive(Debug, Clone, Copy)]
struct ClientLimits {
    receive_maximum: u16,
    max_packet_size: usize,
    request_problem_information: bool,
}

/// The will with its own copies of topic and payload, so that it does not keep the
/// receive buffer CONNECT was read into alive for the whole connection.
fn compact_will(mut will: Will) -> Will {
    will.topic = will.topic.compact();
    will.payload = bytes::Bytes::copy_from_slice(&will.payload);
    will.properties.correlation_data = will
        .properties
        .correlation_data
        .map(|data| bytes::Bytes::copy_from_slice(&data));
    will.properties.content_type = will.properties.content_type.map(|c| c.compact());
    will.properties.response_topic = will.properties.response_topic.map(|t| t.compact());
    for (name, value) in &mut will.properties.user_properties {
        *name = name.compact();
        *value = value.compact();
    }
    will
}

/// What an outgoing packet or held delivery waits for before it may be sent.
#[derive(Debug, Clone)]
enum Wait {
    /// Nothing.
    None,
    /// The batch of changes this turn submits (decided at the end of the turn).
    CurrentBatch,
    /// A submitted batch.
    Ticket(Ticket),
}

impl Wait {
    /// `Some(durable)` once the wait is over.
    fn outcome(&self) -> Option<bool> {
        match self {
            Self::None => Some(true),
            Self::CurrentBatch => None,
            Self::Ticket(ticket) => match ticket.status() {
                TicketStatus::Pending => None,
                TicketStatus::Done => Some(true),
                TicketStatus::Failed => Some(false),
            },
        }
    }
}

/// A control packet queued for the client.
#[derive(Debug)]
struct Outgoing {
    packet: Packet,
    wait: Wait,
}

/// A client's request to re-authenticate (AUTH with reason 0x19), for the server to
/// decide; answer with [`Connection::complete_reauth`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReauthRequest {
    /// The Authentication Method, the same as the CONNECT's.
    pub method: Utf8Bytes,
    /// The Authentication Data (a new token, for JWT methods).
    pub data: Option<Bytes>,
}

/// Where a re-authentication stands.
#[derive(Debug)]
enum Reauth {
    /// None asked for, or the last one answered.
    Idle,
    /// The client asked; the server has not taken the request yet (boxed: an idle
    /// connection should stay small).
    Requested(Box<ReauthRequest>),
    /// The server took the request and has not answered.
    InProgress,
}

/// How a connection ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    /// The reason code (sent to v5 clients when the server ends the connection).
    pub reason: ReasonCode,
    /// What happened, for the log.
    pub message: String,
    /// Whether the client ended it with DISCONNECT.
    pub by_client: bool,
    publish_will: bool,
}

/// A connected client's state machine. See the module documentation.
#[derive(Debug)]
pub struct Connection {
    broker: Arc<Broker>,
    control: Arc<ConnectionControl>,
    session: Box<Session>,
    version: ProtocolVersion,
    authorizer: Arc<dyn Authorizer>,
    /// 1.5 times the keep alive, in milliseconds (at most about 98 million).
    keep_alive_timeout_ms: Option<NonZeroU32>,
    last_received: Instant,
    client: ClientLimits,
    aliases_in: Vec<Option<TopicName>>,
    /// Boxed: most connections have none, and an idle connection should stay small.
    will: Option<Box<Will>>,
    session_expiry_at_connect: u32,
    /// The longest Session Expiry Interval this connection may set, in seconds.
    max_session_expiry: u32,
    /// The CONNECT's Authentication Method, echoed in CONNACK and required in AUTH.
    auth_method: Option<Box<Utf8Bytes>>,
    reauth: Reauth,
    control_out: VecDeque<Outgoing>,
    resend: VecDeque<PacketId>,
    ending: Option<Box<Ending>>,
    stats: LocalStats,
    /// Changes made this turn, submitted as one batch at the end of it.
    changes: Vec<Change>,
    /// Marks the submission of `changes` once submitted: deliveries this turn routed
    /// into persistent sessions' queues wait for it.
    submit_guard: Option<SubmitGuard>,
    /// Acknowledgements of QoS 1/2 publications waiting for durability; they count
    /// against our Receive Maximum.
    acks_awaiting_durability: u32,
    /// Deliveries encoded but held back until their in-flight state is durable (QoS 2
    /// to a persistent session, and everything queued behind it).
    held: Option<Box<Held>>,
    /// Congested sessions this connection's publications went to: while any is
    /// congested, the driver stops reading from this client.
    throttle: Option<Box<Throttle>>,
}

// The rarely used parts of a connection are boxed (`held`, `throttle`, `ending`,
// `auth_method`): every idle connection pays for the inline size of this struct.

/// Deliveries held back, and what they wait for.
#[derive(Debug)]
struct Held {
    wait: Wait,
    bytes: BytesMut,
}

/// Flow control toward a publisher whose subscribers cannot keep up.
#[derive(Debug)]
struct Throttle {
    inboxes: smallvec::SmallVec<[Arc<crate::inbox::Inbox>; 2]>,
    since: Instant,
}

impl Connection {
    /// Starts a connection on a claimed session: resumes or discards the previous
    /// session per Clean Start, and queues CONNACK and any redeliveries.
    pub fn establish(
        broker: Arc<Broker>,
        plan: ConnectPlan,
        claimed: Claimed,
        control: Arc<ConnectionControl>,
        authorizer: Arc<dyn Authorizer>,
        now: Instant,
    ) -> Self {
        let config = broker.config().clone();
        let ConnectPlan {
            connect,
            client_id,
            assigned,
            owner,
            max_session_expiry,
            ..
        } = plan;
        let version = connect.protocol;
        let v5 = version.is_v5();
        let max_expiry = max_session_expiry.map_or(config.max_session_expiry, |cap| {
            cap.min(config.max_session_expiry)
        });
        let requested_expiry = if v5 {
            connect.properties.session_expiry_interval.unwrap_or(0)
        } else if connect.clean_start {
            0
        } else {
            max_expiry
        };
        let granted_expiry = requested_expiry.min(max_expiry);

        let (mut session, session_present) = match claimed.previous {
            Some((previous, _cancelled_will)) if !connect.clean_start => (previous, true),
            Some((previous, will)) => {
                broker.end_session(previous, will, now);
                (
                    Box::new(broker.new_session(client_id.clone(), owner.clone())),
                    false,
                )
            }
            None => (
                Box::new(broker.new_session(client_id.clone(), owner.clone())),
                false,
            ),
        };
        if session_present {
            subscriptions::drop_unauthorized(&broker, &mut session, authorizer.as_ref());
        }
        session.expiry_interval = granted_expiry;
        session.owner = owner;
        session.inbox.set_online(true);
        session.inbox.set_persistent(session.is_persistent());
        let mut changes = Vec::new();
        if broker.persistence().is_some() {
            if session.is_persistent() {
                changes.push(Change::PutSession(
                    broker.session_record(&session, None, None),
                ));
                session.stored = true;
            } else if session.stored {
                changes.push(Change::DeleteSession {
                    client_id: session.client_id.to_string(),
                    session_id: session.id.0,
                });
                session.stored = false;
            }
        }

        let requested_keep_alive = connect.keep_alive;
        let max = config.max_keep_alive;
        let server_keep_alive =
            (v5 && max > 0 && (requested_keep_alive == 0 || requested_keep_alive > max))
                .then_some(max);
        let keep_alive = server_keep_alive.unwrap_or(requested_keep_alive);

        let props = &connect.properties;
        let client = ClientLimits {
            receive_maximum: props.receive_maximum.map_or(u16::MAX, NonZeroU16::get),
            max_packet_size: props
                .maximum_packet_size
                .map_or(usize::MAX, |size| size.get() as usize),
            request_problem_information: props.request_problem_information.unwrap_or(true),
        };

        let mut connack = ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties::default(),
        };
        if v5 {
            let p = &mut connack.properties;
            p.receive_maximum = NonZeroU16::new(config.receive_maximum);
            p.maximum_packet_size = std::num::NonZeroU32::new(config.max_packet_size);
            p.topic_alias_maximum = Some(config.topic_alias_maximum);
            if config.maximum_qos != QoS::ExactlyOnce {
                p.maximum_qos = Some(config.maximum_qos as u8);
            }
            if !config.retain_available {
                p.retain_available = Some(false);
            }
            p.server_keep_alive = server_keep_alive;
            if granted_expiry != requested_expiry {
                p.session_expiry_interval = Some(granted_expiry);
            }
            if assigned {
                p.assigned_client_identifier = Some(client_id.clone());
            }
            // [MQTT-4.12.0-5] A CONNACK accepting a method names it.
            p.authentication_method = props.authentication_method.clone();
            if props.request_response_information == Some(true) {
                p.response_information = config
                    .response_information_prefix
                    .as_ref()
                    .map(|prefix| format!("{prefix}{client_id}").into());
            }
        }

        let resend = session.outbound.iter().map(|m| m.packet_id).collect();
        Stats::add(&broker.stats().connections, 1);
        Stats::add(&broker.stats().connections_total, 1);
        let mut connection = Self {
            broker,
            control,
            session,
            version,
            authorizer,
            keep_alive_timeout_ms: NonZeroU32::new(u32::from(keep_alive) * 1500),
            last_received: now,
            client,
            aliases_in: Vec::new(),
            auth_method: connect
                .properties
                .authentication_method
                .clone()
                .map(Box::new),
            will: connect.will.map(|will| Box::new(compact_will(will))),
            session_expiry_at_connect: granted_expiry,
            max_session_expiry: max_expiry,
            reauth: Reauth::Idle,
            control_out: VecDeque::new(),
            resend,
            ending: None,
            stats: LocalStats::default(),
            changes,
            submit_guard: None,
            acks_awaiting_durability: 0,
            held: None,
            throttle: None,
        };
        connection.send(Packet::ConnAck(connack));
        connection
    }

    /// The protocol version of this connection.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// The client identifier (possibly assigned).
    pub fn client_id(&self) -> &str {
        &self.session.client_id
    }

    /// The session's id.
    pub fn session_id(&self) -> crate::SessionId {
        self.session.id
    }

    /// The handle others use to ask this connection to close.
    pub fn control(&self) -> &Arc<ConnectionControl> {
        &self.control
    }

    /// Replaces the authorizer, for permission changes on a live connection.
    pub fn set_authorizer(&mut self, authorizer: Arc<dyn Authorizer>) {
        self.authorizer = authorizer;
    }

    /// Counts bytes read from the client (added to the broker's counters in batches).
    pub fn count_received(&mut self, bytes: usize) {
        LocalStats::add(&mut self.stats.bytes_received, bytes);
    }

    /// Feeds one packet decoded from the client.
    pub fn handle_packet(&mut self, now: Instant, packet: Packet) {
        if self.ending.is_some() {
            return;
        }
        self.last_received = now;
        match packet {
            Packet::Publish(publish) => self.on_publish(now, publish),
            Packet::PubAck(ack) => self.on_puback(ack),
            Packet::PubRec(ack) => self.on_pubrec(ack),
            Packet::PubRel(ack) => self.on_pubrel(ack),
            Packet::PubComp(ack) => self.on_pubcomp(ack),
            Packet::Subscribe(subscribe) => self.on_subscribe(now, subscribe),
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(unsubscribe),
            Packet::PingReq => self.send(Packet::PingResp),
            Packet::Disconnect(disconnect) => self.on_disconnect(disconnect),
            Packet::Connect(_) => self.protocol_error(
                ReasonCode::ProtocolError,
                "[MQTT-3.1.0-2] a second CONNECT on the same connection",
            ),
            Packet::Auth(auth) => self.on_auth(auth),
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => self
                .protocol_error(
                    ReasonCode::ProtocolError,
                    "[MQTT-2.1.2] a client sent a packet only a server may send",
                ),
        }
    }

    /// The Authentication Method the client connected with, if any.
    pub fn authentication_method(&self) -> Option<&str> {
        self.auth_method.as_deref().map(|method| &**method)
    }

    /// Takes the client's pending re-authentication request, if it sent one. Until it is
    /// answered with [`Connection::complete_reauth`], another AUTH is a protocol error.
    pub fn take_reauth_request(&mut self) -> Option<ReauthRequest> {
        match std::mem::replace(&mut self.reauth, Reauth::InProgress) {
            Reauth::Requested(request) if self.ending.is_none() => Some(*request),
            Reauth::Requested(_) => None,
            other => {
                self.reauth = other;
                None
            }
        }
    }

    /// Answers a re-authentication: AUTH Success (0x00) with the method, or the
    /// connection closes with the refusal's reason ([MQTT-4.12.1-2]), which must be one
    /// DISCONNECT allows (0x87 Not authorized, 0x89 Server busy, ...; not CONNACK-only
    /// codes such as 0x86, 0x88 or 0x8C).
    pub fn complete_reauth(&mut self, outcome: Result<(), Kick>) {
        if !matches!(self.reauth, Reauth::InProgress) || self.ending.is_some() {
            return;
        }
        self.reauth = Reauth::Idle;
        match outcome {
            Ok(()) => self.send(Packet::Auth(Auth {
                reason_code: ReasonCode::Success,
                properties: AuthProperties {
                    authentication_method: self.auth_method.as_deref().cloned(),
                    ..AuthProperties::default()
                },
            })),
            Err(kick) => self.close(kick.reason, kick.message),
        }
    }

    /// AUTH from the client: only re-authentication (0x19) with the CONNECT's method.
    fn on_auth(&mut self, auth: Auth) {
        let Some(method) = &self.auth_method else {
            return self.protocol_error(
                ReasonCode::ProtocolError,
                "[MQTT-4.12.0-7] AUTH without an Authentication Method in CONNECT",
            );
        };
        if auth.reason_code != ReasonCode::ReAuthenticate {
            return self.protocol_error(
                ReasonCode::ProtocolError,
                "[MQTT-4.12.0-3] the server started no authentication exchange: a client AUTH must be Re-authenticate (0x19)",
            );
        }
        if auth.properties.authentication_method.as_ref() != Some(method) {
            return self.protocol_error(
                ReasonCode::ProtocolError,
                "[MQTT-4.12.1-1] re-authentication must use the CONNECT's Authentication Method",
            );
        }
        if !matches!(self.reauth, Reauth::Idle) {
            return self.protocol_error(
                ReasonCode::ProtocolError,
                "AUTH before the previous re-authentication was answered",
            );
        }
        self.reauth = Reauth::Requested(Box::new(ReauthRequest {
            method: Utf8Bytes::clone(method),
            data: auth.properties.authentication_data,
        }));
    }

    /// Reports a decode error of the client's byte stream: the connection closes with
    /// the error's reason code.
    pub fn handle_decode_error(&mut self, error: &gridmq_codec::DecodeError) {
        self.protocol_error(error.reason_code(), error.to_string());
    }

    /// Closes the connection on request of another part of the broker.
    pub fn handle_kick(&mut self, kick: Kick) {
        self.close(kick.reason, kick.message);
    }

    /// Whether the driver should stop reading from this client: its publications went
    /// to sessions that have not drained their queues yet.
    pub fn is_throttled(&self) -> bool {
        self.throttle.is_some()
    }

    /// Ready once every congested session this client published to has drained (or
    /// the throttle was lifted by its timeout).
    ///
    /// Cancel safety: polling takes nothing that is not recomputed.
    pub fn poll_unthrottled(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(throttle) = &mut self.throttle else {
            return Poll::Ready(());
        };
        throttle
            .inboxes
            .retain(|inbox| inbox.poll_uncongested(cx).is_pending());
        if throttle.inboxes.is_empty() {
            self.throttle = None;
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Tells the connection that reading resumed after a throttle: the client's bytes
    /// were not being read, so its keep alive counts from now.
    pub fn handle_unthrottled(&mut self, now: Instant) {
        self.last_received = self.last_received.max(now);
    }

    fn throttle_on(
        &mut self,
        now: Instant,
        inboxes: smallvec::SmallVec<[Arc<crate::inbox::Inbox>; 2]>,
    ) {
        match &mut self.throttle {
            Some(throttle) => {
                for inbox in inboxes {
                    if !throttle.inboxes.iter().any(|i| Arc::ptr_eq(i, &inbox)) {
                        throttle.inboxes.push(inbox);
                    }
                }
            }
            None => {
                self.throttle = Some(Box::new(Throttle {
                    inboxes,
                    since: now,
                }))
            }
        }
    }

    /// Fires timers: the keep-alive timeout — a client silent for 1.5 times its Keep
    /// Alive is disconnected ([MQTT-3.1.2-22]) — and the throttle timeout, after which
    /// sessions that did not drain count as stalled and stop throttling.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(throttle) = &self.throttle {
            if now >= throttle.since + self.broker.config().congestion_timeout {
                for inbox in &throttle.inboxes {
                    inbox.mark_stalled();
                }
                self.throttle = None;
            }
        }
        if let Some(timeout) = self.keep_alive_timeout() {
            // While throttled the client is not being read, so its silence proves nothing.
            if self.ending.is_none()
                && self.throttle.is_none()
                && now >= self.last_received + timeout
            {
                self.close(
                    ReasonCode::KeepAliveTimeout,
                    format!(
                        "no packet for {} ms (1.5 x keep alive)",
                        timeout.as_millis()
                    ),
                );
            }
        }
    }

    /// How long the client may stay silent: 1.5 times its keep alive.
    fn keep_alive_timeout(&self) -> Option<Duration> {
        self.keep_alive_timeout_ms
            .map(|ms| Duration::from_millis(u64::from(ms.get())))
    }

    /// When [`Connection::handle_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keep_alive = match (&self.ending, self.keep_alive_timeout()) {
            (None, Some(timeout)) => Some(self.last_received + timeout),
            _ => None,
        };
        let throttle = self
            .throttle
            .as_ref()
            .map(|t| t.since + self.broker.config().congestion_timeout);
        match (keep_alive, throttle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Ready when the router queued deliveries this connection can send now. Polls the
    /// inbox only when the in-flight window has room, so a full window does not spin.
    ///
    /// Cancel safety: takes nothing from the inbox.
    pub fn poll_deliveries(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.ending.is_some()
            || !self.session.pending.is_empty()
            || self.held.is_some()
            || self.window_full()
        {
            return Poll::Pending;
        }
        self.session.inbox.poll_ready(cx)
    }

    /// Ready when a batch that something queued here waits for has become durable, so
    /// that [`Connection::poll_transmit`] has more to send.
    ///
    /// Cancel safety: polling takes nothing.
    pub fn poll_durable(&self, cx: &mut Context<'_>) -> Poll<()> {
        let next_delivery = self
            .session
            .pending
            .front()
            .and_then(|d| d.durable.as_ref());
        if let Some(submission) = next_delivery.and_then(|d| d.submission.as_ref()) {
            if self.ending.is_none() && submission.poll(cx).is_ready() {
                return Poll::Ready(());
            }
        }
        let front = self.control_out.front().map(|o| &o.wait);
        // Held deliveries are never sent once the connection is closing.
        let held = self
            .held
            .as_ref()
            .map(|held| &held.wait)
            .filter(|_| self.ending.is_none());
        for wait in [front, held].into_iter().flatten() {
            if let Wait::Ticket(ticket) = wait {
                if ticket.poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
        }
        Poll::Pending
    }

    /// Whether the connection is ending: the driver writes what `poll_transmit` gives
    /// (a DISCONNECT, for v5), then closes the socket and calls [`Connection::finish`].
    pub fn is_closing(&self) -> bool {
        self.ending.is_some()
    }

    /// How the connection is ending, if it is.
    pub fn ending(&self) -> Option<&Ending> {
        self.ending.as_deref()
    }

    /// Ends the connection after the socket closed: returns the session to the broker
    /// (to a connection taking it over, offline, or ended) and publishes the will unless
    /// the client disconnected normally. A socket that closed without DISCONNECT counts
    /// as an abnormal end.
    pub fn finish(mut self, now: Instant) -> Ending {
        let ending = self.ending.take().map_or_else(
            || Ending {
                reason: ReasonCode::UnspecifiedError,
                message: "connection lost".to_owned(),
                by_client: false,
                publish_will: true,
            },
            |ending| *ending,
        );
        self.stats.flush(self.broker.stats());
        self.broker
            .stats()
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        let will = if ending.publish_will {
            self.will.take().map(|will| *will)
        } else {
            None
        };
        self.submit_changes();
        self.broker.release(&self.control, self.session, will, now);
        ending
    }

    /// Server-side close: v5 clients get DISCONNECT with `reason` and a reason string.
    fn close(&mut self, reason: ReasonCode, message: impl Into<String>) {
        if self.ending.is_some() {
            return;
        }
        let message = message.into();
        if self.version.is_v5() {
            self.control_out.push_back(Outgoing {
                packet: Packet::Disconnect(Disconnect::new(reason, message.clone())),
                wait: Wait::None,
            });
        }
        self.ending = Some(Box::new(Ending {
            reason,
            message,
            by_client: false,
            publish_will: true,
        }));
    }

    fn protocol_error(&mut self, reason: ReasonCode, message: impl Into<String>) {
        Stats::add(&self.broker.stats().protocol_errors, 1);
        self.close(reason, message);
    }

    fn on_disconnect(&mut self, disconnect: Disconnect) {
        if let Some(expiry) = disconnect.properties.session_expiry_interval {
            if self.session_expiry_at_connect == 0 && expiry != 0 {
                return self.protocol_error(
                    ReasonCode::ProtocolError,
                    "[MQTT-3.14.2-2] Session Expiry Interval set at DISCONNECT after 0 at CONNECT",
                );
            }
            self.session.expiry_interval = expiry.min(self.max_session_expiry);
        }
        self.ending = Some(Box::new(Ending {
            reason: disconnect.reason_code,
            message: "client sent DISCONNECT".to_owned(),
            by_client: true,
            // [MQTT-3.1.2-10] Only DISCONNECT 0x00 discards the will.
            publish_will: disconnect.reason_code != ReasonCode::NormalDisconnection,
        }));
    }

    /// Queues a control packet, dropping diagnostics the client asked not to get
    /// ([MQTT-3.1.2-29]).
    fn send(&mut self, packet: Packet) {
        self.send_after(packet, Wait::None);
    }

    /// Queues a control packet that may only go out once this turn's changes are durable.
    fn send_when_durable(&mut self, packet: Packet) {
        self.send_after(packet, Wait::CurrentBatch);
    }

    fn send_after(&mut self, mut packet: Packet, wait: Wait) {
        if !self.client.request_problem_information {
            match &mut packet {
                Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
                    a.properties = Default::default();
                }
                Packet::SubAck(a) => a.properties = Default::default(),
                Packet::UnsubAck(a) => a.properties = Default::default(),
                _ => {}
            }
        }
        self.control_out.push_back(Outgoing { packet, wait });
    }

    /// Queues a control packet that may only go out once what this turn recorded is
    /// durable, if it recorded anything.
    fn send_when_recorded(&mut self, packet: Packet, recorded: bool) {
        if recorded {
            self.send_when_durable(packet);
        } else {
            self.send(packet);
        }
    }

    /// Records a change to this session's durable state, if it has any; returns whether
    /// it did.
    fn record(&mut self, change: Change) -> bool {
        if self.session.stored {
            self.changes.push(change);
        }
        self.session.stored
    }

    /// Submits this turn's changes as one batch; whatever waited for "this batch" now
    /// waits for its ticket, or for nothing if nothing changed.
    fn submit_changes(&mut self) {
        let ticket = self.broker.submit(std::mem::take(&mut self.changes));
        // Submitted: deliveries routed this turn may go out.
        self.submit_guard = None;
        let resolved = || ticket.clone().map_or(Wait::None, Wait::Ticket);
        for outgoing in self.control_out.iter_mut().rev() {
            if matches!(outgoing.wait, Wait::CurrentBatch) {
                outgoing.wait = resolved();
            }
        }
        if let Some(held) = &mut self.held {
            if matches!(held.wait, Wait::CurrentBatch) {
                held.wait = resolved();
            }
        }
    }
}
