//! HTTP Publish and the retained API in namespace mode, with JWTs signed at test time by
//! an issuer whose certificate the namespace holds: 401 without or with bad tokens, 403
//! outside the Publisher and Subscriber bindings, 204 inside them (seen by an MQTT
//! subscriber authenticated with the same kind of token), `oid` as the identity when a
//! token has no `sub`, claims as attributes, the admin token, and rights that follow
//! changes to the bindings.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use bytes::Bytes;
use gridmq_codec::{Connect, ProtocolVersion, QoS, ReasonCode};
use serde_json::{Value, json};
use support::http::Http;
use support::namespace::{
    AUDIENCE, Api, ISSUER, Signer, claims, namespace_broker, try_connect, unix_now, with_token,
};
use support::raw;

const ADMIN: &str = "admin-secret";

fn resources(signer: &Signer) -> Value {
    let jwt = json!({
        "tokenIssuer": ISSUER,
        "audiences": [AUDIENCE],
        "encodedIssuerCertificates": [
            { "kid": "k1", "encodedCertificate": signer.cert_pem.clone().unwrap() }
        ]
    });
    json!({
        "topicSpaces": [
            { "name": "own", "topicTemplates": ["devices/${client.authenticationName}/#"] },
            { "name": "site", "topicTemplates": ["sites/${client.attributes.site}/#"] },
            { "name": "status", "topicTemplates": ["status/#"] }
        ],
        "permissionBindings": [
            { "name": "own-pub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Publisher" },
            { "name": "own-sub", "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Subscriber" },
            { "name": "site-pub", "clientGroupName": "$all", "topicSpaceName": "site", "permission": "Publisher" },
            { "name": "status-sub", "clientGroupName": "$all", "topicSpaceName": "status", "permission": "Subscriber" }
        ],
        "topicSpacesConfiguration": { "clientAuthentication": { "customJwtAuthentication": jwt } }
    })
}

fn jwt_connect(client_id: &str, token: &str) -> Connect {
    let mut connect = raw::connect(ProtocolVersion::V5, client_id, true);
    connect.properties.authentication_method = Some("CUSTOM-JWT".into());
    connect.properties.authentication_data = Some(Bytes::copy_from_slice(token.as_bytes()));
    connect
}

#[tokio::test]
async fn tokens_decide_who_may_publish_where() {
    let signer = Signer::es256();
    let server = namespace_broker(resources(&signer), |c| with_token(c, ADMIN)).await;
    let anonymous = Http::new(&server);

    // No token, a malformed one, an unsigned one, a wrong issuer, an expired one: 401.
    let mut wrong_issuer = claims("dev-1", json!({}));
    wrong_issuer["iss"] = json!("https://someone.else");
    let mut expired = claims("dev-1", json!({}));
    expired["exp"] = json!(unix_now() - 3600);
    let bad_tokens = [
        None,
        Some("not-a-jwt".to_owned()),
        Some(support::namespace::unsigned(&claims("dev-1", json!({})))),
        Some(signer.sign("k1", &wrong_issuer)),
        Some(signer.sign("k1", &expired)),
        Some(signer.sign("unknown-kid", &claims("dev-1", json!({})))),
    ];
    for token in &bad_tokens {
        let http = anonymous.with_token(token.as_deref());
        let reply = http.publish("devices/dev-1/cmd", "", &[], "x").await;
        reply.assert_problem(401);
        assert!(
            reply.header("www-authenticate").starts_with("Bearer"),
            "{reply:?}"
        );
        http.retained("devices/dev-1/state")
            .await
            .assert_problem(401);
    }

    // An MQTT subscriber with its own token sees what dev-1 publishes over HTTP.
    let dev1_token = signer.sign("k1", &claims("dev-1", json!({ "site": "berlin" })));
    let (mut sub, ack) =
        try_connect(server.mqtt_addr(), jwt_connect("dev-1-sub", &dev1_token)).await;
    assert_eq!(ack.reason_code, ReasonCode::Success);
    sub.subscribe("devices/dev-1/#", QoS::AtLeastOnce).await;

    let dev1 = anonymous.with_token(Some(&dev1_token));
    dev1.publish_ok("devices/dev-1/cmd", "qos=1", &[], "allowed")
        .await;
    let got = sub.expect_publish().await;
    assert_eq!(got.topic.as_str(), "devices/dev-1/cmd");
    assert_eq!(got.payload, Bytes::from("allowed"));
    // A claim as attribute in a topic template.
    dev1.publish_ok("sites/berlin/alarm", "", &[], "ok").await;
    // Outside its bindings: 403.
    for topic in ["devices/dev-2/cmd", "sites/paris/alarm", "status/dev-1"] {
        dev1.publish(topic, "", &[], "no").await.assert_problem(403);
    }

    // A token with `oid` and no `sub`: the object id is the identity.
    let mut by_oid = claims("unused", json!({}));
    by_oid.as_object_mut().unwrap().remove("sub");
    by_oid["oid"] = json!("dev-1");
    let oid = anonymous.with_token(Some(&signer.sign("k1", &by_oid)));
    oid.publish_ok("devices/dev-1/cmd", "", &[], "via oid")
        .await;
    assert_eq!(sub.expect_publish().await.payload, Bytes::from("via oid"));

    // The admin token may publish anywhere.
    let admin = anonymous.with_token(Some(ADMIN));
    admin
        .publish_ok("devices/dev-1/cmd", "", &[], "from admin")
        .await;
    assert_eq!(
        sub.expect_publish().await.payload,
        Bytes::from("from admin")
    );
    admin.publish_ok("anything/at/all", "", &[], "x").await;
}

#[tokio::test]
async fn reading_retained_messages_needs_subscriber_rights() {
    let signer = Signer::es256();
    let server = namespace_broker(resources(&signer), |c| with_token(c, ADMIN)).await;
    let admin = Http::new(&server).with_token(Some(ADMIN));
    for topic in [
        "devices/dev-1/state",
        "devices/dev-2/state",
        "status/plant",
        "sites/berlin/x",
    ] {
        admin.publish_ok(topic, "retain=1", &[], topic).await;
    }
    let dev1 = admin.with_token(Some(
        &signer.sign("k1", &claims("dev-1", json!({ "site": "berlin" }))),
    ));

    let reply = dev1.retained("devices/dev-1/state").await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, Bytes::from("devices/dev-1/state"));
    assert_eq!(dev1.retained("status/plant").await.status, 200);
    // Publisher rights alone do not let it read.
    dev1.retained("sites/berlin/x").await.assert_problem(403);
    dev1.retained("devices/dev-2/state")
        .await
        .assert_problem(403);
    // 404 only where it may read.
    dev1.retained("devices/dev-1/none")
        .await
        .assert_problem(404);

    let (items, _) = dev1.list_all("devices/dev-1/#", 10).await;
    assert_eq!(items.len(), 1);
    let (items, _) = dev1.list_all("status/+", 10).await;
    assert_eq!(items.len(), 1);
    for filter in ["#", "devices/+/state", "sites/berlin/#"] {
        let reply = dev1
            .get(&format!(
                "/mqtt/retainedMessages?topicFilter={}",
                support::http::enc(filter)
            ))
            .await;
        reply.assert_problem(403);
    }
    let (items, _) = admin.list_all("#", 2).await;
    assert_eq!(items.len(), 4);

    // Deleting is publishing an empty retained message: it needs Publisher rights.
    dev1.delete_retained("status/plant")
        .await
        .assert_problem(403);
    assert_eq!(
        dev1.delete_retained("devices/dev-1/state").await.status,
        204
    );
    dev1.retained("devices/dev-1/state")
        .await
        .assert_problem(404);
}

#[tokio::test]
async fn rights_follow_changes_to_the_bindings() {
    let signer = Signer::es256();
    let server = namespace_broker(resources(&signer), |c| with_token(c, ADMIN)).await;
    let token = signer.sign("k1", &claims("dev-1", json!({})));
    let dev1 = Http::new(&server).with_token(Some(&token));
    dev1.publish_ok("devices/dev-1/a", "", &[], "x").await;
    let api = Api::new(&server, Some(ADMIN));
    api.delete_ok("/api/v1/permissionBindings/own-pub").await;
    // The same (cached) token loses the right at once.
    dev1.publish("devices/dev-1/a", "", &[], "x")
        .await
        .assert_problem(403);
    api.put_ok(
        "/api/v1/permissionBindings/own-pub",
        json!({ "clientGroupName": "$all", "topicSpaceName": "own", "permission": "Publisher" }),
    )
    .await;
    dev1.publish_ok("devices/dev-1/a", "", &[], "x").await;
}

#[tokio::test]
async fn the_rate_limit_is_per_identity() {
    let signer = Signer::es256();
    let server = namespace_broker(resources(&signer), |c| {
        with_token(c, ADMIN);
        c.http.rate_limit = 1;
        c.http.rate_limit_burst = 1;
    })
    .await;
    let http = Http::new(&server);
    let dev1 = http.with_token(Some(&signer.sign("k1", &claims("dev-1", json!({})))));
    let dev2 = http.with_token(Some(&signer.sign("k1", &claims("dev-2", json!({})))));
    let mut limited = false;
    for _ in 0..50 {
        let reply = dev1.publish("devices/dev-1/a", "qos=0", &[], "x").await;
        if reply.status == 429 {
            assert!(!reply.header("retry-after").is_empty());
            limited = true;
            break;
        }
        assert_eq!(reply.status, 204, "{reply:?}");
    }
    assert!(limited, "dev-1 was limited");
    // dev-2 has its own budget: its first request passes.
    dev2.publish_ok("devices/dev-2/a", "qos=0", &[], "x").await;
}
