//! Webhook: the request JSON, allow (attributes, expiration, cache), deny, and every way
//! the endpoint can fail (slow, down, garbage, non-200).

use std::time::Duration;

use base64::Engine as _;
use gridmq_access::AttributeValue;
use gridmq_auth::{Authenticator, Method};
use gridmq_codec::ReasonCode;
use serde_json::{Value, json};

use crate::common::*;

fn namespace(url: &str, timeout: &str) -> Value {
    json!({ "topicSpacesConfiguration": { "clientAuthentication": {
        "webhookAuthentication": { "endpointUrl": url, "timeout": timeout } } } })
}

fn allow_for(secs: i64) -> String {
    json!({ "decision": "allow", "clientAuthenticationName": "device-7",
            "attributes": { "floor": 3, "room": "345", "tags": ["a", "b"], "ratio": 0.5, "meta": {} },
            "expiration": unix(now()) + secs })
    .to_string()
}

async fn login(
    auth: &Authenticator,
    user: &str,
    password: &str,
) -> Result<gridmq_auth::Authenticated, gridmq_auth::AuthFailure> {
    let peer = plain_peer();
    let mut req = request(&peer);
    req.username = Some(user);
    req.password = Some(password.as_bytes());
    auth.authenticate(&req, now()).await
}

#[tokio::test]
async fn allow_with_attributes_and_expiration_is_cached() {
    let server = Server::start(|_| (200, allow_for(600))).await;
    let auth = authenticator(namespace(&server.url, "5s"));
    let ok = login(&auth, "user", "pw").await.unwrap();
    assert_eq!(ok.identity.authentication_name, "device-7");
    assert_eq!(ok.method, Method::Webhook);
    assert_eq!(ok.identity.attributes.len(), 3);
    assert_eq!(
        ok.identity.attribute("floor"),
        Some(&AttributeValue::Integer(3))
    );
    assert!(ok.expires_at.unwrap() > now());

    let request = server.last.lock().clone();
    assert_eq!(request["clientId"], "session-1");
    assert_eq!(request["userName"], "user");
    assert_eq!(
        request["password"],
        base64::engine::general_purpose::STANDARD.encode("pw")
    );
    assert!(request.get("authenticationMethod").is_none());

    let again = login(&auth, "user", "pw").await.unwrap();
    assert_eq!(again, ok);
    assert_eq!(server.hits(), 1, "answered from the cache");
    assert_eq!(auth.shared().stats().webhook_cache_hits, 1);

    login(&auth, "user", "other password").await.unwrap();
    assert_eq!(
        server.hits(),
        2,
        "a different password is a different entry"
    );
}

#[tokio::test]
async fn allow_without_expiration_is_not_cached() {
    let server = Server::start(|_| {
        (
            200,
            json!({ "decision": "allow", "clientAuthenticationName": "d" }).to_string(),
        )
    })
    .await;
    let auth = authenticator(namespace(&server.url, "5s"));
    let ok = login(&auth, "user", "pw").await.unwrap();
    assert_eq!(ok.expires_at, None);
    login(&auth, "user", "pw").await.unwrap();
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn certificate_and_v5_authentication_fields_are_sent() {
    let server = Server::start(|_| (200, allow_for(60))).await;
    let auth = authenticator(namespace(&server.url, "5s"));
    let root = root_ca("root");
    let leaf = LeafSpec::cn("dev1").signed_by(&root);
    let peer = tls_peer(vec![leaf.clone(), root.der.clone()], false);
    let mut req = request(&peer);
    req.authentication_method = Some("SCRAM-SHA-1");
    req.authentication_data = Some(b"\x00\x01");
    auth.authenticate(&req, now()).await.unwrap();
    let sent = server.last.lock().clone();
    assert_eq!(sent["authenticationMethod"], "SCRAM-SHA-1");
    assert_eq!(sent["authenticationData"], "AAE=");
    assert!(sent.get("userName").is_none());
    let pem = sent["clientCertificate"].as_str().unwrap();
    assert_eq!(
        gridmq_auth::certificate::pem_certificates(pem).unwrap()[0].as_ref(),
        leaf.as_slice()
    );
    let chain = gridmq_auth::certificate::pem_certificates(
        sent["clientCertificateChain"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(chain.len(), 2);
}

#[tokio::test]
async fn deny_is_not_authorized() {
    let server = Server::start(|_| {
        (
            200,
            json!({ "decision": "deny", "errorReason": "certificate revoked" }).to_string(),
        )
    })
    .await;
    let auth = authenticator(namespace(&server.url, "5s"));
    let message = refused(login(&auth, "user", "pw").await, ReasonCode::NotAuthorized);
    assert!(message.contains("certificate revoked"), "{message}");
    refused(login(&auth, "user", "pw").await, ReasonCode::NotAuthorized);
    assert_eq!(server.hits(), 2, "denials are not cached");
}

#[tokio::test]
async fn slow_webhook_is_server_unavailable() {
    let server = Server::start_with_delay(Duration::from_secs(30), |_| (200, allow_for(60))).await;
    let auth = authenticator(namespace(&server.url, "200ms"));
    let message = refused(
        login(&auth, "user", "pw").await,
        ReasonCode::ServerUnavailable,
    );
    assert!(message.contains("within"), "{message}");
}

#[tokio::test]
async fn down_webhook_is_server_unavailable() {
    let auth = authenticator(namespace(&dead_url().await, "5s"));
    let failure = login(&auth, "user", "pw").await.unwrap_err();
    assert_eq!(failure.reason, ReasonCode::ServerUnavailable);
    assert_eq!(
        failure.v3_return_code(),
        gridmq_codec::ConnectReturnCode::ServerUnavailable
    );
}

#[tokio::test]
async fn garbage_and_errors_are_server_unavailable() {
    let answers: Vec<(u16, String)> = vec![
        (200, "<html>".into()),
        (200, json!({ "decision": "perhaps" }).to_string()),
        (200, json!({ "decision": "allow" }).to_string()),
        (
            200,
            json!({ "decision": "allow", "clientAuthenticationName": "d", "expiration": "later" })
                .to_string(),
        ),
        (500, allow_for(60)),
        (302, allow_for(60)),
        (200, "x".repeat(70 * 1024)),
    ];
    for (status, body) in answers {
        let shown = body.chars().take(60).collect::<String>();
        let server = Server::start(move |_| (status, body.clone())).await;
        let auth = authenticator(namespace(&server.url, "5s"));
        let failure = login(&auth, "user", "pw").await.unwrap_err();
        assert_eq!(
            failure.reason,
            ReasonCode::ServerUnavailable,
            "{status} {shown}: {}",
            failure.log_message
        );
        assert!(
            !failure.log_message.contains("pw\""),
            "no password in {}",
            failure.log_message
        );
    }
}
