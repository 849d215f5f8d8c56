//! Which mechanism decides when several are configured, and rebuilds that keep the shared
//! caches.

use std::sync::Arc;

use gridmq_access::ValidationScheme;
use gridmq_auth::{AuthOptions, AuthShared, Authenticator, JwtCarrier, Method};
use gridmq_codec::{ProtocolVersion, ReasonCode};
use serde_json::{Value, json};

use crate::common::*;

/// A namespace with a root CA, a webhook, custom JWT, and clients: `both` (certificate
/// scheme and a password), `pwonly` (password only) and `certonly` (certificate only).
fn namespace(root: &Ca, webhook: &str, jwt_cert: &str) -> Value {
    json!({
        "caCertificates": [{ "name": "root", "properties": { "encodedCertificate": root.pem } }],
        "clients": [
            { "name": "both", "properties": {
                "clientCertificateAuthentication": { "validationScheme": "SubjectMatchesAuthenticationName" },
                "passwordHashes": [cheap_hash("pw")] } },
            { "name": "pwonly", "properties": { "passwordHashes": [cheap_hash("pw")] } },
            { "name": "certonly", "properties": {} }
        ],
        "topicSpacesConfiguration": { "clientAuthentication": {
            "webhookAuthentication": { "endpointUrl": webhook },
            "customJwtAuthentication": { "tokenIssuer": ISSUER, "audiences": [AUDIENCE],
                "encodedIssuerCertificates": [{ "kid": "k1", "encodedCertificate": jwt_cert }] } } }
    })
}

struct Fixture {
    root: Ca,
    webhook: Server,
    signer: Signer,
    auth: Authenticator,
}

async fn fixture() -> Fixture {
    let root = root_ca("root");
    let webhook = Server::start(|_| {
        (
            200,
            json!({ "decision": "allow", "clientAuthenticationName": "from-webhook" }).to_string(),
        )
    })
    .await;
    let signer = es256_signer();
    let auth = authenticator(namespace(&root, &webhook.url, &signer.cert_pem));
    Fixture {
        root,
        webhook,
        signer,
        auth,
    }
}

#[tokio::test]
async fn certificate_decides_for_a_client_with_a_scheme() {
    let f = fixture().await;
    let peer = tls_peer(vec![LeafSpec::cn("both").signed_by(&f.root)], false);
    let mut req = request(&peer);
    req.username = Some("both");
    req.password = Some(b"wrong");
    let ok = f.auth.authenticate(&req, now()).await.unwrap();
    assert_eq!(
        ok.method,
        Method::Certificate(ValidationScheme::SubjectMatchesAuthenticationName)
    );

    // A certificate that fails is final: no fallback to the password or the webhook.
    let peer = tls_peer(vec![LeafSpec::cn("both").self_signed()], false);
    let mut req = request(&peer);
    req.username = Some("both");
    req.password = Some(b"pw");
    refused(
        f.auth.authenticate(&req, now()).await,
        ReasonCode::NotAuthorized,
    );
    assert_eq!(f.webhook.hits(), 0);
}

#[tokio::test]
async fn default_scheme_for_a_client_without_passwords() {
    let f = fixture().await;
    let peer = tls_peer(vec![LeafSpec::cn("certonly").signed_by(&f.root)], true);
    let mut req = request(&peer);
    req.username = Some("certonly");
    let ok = f.auth.authenticate(&req, now()).await.unwrap();
    assert_eq!(
        ok.method,
        Method::Certificate(ValidationScheme::SubjectMatchesAuthenticationName)
    );
}

#[tokio::test]
async fn password_client_presenting_a_certificate_uses_its_password() {
    let f = fixture().await;
    let peer = tls_peer(vec![LeafSpec::cn("unrelated").self_signed()], false);
    let mut req = request(&peer);
    req.username = Some("pwonly");
    req.password = Some(b"pw");
    assert_eq!(
        f.auth.authenticate(&req, now()).await.unwrap().method,
        Method::Password
    );
    req.password = Some(b"nope");
    refused(
        f.auth.authenticate(&req, now()).await,
        ReasonCode::BadUserNameOrPassword,
    );
    assert_eq!(
        f.webhook.hits(),
        0,
        "a registered password client is decided locally"
    );
}

#[tokio::test]
async fn authentication_method_takes_precedence() {
    let f = fixture().await;
    let token = f.signer.sign(Some("k1"), &claims("jwt-user"));
    let peer = tls_peer(vec![LeafSpec::cn("both").signed_by(&f.root)], false);
    let mut req = request(&peer);
    req.username = Some("both");
    req.authentication_method = Some("CUSTOM-JWT");
    req.authentication_data = Some(token.as_bytes());
    let ok = f.auth.authenticate(&req, now()).await.unwrap();
    assert_eq!(ok.method, Method::Jwt(JwtCarrier::CustomJwt));
    assert_eq!(ok.identity.authentication_name, "jwt-user");

    // An unknown method goes to the webhook when there is one.
    req.authentication_method = Some("KERBEROS");
    assert_eq!(
        f.auth.authenticate(&req, now()).await.unwrap().method,
        Method::Webhook
    );
}

#[tokio::test]
async fn v311_jwt_password_before_password_hashes_and_v5_password_never_a_token() {
    let f = fixture().await;
    let token = f.signer.sign(Some("k1"), &claims("jwt-user"));
    let peer = plain_peer();
    let mut req = gridmq_auth::AuthRequest::new(ProtocolVersion::V3_1_1, "s", &peer);
    req.username = Some("pwonly");
    req.password = Some(token.as_bytes());
    assert_eq!(
        f.auth.authenticate(&req, now()).await.unwrap().method,
        Method::Jwt(JwtCarrier::Password)
    );

    req.protocol = ProtocolVersion::V5;
    refused(
        f.auth.authenticate(&req, now()).await,
        ReasonCode::BadUserNameOrPassword,
    );
}

#[tokio::test]
async fn webhook_is_the_fallback() {
    let f = fixture().await;
    let peer = plain_peer();
    let mut req = request(&peer);
    req.username = Some("somebody-unregistered");
    req.password = Some(b"whatever");
    let ok = f.auth.authenticate(&req, now()).await.unwrap();
    assert_eq!(
        (ok.method, ok.identity.authentication_name.as_str()),
        (Method::Webhook, "from-webhook")
    );

    // No credentials at all: the webhook decides too.
    assert_eq!(
        f.auth
            .authenticate(&request(&peer), now())
            .await
            .unwrap()
            .method,
        Method::Webhook
    );
    assert_eq!(f.webhook.hits(), 2);
}

#[tokio::test]
async fn rebuilds_keep_the_shared_caches() {
    let server = Server::start(|_| {
        let exp = unix(now()) + 600;
        (
            200,
            json!({ "decision": "allow", "clientAuthenticationName": "d", "expiration": exp })
                .to_string(),
        )
    })
    .await;
    let ns = json!({ "topicSpacesConfiguration": { "clientAuthentication": {
        "webhookAuthentication": { "endpointUrl": server.url } } } });
    let options = AuthOptions::default();
    let shared = Arc::new(AuthShared::new(&options).unwrap());
    let peer = plain_peer();
    let mut req = request(&peer);
    req.username = Some("u");
    for _ in 0..3 {
        let auth =
            Authenticator::new(&resources(ns.clone()), options.clone(), shared.clone()).unwrap();
        auth.authenticate(&req, now()).await.unwrap();
    }
    assert_eq!(server.hits(), 1);
    assert_eq!(shared.stats().webhook_cache_hits, 2);
}

#[tokio::test]
async fn every_build_problem_is_reported_at_once() {
    let ns = json!({
        "caCertificates": [
            { "name": "bad-pem", "properties": { "encodedCertificate": "not pem" } },
            { "name": "bad-der", "properties": { "encodedCertificate":
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" } }
        ],
        "clients": [
            { "name": "a", "properties": { "authenticationName": "same" } },
            { "name": "b", "properties": { "authenticationName": "SAME" } }
        ]
    });
    let options = AuthOptions::default();
    let shared = Arc::new(AuthShared::new(&options).unwrap());
    let error = Authenticator::new(&resources(ns), options, shared).unwrap_err();
    assert_eq!(error.problems.len(), 3, "{error}");
    assert!(
        error
            .problems
            .iter()
            .any(|p| p.starts_with("caCertificates/bad-pem"))
    );
    assert!(
        error
            .problems
            .iter()
            .any(|p| p.starts_with("caCertificates/bad-der"))
    );
    assert!(error.problems.iter().any(|p| p.contains("already taken")));
}
