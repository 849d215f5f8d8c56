//! Namespace mode with passwords (argon2 hashes on client resources), MQTT 5 and 3.1.1:
//! who gets in, with which CONNACK code, and that a refusal names no secret.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use gridmq_codec::{ConnectReturnCode, Packet, ProtocolVersion, QoS, ReasonCode, TopicName, Will};
use serde_json::{Value, json};
use support::namespace::{cheap_hash, connect_with_password, namespace_broker, try_connect};
use support::raw;

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

fn resources() -> Value {
    json!({
        "clients": [
            { "name": "dev-1", "passwordHashes": [cheap_hash("pw-1")] },
            { "name": "dev-2", "authenticationName": "Device-Two", "passwordHashes": [cheap_hash("pw-2")] },
            { "name": "off", "state": "Disabled", "passwordHashes": [cheap_hash("pw-off")] },
            { "name": "monitor", "passwordHashes": [cheap_hash("pw-m")] }
        ],
        "clientGroups": [
            { "name": "monitors", "query": "authenticationName = 'monitor'" }
        ],
        "topicSpaces": [
            { "name": "own", "topicTemplates": ["devices/${client.authenticationName}/#"] },
            { "name": "all-devices", "topicTemplates": ["devices/#"] }
        ],
        "permissionBindings": [
            { "name": "monitors-sub", "clientGroupName": "monitors", "topicSpaceName": "all-devices", "permission": "Subscriber" },
            { "name": "own-pub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Publisher" },
            { "name": "own-sub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Subscriber" }
        ]
    })
}

async fn refused(
    addr: std::net::SocketAddr,
    connect: gridmq_codec::Connect,
) -> gridmq_codec::ConnAck {
    let (mut client, ack) = try_connect(addr, connect).await;
    client.expect_closed().await;
    ack
}

#[tokio::test]
async fn password_clients_connect_and_use_their_topics_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let (mut client, ack) =
        try_connect(addr, connect_with_password(V5, "s1", "dev-1", "pw-1")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    client.subscribe("devices/dev-1/#", QoS::AtLeastOnce).await;
    client
        .publish("devices/dev-1/temp", QoS::AtLeastOnce, 7, b"21")
        .await;
    let mut got_ack = false;
    let mut got_message = false;
    while !(got_ack && got_message) {
        match client.expect().await {
            Packet::PubAck(a) => {
                assert_eq!(a.reason_code, ReasonCode::Success);
                got_ack = true;
            }
            Packet::Publish(p) => {
                assert_eq!(p.topic.as_str(), "devices/dev-1/temp");
                if let Some(id) = p.packet_id {
                    client
                        .send_packet(&Packet::PubAck(raw::ack(id.get())))
                        .await;
                }
                got_message = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    client.disconnect().await;
}

#[tokio::test]
async fn authentication_names_match_ignoring_case_and_keep_their_case_v311() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let (mut client, ack) = try_connect(
        addr,
        connect_with_password(V311, "s2", "DEVICE-two", "pw-2"),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    // Templates use the name as registered: Device-Two.
    client
        .subscribe("devices/Device-Two/#", QoS::AtMostOnce)
        .await;
    client.disconnect().await;
}

#[tokio::test]
async fn bad_credentials_are_refused_with_the_right_code_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let cases = [
        (
            "wrong password",
            connect_with_password(V5, "c", "dev-1", "nope"),
            ReasonCode::BadUserNameOrPassword,
        ),
        (
            "unknown user",
            connect_with_password(V5, "c", "ghost", "pw-1"),
            ReasonCode::BadUserNameOrPassword,
        ),
        (
            "disabled client",
            connect_with_password(V5, "c", "off", "pw-off"),
            ReasonCode::NotAuthorized,
        ),
        (
            "no credentials",
            raw::connect(V5, "c", true),
            ReasonCode::NotAuthorized,
        ),
        (
            "huge user name",
            connect_with_password(V5, "c", &"u".repeat(5000), "pw"),
            ReasonCode::BadUserNameOrPassword,
        ),
        (
            "huge password",
            connect_with_password(V5, "c", "dev-1", &"p".repeat(40_000)),
            ReasonCode::BadUserNameOrPassword,
        ),
    ];
    for (case, connect, expected) in cases {
        let ack = refused(addr, connect).await;
        assert_eq!(ack.reason_code, expected, "{case}");
        let reason = ack
            .properties
            .reason_string
            .as_deref()
            .unwrap_or_default()
            .to_owned();
        assert!(
            !reason.contains("pw"),
            "{case}: the reason string names no secret: {reason}"
        );
    }
    // Someone with the right password still gets in.
    let (client, ack) = try_connect(addr, connect_with_password(V5, "ok", "dev-1", "pw-1")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    client.disconnect().await;
}

#[tokio::test]
async fn bad_credentials_get_the_v3_return_codes_v311() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let cases = [
        (
            connect_with_password(V311, "c", "dev-1", "nope"),
            ConnectReturnCode::BadUserNameOrPassword,
        ),
        (
            connect_with_password(V311, "c", "off", "pw-off"),
            ConnectReturnCode::NotAuthorized,
        ),
        (
            raw::connect(V311, "c", true),
            ConnectReturnCode::NotAuthorized,
        ),
    ];
    for (connect, expected) in cases {
        let ack = refused(addr, connect).await;
        assert_eq!(ack.reason_code.to_v3_connack(), expected);
    }
}

#[tokio::test]
async fn an_authentication_method_nobody_handles_is_refused_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let mut connect = connect_with_password(V5, "c", "dev-1", "pw-1");
    connect.properties.authentication_method = Some("SCRAM-SHA-256".into());
    let ack = refused(server.mqtt_addr(), connect).await;
    assert_eq!(ack.reason_code, ReasonCode::BadAuthenticationMethod);
}

fn with_will(mut connect: gridmq_codec::Connect, topic: &str) -> gridmq_codec::Connect {
    connect.will = Some(Will {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: TopicName::new(topic).expect("topic"),
        payload: bytes::Bytes::from_static(b"gone"),
        properties: Default::default(),
    });
    connect
}

#[tokio::test]
async fn a_will_is_authorized_as_a_publish_at_connect_v5_and_v311() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let ack = refused(
        addr,
        with_will(
            connect_with_password(V5, "w", "dev-1", "pw-1"),
            "devices/dev-2/status",
        ),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
    let ack = refused(
        addr,
        with_will(
            connect_with_password(V311, "w", "dev-1", "pw-1"),
            "elsewhere",
        ),
    )
    .await;
    assert_eq!(
        ack.reason_code.to_v3_connack(),
        ConnectReturnCode::NotAuthorized
    );

    // Its own topic is fine, and the will arrives when the connection drops.
    let (mut monitor, ack) =
        try_connect(addr, connect_with_password(V5, "watch", "monitor", "pw-m")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    monitor.subscribe("devices/+/status", QoS::AtMostOnce).await;
    let (will_client, ack) = try_connect(
        addr,
        with_will(
            connect_with_password(V5, "w", "dev-1", "pw-1"),
            "devices/dev-1/status",
        ),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    drop(will_client);
    let will = monitor.expect_publish().await;
    assert_eq!(will.topic.as_str(), "devices/dev-1/status");
    assert_eq!(&will.payload[..], b"gone");
}
