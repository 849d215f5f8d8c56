//! Changes through the management API reach connected clients at once: a removed
//! permission, a disabled or deleted client disconnect them (MQTT 5: DISCONNECT 0x87
//! with a reason string; 3.1.1: the connection closes); added rights are swapped in
//! without disconnecting; a session resumed after its rights shrank keeps only the
//! subscriptions still allowed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use gridmq_codec::{Connect, Packet, ProtocolVersion, QoS, ReasonCode};
use serde_json::{Value, json};
use support::namespace::{Api, cheap_hash, connect_with_password, namespace_broker, try_connect};
use support::raw::RawClient;

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

fn resources() -> Value {
    json!({
        "clients": [
            { "name": "dev-1", "passwordHashes": [cheap_hash("pw")], "attributes": { "tier": "basic" } },
            { "name": "admin", "passwordHashes": [cheap_hash("pw")], "attributes": { "role": "admin" } }
        ],
        "clientGroups": [
            { "name": "admins", "query": "attributes.role = 'admin'" },
            { "name": "premium", "query": "attributes.tier = 'premium'" }
        ],
        "topicSpaces": [
            { "name": "own", "topicTemplates": ["devices/${client.authenticationName}/#"] },
            { "name": "everything", "topicTemplates": ["#"] },
            { "name": "premium-feed", "topicTemplates": ["feeds/premium/#"] }
        ],
        "permissionBindings": [
            { "name": "own-pub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Publisher" },
            { "name": "own-sub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Subscriber" },
            { "name": "admin-pub", "clientGroupName": "admins", "topicSpaceName": "everything", "permission": "Publisher" },
            { "name": "premium-sub", "clientGroupName": "premium", "topicSpaceName": "premium-feed", "permission": "Subscriber" }
        ]
    })
}

async fn login(addr: std::net::SocketAddr, connect: Connect) -> RawClient {
    let (client, ack) = try_connect(addr, connect).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    client
}

/// Publishes at QoS 1 and returns the PUBACK reason code.
async fn puback(client: &mut RawClient, topic: &str, id: u16) -> ReasonCode {
    client.publish(topic, QoS::AtLeastOnce, id, b"x").await;
    loop {
        match client.expect().await {
            Packet::PubAck(a) if a.packet_id.get() == id => return a.reason_code,
            Packet::Publish(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_removed_permission_disconnects_with_a_reason_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let api = Api::new(&server, None);
    let mut dev = login(
        server.mqtt_addr(),
        connect_with_password(V5, "d", "dev-1", "pw"),
    )
    .await;
    dev.subscribe("devices/dev-1/#", QoS::AtMostOnce).await;
    api.delete_ok("/api/v1/permissionBindings/own-sub").await;
    let disconnect = dev.expect_disconnect(ReasonCode::NotAuthorized).await;
    let reason = disconnect
        .properties
        .reason_string
        .expect("a reason string");
    assert!(reason.contains("permissions changed"), "{reason}");
    assert_eq!(server.namespace().live_sessions(), 0);
}

#[tokio::test]
async fn a_disabled_or_deleted_client_is_disconnected_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let api = Api::new(&server, None);
    let mut dev = login(addr, connect_with_password(V5, "d", "dev-1", "pw")).await;
    let mut client = api.get("/api/v1/clients/dev-1").await.body;
    client["properties"]["state"] = json!("Disabled");
    api.put_ok("/api/v1/clients/dev-1", client.clone()).await;
    let disconnect = dev.expect_disconnect(ReasonCode::NotAuthorized).await;
    assert!(
        disconnect
            .properties
            .reason_string
            .unwrap()
            .contains("client 'dev-1' was disabled")
    );
    let (_, ack) = try_connect(addr, connect_with_password(V5, "d", "dev-1", "pw")).await;
    assert_eq!(
        ack.reason_code,
        ReasonCode::NotAuthorized,
        "stays out while disabled"
    );

    client["properties"]["state"] = json!("Enabled");
    api.put_ok("/api/v1/clients/dev-1", client).await;
    let mut dev = login(addr, connect_with_password(V5, "d", "dev-1", "pw")).await;
    api.delete_ok("/api/v1/clients/dev-1").await;
    let disconnect = dev.expect_disconnect(ReasonCode::NotAuthorized).await;
    assert!(
        disconnect
            .properties
            .reason_string
            .unwrap()
            .contains("deleted")
    );
}

#[tokio::test]
async fn a_disconnected_v311_client_just_sees_the_close() {
    let server = namespace_broker(resources(), |_| {}).await;
    let api = Api::new(&server, None);
    let mut dev = login(
        server.mqtt_addr(),
        connect_with_password(V311, "d", "dev-1", "pw"),
    )
    .await;
    api.delete_ok("/api/v1/permissionBindings/own-pub").await;
    let before = dev.expect_closed().await;
    assert!(before.is_empty(), "{before:?}");
}

#[tokio::test]
async fn added_rights_apply_without_disconnecting_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let api = Api::new(&server, None);
    let mut dev = login(
        server.mqtt_addr(),
        connect_with_password(V5, "d", "dev-1", "pw"),
    )
    .await;
    assert_eq!(
        puback(&mut dev, "shared/news", 1).await,
        ReasonCode::NotAuthorized
    );

    api.put_ok(
        "/api/v1/topicSpaces/news",
        json!({ "topicTemplates": ["shared/news"] }),
    )
    .await;
    api.put_ok(
        "/api/v1/permissionBindings/news-pub",
        json!({ "clientGroupName": "$all", "topicSpaceName": "news", "permission": "Publisher" }),
    )
    .await;
    assert_eq!(
        puback(&mut dev, "shared/news", 2).await,
        ReasonCode::NoMatchingSubscribers
    );

    // An attribute change that adds a group only adds rights too.
    let mut client = api.get("/api/v1/clients/dev-1").await.body;
    client["properties"]["attributes"]["tier"] = json!("premium");
    api.put_ok("/api/v1/clients/dev-1", client).await;
    dev.subscribe("feeds/premium/#", QoS::AtMostOnce).await;
    assert_eq!(
        puback(&mut dev, "devices/dev-1/x", 3).await,
        ReasonCode::NoMatchingSubscribers
    );
    assert_eq!(server.namespace().live_sessions(), 1);
    dev.disconnect().await;
}

#[tokio::test]
async fn a_resumed_session_loses_subscriptions_no_longer_allowed_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let api = Api::new(&server, None);
    let mut persistent = connect_with_password(V5, "keep", "dev-1", "pw");
    persistent.clean_start = false;
    persistent.properties.session_expiry_interval = Some(600);
    let mut client = api.get("/api/v1/clients/dev-1").await.body;
    client["properties"]["attributes"]["tier"] = json!("premium");
    api.put_ok("/api/v1/clients/dev-1", client.clone()).await;
    let mut dev = login(addr, persistent.clone()).await;
    dev.subscribe("feeds/premium/#", QoS::AtLeastOnce).await;
    dev.subscribe("devices/dev-1/#", QoS::AtLeastOnce).await;
    dev.disconnect().await;

    // While it is away, it leaves the premium group.
    client["properties"]["attributes"]["tier"] = json!("basic");
    api.put_ok("/api/v1/clients/dev-1", client).await;

    let (mut dev, ack) = try_connect(addr, persistent).await;
    assert!(ack.session_present);
    let mut admin = login(addr, connect_with_password(V5, "a", "admin", "pw")).await;
    assert_eq!(
        puback(&mut admin, "feeds/premium/x", 1).await,
        ReasonCode::NoMatchingSubscribers
    );
    assert_eq!(
        puback(&mut admin, "devices/dev-1/x", 2).await,
        ReasonCode::Success
    );
    let delivered = dev.expect_publish().await;
    assert_eq!(delivered.topic.as_str(), "devices/dev-1/x");
}
