//! The durability contract: acknowledgements wait for storage, and a restart restores
//! what was promised.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use gridmq_codec::{Packet, PacketId, Publish, PublishAck, QoS, ReasonCode, TopicName};

use crate::persist::EntryState;
use crate::testing::{Harness, connect_v5};

fn offline_subscriber(
    h: &Harness,
    client_id: &str,
    filter: &str,
    qos: QoS,
    persistence: &crate::testing::TestPersistence,
) {
    let (mut sub, _) = h.connect(connect_v5(client_id, false, 3600));
    sub.send(
        h.now,
        Packet::Subscribe(gridmq_codec::Subscribe {
            packet_id: PacketId::new(1).unwrap(),
            properties: Default::default(),
            subscriptions: vec![gridmq_codec::Subscription {
                filter: filter.into(),
                options: gridmq_codec::SubscribeOptions {
                    qos,
                    ..Default::default()
                },
            }],
        }),
    );
    assert!(
        sub.recv_at(h.now).is_empty(),
        "SUBACK waits for the subscription to be stored"
    );
    persistence.complete_all(true);
    assert!(matches!(sub.recv_at(h.now).as_slice(), [Packet::SubAck(_)]));
    sub.close(h.now);
}

#[test]
fn puback_waits_until_the_message_is_stored_for_persistent_subscribers() {
    let (h, persistence) = Harness::durable();
    offline_subscriber(&h, "dev", "t", QoS::AtLeastOnce, &persistence);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    assert!(
        publisher
            .publish(h.now, "t", b"1", QoS::AtLeastOnce, false)
            .is_empty()
    );
    persistence.complete_all(true);
    let answer = publisher.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::PubAck(a)] if a.reason_code == ReasonCode::Success),
        "{answer:?}"
    );
}

#[test]
fn a_failed_write_is_answered_with_quota_exceeded() {
    let (h, persistence) = Harness::durable();
    offline_subscriber(&h, "dev", "t", QoS::AtLeastOnce, &persistence);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"1", QoS::ExactlyOnce, false);
    persistence.complete_all(false);
    let answer = publisher.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::PubRec(a)] if a.reason_code == ReasonCode::QuotaExceeded),
        "{answer:?}"
    );
}

#[test]
fn publishes_without_persistent_targets_are_acknowledged_at_once() {
    let (h, persistence) = Harness::durable();
    let (mut sub, _) = h.connect(connect_v5("live", true, 0));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    let answer = publisher.publish(h.now, "t", b"1", QoS::AtLeastOnce, false);
    assert!(matches!(answer.as_slice(), [Packet::PubAck(_)]));
    assert_eq!(
        persistence.batches.load(Ordering::Relaxed),
        0,
        "nothing to store"
    );
}

#[test]
fn qos2_to_a_persistent_session_is_sent_only_once_its_packet_id_is_stored() {
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let (mut sub, _) = h.connect(connect_v5("dev", false, 3600));
    sub.subscribe(h.now, "t", QoS::ExactlyOnce);
    persistence.auto_complete.store(false, Ordering::Relaxed);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"x", QoS::ExactlyOnce, false);
    assert!(
        sub.publishes(h.now).is_empty(),
        "held until AwaitingPubRec is durable"
    );
    persistence.complete_all(true);
    let got = sub.publishes(h.now);
    assert_eq!(got.len(), 1);
    let session_id = persistence.snapshot().sessions[0].session_id;
    let entries = persistence.model.lock().entries_of(session_id);
    assert!(
        matches!(entries.as_slice(), [e] if matches!(e.state, EntryState::AwaitingPubRec(id) if Some(id) == got[0].packet_id.map(|p| p.get())))
    );
}

#[test]
fn a_restart_restores_sessions_queues_inflight_retained_and_qos2_state() {
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    // A subscriber with one message in flight and one queued.
    let mut c = connect_v5("dev", false, 3600);
    c.properties.receive_maximum = std::num::NonZeroU16::new(1);
    let (mut sub, _) = h.connect(c);
    sub.subscribe(h.now, "t/#", QoS::AtLeastOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", false, 3600));
    publisher.publish(h.now, "t/1", b"first", QoS::AtLeastOnce, false);
    publisher.publish(h.now, "t/2", b"second", QoS::AtLeastOnce, false);
    publisher.publish(h.now, "state", b"on", QoS::AtLeastOnce, true);
    let inflight = sub.publishes(h.now);
    assert_eq!(inflight.len(), 1);
    // The publisher has a QoS 2 message awaiting PUBREL.
    let mut qos2 = Publish::new(TopicName::new("x").unwrap(), Bytes::from_static(b"q"));
    qos2.qos = QoS::ExactlyOnce;
    qos2.packet_id = PacketId::new(77);
    publisher.send(h.now, Packet::Publish(qos2));
    assert!(matches!(
        publisher.recv_at(h.now).as_slice(),
        [Packet::PubRec(_)]
    ));

    // The process dies: no orderly release, only what was stored survives.
    let snapshot = persistence.snapshot();
    let (h2, _) = h.restarted(&snapshot, Duration::from_secs(30));
    assert_eq!(h2.broker.session_count(), 2);

    let (mut sub, ack) = h2.connect(connect_v5("dev", false, 3600));
    assert!(ack.session_present);
    let again = sub.publishes(h2.now);
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(
        again[0].dup && again[0].packet_id == inflight[0].packet_id,
        "in-flight resent with DUP and its id"
    );
    assert_eq!(&again[0].payload[..], b"first");
    assert_eq!(&again[1].payload[..], b"second");

    let (mut publisher, ack) = h2.connect(connect_v5("pub", false, 3600));
    assert!(ack.session_present);
    publisher.send(
        h2.now,
        Packet::PubRel(PublishAck::new(PacketId::new(77).unwrap())),
    );
    let answer = publisher.recv_at(h2.now);
    assert!(
        matches!(answer.as_slice(), [Packet::PubComp(a)] if a.reason_code == ReasonCode::Success),
        "{answer:?}"
    );

    let (mut late, _) = h2.connect(connect_v5("late", true, 0));
    late.subscribe(h2.now, "state", QoS::AtLeastOnce);
    assert_eq!(late.publishes(h2.now).len(), 1, "retained message restored");
}

#[test]
fn session_expiry_counts_the_downtime() {
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let (sub, _) = h.connect(connect_v5("dev", false, 60));
    sub.close(h.now);
    let snapshot = persistence.snapshot();
    let (h2, _) = h.restarted(&snapshot, Duration::from_secs(30));
    assert_eq!(h2.broker.session_count(), 1);
    let (h3, _) = h.restarted(&snapshot, Duration::from_secs(90));
    assert_eq!(h3.broker.session_count(), 0, "expired while down");
}

#[test]
fn acknowledged_deliveries_are_removed_from_storage() {
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let (mut sub, _) = h.connect(connect_v5("dev", false, 3600));
    sub.subscribe(h.now, "t", QoS::ExactlyOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"1", QoS::AtLeastOnce, false);
    publisher.publish(h.now, "t", b"2", QoS::ExactlyOnce, false);
    for publish in sub.publishes(h.now) {
        sub.ack(h.now, &publish);
    }
    sub.recv_at(h.now);
    let snapshot = persistence.snapshot();
    assert!(snapshot.entries.is_empty(), "{:?}", snapshot.entries);
    assert!(snapshot.messages.is_empty());
}

#[test]
fn a_delayed_will_survives_a_restart() {
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let mut c = connect_v5("dev", false, 3600);
    c.will = Some(gridmq_codec::Will {
        qos: QoS::AtLeastOnce,
        retain: true,
        topic: TopicName::new("status/dev").unwrap(),
        payload: Bytes::from_static(b"gone"),
        properties: gridmq_codec::WillProperties {
            will_delay_interval: Some(60),
            ..Default::default()
        },
    });
    let (dev, _) = h.connect(c);
    dev.close(h.now);
    let snapshot = persistence.snapshot();
    let (mut h2, _) = h.restarted(&snapshot, Duration::from_secs(10));
    h2.advance(Duration::from_secs(51));
    let (mut watcher, _) = h2.connect(connect_v5("w", true, 0));
    watcher.subscribe(h2.now, "status/dev", QoS::AtLeastOnce);
    assert_eq!(
        watcher.publishes(h2.now).len(),
        1,
        "the will fired as a retained message"
    );
}

#[test]
fn pubrel_waits_until_the_subscribers_pubrec_is_stored() {
    // A PUBREL lets the client forget the packet id. Sent before AwaitingPubComp is
    // durable, a crash would restore AwaitingPubRec and resend the PUBLISH, which the
    // client, having forgotten the id, takes as a new message: a duplicate.
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let (mut sub, _) = h.connect(connect_v5("dev", false, 3600));
    sub.subscribe(h.now, "t", QoS::ExactlyOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "t", b"x", QoS::ExactlyOnce, false);
    let got = sub.publishes(h.now);
    assert_eq!(got.len(), 1);
    let id = got[0].packet_id.unwrap();
    persistence.auto_complete.store(false, Ordering::Relaxed);
    sub.send(h.now, Packet::PubRec(PublishAck::new(id)));
    assert!(
        sub.recv_at(h.now).is_empty(),
        "PUBREL waits for AwaitingPubComp to be durable"
    );
    persistence.complete_all(true);
    let answer = sub.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::PubRel(a)] if a.packet_id == id),
        "{answer:?}"
    );
}

#[test]
fn pubcomp_waits_until_the_released_packet_id_is_forgotten_in_storage() {
    // A PUBCOMP frees the packet id for the publisher's next message. Sent before the
    // id is deleted durably, a crash would restore it, and the next message with that
    // id would be taken for a retransmission: acknowledged, never routed.
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let (mut publisher, _) = h.connect(connect_v5("pub", false, 3600));
    let mut publish = Publish::new(TopicName::new("t").unwrap(), Bytes::from_static(b"q"));
    publish.qos = QoS::ExactlyOnce;
    publish.packet_id = PacketId::new(7);
    publisher.send(h.now, Packet::Publish(publish));
    assert!(matches!(
        publisher.recv_at(h.now).as_slice(),
        [Packet::PubRec(_)]
    ));
    persistence.auto_complete.store(false, Ordering::Relaxed);
    publisher.send(
        h.now,
        Packet::PubRel(PublishAck::new(PacketId::new(7).unwrap())),
    );
    assert!(
        publisher.recv_at(h.now).is_empty(),
        "PUBCOMP waits for the packet id to be deleted durably"
    );
    persistence.complete_all(true);
    let answer = publisher.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::PubComp(a)] if a.reason_code == ReasonCode::Success),
        "{answer:?}"
    );
}

#[test]
fn a_delivery_waits_until_the_batch_that_stores_it_is_submitted() {
    // The publisher's connection submits its turn's changes at the end of the turn. A
    // subscriber that sent and settled the message before that would submit its
    // DeleteEntry first, and the publisher's PutEntry after it would bring the entry
    // back: delivered again after a restart.
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let (mut sub, _) = h.connect(connect_v5("dev", false, 3600));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    let mut publish = Publish::new(TopicName::new("t").unwrap(), Bytes::from_static(b"1"));
    publish.qos = QoS::AtLeastOnce;
    publish.packet_id = PacketId::new(1);
    // Routed into the subscriber's queue; the publisher's turn has not ended.
    publisher.send(h.now, Packet::Publish(publish));
    assert!(
        sub.publishes(h.now).is_empty(),
        "not sent before its queue entry is submitted"
    );
    assert!(matches!(
        publisher.recv_at(h.now).as_slice(),
        [Packet::PubAck(_)]
    ));
    let got = sub.publishes(h.now);
    assert_eq!(got.len(), 1);
    sub.ack(h.now, &got[0]);
    sub.recv_at(h.now);
    let snapshot = persistence.snapshot();
    assert!(snapshot.entries.is_empty(), "{:?}", snapshot.entries);
    assert!(snapshot.messages.is_empty());
}

#[test]
fn removing_a_retained_message_is_recorded_and_survives_a_restart() {
    let (h, persistence) = Harness::durable();
    persistence.auto_complete.store(true, Ordering::Relaxed);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "state/a", b"on", QoS::AtLeastOnce, true);
    publisher.publish(h.now, "state/b", b"on", QoS::AtLeastOnce, true);
    let (removed, ticket) = h.broker.remove_retained("state/a");
    assert!(removed);
    assert!(ticket.is_some(), "the removal is recorded");
    let (again, ticket) = h.broker.remove_retained("state/a");
    assert!(!again && ticket.is_none(), "nothing left to remove");
    let (h2, _) = h.restarted(&persistence.snapshot(), Duration::from_secs(1));
    let topics: Vec<String> = h2
        .broker
        .retained()
        .page("#", None, 10, h2.now)
        .into_iter()
        .map(|e| e.message.topic.to_string())
        .collect();
    assert_eq!(topics, ["state/b"]);
}
