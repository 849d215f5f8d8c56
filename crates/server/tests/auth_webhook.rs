//! Namespace mode with an authentication webhook (a local HTTP server): what it is sent,
//! allow with a name and attributes, deny, and a webhook that is slow, down or answers
//! garbage (Server unavailable); a decision's expiration ends the session.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use base64::Engine as _;
use gridmq_codec::{ConnectReturnCode, Packet, ProtocolVersion, QoS, ReasonCode};
use serde_json::{Value, json};
use support::namespace::{
    HttpServer, connect_with_password, dead_url, namespace_broker, try_connect, unix_now,
};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

fn resources(url: &str) -> Value {
    json!({
        "topicSpaces": [
            { "name": "rooms", "topicTemplates": ["rooms/${client.attributes.room}/${client.authenticationName}"] }
        ],
        "permissionBindings": [
            { "name": "rooms-pub", "clientGroupName": "$all", "topicSpaceName": "rooms", "permission": "Publisher" }
        ],
        "topicSpacesConfiguration": { "clientAuthentication": {
            "webhookAuthentication": { "endpointUrl": url, "timeout": "500ms" }
        } }
    })
}

/// A webhook allowing user names that start with "ok", as `sensor-<user>` in room 12.
fn decide(request: Value) -> (u16, String) {
    let user = request["userName"].as_str().unwrap_or_default().to_owned();
    let body = if user.starts_with("ok") {
        json!({ "decision": "allow", "clientAuthenticationName": format!("sensor-{user}"),
                "attributes": { "room": "12", "skipped": 1.5 } })
    } else {
        json!({ "decision": "deny", "errorReason": "unknown device" })
    };
    (200, body.to_string())
}

#[tokio::test]
async fn the_webhook_decides_and_names_the_client_v5() {
    let hook = HttpServer::start(decide).await;
    let server = namespace_broker(resources(&hook.url), |_| {}).await;
    let addr = server.mqtt_addr();
    let (mut client, ack) =
        try_connect(addr, connect_with_password(V5, "s-1", "ok1", "secret")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let request = hook.last.lock().clone();
    assert_eq!(request["clientId"], "s-1");
    assert_eq!(request["userName"], "ok1");
    let password = base64::engine::general_purpose::STANDARD
        .decode(request["password"].as_str().unwrap())
        .unwrap();
    assert_eq!(password, b"secret");

    client
        .publish("rooms/12/sensor-ok1", QoS::AtLeastOnce, 1, b"x")
        .await;
    assert!(
        matches!(client.expect().await, Packet::PubAck(a) if a.reason_code == ReasonCode::NoMatchingSubscribers)
    );
    client
        .publish("rooms/13/sensor-ok1", QoS::AtLeastOnce, 2, b"x")
        .await;
    assert!(
        matches!(client.expect().await, Packet::PubAck(a) if a.reason_code == ReasonCode::NotAuthorized)
    );

    let (_, ack) = try_connect(addr, connect_with_password(V5, "s-2", "nope", "secret")).await;
    assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
    let (_, ack) = try_connect(addr, connect_with_password(V311, "s-2", "nope", "secret")).await;
    assert_eq!(
        ack.reason_code.to_v3_connack(),
        ConnectReturnCode::NotAuthorized
    );
}

#[tokio::test]
async fn a_webhook_that_is_slow_down_or_garbled_means_server_unavailable() {
    let slow = HttpServer::start_with_delay(std::time::Duration::from_secs(5), decide).await;
    let garbage = HttpServer::start(|_| (200, "<html>surprise</html>".into())).await;
    let failing = HttpServer::start(|_| (500, "{}".into())).await;
    let down = dead_url().await;
    for url in [
        slow.url.clone(),
        garbage.url.clone(),
        failing.url.clone(),
        down,
    ] {
        let server = namespace_broker(resources(&url), |_| {}).await;
        let addr = server.mqtt_addr();
        let (_, ack) = try_connect(addr, connect_with_password(V5, "c", "ok1", "pw")).await;
        assert_eq!(ack.reason_code, ReasonCode::ServerUnavailable, "{url}");
        let (_, ack) = try_connect(addr, connect_with_password(V311, "c", "ok1", "pw")).await;
        assert_eq!(
            ack.reason_code.to_v3_connack(),
            ConnectReturnCode::ServerUnavailable,
            "{url}"
        );
    }
}

#[tokio::test]
async fn a_decision_that_expires_ends_the_session_v5() {
    let hook = HttpServer::start(|_| {
        let body = json!({ "decision": "allow", "clientAuthenticationName": "brief",
                           "attributes": { "room": "1" }, "expiration": unix_now() + 2 });
        (200, body.to_string())
    })
    .await;
    let server = namespace_broker(resources(&hook.url), |_| {}).await;
    let (mut client, ack) = try_connect(
        server.mqtt_addr(),
        connect_with_password(V5, "c", "any", "pw"),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    client.expect_disconnect(ReasonCode::NotAuthorized).await;
}
