//! Namespace authorization seen by MQTT 5 clients: denied PUBLISH gets PUBACK / PUBREC
//! 0x87 (QoS 0 is dropped), denied SUBSCRIBE filters get 0x87 each, retained messages
//! only reach authorized subscriptions, templates with attributes and shared
//! subscriptions are checked on their filter.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use gridmq_codec::{
    Packet, ProtocolVersion, QoS, ReasonCode, Subscribe, SubscribeOptions, Subscription,
};
use serde_json::{Value, json};
use support::namespace::{cheap_hash, connect_with_password, namespace_broker, try_connect};
use support::raw::{self, RawClient};

const V5: ProtocolVersion = ProtocolVersion::V5;

fn resources() -> Value {
    json!({
        "clients": [
            { "name": "dev-1", "passwordHashes": [cheap_hash("pw")], "attributes": { "area": "north" } },
            { "name": "dev-2", "passwordHashes": [cheap_hash("pw")], "attributes": { "area": "south" } },
            { "name": "monitor", "passwordHashes": [cheap_hash("pw")], "attributes": { "role": "monitor" } }
        ],
        "clientGroups": [
            { "name": "monitors", "query": "attributes.role = 'monitor'" }
        ],
        "topicSpaces": [
            { "name": "own", "topicTemplates": [
                "devices/${client.authenticationName}/#",
                "areas/${client.attributes.area}/+/telemetry"
            ] },
            { "name": "status", "topicTemplates": ["devices/+/status"] }
        ],
        "permissionBindings": [
            { "name": "own-pub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Publisher" },
            { "name": "own-sub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Subscriber" },
            { "name": "monitor-sub", "clientGroupName": "monitors", "topicSpaceName": "status", "permission": "Subscriber" }
        ]
    })
}

async fn login(addr: std::net::SocketAddr, user: &str) -> RawClient {
    let (client, ack) = try_connect(addr, connect_with_password(V5, user, user, "pw")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success, "{user}");
    client
}

/// Publishes and returns the acknowledgement's reason code.
async fn ack_of(client: &mut RawClient, topic: &str, qos: QoS, id: u16) -> ReasonCode {
    client.publish(topic, qos, id, b"x").await;
    loop {
        match client.expect().await {
            Packet::PubAck(a) | Packet::PubRec(a) if a.packet_id.get() == id => {
                if qos == QoS::ExactlyOnce && !a.reason_code.is_error() {
                    client.send_packet(&Packet::PubRel(raw::ack(id))).await;
                }
                return a.reason_code;
            }
            Packet::PubComp(_) | Packet::Publish(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn denied_publish_is_acknowledged_with_not_authorized() {
    let server = namespace_broker(resources(), |_| {}).await;
    let mut dev1 = login(server.mqtt_addr(), "dev-1").await;
    assert_eq!(
        ack_of(&mut dev1, "devices/dev-2/x", QoS::AtLeastOnce, 1).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        ack_of(&mut dev1, "devices/dev-2/x", QoS::ExactlyOnce, 2).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        ack_of(&mut dev1, "areas/south/a/telemetry", QoS::AtLeastOnce, 3).await,
        ReasonCode::NotAuthorized
    );
    // Its own topics and its area's, filled from its attributes.
    assert_eq!(
        ack_of(&mut dev1, "devices/dev-1/x", QoS::AtLeastOnce, 4).await,
        ReasonCode::NoMatchingSubscribers
    );
    assert_eq!(
        ack_of(&mut dev1, "areas/north/a/telemetry", QoS::AtLeastOnce, 5).await,
        ReasonCode::NoMatchingSubscribers
    );
    dev1.disconnect().await;
}

#[tokio::test]
async fn denied_qos0_publish_is_dropped_and_the_connection_stays() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let mut monitor = login(addr, "monitor").await;
    monitor.subscribe("devices/+/status", QoS::AtMostOnce).await;
    let mut dev1 = login(addr, "dev-1").await;
    dev1.publish("devices/dev-2/status", QoS::AtMostOnce, 0, b"forged")
        .await;
    dev1.publish("devices/dev-1/status", QoS::AtMostOnce, 0, b"real")
        .await;
    let first = monitor.expect_publish().await;
    assert_eq!(
        first.topic.as_str(),
        "devices/dev-1/status",
        "the forged one never arrives"
    );
    assert_eq!(&first.payload[..], b"real");
    assert_eq!(
        ack_of(&mut dev1, "devices/dev-1/y", QoS::AtLeastOnce, 9).await,
        ReasonCode::NoMatchingSubscribers
    );
}

#[tokio::test]
async fn each_denied_filter_gets_its_own_reason_code() {
    let server = namespace_broker(resources(), |_| {}).await;
    let mut dev1 = login(server.mqtt_addr(), "dev-1").await;
    let filters = [
        ("devices/dev-1/#", QoS::AtLeastOnce),
        ("devices/+/status", QoS::AtMostOnce),
        ("devices/#", QoS::AtMostOnce),
        ("areas/north/+/telemetry", QoS::AtMostOnce),
        ("$share/g/devices/dev-1/x", QoS::AtMostOnce),
        ("$share/g/devices/dev-2/x", QoS::AtMostOnce),
    ];
    dev1.send_packet(&Packet::Subscribe(Subscribe {
        packet_id: raw::id(1),
        properties: Default::default(),
        subscriptions: filters
            .iter()
            .map(|(f, qos)| Subscription {
                filter: (*f).into(),
                options: SubscribeOptions {
                    qos: *qos,
                    ..Default::default()
                },
            })
            .collect(),
    }))
    .await;
    let Packet::SubAck(ack) = dev1.expect().await else {
        panic!("expected SUBACK")
    };
    assert_eq!(
        ack.reason_codes,
        [
            ReasonCode::GrantedQos1,
            ReasonCode::NotAuthorized,
            ReasonCode::NotAuthorized,
            ReasonCode::GrantedQos0,
            ReasonCode::GrantedQos0,
            ReasonCode::NotAuthorized,
        ]
    );
}

#[tokio::test]
async fn retained_messages_reach_only_authorized_subscriptions() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let mut dev2 = login(addr, "dev-2").await;
    dev2.send_packet(&Packet::Publish({
        let mut p = raw::publish("devices/dev-2/status", QoS::AtLeastOnce, 1, b"online");
        p.retain = true;
        p
    }))
    .await;
    assert!(matches!(dev2.expect().await, Packet::PubAck(_)));

    // dev-1 may not read dev-2's topics: refused, and no retained message follows.
    let mut dev1 = login(addr, "dev-1").await;
    dev1.send_packet(&Packet::Subscribe(raw::subscribe(
        1,
        "devices/dev-2/#",
        QoS::AtMostOnce,
    )))
    .await;
    let Packet::SubAck(ack) = dev1.expect().await else {
        panic!("expected SUBACK")
    };
    assert_eq!(ack.reason_codes, [ReasonCode::NotAuthorized]);
    // A ping answered proves nothing else was queued before it.
    dev1.send_packet(&Packet::PingReq).await;
    assert!(matches!(dev1.expect().await, Packet::PingResp));

    // The monitor may, and gets it.
    let mut monitor = login(addr, "monitor").await;
    monitor.subscribe("devices/+/status", QoS::AtMostOnce).await;
    let retained = monitor.expect_publish().await;
    assert!(retained.retain);
    assert_eq!(&retained.payload[..], b"online");
}
