//! MQTT 3.1.1 subscriptions: wildcards, `$`-topics, SUBACK return code 0x80 for an
//! invalid filter, overlapping subscriptions and UNSUBSCRIBE.

mod support;

use gridmq_codec::{Packet, QoS, SubscribeOptions, Subscription, Unsubscribe};
use rumqttc::QoS as V3QoS;
use support::broker;
use support::raw::{self, RawClient, id};
use support::rumqtt::{V3, v3_options};

#[tokio::test]
async fn wildcards_dollar_topics_and_unsubscribe() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let (mut sub, _) = V3::connect(v3_options(port, "v3-wild")).await;
    sub.subscribe("#", V3QoS::AtLeastOnce).await;
    sub.subscribe("sensors/+/temp", V3QoS::AtLeastOnce).await;
    let (mut publisher, _) = V3::connect(v3_options(port, "v3-wild-pub")).await;
    publisher
        .publish("$SYS/uptime", V3QoS::AtLeastOnce, false, "hidden")
        .await;
    publisher
        .publish("sensors/a/temp", V3QoS::AtLeastOnce, false, "once")
        .await;
    publisher
        .publish("other/x", V3QoS::AtLeastOnce, false, "via #")
        .await;
    // "$SYS/uptime" is not matched by "#"; "sensors/a/temp" matches two filters and
    // is delivered once.
    assert_eq!(&sub.next_publish().await.topic[..], "sensors/a/temp");
    assert_eq!(&sub.next_publish().await.topic[..], "other/x");

    sub.unsubscribe("#").await;
    publisher
        .publish("other/x", V3QoS::AtLeastOnce, false, "gone")
        .await;
    publisher
        .publish("sensors/b/temp", V3QoS::AtLeastOnce, false, "still")
        .await;
    let p = sub.next_publish().await;
    assert_eq!(
        (&p.topic[..], &p.payload[..]),
        ("sensors/b/temp", &b"still"[..])
    );
    sub.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn an_invalid_filter_gets_return_code_0x80() {
    let server = broker().await;
    let mut client = RawClient::v311(server.mqtt_addr(), "v3-bad-filter").await;
    let mut subscribe = raw::subscribe(3, "good/#", QoS::ExactlyOnce);
    subscribe.subscriptions.push(Subscription {
        filter: "bad/#/filter".into(),
        options: SubscribeOptions::default(),
    });
    client.send_packet(&Packet::Subscribe(subscribe)).await;
    // SUBACK, packet id 3, return codes: granted QoS 2, failure 0x80.
    assert_eq!(
        &client.expect_bytes(6).await[..],
        b"\x90\x04\x00\x03\x02\x80"
    );
    client
        .send_packet(&Packet::Unsubscribe(Unsubscribe {
            packet_id: id(4),
            properties: Default::default(),
            filters: vec!["good/#".into()],
        }))
        .await;
    // UNSUBACK in 3.1.1 has no payload.
    match client.expect().await {
        Packet::UnsubAck(ack) => assert_eq!(ack.packet_id, id(4)),
        other => panic!("expected UNSUBACK, got {other:?}"),
    }
    client.disconnect().await;
}
