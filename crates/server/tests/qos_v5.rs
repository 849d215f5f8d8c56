//! MQTT 5 QoS 0, 1 and 2 in both directions with their reason codes: Success, 0x10 No
//! matching subscribers, and downgrade to the granted QoS.

mod support;

use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::mqttbytes::v5::{PubAckReason, PubRecReason, SubscribeReasonCode};
use support::broker;
use support::rumqtt::{V5, V5Ack, v5_options};

#[tokio::test]
async fn every_qos_is_delivered_at_the_lower_of_published_and_granted() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut publisher, _) = V5::connect(v5_options(port, "v5-qos-pub")).await;
    let (mut high, _) = V5::connect(v5_options(port, "v5-qos-sub-2")).await;
    let (mut low, _) = V5::connect(v5_options(port, "v5-qos-sub-0")).await;
    assert_eq!(
        high.subscribe("v5qos/#", QoS::ExactlyOnce).await,
        [SubscribeReasonCode::Success(QoS::ExactlyOnce)]
    );
    assert_eq!(
        low.subscribe("v5qos/#", QoS::AtMostOnce).await,
        [SubscribeReasonCode::Success(QoS::AtMostOnce)]
    );
    let sent = [
        ("v5qos/0", QoS::AtMostOnce, V5Ack::None),
        (
            "v5qos/1",
            QoS::AtLeastOnce,
            V5Ack::PubAck(PubAckReason::Success),
        ),
        (
            "v5qos/2",
            QoS::ExactlyOnce,
            V5Ack::PubRec(PubRecReason::Success),
        ),
    ];
    for (topic, qos, ack) in &sent {
        assert_eq!(&publisher.publish(topic, *qos, false, *topic).await, ack);
    }
    for (topic, qos, _) in sent {
        let p = high.next_publish().await;
        assert_eq!((&p.topic[..], p.qos), (topic.as_bytes(), qos));
        assert_eq!(&p.payload[..], topic.as_bytes());
        let p = low.next_publish().await;
        assert_eq!((&p.topic[..], p.qos), (topic.as_bytes(), QoS::AtMostOnce));
    }
    for client in [publisher, high, low] {
        client.disconnect().await;
    }
}

#[tokio::test]
async fn a_publication_nobody_subscribed_to_is_acknowledged_with_0x10() {
    let server = broker().await;
    let (mut publisher, _) = V5::connect(v5_options(server.mqtt_addr().port(), "lonely")).await;
    assert_eq!(
        publisher
            .publish("nobody/listens", QoS::AtLeastOnce, false, "x")
            .await,
        V5Ack::PubAck(PubAckReason::NoMatchingSubscribers)
    );
    assert_eq!(
        publisher
            .publish("nobody/listens", QoS::ExactlyOnce, false, "x")
            .await,
        V5Ack::PubRec(PubRecReason::NoMatchingSubscribers)
    );
    publisher.disconnect().await;
}

#[tokio::test]
async fn a_subscriber_publishing_to_itself_completes_both_exchanges() {
    let server = broker().await;
    let (mut client, _) = V5::connect(v5_options(server.mqtt_addr().port(), "echo")).await;
    client.subscribe("echo/t", QoS::ExactlyOnce).await;
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        client.publish("echo/t", qos, false, "me").await;
        let p = client.next_publish().await;
        assert_eq!((p.qos, &p.payload[..]), (qos, &b"me"[..]));
    }
    client.disconnect().await;
}
