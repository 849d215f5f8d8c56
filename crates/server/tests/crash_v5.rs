//! Crash safety of the real `gridmq` binary on a data directory: persistent MQTT 5
//! publishers send QoS 1 and QoS 2 messages (some retained) to persistent subscribers —
//! online, offline, and coming and going — while the broker is killed with SIGKILL at
//! random moments and restarted on the same directory, several times.
//!
//! At the end: every message acknowledged to its publisher (PUBACK, or PUBREC for QoS 2)
//! has reached every subscriber (all subscribed before anything was published), QoS 1 at
//! least once and QoS 2 exactly once; nothing arrived that was never published; every
//! session came back with Session Present and its subscription; the retained message of
//! each topic is the last acknowledged one or a later one; and after a clean shutdown the
//! store holds no message any more.
//!
//! The clients are raw MQTT clients that keep their own session state across
//! reconnections, as a correct client must: publishers resend unacknowledged PUBLISH
//! (DUP) and PUBREL; subscribers acknowledge every message and, for QoS 2, remember the
//! packet ids they answered with PUBREC until PUBREL (so a resent PUBLISH is not
//! delivered twice). The randomness is seeded; the seed is printed, and
//! `GRIDMQ_CRASH_SEED=N` reruns with seed N.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use gridmq_codec::{
    Connect, Disconnect, Packet, ProtocolVersion, PublishAck, QoS, ReasonCode, Subscribe,
    SubscribeOptions, Subscription,
};
use support::process::BrokerProcess;
use support::raw::{self, Next, RawClient};
use support::within;
use tokio::sync::watch;

/// Broker runs that end in SIGKILL; one more run ends the test cleanly.
const KILLS: usize = 5;
/// The QoS of each publisher.
const PUBLISHERS: [QoS; 4] = [
    QoS::AtLeastOnce,
    QoS::ExactlyOnce,
    QoS::AtLeastOnce,
    QoS::ExactlyOnce,
];
/// New messages each publisher sends per broker run (offline queues stay far below the
/// broker's limit of 10,000 messages).
const PER_RUN: u64 = 250;
/// Unacknowledged messages a publisher keeps in flight.
const WINDOW: usize = 16;
/// Every this many messages, a publisher sends a retained QoS 1 message instead.
const RETAIN_EVERY: u64 = 10;
/// Receive Maximum of the subscribers: a small window keeps many deliveries in flight.
const SUBSCRIBER_WINDOW: u16 = 32;
/// Connections any one client makes at most.
const MAX_CONNECTIONS: usize = 200;
/// How the test tells data from fences.
const FENCE_TOPIC: &str = "crash/data/fence";

/// When a subscriber is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    /// Connected whenever the broker runs.
    Online,
    /// Subscribes, disconnects, and comes back only at the end.
    Offline,
    /// Disconnects after a random number of messages, then waits for the next broker
    /// run: its queue fills while it is away, and it leaves deliveries in flight.
    Intermittent,
}

const SUBSCRIBERS: [(QoS, Presence); 6] = [
    (QoS::AtLeastOnce, Presence::Online),
    (QoS::ExactlyOnce, Presence::Online),
    (QoS::AtLeastOnce, Presence::Offline),
    (QoS::ExactlyOnce, Presence::Offline),
    (QoS::AtLeastOnce, Presence::Intermittent),
    (QoS::ExactlyOnce, Presence::Intermittent),
];

/// A small seeded generator (splitmix64): reproducible choices from a printed seed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `low..=high`.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// The broker the clients should connect to: its run number and address (`None` while
/// it is down).
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    number: usize,
    addr: Option<SocketAddr>,
}

/// A persistent v5 session: Clean Start 0, an hour of Session Expiry.
fn persistent(client_id: &str, receive_maximum: Option<u16>) -> Connect {
    let mut connect = raw::connect(ProtocolVersion::V5, client_id, false);
    connect.properties.session_expiry_interval = Some(3600);
    connect.properties.receive_maximum = receive_maximum.map(raw::nz);
    connect
}

/// Connects `connect` to the current broker, waiting for the next run whenever the
/// current one dies first. Returns the client, its CONNACK's Session Present and the run.
async fn connect_to_broker(
    runs: &mut watch::Receiver<Run>,
    connect: &Connect,
) -> (RawClient, bool, usize) {
    let mut failed_on = None;
    for _ in 0..MAX_CONNECTIONS {
        let run = *runs
            .wait_for(|run| run.addr.is_some() && Some(run.number) != failed_on)
            .await
            .expect("the test still runs");
        let addr = run.addr.expect("waited for an address");
        match RawClient::try_connect(addr, connect.clone()).await {
            Ok((client, ack)) if ack.reason_code == ReasonCode::Success => {
                return (client, ack.session_present, run.number);
            }
            Ok((_, ack)) => panic!("{}: CONNACK {ack:?}", connect.client_id),
            // The broker died under us: wait for the next one.
            Err(_) => failed_on = Some(run.number),
        }
    }
    panic!(
        "{}: no connection in {MAX_CONNECTIONS} tries",
        connect.client_id
    )
}

/// A message a publisher has sent and not finished.
#[derive(Debug, Clone, Copy)]
struct Outgoing {
    seq: u64,
    /// Send order, for resending in order.
    order: u64,
    retained: bool,
    /// PUBREC received: accepted, PUBREL sent.
    released: bool,
}

/// What a publisher did, for the final checks.
#[derive(Debug, Default)]
struct PublisherLog {
    /// Sequence numbers used (each either data or retained): `0..published`.
    published: u64,
    /// Sequence numbers sent as retained messages.
    retained: BTreeSet<u64>,
    /// Sequence numbers the broker accepted (PUBACK / PUBREC with success).
    acked: BTreeSet<u64>,
    /// Sequence numbers the broker refused (an error reason code).
    refused: BTreeSet<u64>,
    /// Problems seen on the way.
    violations: Vec<String>,
}

fn data_topic(publisher: usize) -> String {
    format!("crash/data/{publisher}")
}

fn retained_topic(publisher: usize) -> String {
    format!("crash/retained/{publisher}")
}

fn payload(publisher: usize, seq: u64) -> Vec<u8> {
    format!("{publisher}:{seq}").into_bytes()
}

/// Parses a payload written by [`payload`].
fn parse_payload(payload: &[u8]) -> Option<(usize, u64)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (publisher, seq) = text.split_once(':')?;
    Some((publisher.parse().ok()?, seq.parse().ok()?))
}

/// One publisher: keeps up to [`WINDOW`] messages in flight, [`PER_RUN`] new ones per
/// broker run, resends what is unfinished after every reconnection, and once `stop` is
/// set finishes what it has in flight and disconnects.
async fn publisher(
    index: usize,
    qos: QoS,
    mut runs: watch::Receiver<Run>,
    mut stop: watch::Receiver<bool>,
    acks: watch::Sender<u64>,
) -> PublisherLog {
    let client_id = format!("crash-pub-{index}");
    let connect = persistent(&client_id, None);
    let mut log = PublisherLog::default();
    let mut inflight: BTreeMap<u16, Outgoing> = BTreeMap::new();
    let mut next_id: u16 = 0;
    let mut order = 0u64;
    let mut accepted_once = false;
    'connection: for _ in 0..MAX_CONNECTIONS {
        if *stop.borrow() && inflight.is_empty() {
            break;
        }
        let (mut client, session_present, _) = connect_to_broker(&mut runs, &connect).await;
        if accepted_once && !session_present {
            log.violations
                .push(format!("{client_id}: session lost after a restart"));
            return log;
        }
        let mut resend: Vec<(u16, Outgoing)> = inflight.iter().map(|(k, v)| (*k, *v)).collect();
        resend.sort_by_key(|(_, m)| m.order);
        // PUBRELs sent again after a reconnect: the broker may have completed them and
        // stored that before it died, and then answers "Packet Identifier not found",
        // which MQTT 5.0 (PUBCOMP reason 0x92) calls normal during recovery.
        let resent_releases: BTreeSet<u16> = resend
            .iter()
            .filter(|(_, m)| m.released)
            .map(|(id, _)| *id)
            .collect();
        for (id, message) in resend {
            let packet = if message.released {
                Packet::PubRel(raw::ack(id))
            } else {
                publish_packet(index, qos, id, message, true)
            };
            if client.try_send_packet(&packet).await.is_err() {
                continue 'connection;
            }
        }
        let mut budget = PER_RUN;
        loop {
            let stopping = *stop.borrow();
            while !stopping && budget > 0 && inflight.len() < WINDOW {
                let seq = log.published;
                log.published += 1;
                budget -= 1;
                order += 1;
                let retained = seq % RETAIN_EVERY == RETAIN_EVERY - 1;
                if retained {
                    log.retained.insert(seq);
                }
                let message = Outgoing {
                    seq,
                    order,
                    retained,
                    released: false,
                };
                let id = free_id(&mut next_id, &inflight);
                inflight.insert(id, message);
                let packet = publish_packet(index, qos, id, message, false);
                if client.try_send_packet(&packet).await.is_err() {
                    continue 'connection;
                }
            }
            if stopping && inflight.is_empty() {
                let _ = client
                    .try_send_packet(&Packet::Disconnect(Disconnect::new(
                        ReasonCode::Success,
                        None,
                    )))
                    .await;
                break 'connection;
            }
            let packet = tokio::select! {
                next = client.recv() => match next {
                    Next::Packet(packet) => *packet,
                    Next::Closed => continue 'connection,
                },
                _ = stop.changed() => continue,
            };
            let reply = match packet {
                Packet::PubAck(ack) => {
                    match inflight.remove(&ack.packet_id.get()) {
                        Some(m) if !m.released && (qos == QoS::AtLeastOnce || m.retained) => {
                            accepted_once |= accept(&mut log, &acks, m.seq, ack.reason_code);
                        }
                        other => log
                            .violations
                            .push(format!("{client_id}: PUBACK {ack:?} for {other:?}")),
                    }
                    None
                }
                Packet::PubRec(ack) => {
                    let id = ack.packet_id.get();
                    match inflight.get_mut(&id) {
                        Some(m) if qos == QoS::ExactlyOnce && !m.retained && !m.released => {
                            let seq = m.seq;
                            if accept(&mut log, &acks, seq, ack.reason_code) {
                                accepted_once = true;
                                m.released = true;
                                Some(Packet::PubRel(raw::ack(id)))
                            } else {
                                inflight.remove(&id);
                                None
                            }
                        }
                        other => {
                            log.violations
                                .push(format!("{client_id}: PUBREC {ack:?} for {other:?}"));
                            None
                        }
                    }
                }
                Packet::PubComp(ack) => {
                    match inflight.remove(&ack.packet_id.get()) {
                        Some(m) if m.released && ack.reason_code == ReasonCode::Success => {}
                        Some(m)
                            if m.released
                                && ack.reason_code == ReasonCode::PacketIdentifierNotFound
                                && resent_releases.contains(&ack.packet_id.get()) => {}
                        other => log
                            .violations
                            .push(format!("{client_id}: PUBCOMP {ack:?} for {other:?}")),
                    }
                    None
                }
                Packet::Disconnect(_) => continue 'connection,
                other => {
                    log.violations
                        .push(format!("{client_id}: unexpected {other:?}"));
                    None
                }
            };
            if let Some(reply) = reply {
                if client.try_send_packet(&reply).await.is_err() {
                    continue 'connection;
                }
            }
        }
    }
    if !inflight.is_empty() {
        log.violations.push(format!(
            "{client_id}: {} messages never finished",
            inflight.len()
        ));
    }
    log
}

/// The next packet id not in flight, rotating through a small range so that ids are
/// reused soon after their exchange completes.
fn free_id(next: &mut u16, inflight: &BTreeMap<u16, Outgoing>) -> u16 {
    loop {
        *next = *next % (2 * WINDOW as u16) + 1;
        if !inflight.contains_key(next) {
            return *next;
        }
    }
}

fn publish_packet(index: usize, qos: QoS, id: u16, message: Outgoing, dup: bool) -> Packet {
    let (topic, qos) = if message.retained {
        (retained_topic(index), QoS::AtLeastOnce)
    } else {
        (data_topic(index), qos)
    };
    let mut publish = raw::publish(&topic, qos, id, &payload(index, message.seq));
    publish.retain = message.retained;
    publish.dup = dup;
    Packet::Publish(publish)
}

/// Records the broker's answer to `seq`; returns whether it accepted it.
fn accept(log: &mut PublisherLog, acks: &watch::Sender<u64>, seq: u64, code: ReasonCode) -> bool {
    if code.is_error() {
        log.refused.insert(seq);
        return false;
    }
    log.acked.insert(seq);
    acks.send_modify(|n| *n += 1);
    true
}

/// What a subscriber received, for the final checks.
#[derive(Debug, Default)]
struct SubscriberLog {
    /// Deliveries per (publisher, seq), with the QoS of each.
    received: HashMap<(usize, u64), Vec<QoS>>,
    /// Fences seen, in order.
    fences: Vec<String>,
    violations: Vec<String>,
}

/// One subscriber of `crash/data/#` at `qos`. Subscribes first (the test waits for all
/// SUBACKs before publishing), then behaves as `presence` says while the broker crashes.
/// `drain` then names fences one after the other: for each, the subscriber connects (if
/// it is not connected), reads up to that fence — everything queued before it arrives
/// before it — finishes its QoS 2 exchanges, disconnects and reports on `drained`.
#[allow(clippy::too_many_arguments)]
async fn subscriber(
    index: usize,
    qos: QoS,
    presence: Presence,
    mut rng: Rng,
    mut runs: watch::Receiver<Run>,
    mut drain: watch::Receiver<usize>,
    subscribed: watch::Sender<usize>,
    drained: watch::Sender<usize>,
) -> SubscriberLog {
    let client_id = format!("crash-sub-{index}");
    let connect = persistent(&client_id, Some(SUBSCRIBER_WINDOW));
    let mut log = SubscriberLog::default();
    // QoS 2 packet ids answered with PUBREC, awaiting PUBREL: session state.
    let mut awaiting_release: BTreeSet<u16> = BTreeSet::new();
    // Ids this subscriber answered PUBREL for, until a new message reuses them.
    let mut completed: BTreeSet<u16> = BTreeSet::new();
    let mut is_subscribed = false;
    // The last fence received, and the last one reported drained.
    let mut fence_seen = 0;
    let mut reported = 0;
    'connection: for _ in 0..MAX_CONNECTIONS {
        let target = *drain.borrow();
        let idle = if target == 0 {
            is_subscribed && presence == Presence::Offline
        } else {
            reported >= target
        };
        if idle {
            // Wait for the next fence; the test ends by dropping the sender.
            if drain.changed().await.is_err() {
                break;
            }
            continue;
        }
        let (mut client, session_present, run) = connect_to_broker(&mut runs, &connect).await;
        if is_subscribed && !session_present {
            log.violations
                .push(format!("{client_id}: session lost after a restart"));
            return log;
        }
        if !is_subscribed {
            let subscribe = Packet::Subscribe(Subscribe {
                packet_id: raw::id(1),
                properties: Default::default(),
                subscriptions: vec![Subscription {
                    filter: "crash/data/#".into(),
                    options: SubscribeOptions {
                        qos,
                        ..Default::default()
                    },
                }],
            });
            if client.try_send_packet(&subscribe).await.is_err() {
                continue;
            }
            match client.recv().await {
                Next::Packet(packet) => match *packet {
                    Packet::SubAck(ack) if ack.reason_codes == [ReasonCode::granted(qos)] => {}
                    other => panic!("{client_id}: expected SUBACK, got {other:?}"),
                },
                Next::Closed => continue,
            }
            is_subscribed = true;
            subscribed.send_modify(|n| *n += 1);
            if presence == Presence::Offline {
                disconnect(client).await;
                continue;
            }
        }
        // An intermittent subscriber leaves after this many messages while crashing.
        let mut quota = match presence {
            Presence::Intermittent if target == 0 => rng.range(20, 300),
            _ => u64::MAX,
        };
        let mut target = target;
        loop {
            if target > reported && fence_seen >= target && awaiting_release.is_empty() {
                // Nothing of ours is in flight at the broker: leave cleanly.
                disconnect(client).await;
                reported = target;
                drained.send_modify(|n| *n += 1);
                continue 'connection;
            }
            if quota == 0 {
                disconnect(client).await;
                // Stay away until the next broker run or the drain.
                tokio::select! {
                    _ = runs.wait_for(|r| r.number > run) => {}
                    _ = drain.changed() => {}
                }
                continue 'connection;
            }
            let packet = tokio::select! {
                next = client.recv() => match next {
                    Next::Packet(packet) => *packet,
                    Next::Closed => continue 'connection,
                },
                changed = drain.changed() => {
                    if changed.is_err() {
                        break 'connection;
                    }
                    target = *drain.borrow();
                    if target > 0 {
                        quota = u64::MAX;
                    }
                    continue;
                }
            };
            let reply = match packet {
                Packet::Publish(publish) => {
                    quota = quota.saturating_sub(1);
                    match (publish.qos, publish.packet_id) {
                        (QoS::AtLeastOnce, Some(id)) => {
                            fence_seen = fence_seen.max(record(&mut log, &publish, reported));
                            Some(Packet::PubAck(PublishAck::new(id)))
                        }
                        (QoS::ExactlyOnce, Some(id)) => {
                            // Method B of MQTT 5.0 section 4.3.3: a PUBLISH with an id
                            // still awaiting PUBREL is the same message again.
                            completed.remove(&id.get());
                            if awaiting_release.insert(id.get()) {
                                fence_seen = fence_seen.max(record(&mut log, &publish, reported));
                            }
                            Some(Packet::PubRec(PublishAck::new(id)))
                        }
                        _ => {
                            log.violations
                                .push(format!("{client_id}: QoS 0 delivery {publish:?}"));
                            None
                        }
                    }
                }
                Packet::PubRel(ack) => {
                    let id = ack.packet_id;
                    // A PUBREL for an id already completed is the broker repeating one
                    // whose PUBCOMP it had not stored when it died: answered again.
                    if !awaiting_release.remove(&id.get()) && !completed.contains(&id.get()) {
                        log.violations
                            .push(format!("{client_id}: PUBREL for unknown id {id}"));
                    }
                    completed.insert(id.get());
                    Some(Packet::PubComp(PublishAck::new(id)))
                }
                Packet::Disconnect(_) => continue 'connection,
                other => {
                    log.violations
                        .push(format!("{client_id}: unexpected {other:?}"));
                    None
                }
            };
            if let Some(reply) = reply {
                if client.try_send_packet(&reply).await.is_err() {
                    continue 'connection;
                }
            }
        }
    }
    log
}

/// Sends DISCONNECT 0x00, keeping the session, and drops the connection.
async fn disconnect(mut client: RawClient) {
    let _ = client
        .try_send_packet(&Packet::Disconnect(Disconnect::new(
            ReasonCode::Success,
            None,
        )))
        .await;
}

/// Records a delivery; returns the number of the fence it is, or 0. After the first
/// drain (`drained` > 0) every message was consumed, so any data message again is a
/// redelivery of something acknowledged.
fn record(log: &mut SubscriberLog, publish: &gridmq_codec::Publish, drained: usize) -> usize {
    if publish.topic.as_str() == FENCE_TOPIC {
        let name = String::from_utf8_lossy(&publish.payload).into_owned();
        let number = name
            .strip_prefix("fence-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a fence never published: {name}"));
        log.fences.push(name);
        return number;
    }
    match parse_payload(&publish.payload) {
        Some((p, seq)) if publish.topic.as_str() == data_topic(p) => {
            if drained > 0 {
                log.violations.push(format!(
                    "{p}:{seq} delivered again after it was acknowledged and the broker restarted cleanly"
                ));
            }
            log.received.entry((p, seq)).or_default().push(publish.qos);
        }
        _ => log.violations.push(format!(
            "a message that was never published: {} {:?}",
            publish.topic.as_str(),
            publish.payload
        )),
    }
    0
}

/// `(sessions, messages, retained)` from the `restored durable state` log line.
fn restored_counts(broker: &BrokerProcess) -> (u64, u64, u64) {
    let line = broker
        .startup_log()
        .iter()
        .find(|line| line.contains("restored durable state"))
        .unwrap_or_else(|| {
            panic!(
                "no `restored durable state` line: {:?}",
                broker.startup_log()
            )
        });
    let field = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
    };
    (field("sessions"), field("messages"), field("retained"))
}

/// Publishes fence `n` at QoS 2 from a non-persistent client and waits for PUBCOMP.
async fn publish_fence(addr: SocketAddr, n: usize) {
    let mut fence = RawClient::v5(addr, &format!("crash-fence-{n}")).await;
    fence
        .publish(
            FENCE_TOPIC,
            QoS::ExactlyOnce,
            1,
            format!("fence-{n}").as_bytes(),
        )
        .await;
    match fence.expect().await {
        Packet::PubRec(ack) if !ack.reason_code.is_error() => {}
        other => panic!("fence {n}: expected PUBREC, got {other:?}"),
    }
    fence.send_packet(&Packet::PubRel(raw::ack(1))).await;
    assert!(matches!(fence.expect().await, Packet::PubComp(_)));
    fence.disconnect().await;
}

/// The retained message of each publisher's topic, as a new subscriber gets it.
async fn retained_messages(addr: SocketAddr) -> BTreeMap<usize, u64> {
    let mut reader = RawClient::v5(addr, "crash-retained-reader").await;
    reader.subscribe("crash/retained/#", QoS::AtLeastOnce).await;
    let mut found = BTreeMap::new();
    for _ in 0..PUBLISHERS.len() {
        let publish = reader.expect_publish().await;
        assert!(publish.retain, "{publish:?}");
        let (p, seq) = parse_payload(&publish.payload)
            .unwrap_or_else(|| panic!("a retained message never published: {publish:?}"));
        assert_eq!(publish.topic.as_str(), retained_topic(p));
        assert!(found.insert(p, seq).is_none(), "two retained for {p}");
        if let Some(id) = publish.packet_id {
            reader
                .send_packet(&Packet::PubAck(PublishAck::new(id)))
                .await;
        }
    }
    reader.disconnect().await;
    found
}

fn seed() -> u64 {
    match std::env::var("GRIDMQ_CRASH_SEED") {
        Ok(seed) => seed.parse().expect("GRIDMQ_CRASH_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

/// Waits until `counter` reaches `target`.
async fn reach(what: &str, counter: &mut watch::Receiver<u64>, target: u64) {
    within(what, counter.wait_for(|n| *n >= target))
        .await
        .expect("the counter's sender lives");
}

async fn reach_usize(what: &str, counter: &mut watch::Receiver<usize>, target: usize) {
    within(what, counter.wait_for(|n| *n >= target))
        .await
        .expect("the counter's sender lives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_survive_sigkill() {
    let seed = seed();
    eprintln!("crash_v5: seed {seed} (rerun with GRIDMQ_CRASH_SEED={seed})");
    let mut rng = Rng(seed);
    let data = tempfile::tempdir().expect("a temporary directory");
    let data_dir = data.path().join("data");

    let (runs, _) = watch::channel(Run::default());
    let (stop, _) = watch::channel(false);
    let (drain, _) = watch::channel(0usize);
    let (acks, mut acked) = watch::channel(0u64);
    let (subscribed_tx, mut subscribed) = watch::channel(0usize);
    let (drained_tx, mut drained) = watch::channel(0usize);

    let mut broker = BrokerProcess::start_durable(&data_dir, &[]).await;
    runs.send_replace(Run {
        number: 1,
        addr: Some(broker.addr()),
    });
    let subscribers: Vec<_> = SUBSCRIBERS
        .iter()
        .enumerate()
        .map(|(i, &(qos, presence))| {
            tokio::spawn(subscriber(
                i,
                qos,
                presence,
                Rng(rng.next()),
                runs.subscribe(),
                drain.subscribe(),
                subscribed_tx.clone(),
                drained_tx.clone(),
            ))
        })
        .collect();
    reach_usize("every SUBACK", &mut subscribed, SUBSCRIBERS.len()).await;
    let publishers: Vec<_> = PUBLISHERS
        .iter()
        .enumerate()
        .map(|(i, &qos)| {
            tokio::spawn(publisher(
                i,
                qos,
                runs.subscribe(),
                stop.subscribe(),
                acks.clone(),
            ))
        })
        .collect();
    let clients = (SUBSCRIBERS.len() + PUBLISHERS.len()) as u64;

    for kill in 1..=KILLS {
        // Kill after a random share of this run's messages were acknowledged, plus a
        // random few milliseconds: mid-batch, mid-flight, mid-anything.
        let before = *acked.borrow();
        let most = PUBLISHERS.len() as u64 * PER_RUN * 3 / 4;
        let target = before + rng.range(1, most);
        reach("acknowledgements before the kill", &mut acked, target).await;
        tokio::time::sleep(Duration::from_millis(rng.range(0, 25))).await;
        broker.kill().await;
        runs.send_modify(|run| run.addr = None);
        eprintln!(
            "crash_v5: kill {kill} after {} acknowledgements",
            *acked.borrow()
        );
        broker = BrokerProcess::start_durable(&data_dir, &[]).await;
        let (sessions, messages, retained) = restored_counts(&broker);
        eprintln!(
            "crash_v5: restored {sessions} sessions, {messages} messages, {retained} retained"
        );
        assert_eq!(sessions, clients, "every session survives a crash");
        runs.send_modify(|run| {
            run.number += 1;
            run.addr = Some(broker.addr());
        });
    }

    // Publishers finish what they have in flight; then everything is published.
    stop.send_replace(true);
    let mut logs = Vec::new();
    for task in publishers {
        logs.push(
            within("a publisher to finish", task)
                .await
                .expect("publisher"),
        );
    }
    // Every subscriber drains up to a fence published after everything else.
    publish_fence(broker.addr(), 1).await;
    drain.send_replace(1);
    reach_usize("every subscriber to drain", &mut drained, SUBSCRIBERS.len()).await;
    let retained_now = retained_messages(broker.addr()).await;

    // A clean shutdown, a restart, and a second fence: sessions and subscriptions are
    // intact, nothing acknowledged comes again, nothing is left in the store.
    broker.terminate();
    assert!(broker.wait().await.success(), "a clean shutdown");
    let broker = BrokerProcess::start_durable(&data_dir, &[]).await;
    let (sessions, messages, retained) = restored_counts(&broker);
    runs.send_modify(|run| {
        run.number += 1;
        run.addr = Some(broker.addr());
    });
    publish_fence(broker.addr(), 2).await;
    drain.send_replace(2);
    reach_usize(
        "every subscriber to drain again",
        &mut drained,
        2 * SUBSCRIBERS.len(),
    )
    .await;
    drop(drain);
    let mut received = Vec::new();
    for task in subscribers {
        received.push(
            within("a subscriber to end", task)
                .await
                .expect("subscriber"),
        );
    }

    check(&logs, &received, &retained_now);
    assert_eq!(sessions, clients, "sessions after a clean shutdown");
    assert_eq!(messages, 0, "every queued message was consumed");
    assert_eq!(retained, PUBLISHERS.len() as u64);
}

/// The final checks over what every client saw.
fn check(
    publishers: &[PublisherLog],
    subscribers: &[SubscriberLog],
    retained: &BTreeMap<usize, u64>,
) {
    let mut violations: Vec<String> = Vec::new();
    for (p, log) in publishers.iter().enumerate() {
        violations.extend(log.violations.iter().cloned());
        eprintln!(
            "crash_v5: publisher {p} ({:?}): {} published, {} acknowledged, {} refused",
            PUBLISHERS[p],
            log.published,
            log.acked.len(),
            log.refused.len()
        );
        // The retained message is the last one acknowledged or a later one.
        let last_acked = log
            .retained
            .iter()
            .rev()
            .find(|seq| log.acked.contains(seq));
        match (retained.get(&p), last_acked) {
            (Some(got), Some(last)) if got >= last && log.retained.contains(got) => {}
            (got, last) => violations.push(format!(
                "publisher {p}: retained {got:?}, last acknowledged retained {last:?}"
            )),
        }
    }
    for (s, log) in subscribers.iter().enumerate() {
        violations.extend(log.violations.iter().cloned());
        let (sub_qos, presence) = SUBSCRIBERS[s];
        let mut duplicates = 0;
        for (&(p, seq), deliveries) in &log.received {
            let Some(publisher) = publishers.get(p) else {
                violations.push(format!("subscriber {s}: from unknown publisher {p}"));
                continue;
            };
            if seq >= publisher.published || publisher.retained.contains(&seq) {
                violations.push(format!("subscriber {s}: {p}:{seq} was never published"));
            }
            let expected_qos = PUBLISHERS[p].min(sub_qos);
            if deliveries.iter().any(|q| *q != expected_qos) {
                violations.push(format!("subscriber {s}: {p}:{seq} at {deliveries:?}"));
            }
            if deliveries.len() > 1 {
                duplicates += 1;
                if expected_qos == QoS::ExactlyOnce {
                    violations.push(format!(
                        "subscriber {s}: QoS 2 message {p}:{seq} delivered {} times",
                        deliveries.len()
                    ));
                }
            }
        }
        let mut missing = Vec::new();
        for (p, publisher) in publishers.iter().enumerate() {
            for seq in publisher.acked.difference(&publisher.retained) {
                if !log.received.contains_key(&(p, *seq)) {
                    missing.push(format!("{p}:{seq}"));
                }
            }
        }
        eprintln!(
            "crash_v5: subscriber {s} ({sub_qos:?}, {presence:?}): {} distinct messages, {duplicates} duplicated, {} missing, fences {:?}",
            log.received.len(),
            missing.len(),
            log.fences
        );
        if !missing.is_empty() {
            violations.push(format!(
                "subscriber {s}: {} acknowledged messages never delivered, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(10)]
            ));
        }
        if !log.fences.iter().any(|f| f == "fence-2") {
            violations.push(format!(
                "subscriber {s}: the subscription did not survive: {:?}",
                log.fences
            ));
        }
    }
    assert!(
        violations.is_empty(),
        "{} violations:\n{}",
        violations.len(),
        violations.join("\n")
    );
}
