//! Test harness: a broker, a fake clock and in-memory clients that speak through a
//! [`Connection`] and the real codec, without sockets.

use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use gridmq_codec::{
    ConnAck, Connect, ConnectProperties, Decoder, Disconnect, Packet, PacketId, ProtocolVersion,
    Publish, PublishAck, QoS, ReasonCode, SubAck, Subscribe, SubscribeOptions, Subscription,
    TopicName, Unsubscribe, Utf8Bytes,
};

use crate::{AllowAll, Authorizer, Broker, Claim, Connection, ConnectionControl, EngineConfig};

/// A broker and a clock that tests advance by hand.
pub(crate) struct Harness {
    pub(crate) broker: Arc<Broker>,
    pub(crate) now: Instant,
    /// Session limit per owner applied to connections made with an owner.
    pub(crate) max_sessions_per_owner: Option<usize>,
    /// Session expiry cap applied to every connection (the namespace's maximum).
    pub(crate) max_session_expiry: Option<u32>,
}

impl Harness {
    pub(crate) fn new() -> Self {
        Self::with_config(EngineConfig::default())
    }

    pub(crate) fn with_config(config: EngineConfig) -> Self {
        Self {
            broker: Broker::new(config),
            now: Instant::now(),
            max_sessions_per_owner: None,
            max_session_expiry: None,
        }
    }

    /// Moves the clock forward and fires broker timers.
    pub(crate) fn advance(&mut self, by: Duration) {
        self.now += by;
        self.broker.handle_timeout(self.now);
    }

    /// Connects a client; panics if the session is held by a live connection (use
    /// [`Harness::take_over`]).
    pub(crate) fn connect(&self, connect: Connect) -> (Client, ConnAck) {
        self.connect_as(connect, None)
    }

    pub(crate) fn connect_as(&self, connect: Connect, owner: Option<&str>) -> (Client, ConnAck) {
        match self.try_connect(connect, owner, Arc::new(AllowAll)) {
            Ok(result) => result,
            Err(ack) => panic!("connection refused: {ack:?}"),
        }
    }

    /// Connects, returning the refusal CONNACK if refused.
    #[allow(clippy::result_large_err)]
    pub(crate) fn try_connect(
        &self,
        connect: Connect,
        owner: Option<&str>,
        authorizer: Arc<dyn Authorizer>,
    ) -> Result<(Client, ConnAck), ConnAck> {
        let version = connect.protocol;
        let mut plan = self
            .broker
            .check_connect(Box::new(connect))
            .map_err(|refusal| refused(refusal.reason))?;
        plan.owner = owner.map(Utf8Bytes::from);
        plan.max_sessions_per_owner = self.max_sessions_per_owner;
        plan.max_session_expiry = self.max_session_expiry;
        let control = Arc::new(ConnectionControl::new());
        let claimed = match self.broker.claim(&plan, control.clone()) {
            Claim::Ready(claimed) => claimed,
            Claim::Refused(refusal) => return Err(refused(refusal.reason)),
            Claim::Wait(_) => panic!("session is held by a live connection"),
        };
        let connection = Connection::establish(
            self.broker.clone(),
            plan,
            claimed,
            control,
            authorizer,
            self.now,
        );
        let mut client = Client::new(connection, version);
        let ack = client.take_connack(self.now);
        Ok((client, ack))
    }

    /// Connects while `old` holds the session: `old` is kicked, releases, and the new
    /// connection takes over.
    pub(crate) fn take_over(&self, old: &mut Client, connect: Connect) -> (Client, ConnAck) {
        let version = connect.protocol;
        let plan = self
            .broker
            .check_connect(Box::new(connect))
            .expect("valid CONNECT");
        let control = Arc::new(ConnectionControl::new());
        let Claim::Wait(pending) = self.broker.claim(&plan, control.clone()) else {
            panic!("expected to wait for the live connection");
        };
        old.process_kick(self.now);
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Ok(claimed)) = pending.poll(&mut cx) else {
            panic!("handoff did not complete");
        };
        let connection = Connection::establish(
            self.broker.clone(),
            plan,
            claimed,
            control,
            Arc::new(AllowAll),
            self.now,
        );
        let mut client = Client::new(connection, version);
        let ack = client.take_connack(self.now);
        (client, ack)
    }
}

fn refused(reason: ReasonCode) -> ConnAck {
    ConnAck {
        session_present: false,
        reason_code: reason,
        properties: Default::default(),
    }
}

/// A client connected through an in-memory [`Connection`].
pub(crate) struct Client {
    pub(crate) connection: Option<Connection>,
    version: ProtocolVersion,
    decoder: Decoder,
    next_id: u16,
    /// Bytes the connection wrote, kept for tests that inspect the wire.
    pub(crate) wire: BytesMut,
    /// Packets received and not yet taken by a test.
    backlog: std::collections::VecDeque<Packet>,
}

impl Client {
    fn new(connection: Connection, version: ProtocolVersion) -> Self {
        Self {
            connection: Some(connection),
            version,
            decoder: Decoder::client(version, usize::MAX),
            next_id: 0,
            wire: BytesMut::new(),
            backlog: Default::default(),
        }
    }

    fn conn(&mut self) -> &mut Connection {
        self.connection.as_mut().expect("connection finished")
    }

    /// Sends a packet as the client would (encoded and decoded through the codec).
    pub(crate) fn send(&mut self, now: Instant, packet: Packet) {
        let bytes = packet.to_bytes(self.version).expect("encodable");
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::client(self.version, usize::MAX);
        let decoded = decoder
            .decode(&mut buf)
            .expect("decodable")
            .expect("complete");
        self.conn().handle_packet(now, decoded);
    }

    /// Sends raw bytes as the client would; a decode error closes the connection as the
    /// driver does.
    pub(crate) fn send_raw(&mut self, now: Instant, bytes: &[u8]) {
        let mut buf = BytesMut::from(bytes);
        let mut decoder = Decoder::client(self.version, usize::MAX);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(packet)) => self.conn().handle_packet(now, packet),
                Ok(None) => break,
                Err(error) => {
                    self.conn().handle_decode_error(&error);
                    break;
                }
            }
        }
    }

    /// Decodes everything the connection has to send now into the backlog.
    fn pump(&mut self, now: Instant) {
        let mut buf = BytesMut::new();
        let mut cx = Context::from_waker(Waker::noop());
        // As the driver does: call again while more is ready or a durable batch completed.
        while self.conn().poll_transmit(now, &mut buf, 1 << 20)
            || self.conn().poll_durable(&mut cx).is_ready()
        {}
        self.wire.extend_from_slice(&buf);
        while let Some(packet) = self
            .decoder
            .decode(&mut buf)
            .expect("broker sent valid bytes")
        {
            self.backlog.push_back(packet);
        }
    }

    /// Takes the first backlog packet `pick` accepts.
    fn take<T>(&mut self, now: Instant, mut pick: impl FnMut(&Packet) -> Option<T>) -> Option<T> {
        self.pump(now);
        let index = self.backlog.iter().position(|p| pick(p).is_some())?;
        self.backlog.remove(index).and_then(|p| pick(&p))
    }

    fn take_connack(&mut self, now: Instant) -> ConnAck {
        self.take(now, |p| match p {
            Packet::ConnAck(ack) => Some(ack.clone()),
            _ => None,
        })
        .expect("CONNACK")
    }

    /// Everything received and not yet taken, in order.
    pub(crate) fn recv_at(&mut self, now: Instant) -> Vec<Packet> {
        self.pump(now);
        self.backlog.drain(..).collect()
    }

    /// Received PUBLISH packets not yet taken, in order; other packets stay.
    pub(crate) fn publishes(&mut self, now: Instant) -> Vec<Publish> {
        self.pump(now);
        let mut publishes = Vec::new();
        self.backlog.retain(|p| match p {
            Packet::Publish(p) => {
                publishes.push(p.clone());
                false
            }
            _ => true,
        });
        publishes
    }

    pub(crate) fn packet_id(&mut self) -> PacketId {
        self.next_id += 1;
        PacketId::new(self.next_id).expect("non-zero")
    }

    pub(crate) fn subscribe(&mut self, now: Instant, filter: &str, qos: QoS) -> SubAck {
        self.subscribe_with(
            now,
            filter,
            SubscribeOptions {
                qos,
                ..Default::default()
            },
            None,
        )
    }

    pub(crate) fn subscribe_with(
        &mut self,
        now: Instant,
        filter: &str,
        options: SubscribeOptions,
        id: Option<u32>,
    ) -> SubAck {
        let packet_id = self.packet_id();
        let mut subscribe = Subscribe {
            packet_id,
            properties: Default::default(),
            subscriptions: vec![Subscription {
                filter: filter.into(),
                options,
            }],
        };
        subscribe.properties.subscription_identifier = id.and_then(std::num::NonZeroU32::new);
        self.send(now, Packet::Subscribe(subscribe));
        self.take(now, |p| match p {
            Packet::SubAck(ack) => Some(ack.clone()),
            _ => None,
        })
        .expect("SUBACK")
    }

    pub(crate) fn unsubscribe(&mut self, now: Instant, filter: &str) -> Vec<Packet> {
        let packet_id = self.packet_id();
        self.send(
            now,
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties: Default::default(),
                filters: vec![filter.into()],
            }),
        );
        self.take(now, |p| matches!(p, Packet::UnsubAck(_)).then(|| p.clone()))
            .into_iter()
            .collect()
    }

    /// Publishes and returns the broker's acknowledgement (PUBACK / PUBREC), or what it
    /// sent instead (a DISCONNECT); deliveries to this client stay in the backlog.
    pub(crate) fn publish(
        &mut self,
        now: Instant,
        topic: &str,
        payload: &'static [u8],
        qos: QoS,
        retain: bool,
    ) -> Vec<Packet> {
        let mut publish = Publish::new(
            TopicName::new(topic).expect("valid topic"),
            Bytes::from_static(payload),
        );
        publish.qos = qos;
        publish.retain = retain;
        let id = (qos != QoS::AtMostOnce).then(|| self.packet_id());
        publish.packet_id = id;
        self.send(now, Packet::Publish(publish));
        self.take(now, |p| match p {
            Packet::PubAck(a) | Packet::PubRec(a) if Some(a.packet_id) == id => Some(p.clone()),
            Packet::Disconnect(_) => Some(p.clone()),
            _ => None,
        })
        .into_iter()
        .collect()
    }

    pub(crate) fn ack(&mut self, now: Instant, publish: &Publish) {
        let Some(id) = publish.packet_id else { return };
        match publish.qos {
            QoS::AtLeastOnce => self.send(now, Packet::PubAck(PublishAck::new(id))),
            QoS::ExactlyOnce => {
                self.send(now, Packet::PubRec(PublishAck::new(id)));
                let pubrel = self.take(now, |p| {
                    matches!(p, Packet::PubRel(a) if a.packet_id == id).then_some(())
                });
                assert!(pubrel.is_some(), "PUBREL expected");
                self.send(now, Packet::PubComp(PublishAck::new(id)));
            }
            QoS::AtMostOnce => {}
        }
    }

    pub(crate) fn disconnect(mut self, now: Instant, reason: ReasonCode) {
        self.send(
            now,
            Packet::Disconnect(Disconnect {
                reason_code: reason,
                properties: Default::default(),
            }),
        );
        self.close(now);
    }

    /// Closes the socket side: the connection finishes (abnormally unless a DISCONNECT
    /// was handled).
    pub(crate) fn close(mut self, now: Instant) {
        if let Some(connection) = self.connection.take() {
            connection.finish(now);
        }
    }

    /// Handles a pending kick the way a driver would: close, flush, finish.
    pub(crate) fn process_kick(&mut self, now: Instant) -> Vec<Packet> {
        let mut cx = Context::from_waker(Waker::noop());
        let control = self.conn().control().clone();
        if let Poll::Ready(kick) = control.poll_kick(&mut cx) {
            self.conn().handle_kick(kick);
        }
        let sent = self.recv_at(now);
        if let Some(connection) = self.connection.take() {
            connection.finish(now);
        }
        sent
    }

    pub(crate) fn timeout(&mut self, now: Instant) -> Vec<Packet> {
        self.conn().handle_timeout(now);
        self.recv_at(now)
    }

    /// The connection, for tests that call its methods directly.
    pub(crate) fn connection(&mut self) -> &mut Connection {
        self.conn()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.connection.as_ref().is_none_or(Connection::is_closing)
    }
}

/// An authorizer for tests: allows topics and filters that start with one of the
/// prefixes.
#[derive(Debug, Default)]
pub(crate) struct AllowPrefixes(pub(crate) Vec<&'static str>);

impl Authorizer for AllowPrefixes {
    fn may_publish(&self, topic: &str) -> bool {
        self.0.iter().any(|p| topic.starts_with(p))
    }

    fn may_subscribe(&self, filter: &str) -> bool {
        self.0.iter().any(|p| filter.starts_with(p))
    }
}

/// A CONNECT for `client_id` in `version`.
pub(crate) fn connect(client_id: &str, version: ProtocolVersion, clean_start: bool) -> Connect {
    Connect {
        protocol: version,
        clean_start,
        keep_alive: 60,
        properties: ConnectProperties::default(),
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
    }
}

/// A v5 CONNECT with a session expiry.
pub(crate) fn connect_v5(client_id: &str, clean_start: bool, session_expiry: u32) -> Connect {
    let mut c = connect(client_id, ProtocolVersion::V5, clean_start);
    if session_expiry > 0 {
        c.properties.session_expiry_interval = Some(session_expiry);
    }
    c
}

/// A [`crate::persist::Persistence`] for tests: batches are applied to an in-memory
/// model of a store at once, and their tickets complete when the test says so (or at
/// once, with `auto_complete`).
#[derive(Debug, Default)]
pub(crate) struct TestPersistence {
    pub(crate) model: parking_lot::Mutex<ModelStore>,
    pending: parking_lot::Mutex<Vec<crate::persist::Ticket>>,
    pub(crate) auto_complete: std::sync::atomic::AtomicBool,
    pub(crate) batches: std::sync::atomic::AtomicUsize,
}

impl TestPersistence {
    /// Completes every pending ticket.
    pub(crate) fn complete_all(&self, durable: bool) {
        for ticket in self.pending.lock().drain(..) {
            ticket.complete(durable);
        }
    }

    /// The durable state so far, as a restart would read it.
    pub(crate) fn snapshot(&self) -> crate::persist::Snapshot {
        self.model.lock().snapshot()
    }
}

impl crate::persist::Persistence for TestPersistence {
    fn submit(&self, changes: Vec<crate::persist::Change>) -> crate::persist::Ticket {
        self.batches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut model = self.model.lock();
        for change in changes {
            model.apply(change);
        }
        let ticket = crate::persist::Ticket::default();
        if self
            .auto_complete
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            ticket.complete(true);
        } else {
            self.pending.lock().push(ticket.clone());
        }
        ticket
    }
}

/// The simplest store that follows the `Change` contract; the executable reference for
/// what a backend keeps.
#[derive(Debug, Default)]
pub(crate) struct ModelStore {
    sessions: std::collections::BTreeMap<String, crate::persist::StoredSession>,
    entries: std::collections::BTreeMap<(u64, u64), crate::persist::StoredEntry>,
    messages: std::collections::HashMap<u64, crate::persist::StoredMessage>,
    inbound: std::collections::BTreeSet<(u64, u16)>,
    retained: std::collections::BTreeMap<String, crate::persist::StoredMessage>,
}

impl ModelStore {
    fn apply(&mut self, change: crate::persist::Change) {
        use crate::persist::Change;
        match change {
            Change::PutSession(session) => {
                self.sessions.insert(session.client_id.clone(), session);
            }
            Change::DeleteSession {
                client_id,
                session_id,
            } => {
                if self
                    .sessions
                    .get(&client_id)
                    .is_some_and(|s| s.session_id == session_id)
                {
                    self.sessions.remove(&client_id);
                }
                self.entries.retain(|(s, _), _| *s != session_id);
                self.inbound.retain(|(s, _)| *s != session_id);
            }
            Change::PutMessage { id, message } => {
                self.messages.insert(id, message);
            }
            Change::PutEntry {
                session_id,
                seq,
                entry,
            } => {
                self.entries.insert((session_id, seq), entry);
            }
            Change::DeleteEntry { session_id, seq } => {
                self.entries.remove(&(session_id, seq));
            }
            Change::PutInboundQos2 {
                session_id,
                packet_id,
            } => {
                self.inbound.insert((session_id, packet_id));
            }
            Change::DeleteInboundQos2 {
                session_id,
                packet_id,
            } => {
                self.inbound.remove(&(session_id, packet_id));
            }
            Change::PutRetained(message) => {
                self.retained.insert(message.topic.clone(), message);
            }
            Change::DeleteRetained { topic } => {
                self.retained.remove(&topic);
            }
            Change::PutResource { .. } | Change::DeleteResource { .. } => {}
        }
    }

    /// Entries of a given session, in order.
    pub(crate) fn entries_of(&self, session_id: u64) -> Vec<crate::persist::StoredEntry> {
        self.entries
            .iter()
            .filter(|((s, _), _)| *s == session_id)
            .map(|(_, e)| e.clone())
            .collect()
    }

    fn snapshot(&self) -> crate::persist::Snapshot {
        let referenced: std::collections::HashSet<u64> =
            self.entries.values().map(|e| e.message_id).collect();
        crate::persist::Snapshot {
            sessions: self.sessions.values().cloned().collect(),
            entries: self
                .entries
                .iter()
                .map(|((s, q), e)| (*s, *q, e.clone()))
                .collect(),
            messages: self
                .messages
                .iter()
                .filter(|(id, _)| referenced.contains(id))
                .map(|(id, m)| (*id, m.clone()))
                .collect(),
            inbound_qos2: self.inbound.iter().copied().collect(),
            retained: self.retained.values().cloned().collect(),
            resources: Vec::new(),
        }
    }
}

impl Harness {
    /// A harness whose broker records durable state in a [`TestPersistence`].
    pub(crate) fn durable() -> (Self, Arc<TestPersistence>) {
        let persistence = Arc::new(TestPersistence::default());
        let now = Instant::now();
        let clock = crate::WallClock::new(now, std::time::SystemTime::now());
        let broker =
            Broker::with_persistence(EngineConfig::default(), Some(persistence.clone()), clock);
        (
            Self {
                broker,
                now,
                max_sessions_per_owner: None,
                max_session_expiry: None,
            },
            persistence,
        )
    }

    /// A fresh broker restored from `snapshot`, as after a restart `downtime` later.
    pub(crate) fn restarted(
        &self,
        snapshot: &crate::persist::Snapshot,
        downtime: Duration,
    ) -> (Self, Arc<TestPersistence>) {
        let persistence = Arc::new(TestPersistence::default());
        persistence
            .auto_complete
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let now = self.now + downtime;
        let wall = self.broker.clock().wall(now).to_system();
        let broker = Broker::with_persistence(
            EngineConfig::default(),
            Some(persistence.clone()),
            crate::WallClock::new(now, wall),
        );
        broker.restore(snapshot, now);
        (
            Self {
                broker,
                now,
                max_sessions_per_owner: None,
                max_session_expiry: None,
            },
            persistence,
        )
    }
}
