use std::time::Duration;

use bytes::Bytes;
use gridmq_codec::{
    Packet, PacketId, ProtocolVersion, Publish, PublishAck, QoS, ReasonCode, TopicName,
};

use crate::EngineConfig;
use crate::testing::{Harness, connect, connect_v5};

#[test]
fn qos1_is_acknowledged_and_delivered_with_a_packet_id() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    let answer = publisher.publish(h.now, "t", b"1", QoS::AtLeastOnce, false);
    let [Packet::PubAck(ack)] = answer.as_slice() else {
        panic!("{answer:?}")
    };
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let got = sub.publishes(h.now);
    assert_eq!(got[0].qos, QoS::AtLeastOnce);
    assert!(got[0].packet_id.is_some());
    sub.ack(h.now, &got[0]);
}

#[test]
fn qos_is_downgraded_to_the_subscription() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    sub.subscribe(h.now, "t", QoS::AtMostOnce);
    publisher.publish(h.now, "t", b"1", QoS::ExactlyOnce, false);
    assert_eq!(sub.publishes(h.now)[0].qos, QoS::AtMostOnce);
}

#[test]
fn qos2_exactly_once_in_both_directions() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect("sub", ProtocolVersion::V3_1_1, true));
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    sub.subscribe(h.now, "t", QoS::ExactlyOnce);

    let mut publish = Publish::new(TopicName::new("t").unwrap(), Bytes::from_static(b"once"));
    publish.qos = QoS::ExactlyOnce;
    publish.packet_id = PacketId::new(5);
    publisher.send(h.now, Packet::Publish(publish.clone()));
    let answer = publisher.recv_at(h.now);
    assert!(matches!(answer.as_slice(), [Packet::PubRec(a)] if a.packet_id.get() == 5));
    // The publisher retransmits before PUBREL: acknowledged again, not routed again.
    publish.dup = true;
    publisher.send(h.now, Packet::Publish(publish));
    assert!(matches!(
        publisher.recv_at(h.now).as_slice(),
        [Packet::PubRec(_)]
    ));
    publisher.send(
        h.now,
        Packet::PubRel(PublishAck::new(PacketId::new(5).unwrap())),
    );
    assert!(
        matches!(publisher.recv_at(h.now).as_slice(), [Packet::PubComp(a)] if a.reason_code == ReasonCode::Success)
    );

    let got = sub.publishes(h.now);
    assert_eq!(got.len(), 1, "delivered exactly once");
    assert_eq!(got[0].qos, QoS::ExactlyOnce);
    sub.ack(h.now, &got[0]);
}

#[test]
fn pubrel_for_an_unknown_id_gets_0x92() {
    let h = Harness::new();
    let (mut client, _) = h.connect(connect_v5("c", true, 0));
    client.send(
        h.now,
        Packet::PubRel(PublishAck::new(PacketId::new(9).unwrap())),
    );
    let answer = client.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::PubComp(a)] if a.reason_code == ReasonCode::PacketIdentifierNotFound)
    );
}

#[test]
fn the_inflight_window_follows_the_clients_receive_maximum() {
    let h = Harness::new();
    let mut c = connect_v5("sub", true, 0);
    c.properties.receive_maximum = std::num::NonZeroU16::new(2);
    let (mut sub, _) = h.connect(c);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    for _ in 0..5 {
        publisher.publish(h.now, "t", b"x", QoS::AtLeastOnce, false);
    }
    let first = sub.publishes(h.now);
    assert_eq!(first.len(), 2);
    sub.ack(h.now, &first[0]);
    let next = sub.publishes(h.now);
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].packet_id, first[1].packet_id);
}

#[test]
fn exceeding_our_receive_maximum_gets_0x93() {
    let config = EngineConfig {
        receive_maximum: 2,
        ..EngineConfig::default()
    };
    let h = Harness::with_config(config);
    let (mut client, ack) = h.connect(connect_v5("c", true, 0));
    assert_eq!(ack.properties.receive_maximum.map(|r| r.get()), Some(2));
    for id in 1..=2 {
        let mut publish = Publish::new(TopicName::new("t").unwrap(), Bytes::new());
        publish.qos = QoS::ExactlyOnce;
        publish.packet_id = PacketId::new(id);
        client.send(h.now, Packet::Publish(publish));
    }
    let mut publish = Publish::new(TopicName::new("t").unwrap(), Bytes::new());
    publish.qos = QoS::ExactlyOnce;
    publish.packet_id = PacketId::new(3);
    client.send(h.now, Packet::Publish(publish));
    let answer = client.recv_at(h.now);
    assert!(
        matches!(answer.last(), Some(Packet::Disconnect(d)) if d.reason_code == ReasonCode::ReceiveMaximumExceeded)
    );
    assert!(client.is_closing());
}

#[test]
fn messages_over_the_clients_maximum_packet_size_are_dropped_for_it_only() {
    let h = Harness::new();
    let mut small = connect_v5("small", true, 0);
    small.properties.maximum_packet_size = std::num::NonZeroU32::new(20);
    let (mut small, _) = h.connect(small);
    let (mut big, _) = h.connect(connect_v5("big", true, 0));
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    small.subscribe(h.now, "t", QoS::AtLeastOnce);
    big.subscribe(h.now, "t", QoS::AtLeastOnce);
    publisher.publish(
        h.now,
        "t",
        b"0123456789012345678901234567890123456789",
        QoS::AtLeastOnce,
        false,
    );
    publisher.publish(h.now, "t", b"tiny", QoS::AtLeastOnce, false);
    let got: Vec<_> = small
        .publishes(h.now)
        .into_iter()
        .map(|p| p.payload)
        .collect();
    assert_eq!(got, vec![Bytes::from_static(b"tiny")]);
    assert_eq!(big.publishes(h.now).len(), 2);
    assert_eq!(crate::Stats::get(&h.broker.stats().dropped_too_large), 1);
}

#[test]
fn message_expiry_counts_down_and_drops_expired_queued_messages() {
    let mut h = Harness::new();
    let (sub, _) = h.connect(connect_v5("sub", false, 300));
    let mut sub = sub;
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    sub.close(h.now);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    for (payload, expiry) in [(&b"short"[..], 5u32), (&b"long"[..], 60u32)] {
        let mut publish = Publish::new(TopicName::new("t").unwrap(), Bytes::from_static(payload));
        publish.qos = QoS::AtLeastOnce;
        publish.packet_id = Some(publisher.packet_id());
        publish.properties.message_expiry_interval = Some(expiry);
        publisher.send(h.now, Packet::Publish(publish));
    }
    h.advance(Duration::from_secs(10));
    let (mut sub, ack) = h.connect(connect_v5("sub", false, 300));
    assert!(ack.session_present);
    let got = sub.publishes(h.now);
    assert_eq!(got.len(), 1);
    assert_eq!(&got[0].payload[..], b"long");
    assert_eq!(got[0].properties.message_expiry_interval, Some(50));
}

#[test]
fn topic_aliases_from_the_client() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    let (mut publisher, ack) = h.connect(connect_v5("pub", true, 0));
    let max = ack.properties.topic_alias_maximum.unwrap();
    sub.subscribe(h.now, "long/topic", QoS::AtMostOnce);
    let mut first = Publish::new(
        TopicName::new("long/topic").unwrap(),
        Bytes::from_static(b"1"),
    );
    first.properties.topic_alias = std::num::NonZeroU16::new(1);
    publisher.send(h.now, Packet::Publish(first));
    let mut second = Publish::new(
        TopicName::from_wire("".into()).unwrap(),
        Bytes::from_static(b"2"),
    );
    second.properties.topic_alias = std::num::NonZeroU16::new(1);
    publisher.send(h.now, Packet::Publish(second));
    let got = sub.publishes(h.now);
    assert_eq!(got.len(), 2);
    assert!(
        got.iter()
            .all(|p| p.topic.as_str() == "long/topic" && p.properties.topic_alias.is_none())
    );

    let mut over = Publish::new(TopicName::new("x").unwrap(), Bytes::new());
    over.properties.topic_alias = std::num::NonZeroU16::new(max + 1);
    publisher.send(h.now, Packet::Publish(over));
    let answer = publisher.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::TopicAliasInvalid)
    );
}

#[test]
fn an_unknown_topic_alias_is_a_protocol_error() {
    let h = Harness::new();
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    let mut publish = Publish::new(TopicName::from_wire("".into()).unwrap(), Bytes::new());
    publish.properties.topic_alias = std::num::NonZeroU16::new(3);
    publisher.send(h.now, Packet::Publish(publish));
    let answer = publisher.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
}

#[test]
fn invalid_utf8_payload_flagged_as_text_gets_0x99() {
    let h = Harness::new();
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    let mut publish = Publish::new(
        TopicName::new("t").unwrap(),
        Bytes::from_static(b"\xff\xfe"),
    );
    publish.qos = QoS::AtLeastOnce;
    publish.packet_id = PacketId::new(1);
    publish.properties.payload_format_indicator = Some(true);
    publisher.send(h.now, Packet::Publish(publish));
    let answer = publisher.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::PubAck(a)] if a.reason_code == ReasonCode::PayloadFormatInvalid)
    );
}

#[test]
fn second_connect_is_a_protocol_error() {
    let h = Harness::new();
    let (mut client, _) = h.connect(connect_v5("c", true, 0));
    client.send(h.now, Packet::Connect(Box::new(connect_v5("c", true, 0))));
    let answer = client.recv_at(h.now);
    assert!(
        matches!(answer.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError)
    );
    assert!(client.is_closing());
}

#[test]
fn publishers_are_throttled_by_a_congested_subscriber_and_released_when_it_drains() {
    let config = EngineConfig {
        congestion_threshold: 3,
        ..EngineConfig::default()
    };
    let mut h = Harness::with_config(config);
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    sub.subscribe(h.now, "t", QoS::AtLeastOnce);
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    for _ in 0..2 {
        publisher.publish(h.now, "t", b"x", QoS::AtLeastOnce, false);
    }
    assert!(!publisher.connection.as_ref().unwrap().is_throttled());
    publisher.publish(h.now, "t", b"x", QoS::AtLeastOnce, false);
    assert!(
        publisher.connection.as_ref().unwrap().is_throttled(),
        "three queued: congested"
    );
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        publisher
            .connection
            .as_mut()
            .unwrap()
            .poll_unthrottled(&mut cx)
            .is_pending()
    );
    assert_eq!(sub.publishes(h.now).len(), 3, "nothing was dropped");
    assert!(
        publisher
            .connection
            .as_mut()
            .unwrap()
            .poll_unthrottled(&mut cx)
            .is_ready()
    );

    // A subscriber that never drains: the throttle gives up after the timeout.
    for _ in 0..3 {
        publisher.publish(h.now, "t", b"y", QoS::AtLeastOnce, false);
    }
    assert!(publisher.connection.as_ref().unwrap().is_throttled());
    h.now += Duration::from_secs(6);
    publisher.timeout(h.now);
    assert!(
        !publisher.connection.as_ref().unwrap().is_throttled(),
        "stalled subscribers stop throttling"
    );
    publisher.publish(h.now, "t", b"z", QoS::AtLeastOnce, false);
    assert!(!publisher.connection.as_ref().unwrap().is_throttled());
}
