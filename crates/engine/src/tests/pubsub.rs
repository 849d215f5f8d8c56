use gridmq_codec::{Packet, ProtocolVersion, QoS, ReasonCode, SubscribeOptions};

use crate::testing::{Harness, connect, connect_v5};

#[test]
fn qos0_cross_version_v311_publisher_to_v5_subscriber() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    let (mut publisher, _) = h.connect(connect("pub", ProtocolVersion::V3_1_1, true));
    assert_eq!(
        sub.subscribe(h.now, "a/+", QoS::AtMostOnce).reason_codes,
        vec![ReasonCode::GrantedQos0]
    );
    assert!(
        publisher
            .publish(h.now, "a/b", b"hello", QoS::AtMostOnce, false)
            .is_empty()
    );
    let got = sub.publishes(h.now);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].topic.as_str(), "a/b");
    assert_eq!(&got[0].payload[..], b"hello");
}

#[test]
fn qos0_cross_version_v5_publisher_to_v311_subscriber() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect("sub", ProtocolVersion::V3_1_1, true));
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    sub.subscribe(h.now, "#", QoS::AtLeastOnce);
    publisher.publish(h.now, "x/y", b"1", QoS::AtMostOnce, false);
    assert_eq!(sub.publishes(h.now).len(), 1);
}

#[test]
fn dollar_topics_are_not_matched_by_leading_wildcards() {
    let h = Harness::new();
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    sub.subscribe(h.now, "#", QoS::AtMostOnce);
    sub.subscribe(h.now, "+/x", QoS::AtMostOnce);
    publisher.publish(h.now, "$SYS/x", b"1", QoS::AtMostOnce, false);
    assert!(sub.publishes(h.now).is_empty());
    sub.subscribe(h.now, "$SYS/#", QoS::AtMostOnce);
    publisher.publish(h.now, "$SYS/x", b"1", QoS::AtMostOnce, false);
    assert_eq!(sub.publishes(h.now).len(), 1);
}

#[test]
fn no_matching_subscribers_is_reported_to_v5_publishers() {
    let h = Harness::new();
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    let answer = publisher.publish(h.now, "nobody", b"1", QoS::AtLeastOnce, false);
    let [Packet::PubAck(ack)] = answer.as_slice() else {
        panic!("{answer:?}")
    };
    assert_eq!(ack.reason_code, ReasonCode::NoMatchingSubscribers);
}

#[test]
fn no_local_and_subscription_identifiers() {
    let h = Harness::new();
    let (mut client, _) = h.connect(connect_v5("c", true, 0));
    let options = SubscribeOptions {
        qos: QoS::AtMostOnce,
        no_local: true,
        ..Default::default()
    };
    client.subscribe_with(h.now, "t/#", options, Some(7));
    client.subscribe_with(h.now, "t/+", SubscribeOptions::default(), Some(9));
    client.publish(h.now, "t/1", b"x", QoS::AtMostOnce, false);
    let got = client.publishes(h.now);
    assert_eq!(
        got.len(),
        1,
        "only the subscription without No Local matches"
    );
    let ids: Vec<u32> = got[0]
        .properties
        .subscription_identifiers
        .iter()
        .map(|i| i.get())
        .collect();
    assert_eq!(ids, vec![9]);
}

#[test]
fn unsubscribe_reports_missing_subscriptions() {
    let h = Harness::new();
    let (mut client, _) = h.connect(connect_v5("c", true, 0));
    client.subscribe(h.now, "a", QoS::AtMostOnce);
    let answer = client.unsubscribe(h.now, "a");
    let [Packet::UnsubAck(ack)] = answer.as_slice() else {
        panic!()
    };
    assert_eq!(ack.reason_codes, vec![ReasonCode::Success]);
    let answer = client.unsubscribe(h.now, "a");
    let [Packet::UnsubAck(ack)] = answer.as_slice() else {
        panic!()
    };
    assert_eq!(ack.reason_codes, vec![ReasonCode::NoSubscriptionExisted]);
}

#[test]
fn invalid_filters_get_0x8f_in_v5_and_0x80_in_v311() {
    let h = Harness::new();
    let (mut v5, _) = h.connect(connect_v5("v5", true, 0));
    assert_eq!(
        v5.subscribe(h.now, "a/#/b", QoS::AtMostOnce).reason_codes,
        vec![ReasonCode::TopicFilterInvalid]
    );
    let (mut v3, _) = h.connect(connect("v3", ProtocolVersion::V3_1_1, true));
    v3.subscribe(h.now, "a+", QoS::AtMostOnce);
    let bytes = &v3.wire[v3.wire.len() - 5..];
    assert_eq!(bytes, b"\x90\x03\x00\x01\x80");
}

#[test]
fn shared_subscriptions_balance_and_exclude_retained() {
    let h = Harness::new();
    let (mut a, _) = h.connect(connect_v5("a", true, 0));
    let (mut b, _) = h.connect(connect_v5("b", true, 0));
    let (mut publisher, _) = h.connect(connect_v5("p", true, 0));
    publisher.publish(h.now, "jobs/1", b"retained", QoS::AtMostOnce, true);
    a.subscribe(h.now, "$share/workers/jobs/#", QoS::AtLeastOnce);
    b.subscribe(h.now, "$share/workers/jobs/#", QoS::AtLeastOnce);
    assert!(
        a.publishes(h.now).is_empty(),
        "no retained messages on shared subscriptions"
    );
    for _ in 0..6 {
        publisher.publish(h.now, "jobs/2", b"x", QoS::AtLeastOnce, false);
    }
    assert_eq!(a.publishes(h.now).len(), 3);
    assert_eq!(b.publishes(h.now).len(), 3);
}

#[test]
fn no_local_on_a_shared_subscription_is_a_protocol_error() {
    let h = Harness::new();
    let (mut a, _) = h.connect(connect_v5("a", true, 0));
    // SUBSCRIBE id 1, no properties, "$share/g/t" with No Local (0x04) and QoS 0.
    a.send_raw(h.now, b"\x82\x10\x00\x01\x00\x00\x0a$share/g/t\x04");
    let answer = a.recv_at(h.now);
    let [Packet::Disconnect(d)] = answer.as_slice() else {
        panic!("{answer:?}")
    };
    assert_eq!(d.reason_code, ReasonCode::ProtocolError);
}
