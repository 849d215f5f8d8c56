//! MQTT 5 topic aliases from the client: set and used (rumqttc and raw bytes), 0 and
//! over the maximum (DISCONNECT 0x94), and an alias used before it was set (0x82).

mod support;

use gridmq_codec::{QoS, ReasonCode};
use gridmq_engine::Stats;
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::mqttbytes::v5::PublishProperties;
use support::raw::{RawClient, field, packet};
use support::rumqtt::{V5, v5_options};
use support::{broker, broker_with};

/// A QoS 0 PUBLISH to `topic` (may be empty) carrying Topic Alias `alias`.
fn aliased_publish(topic: &str, alias: u16, payload: &[u8]) -> Vec<u8> {
    let mut body = field(topic.as_bytes());
    body.extend([3, 0x23]);
    body.extend(alias.to_be_bytes());
    body.extend_from_slice(payload);
    packet(0x30, &body)
}

#[tokio::test]
async fn rumqttc_sets_and_uses_a_topic_alias() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut subscriber, _) = V5::connect(v5_options(port, "alias-sub")).await;
    subscriber
        .subscribe("alias/long/topic", V5QoS::AtLeastOnce)
        .await;
    let (mut publisher, _) = V5::connect(v5_options(port, "alias-pub")).await;
    let with_alias = || PublishProperties {
        topic_alias: Some(7),
        ..Default::default()
    };
    publisher
        .publish_with(
            "alias/long/topic",
            V5QoS::AtLeastOnce,
            false,
            "set",
            Some(with_alias()),
        )
        .await;
    publisher
        .publish_with("", V5QoS::AtLeastOnce, false, "used", Some(with_alias()))
        .await;
    for payload in ["set", "used"] {
        let p = subscriber.next_publish().await;
        assert_eq!(&p.topic[..], b"alias/long/topic");
        assert_eq!(&p.payload[..], payload.as_bytes());
        // The broker does not forward the publisher's alias.
        assert_eq!(p.properties.and_then(|p| p.topic_alias), None);
    }
    subscriber.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn an_alias_can_be_remapped_to_another_topic() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut subscriber = RawClient::v5(addr, "remap-sub").await;
    subscriber.subscribe("remap/#", QoS::AtMostOnce).await;
    let mut publisher = RawClient::v5(addr, "remap-pub").await;
    publisher.send(&aliased_publish("remap/a", 1, b"1")).await;
    publisher.send(&aliased_publish("", 1, b"2")).await;
    publisher.send(&aliased_publish("remap/b", 1, b"3")).await;
    publisher.send(&aliased_publish("", 1, b"4")).await;
    for (topic, payload) in [
        ("remap/a", "1"),
        ("remap/a", "2"),
        ("remap/b", "3"),
        ("remap/b", "4"),
    ] {
        let p = subscriber.expect_publish().await;
        assert_eq!(
            (p.topic.as_str(), &p.payload[..]),
            (topic, payload.as_bytes())
        );
    }
    publisher.disconnect().await;
    subscriber.disconnect().await;
}

#[tokio::test]
async fn topic_alias_0_is_refused_with_0x94() {
    let server = broker().await;
    let mut client = RawClient::v5(server.mqtt_addr(), "alias-zero").await;
    client.send(&aliased_publish("alias/zero", 0, b"x")).await;
    client
        .expect_disconnect(ReasonCode::TopicAliasInvalid)
        .await;
}

#[tokio::test]
async fn a_topic_alias_over_the_maximum_is_refused_with_0x94() {
    let server = broker_with(|c| c.mqtt.topic_alias_maximum = 4).await;
    let mut client = RawClient::v5(server.mqtt_addr(), "alias-high").await;
    client.send(&aliased_publish("alias/high", 4, b"ok")).await;
    client.send(&aliased_publish("alias/high", 5, b"x")).await;
    client
        .expect_disconnect(ReasonCode::TopicAliasInvalid)
        .await;
    assert_eq!(Stats::get(&server.broker().stats().protocol_errors), 1);
}

#[tokio::test]
async fn an_alias_used_before_it_was_set_is_a_protocol_error() {
    let server = broker().await;
    let mut client = RawClient::v5(server.mqtt_addr(), "alias-unset").await;
    client.send(&aliased_publish("", 3, b"x")).await;
    client.expect_disconnect(ReasonCode::ProtocolError).await;
}
