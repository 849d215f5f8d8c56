//! Namespace authorization seen by MQTT 3.1.1 clients, which have no way to say "not
//! authorized" to a PUBLISH: the connection is closed. A denied SUBSCRIBE filter gets
//! 0x80.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use gridmq_codec::{Packet, ProtocolVersion, QoS, ReasonCode};
use serde_json::{Value, json};
use support::namespace::{cheap_hash, connect_with_password, namespace_broker, try_connect};
use support::raw::{self, RawClient};

const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

fn resources() -> Value {
    json!({
        "clients": [
            { "name": "dev-1", "passwordHashes": [cheap_hash("pw")] },
            { "name": "dev-2", "passwordHashes": [cheap_hash("pw")] }
        ],
        "topicSpaces": [
            { "name": "own", "topicTemplates": ["devices/${client.authenticationName}/#"] }
        ],
        "permissionBindings": [
            { "name": "own-pub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Publisher" },
            { "name": "own-sub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Subscriber" }
        ]
    })
}

async fn login(addr: std::net::SocketAddr, user: &str) -> RawClient {
    let (client, ack) = try_connect(addr, connect_with_password(V311, user, user, "pw")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success, "{user}");
    client
}

#[tokio::test]
async fn a_denied_publish_closes_the_connection() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut dev1 = login(addr, "dev-1").await;
        let id = if qos == QoS::AtMostOnce { 0 } else { 1 };
        dev1.publish("devices/dev-2/x", qos, id, b"forged").await;
        let before = dev1.expect_closed().await;
        assert!(
            before.is_empty(),
            "{qos:?}: no acknowledgement, just the close: {before:?}"
        );
    }
    // Allowed topics are acknowledged as usual.
    let mut dev1 = login(addr, "dev-1").await;
    dev1.publish("devices/dev-1/x", QoS::AtLeastOnce, 1, b"ok")
        .await;
    assert!(matches!(dev1.expect().await, Packet::PubAck(_)));
    dev1.disconnect().await;
}

#[tokio::test]
async fn a_denied_filter_gets_0x80() {
    let server = namespace_broker(resources(), |_| {}).await;
    let mut dev1 = login(server.mqtt_addr(), "dev-1").await;
    let mut subscribe = raw::subscribe(1, "devices/dev-2/#", QoS::AtLeastOnce);
    subscribe.subscriptions.push(gridmq_codec::Subscription {
        filter: "devices/dev-1/#".into(),
        options: gridmq_codec::SubscribeOptions {
            qos: QoS::AtLeastOnce,
            ..Default::default()
        },
    });
    dev1.send_packet(&Packet::Subscribe(subscribe)).await;
    // The raw client decodes v3.1.1 SUBACK bytes; 0x80 reads as Unspecified error.
    let bytes = match dev1.expect().await {
        Packet::SubAck(ack) => ack.reason_codes,
        other => panic!("expected SUBACK, got {other:?}"),
    };
    assert_eq!(
        bytes,
        [ReasonCode::UnspecifiedError, ReasonCode::GrantedQos1]
    );
}
