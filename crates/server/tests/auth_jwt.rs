//! Namespace mode with JSON Web Tokens: keys made at test time, served by a local JWKS
//! server or uploaded as issuer certificates. CUSTOM-JWT / OAUTH2-JWT (MQTT 5) and the
//! token as Password (3.1.1); claims as attributes in topic templates; bad tokens;
//! re-authentication with AUTH 0x19; a session ending when its token expires.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use gridmq_codec::{
    Auth, AuthProperties, Connect, ConnectReturnCode, Packet, ProtocolVersion, QoS, ReasonCode,
};
use serde_json::{Value, json};
use support::namespace::{
    AUDIENCE, HttpServer, ISSUER, Signer, claims, dead_url, namespace_broker, try_connect,
    unix_now, unsigned,
};
use support::raw::{self, RawClient};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V3_1_1;

/// A JWKS server publishing `keys`.
async fn jwks(keys: Vec<Value>) -> HttpServer {
    let body = json!({ "keys": keys }).to_string();
    HttpServer::start(move |_| (200, body.clone())).await
}

fn resources(jwks_url: &str, uploaded: Option<&Signer>) -> Value {
    let mut jwt = json!({ "tokenIssuer": ISSUER, "audiences": [AUDIENCE], "jwksUrl": jwks_url });
    if let Some(signer) = uploaded {
        jwt["encodedIssuerCertificates"] =
            json!([{ "kid": "uploaded", "encodedCertificate": signer.cert_pem.clone().unwrap() }]);
    }
    json!({
        "topicSpaces": [
            { "name": "own", "topicTemplates": [
                "cars/${client.authenticationName}/#",
                "sites/${client.attributes.site}/#"
            ] }
        ],
        "permissionBindings": [
            { "name": "own-pub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Publisher" },
            { "name": "own-sub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Subscriber" }
        ],
        "topicSpacesConfiguration": { "clientAuthentication": { "customJwtAuthentication": jwt } }
    })
}

fn jwt_connect(client_id: &str, method: &str, token: &str) -> Connect {
    let mut connect = raw::connect(V5, client_id, true);
    connect.properties.authentication_method = Some(method.into());
    connect.properties.authentication_data = Some(Bytes::copy_from_slice(token.as_bytes()));
    connect
}

async fn puback(client: &mut RawClient, topic: &str, id: u16) -> ReasonCode {
    client.publish(topic, QoS::AtLeastOnce, id, b"x").await;
    match client.expect().await {
        Packet::PubAck(a) => a.reason_code,
        other => panic!("expected PUBACK, got {other:?}"),
    }
}

#[tokio::test]
async fn tokens_from_a_jwks_authenticate_and_claims_become_attributes_v5() {
    let es = Signer::es256();
    let rs = Signer::rs256();
    let keys = jwks(vec![es.jwk("es-1"), rs.jwk("rs-1")]).await;
    let server = namespace_broker(resources(&keys.url, None), |_| {}).await;
    let addr = server.mqtt_addr();

    let token = es.sign(
        "es-1",
        &claims("car-1", json!({ "site": "berlin", "ignored": 1.5 })),
    );
    let (mut car, ack) = try_connect(addr, jwt_connect("car-1", "CUSTOM-JWT", &token)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert_eq!(
        ack.properties.authentication_method.as_deref(),
        Some("CUSTOM-JWT")
    );
    assert_eq!(
        puback(&mut car, "sites/berlin/x", 1).await,
        ReasonCode::NoMatchingSubscribers
    );
    assert_eq!(
        puback(&mut car, "sites/paris/x", 2).await,
        ReasonCode::NotAuthorized
    );
    assert_eq!(
        puback(&mut car, "cars/car-1/x", 3).await,
        ReasonCode::NoMatchingSubscribers
    );

    // Event Grid's own algorithm and method name.
    let token = rs.sign("rs-1", &claims("car-2", json!({})));
    let (mut car2, ack) = try_connect(addr, jwt_connect("car-2", "OAUTH2-JWT", &token)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    assert_eq!(
        ack.properties.authentication_method.as_deref(),
        Some("OAUTH2-JWT")
    );
    assert_eq!(
        puback(&mut car2, "cars/car-2/x", 1).await,
        ReasonCode::NoMatchingSubscribers
    );
    assert!(keys.hits() >= 1);
}

#[tokio::test]
async fn uploaded_issuer_certificates_and_the_password_field_v311() {
    let uploaded = Signer::es256();
    let keys = jwks(vec![]).await;
    let server = namespace_broker(resources(&keys.url, Some(&uploaded)), |_| {}).await;
    let token = uploaded.sign("uploaded", &claims("car-3", json!({ "site": "oslo" })));
    let mut connect = raw::connect(V311, "car-3", true);
    connect.username = Some("car-3".into());
    connect.password = Some(Bytes::copy_from_slice(token.as_bytes()));
    let (mut car, ack) = try_connect(server.mqtt_addr(), connect).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    car.subscribe("sites/oslo/#", QoS::AtMostOnce).await;
    car.disconnect().await;
}

#[tokio::test]
async fn bad_tokens_are_not_authorized_v5_and_v311() {
    let signer = Signer::es256();
    let impostor = Signer::es256();
    let keys = jwks(vec![signer.jwk("k1")]).await;
    let server = namespace_broker(resources(&keys.url, None), |_| {}).await;
    let addr = server.mqtt_addr();
    let now = unix_now();
    let mut expired = claims("car-1", json!({}));
    expired["exp"] = json!(now - 3600);
    let mut wrong_issuer = claims("car-1", json!({}));
    wrong_issuer["iss"] = json!("https://someone-else.test");
    let mut wrong_audience = claims("car-1", json!({}));
    wrong_audience["aud"] = json!("other.test");
    let mut not_yet = claims("car-1", json!({}));
    not_yet["nbf"] = json!(now + 3600);
    let cases = [
        (
            "bad signature",
            impostor.sign("k1", &claims("car-1", json!({}))),
        ),
        ("alg none", unsigned(&claims("car-1", json!({})))),
        ("expired", signer.sign("k1", &expired)),
        ("not yet valid", signer.sign("k1", &not_yet)),
        ("wrong issuer", signer.sign("k1", &wrong_issuer)),
        ("wrong audience", signer.sign("k1", &wrong_audience)),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (case, token) in &cases {
        let (mut client, ack) = try_connect(addr, jwt_connect("c", "CUSTOM-JWT", token)).await;
        assert_eq!(ack.reason_code, ReasonCode::NotAuthorized, "{case}");
        client.expect_closed().await;
    }
    let (_, token) = &cases[0];
    let mut connect = raw::connect(V311, "c", true);
    connect.username = Some("car-1".into());
    connect.password = Some(Bytes::copy_from_slice(token.as_bytes()));
    let (_, ack) = try_connect(addr, connect).await;
    assert_eq!(
        ack.reason_code.to_v3_connack(),
        ConnectReturnCode::NotAuthorized
    );
}

#[tokio::test]
async fn an_unreachable_jwks_means_server_unavailable() {
    let signer = Signer::es256();
    let url = dead_url().await;
    let server = namespace_broker(resources(&url, None), |_| {}).await;
    let token = signer.sign("k1", &claims("car-1", json!({})));
    let (_, ack) = try_connect(server.mqtt_addr(), jwt_connect("c", "CUSTOM-JWT", &token)).await;
    assert_eq!(ack.reason_code, ReasonCode::ServerUnavailable);
}

fn reauth(method: &str, token: &str) -> Packet {
    Packet::Auth(Auth {
        reason_code: ReasonCode::ReAuthenticate,
        properties: AuthProperties {
            authentication_method: Some(method.into()),
            authentication_data: Some(Bytes::copy_from_slice(token.as_bytes())),
            ..AuthProperties::default()
        },
    })
}

#[tokio::test]
async fn reauthentication_refreshes_the_token_or_disconnects_v5() {
    let signer = Signer::es256();
    let keys = jwks(vec![signer.jwk("k1")]).await;
    let server = namespace_broker(resources(&keys.url, None), |_| {}).await;
    let token = signer.sign("k1", &claims("car-1", json!({ "site": "berlin" })));
    let (mut car, _) = try_connect(
        server.mqtt_addr(),
        jwt_connect("car-1", "CUSTOM-JWT", &token),
    )
    .await;

    // A fresh token with a new site: accepted, and the new attribute applies.
    let renewed = signer.sign(
        "k1",
        &claims("car-1", json!({ "site": "berlin", "zone": "a" })),
    );
    car.send_packet(&reauth("CUSTOM-JWT", &renewed)).await;
    match car.expect().await {
        Packet::Auth(a) => {
            assert_eq!(a.reason_code, ReasonCode::Success);
            assert_eq!(
                a.properties.authentication_method.as_deref(),
                Some("CUSTOM-JWT")
            );
        }
        other => panic!("expected AUTH, got {other:?}"),
    }
    assert_eq!(
        puback(&mut car, "sites/berlin/x", 1).await,
        ReasonCode::NoMatchingSubscribers
    );

    // Someone else's token is refused, and the session ends.
    let stolen = signer.sign("k1", &claims("car-9", json!({})));
    car.send_packet(&reauth("CUSTOM-JWT", &stolen)).await;
    let disconnect = car.expect_disconnect(ReasonCode::NotAuthorized).await;
    assert!(
        disconnect
            .properties
            .reason_string
            .unwrap()
            .contains("re-authentication failed")
    );
}

#[tokio::test]
async fn a_token_that_narrows_rights_on_reauthentication_ends_the_session_v5() {
    let signer = Signer::es256();
    let keys = jwks(vec![signer.jwk("k1")]).await;
    let server = namespace_broker(resources(&keys.url, None), |_| {}).await;
    let token = signer.sign("k1", &claims("car-1", json!({ "site": "berlin" })));
    let (mut car, _) = try_connect(
        server.mqtt_addr(),
        jwt_connect("car-1", "CUSTOM-JWT", &token),
    )
    .await;
    let moved = signer.sign("k1", &claims("car-1", json!({ "site": "paris" })));
    car.send_packet(&reauth("CUSTOM-JWT", &moved)).await;
    car.expect_disconnect(ReasonCode::NotAuthorized).await;
}

#[tokio::test]
async fn a_session_ends_when_its_token_expires_v5() {
    let signer = Signer::es256();
    let keys = jwks(vec![signer.jwk("k1")]).await;
    let server = namespace_broker(resources(&keys.url, None), |config| {
        config.namespace.auth.jwt_leeway = std::time::Duration::ZERO;
    })
    .await;
    let mut short = claims("car-1", json!({}));
    short["exp"] = json!(unix_now() + 2);
    let token = signer.sign("k1", &short);
    let (mut car, ack) = try_connect(
        server.mqtt_addr(),
        jwt_connect("car-1", "CUSTOM-JWT", &token),
    )
    .await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    let disconnect = car.expect_disconnect(ReasonCode::NotAuthorized).await;
    assert!(
        disconnect
            .properties
            .reason_string
            .unwrap()
            .contains("expired")
    );
}
