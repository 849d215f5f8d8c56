//! MQTT 3.1.1 QoS 0, 1 and 2 in both directions, the delivered QoS being the lower of
//! the published and the granted one, and the full QoS 2 exchange byte by byte.

mod support;

use gridmq_codec::{Packet, QoS};
use rumqttc::QoS as V3QoS;
use support::broker;
use support::raw::{RawClient, ack};
use support::rumqtt::{V3, v3_options};

#[tokio::test]
async fn every_qos_is_delivered_at_the_lower_of_published_and_granted() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut publisher, _) = V3::connect(v3_options(port, "qos-pub")).await;
    let (mut high, _) = V3::connect(v3_options(port, "qos-sub-2")).await;
    let (mut low, _) = V3::connect(v3_options(port, "qos-sub-1")).await;
    assert_eq!(
        high.subscribe("qos/+", V3QoS::ExactlyOnce).await,
        [rumqttc::SubscribeReasonCode::Success(V3QoS::ExactlyOnce)]
    );
    assert_eq!(
        low.subscribe("qos/+", V3QoS::AtLeastOnce).await,
        [rumqttc::SubscribeReasonCode::Success(V3QoS::AtLeastOnce)]
    );
    let sent = [
        ("qos/0", V3QoS::AtMostOnce),
        ("qos/1", V3QoS::AtLeastOnce),
        ("qos/2", V3QoS::ExactlyOnce),
    ];
    for (topic, qos) in sent {
        publisher.publish(topic, qos, false, topic).await;
    }
    for (topic, qos) in sent {
        let p = high.next_publish().await;
        assert_eq!(
            (&p.topic[..], p.qos, &p.payload[..]),
            (topic, qos, topic.as_bytes())
        );
        let p = low.next_publish().await;
        let expected = if qos == V3QoS::ExactlyOnce {
            V3QoS::AtLeastOnce
        } else {
            qos
        };
        assert_eq!((&p.topic[..], p.qos), (topic, expected));
    }
    for client in [publisher, high, low] {
        client.disconnect().await;
    }
}

#[tokio::test]
async fn the_full_qos_2_exchange_in_both_directions() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut subscriber = RawClient::v311(addr, "q2-sub").await;
    subscriber.subscribe("q2/t", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::v311(addr, "q2-pub").await;

    // Publisher -> broker: PUBLISH, PUBREC, PUBREL (flags 0b0010), PUBCOMP.
    publisher.send(b"\x34\x0a\x00\x04q2/t\x00\x2aok").await;
    assert_eq!(&publisher.expect_bytes(4).await[..], b"\x50\x02\x00\x2a");

    // Broker -> subscriber: the message goes out at QoS 2 with a packet id of its own.
    let delivered = subscriber.expect_publish().await;
    assert_eq!(delivered.qos, QoS::ExactlyOnce);
    assert_eq!(&delivered.payload[..], b"ok");
    let id = delivered.packet_id.expect("QoS 2 has a packet id").get();

    publisher.send(b"\x62\x02\x00\x2a").await;
    assert_eq!(&publisher.expect_bytes(4).await[..], b"\x70\x02\x00\x2a");

    subscriber.send_packet(&Packet::PubRec(ack(id))).await;
    let [hi, lo] = id.to_be_bytes();
    assert_eq!(&subscriber.expect_bytes(4).await[..], [0x62, 0x02, hi, lo]);
    subscriber.send_packet(&Packet::PubComp(ack(id))).await;

    // The exchange is over on both sides: the next message flows normally.
    publisher.publish("q2/t", QoS::AtMostOnce, 0, b"next").await;
    let next = subscriber.expect_publish().await;
    assert_eq!((&next.payload[..], next.dup), (&b"next"[..], false));
    publisher.disconnect().await;
    subscriber.disconnect().await;
}

#[tokio::test]
async fn a_qos_2_retransmission_before_pubrel_is_delivered_once() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut subscriber = RawClient::v311(addr, "q2-once-sub").await;
    subscriber.subscribe("q2once/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::v311(addr, "q2-once-pub").await;
    publisher
        .publish("q2once/t", QoS::ExactlyOnce, 5, b"once")
        .await;
    assert_eq!(publisher.expect().await, Packet::PubRec(ack(5)));
    // The same packet id again, DUP set, as after a lost PUBREC.
    publisher
        .send(b"\x3c\x10\x00\x08q2once/t\x00\x05once")
        .await;
    assert_eq!(publisher.expect().await, Packet::PubRec(ack(5)));
    publisher.send_packet(&Packet::PubRel(ack(5))).await;
    assert_eq!(publisher.expect().await, Packet::PubComp(ack(5)));
    publisher
        .publish("q2once/t", QoS::AtMostOnce, 0, b"marker")
        .await;

    assert_eq!(&subscriber.expect_publish().await.payload[..], b"once");
    assert_eq!(&subscriber.expect_publish().await.payload[..], b"marker");
    publisher.disconnect().await;
    subscriber.disconnect().await;
}
