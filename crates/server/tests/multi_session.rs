//! Sessions per authentication name (`maximumClientSessionsPerAuthenticationName`): the
//! ClientId is the session name; online and offline sessions count; the same identity
//! takes its session over; another identity presenting it is not authorized. MQTT 5 and
//! 3.1.1.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use gridmq_codec::{Connect, ConnectReturnCode, ProtocolVersion, ReasonCode};
use serde_json::{Value, json};
use support::namespace::{Api, cheap_hash, connect_with_password, namespace_broker, try_connect};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

fn resources() -> Value {
    json!({
        "clients": [
            { "name": "mgmt", "passwordHashes": [cheap_hash("pw")] },
            { "name": "other", "passwordHashes": [cheap_hash("pw")] }
        ]
    })
}

/// A persistent session (an hour) for `user` named `session`.
fn persistent(version: ProtocolVersion, session: &str, user: &str) -> Connect {
    let mut connect = connect_with_password(version, session, user, "pw");
    connect.clean_start = false;
    if version.is_v5() {
        connect.properties.session_expiry_interval = Some(3600);
    }
    connect
}

#[tokio::test]
async fn one_session_per_name_by_default_online_or_offline_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let (first, ack) = try_connect(addr, persistent(V5, "Mgmt-Session1", "mgmt")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);

    let (_, ack) = try_connect(addr, persistent(V5, "Mgmt-Session2", "mgmt")).await;
    assert_eq!(
        ack.reason_code,
        ReasonCode::QuotaExceeded,
        "a second session"
    );

    first.disconnect().await;
    let (_, ack) = try_connect(addr, persistent(V5, "Mgmt-Session2", "mgmt")).await;
    assert_eq!(
        ack.reason_code,
        ReasonCode::QuotaExceeded,
        "the offline one still counts"
    );

    let (back, ack) = try_connect(addr, persistent(V5, "Mgmt-Session1", "mgmt")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert!(ack.session_present, "its own session, resumed");
    back.disconnect().await;
}

#[tokio::test]
async fn the_same_identity_takes_over_and_another_is_refused_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let (mut first, _) = try_connect(addr, persistent(V5, "shared-name", "mgmt")).await;

    let (_, ack) = try_connect(addr, persistent(V5, "shared-name", "other")).await;
    assert_eq!(
        ack.reason_code,
        ReasonCode::NotAuthorized,
        "another identity"
    );

    // Authentication names compare ignoring case: MGMT is mgmt.
    let (second, ack) = try_connect(addr, persistent(V5, "shared-name", "MGMT")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert!(ack.session_present);
    first.expect_disconnect(ReasonCode::SessionTakenOver).await;
    second.disconnect().await;

    // Offline, the session still belongs to mgmt.
    let (_, ack) = try_connect(addr, persistent(V5, "shared-name", "other")).await;
    assert_eq!(ack.reason_code, ReasonCode::NotAuthorized);
}

#[tokio::test]
async fn the_limit_follows_the_namespace_setting_v311() {
    let server = namespace_broker(resources(), |_| {}).await;
    let addr = server.mqtt_addr();
    let api = Api::new(&server, None);
    let (first, _) = try_connect(addr, persistent(V311, "s1", "mgmt")).await;
    let (_, ack) = try_connect(addr, persistent(V311, "s2", "mgmt")).await;
    assert_ne!(ack.reason_code.to_v3_connack(), ConnectReturnCode::Accepted);

    let reply = api
        .put(
            "/api/v1/namespace",
            json!({ "properties": { "topicSpacesConfiguration": {
                "maximumClientSessionsPerAuthenticationName": 3
            } } }),
        )
        .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body["properties"]["topicSpacesConfiguration"]["maximumClientSessionsPerAuthenticationName"],
        3
    );
    let (second, ack) = try_connect(addr, persistent(V311, "s2", "mgmt")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let (third, ack) = try_connect(addr, persistent(V311, "s3", "mgmt")).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let (_, ack) = try_connect(addr, persistent(V311, "s4", "mgmt")).await;
    assert_ne!(ack.reason_code, ReasonCode::Success);
    for client in [first, second, third] {
        client.disconnect().await;
    }
}

#[tokio::test]
async fn session_expiry_is_capped_by_the_namespace_v5() {
    let server = namespace_broker(resources(), |_| {}).await;
    let mut connect = persistent(V5, "long", "mgmt");
    connect.properties.session_expiry_interval = Some(7 * 24 * 3600);
    let (client, ack) = try_connect(server.mqtt_addr(), connect).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    // maximumSessionExpiryInHours defaults to 1.
    assert_eq!(ack.properties.session_expiry_interval, Some(3600));
    client.disconnect().await;
}
