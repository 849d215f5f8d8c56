//! Passwords against argon2 hashes: right, wrong, unknown user, disabled client, rotation,
//! case-insensitive names, oversized credentials.

use gridmq_auth::{AuthOptions, Authenticator, Method};
use gridmq_codec::{ConnectReturnCode, ReasonCode};
use serde_json::{Value, json};

use crate::common::*;

fn namespace(state: &str, hashes: &[String]) -> Value {
    json!({ "clients": [{ "name": "sensor-1", "properties": {
        "authenticationName": "Sensor-1", "state": state,
        "attributes": { "kind": "sensor" }, "passwordHashes": hashes } }] })
}

async fn login(
    auth: &Authenticator,
    user: &str,
    password: &[u8],
) -> Result<gridmq_auth::Authenticated, gridmq_auth::AuthFailure> {
    let peer = plain_peer();
    let mut req = request(&peer);
    req.username = Some(user);
    req.password = Some(password);
    auth.authenticate(&req, now()).await
}

#[tokio::test]
async fn right_password() {
    let auth = authenticator(namespace("Enabled", &[cheap_hash("correct horse")]));
    let ok = login(&auth, "sensor-1", b"correct horse").await.unwrap();
    assert_eq!(
        ok.identity.authentication_name, "Sensor-1",
        "registered case"
    );
    assert_eq!(ok.identity.attributes.len(), 1);
    assert_eq!(ok.client.as_deref(), Some("sensor-1"));
    assert_eq!(ok.method, Method::Password);
    assert_eq!(ok.expires_at, None);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_look_the_same() {
    let auth = authenticator(namespace("Enabled", &[cheap_hash("correct horse")]));
    let wrong = login(&auth, "Sensor-1", b"battery staple")
        .await
        .unwrap_err();
    let unknown = login(&auth, "nobody", b"correct horse").await.unwrap_err();
    assert_eq!(wrong, unknown);
    assert_eq!(wrong.reason, ReasonCode::BadUserNameOrPassword);
    assert_eq!(
        wrong.v3_return_code(),
        ConnectReturnCode::BadUserNameOrPassword
    );
    assert!(!wrong.log_message.contains("horse") && !wrong.log_message.contains("staple"));
    refused(
        login(&auth, "Sensor-1", b"").await,
        ReasonCode::BadUserNameOrPassword,
    );
}

#[tokio::test]
async fn disabled_client() {
    let auth = authenticator(namespace("Disabled", &[cheap_hash("pw")]));
    let message = refused(
        login(&auth, "sensor-1", b"pw").await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("disabled"), "{message}");
    // Without the right password nothing tells that the client exists.
    refused(
        login(&auth, "sensor-1", b"guess").await,
        ReasonCode::BadUserNameOrPassword,
    );
}

#[tokio::test]
async fn either_hash_during_rotation() {
    let auth = authenticator(namespace(
        "Enabled",
        &[cheap_hash("old"), cheap_hash("new")],
    ));
    login(&auth, "sensor-1", b"old").await.unwrap();
    login(&auth, "sensor-1", b"new").await.unwrap();
    refused(
        login(&auth, "sensor-1", b"neither").await,
        ReasonCode::BadUserNameOrPassword,
    );
}

#[tokio::test]
async fn default_cost_hash_from_the_helper() {
    let phc = gridmq_auth::hash_password(b"pw").unwrap();
    let auth = authenticator(namespace("Enabled", &[phc.0]));
    login(&auth, "sensor-1", b"pw").await.unwrap();
}

#[tokio::test]
async fn oversized_credentials_are_refused_unread() {
    let auth = authenticator(namespace("Enabled", &[cheap_hash("pw")]));
    let message = refused(
        login(&auth, &"u".repeat(1025), b"pw").await,
        ReasonCode::BadUserNameOrPassword,
    );
    assert!(message.contains("User Name"), "{message}");
    let message = refused(
        login(&auth, "sensor-1", &vec![b'p'; 16 * 1024 + 1]).await,
        ReasonCode::BadUserNameOrPassword,
    );
    assert!(message.contains("Password"), "{message}");

    let small = AuthOptions {
        max_password_len: 4,
        ..AuthOptions::default()
    };
    let auth = authenticator_with(namespace("Enabled", &[cheap_hash("pw")]), small);
    refused(
        login(&auth, "sensor-1", b"12345").await,
        ReasonCode::BadUserNameOrPassword,
    );
}

#[tokio::test]
async fn no_credentials_at_all() {
    let auth = authenticator(namespace("Enabled", &[cheap_hash("pw")]));
    let peer = plain_peer();
    let message = refused(
        auth.authenticate(&request(&peer), now()).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("no credentials"), "{message}");
    let mut req = request(&peer);
    req.username = Some("sensor-1");
    refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
}

#[tokio::test]
async fn hashes_beyond_the_cost_limits_fail_the_build() {
    let options = AuthOptions {
        password_max_memory_kib: 4,
        ..AuthOptions::default()
    };
    let shared = std::sync::Arc::new(gridmq_auth::AuthShared::new(&options).unwrap());
    let ns = namespace(
        "Enabled",
        &[cheap_hash("pw"), "$argon2id$v=19$garbage".into()],
    );
    let error = Authenticator::new(&resources(ns), options, shared).unwrap_err();
    assert_eq!(error.problems.len(), 2, "{error}");
    assert!(
        error.problems[0].contains("clients/sensor-1: passwordHashes[0]"),
        "{error}"
    );
}
