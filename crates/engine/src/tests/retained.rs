use gridmq_codec::{QoS, RetainHandling, SubscribeOptions};

use crate::testing::{Harness, connect_v5};

#[test]
fn retained_messages_are_stored_replaced_and_cleared() {
    let h = Harness::new();
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "state/1", b"old", QoS::AtLeastOnce, true);
    publisher.publish(h.now, "state/1", b"new", QoS::AtLeastOnce, true);
    publisher.publish(h.now, "state/2", b"two", QoS::AtMostOnce, true);
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    sub.subscribe(h.now, "state/+", QoS::AtLeastOnce);
    let mut got: Vec<_> = sub
        .publishes(h.now)
        .into_iter()
        .map(|p| (p.payload, p.retain, p.qos))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            (bytes::Bytes::from_static(b"new"), true, QoS::AtLeastOnce),
            (bytes::Bytes::from_static(b"two"), true, QoS::AtMostOnce)
        ]
    );
    publisher.publish(h.now, "state/1", b"", QoS::AtMostOnce, true);
    let (mut late, _) = h.connect(connect_v5("late", true, 0));
    late.subscribe(h.now, "state/#", QoS::AtLeastOnce);
    assert_eq!(late.publishes(h.now).len(), 1);
}

#[test]
fn retain_handling_controls_delivery_on_subscribe() {
    let h = Harness::new();
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    publisher.publish(h.now, "r", b"v", QoS::AtMostOnce, true);
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    let with = |handling| SubscribeOptions {
        qos: QoS::AtMostOnce,
        retain_handling: handling,
        ..Default::default()
    };
    sub.subscribe_with(h.now, "r", with(RetainHandling::DoNotSend), None);
    assert!(sub.publishes(h.now).is_empty(), "2: never");
    sub.subscribe_with(h.now, "r", with(RetainHandling::SendIfNew), None);
    assert!(
        sub.publishes(h.now).is_empty(),
        "1: not for an existing subscription"
    );
    sub.unsubscribe(h.now, "r");
    sub.subscribe_with(h.now, "r", with(RetainHandling::SendIfNew), None);
    assert_eq!(sub.publishes(h.now).len(), 1, "1: for a new subscription");
    sub.subscribe_with(h.now, "r", with(RetainHandling::SendAtSubscribe), None);
    assert_eq!(sub.publishes(h.now).len(), 1, "0: every time");
}

#[test]
fn live_forwarding_clears_retain_unless_retain_as_published() {
    let h = Harness::new();
    let (mut plain, _) = h.connect(connect_v5("plain", true, 0));
    let (mut rap, _) = h.connect(connect_v5("rap", true, 0));
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    plain.subscribe(h.now, "t", QoS::AtMostOnce);
    rap.subscribe_with(
        h.now,
        "t",
        SubscribeOptions {
            retain_as_published: true,
            ..Default::default()
        },
        None,
    );
    publisher.publish(h.now, "t", b"x", QoS::AtMostOnce, true);
    assert!(!plain.publishes(h.now)[0].retain);
    assert!(rap.publishes(h.now)[0].retain);
}

#[test]
fn expired_retained_messages_are_not_delivered() {
    let mut h = Harness::new();
    let (mut publisher, _) = h.connect(connect_v5("pub", true, 0));
    let mut publish = gridmq_codec::Publish::new(
        gridmq_codec::TopicName::new("r").unwrap(),
        bytes::Bytes::from_static(b"v"),
    );
    publish.retain = true;
    publish.properties.message_expiry_interval = Some(2);
    publisher.send(h.now, gridmq_codec::Packet::Publish(publish));
    h.advance(std::time::Duration::from_secs(3));
    let (mut sub, _) = h.connect(connect_v5("sub", true, 0));
    sub.subscribe(h.now, "r", QoS::AtMostOnce);
    assert!(sub.publishes(h.now).is_empty());
}
