//! JWT: RS256, ES256 and EdDSA with keys made at test time; the refusals (signature,
//! algorithms, issuer, audience, times, kid); claims as attributes; a local JWKS server;
//! re-authentication.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use gridmq_access::AttributeValue;
use gridmq_auth::{AuthOptions, AuthShared, Authenticator, JwtCarrier, Method};
use gridmq_codec::{ProtocolVersion, ReasonCode};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::common::*;

async fn login(
    auth: &Authenticator,
    token: &str,
) -> Result<gridmq_auth::Authenticated, gridmq_auth::AuthFailure> {
    let peer = plain_peer();
    let mut req = request(&peer);
    req.authentication_method = Some("CUSTOM-JWT");
    req.authentication_data = Some(token.as_bytes());
    auth.authenticate(&req, now()).await
}

#[tokio::test]
async fn each_algorithm_with_an_uploaded_certificate() {
    for signer in [rs256_signer(), es256_signer(), eddsa_signer()] {
        let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
        let mut claims = claims("dev1");
        claims["num_attr"] = json!(1);
        claims["str_attr"] = json!("some string");
        claims["str_list_attr"] = json!(["string 1", "string 2"]);
        claims["incorrect_attr_1"] = json!(1.23);
        claims["incorrect_attr_2"] = json!([1, 2, 3]);
        claims["incorrect_attr_3"] = json!({ "field": "value" });
        claims["iat"] = json!(unix(now()));
        let exp = claims["exp"].as_i64().unwrap();
        let ok = login(&auth, &signer.sign(Some("k1"), &claims))
            .await
            .unwrap();
        assert_eq!(ok.identity.authentication_name, "dev1", "{:?}", signer.alg);
        assert_eq!(ok.method, Method::Jwt(JwtCarrier::CustomJwt));
        assert_eq!(ok.client, None);
        assert_eq!(unix(ok.expires_at.unwrap()), exp);
        let attrs = &ok.identity.attributes;
        assert_eq!(
            attrs.keys().collect::<Vec<_>>(),
            ["num_attr", "str_attr", "str_list_attr"]
        );
        assert_eq!(attrs["num_attr"], AttributeValue::Integer(1));
        assert_eq!(
            attrs["str_list_attr"],
            AttributeValue::from(&["string 1", "string 2"][..])
        );
    }
}

#[tokio::test]
async fn oauth2_method_and_single_key_without_kid() {
    let signer = es256_signer();
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    let token = signer.sign(None, &claims("dev1"));
    let peer = plain_peer();
    let mut req = request(&peer);
    req.authentication_method = Some("OAUTH2-JWT");
    req.authentication_data = Some(token.as_bytes());
    let ok = auth.authenticate(&req, now()).await.unwrap();
    assert_eq!(ok.method, Method::Jwt(JwtCarrier::OAuth2Jwt));
}

#[tokio::test]
async fn bad_signature_and_mismatched_key_type() {
    let good = es256_signer();
    let forger = es256_signer();
    let ed = eddsa_signer();
    let auth = authenticator(jwt_namespace(
        &[("k1", &good.cert_pem), ("ed", &ed.cert_pem)],
        None,
    ));
    let message = refused(
        login(&auth, &forger.sign(Some("k1"), &claims("dev1"))).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("signature"), "{message}");

    // An ES256 token naming the Ed25519 key.
    let message = refused(
        login(&auth, &forger.sign(Some("ed"), &claims("dev1"))).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("does not fit"), "{message}");

    // Tampered payload.
    let token = good.sign(Some("k1"), &claims("dev1"));
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims("admin").to_string());
    refused(
        login(&auth, &parts.join(".")).await,
        ReasonCode::NotAuthorized,
    );
}

fn unsigned_token(alg: &str, claims: &Value, signature: &str) -> String {
    let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.{signature}",
        e(&json!({ "alg": alg, "kid": "k1", "typ": "JWT" })),
        e(claims)
    )
}

#[tokio::test]
async fn alg_none_and_hmac_are_refused() {
    let signer = rs256_signer();
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    let message = refused(
        login(&auth, &unsigned_token("none", &claims("dev1"), "")).await,
        ReasonCode::NotAuthorized,
    );
    assert!(
        message.contains("unsigned") || message.contains("none"),
        "{message}"
    );
    let message = refused(
        login(&auth, &unsigned_token("none", &claims("dev1"), "x")).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("none"), "{message}");

    // HS256 keyed with the public certificate: the classic key-confusion attack.
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    let key = jsonwebtoken::EncodingKey::from_secret(signer.cert_pem.as_bytes());
    let token = jsonwebtoken::encode(&header, &claims("dev1"), &key).unwrap();
    let message = refused(login(&auth, &token).await, ReasonCode::NotAuthorized);
    assert!(message.contains("HMAC"), "{message}");
}

#[tokio::test]
async fn claim_checks() {
    let signer = es256_signer();
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    let t = unix(now());
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "wrong issuer",
            json!({ "iss": "https://evil.example.com" }),
            "issuer",
        ),
        ("no issuer", json!({ "iss": null }), "iss"),
        (
            "wrong audience",
            json!({ "aud": "other.example.net" }),
            "aud",
        ),
        (
            "audience list without ours",
            json!({ "aud": ["a", "b"] }),
            "aud",
        ),
        ("expired", json!({ "exp": t - 120 }), "expired"),
        ("no exp", json!({ "exp": null }), "exp"),
        ("not yet valid", json!({ "nbf": t + 120 }), "nbf"),
        ("no sub", json!({ "sub": null }), "sub"),
        ("empty sub", json!({ "sub": "" }), "sub"),
        ("long sub", json!({ "sub": "x".repeat(129) }), "sub"),
        (
            "exp not a number",
            json!({ "exp": "tomorrow" }),
            "NumericDate",
        ),
    ];
    for (what, change, expect) in cases {
        let mut c = claims("dev1");
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        let message = refused(
            login(&auth, &signer.sign(Some("k1"), &c)).await,
            ReasonCode::NotAuthorized,
        );
        assert!(message.contains(expect), "{what}: {message}");
    }

    // Within the leeway (60 s), and audiences with scheme, trailing slash and in a list.
    for change in [
        json!({ "exp": t - 30 }),
        json!({ "nbf": t + 30 }),
        json!({ "aud": ["other", "https://NS.example.net/"] }),
        json!({ "aud": "ns.example.net/" }),
        json!({ "exp": (t + 60) as f64 + 0.5 }),
    ] {
        let mut c = claims("dev1");
        for (k, v) in change.as_object().unwrap() {
            c[k] = v.clone();
        }
        login(&auth, &signer.sign(Some("k1"), &c))
            .await
            .unwrap_or_else(|e| panic!("{change}: {e}"));
    }
}

#[tokio::test]
async fn audience_defaults_to_the_broker_host_names_and_sni() {
    let signer = es256_signer();
    let mut ns = jwt_namespace(&[("k1", &signer.cert_pem)], None);
    ns["topicSpacesConfiguration"]["clientAuthentication"]["customJwtAuthentication"]
        .as_object_mut()
        .unwrap()
        .remove("audiences");
    let options = AuthOptions {
        default_audiences: vec!["mqtt.example.org".into()],
        ..AuthOptions::default()
    };
    let auth = authenticator_with(ns, options);
    let c = claims("dev1");
    let attempt = |aud: &str, peer: gridmq_transport::PeerInfo| {
        let mut c = c.clone();
        c["aud"] = json!(aud);
        let token = signer.sign(Some("k1"), &c);
        let auth = &auth;
        async move {
            let mut req = request(&peer);
            req.authentication_method = Some("CUSTOM-JWT");
            req.authentication_data = Some(token.as_bytes());
            auth.authenticate(&req, now()).await
        }
    };
    attempt("https://mqtt.example.org/", plain_peer())
        .await
        .unwrap();
    attempt("ns.example.net", sni_peer("ns.example.net"))
        .await
        .unwrap();
    refused(
        attempt("ns.example.net", plain_peer()).await,
        ReasonCode::NotAuthorized,
    );
}

#[tokio::test]
async fn unknown_kid_without_jwks() {
    let signer = es256_signer();
    let other = es256_signer();
    let auth = authenticator(jwt_namespace(
        &[("k1", &signer.cert_pem), ("k2", &other.cert_pem)],
        None,
    ));
    let message = refused(
        login(&auth, &signer.sign(Some("k9"), &claims("dev1"))).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("kid"), "{message}");
    let message = refused(
        login(&auth, &signer.sign(None, &claims("dev1"))).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("no kid"), "{message}");
}

#[tokio::test]
async fn malformed_and_oversized_tokens() {
    let signer = es256_signer();
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    for junk in ["", "abc", "a.b.c", "a.b.c.d", "\u{1F600}.x.y"] {
        refused(login(&auth, junk).await, ReasonCode::NotAuthorized);
    }
    let huge = "a".repeat(16 * 1024 + 1);
    let message = refused(login(&auth, &huge).await, ReasonCode::NotAuthorized);
    assert!(message.contains("longer than"), "{message}");
}

#[tokio::test]
async fn method_selection() {
    let signer = es256_signer();
    let token = signer.sign(Some("k1"), &claims("dev1"));
    let peer = plain_peer();
    let mut req = request(&peer);
    req.authentication_method = Some("SCRAM-SHA-256");
    req.authentication_data = Some(token.as_bytes());
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    refused(
        auth.authenticate(&req, now()).await,
        ReasonCode::BadAuthenticationMethod,
    );

    // CUSTOM-JWT where custom JWT is not configured.
    let plain = authenticator(json!({}));
    req.authentication_method = Some("CUSTOM-JWT");
    refused(
        plain.authenticate(&req, now()).await,
        ReasonCode::BadAuthenticationMethod,
    );
}

#[tokio::test]
async fn v311_token_in_the_password_field() {
    let signer = rs256_signer();
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    let token = signer.sign(Some("k1"), &claims("dev1"));
    let peer = plain_peer();
    let mut req = gridmq_auth::AuthRequest::new(ProtocolVersion::V3_1_1, "session-1", &peer);
    req.username = Some("ignored");
    req.password = Some(token.as_bytes());
    let ok = auth.authenticate(&req, now()).await.unwrap();
    assert_eq!(ok.identity.authentication_name, "dev1");
    assert_eq!(ok.method, Method::Jwt(JwtCarrier::Password));

    let expired = signer.sign(
        Some("k1"),
        &json!({ "iss": ISSUER, "sub": "dev1", "aud": AUDIENCE, "exp": 1000 }),
    );
    req.password = Some(expired.as_bytes());
    let failure = auth.authenticate(&req, now()).await.unwrap_err();
    assert_eq!(
        failure.v3_return_code(),
        gridmq_codec::ConnectReturnCode::NotAuthorized
    );
    assert!(
        !failure.log_message.contains(&expired),
        "no token in the log message"
    );
}

#[tokio::test]
async fn disabled_client_blocks_its_name() {
    let signer = es256_signer();
    let mut ns = jwt_namespace(&[("k1", &signer.cert_pem)], None);
    ns["clients"] = json!([{ "name": "dev1", "properties": { "state": "Disabled" } }]);
    let auth = authenticator(ns);
    let message = refused(
        login(&auth, &signer.sign(Some("k1"), &claims("DEV1"))).await,
        ReasonCode::NotAuthorized,
    );
    assert!(message.contains("disabled"), "{message}");
}

/// A JWKS server whose document can be swapped.
async fn jwks_server(keys: Vec<Value>) -> (Server, Arc<Mutex<Value>>) {
    let doc = Arc::new(Mutex::new(json!({ "keys": keys })));
    let served = doc.clone();
    let server = Server::start(move |_| (200, served.lock().to_string())).await;
    (server, doc)
}

#[tokio::test]
async fn jwks_keys_are_fetched_once_and_cached() {
    let rsa = rs256_signer();
    let ed = eddsa_signer();
    let (server, _) = jwks_server(vec![rsa.jwk_with_kid("rsa"), ed.jwk_with_kid("ed")]).await;
    let auth = authenticator(jwt_namespace(&[], Some(&server.url)));
    login(&auth, &rsa.sign(Some("rsa"), &claims("dev1")))
        .await
        .unwrap();
    login(&auth, &ed.sign(Some("ed"), &claims("dev2")))
        .await
        .unwrap();
    assert_eq!(server.hits(), 1);
    assert_eq!(auth.shared().stats().jwks_fetches, 1);
}

#[tokio::test]
async fn jwks_refetch_on_unknown_kid_is_rate_limited() {
    let old = es256_signer();
    let new = es256_signer();
    let (server, doc) = jwks_server(vec![old.jwk_with_kid("old")]).await;
    let ns = jwt_namespace(&[], Some(&server.url));

    // A long minimum interval: an unknown kid does not cause another fetch.
    let auth = authenticator(ns.clone());
    login(&auth, &old.sign(Some("old"), &claims("dev1")))
        .await
        .unwrap();
    *doc.lock() = json!({ "keys": [old.jwk_with_kid("old"), new.jwk_with_kid("new")] });
    for _ in 0..5 {
        refused(
            login(&auth, &new.sign(Some("new"), &claims("dev1"))).await,
            ReasonCode::NotAuthorized,
        );
    }
    assert_eq!(server.hits(), 1);

    // With no minimum interval the rotated key is fetched on first sight.
    let options = AuthOptions {
        jwks_min_refresh_interval: Duration::ZERO,
        ..AuthOptions::default()
    };
    let shared = auth.shared().clone();
    let rebuilt = Authenticator::new(&resources(ns), options, shared).unwrap();
    login(&rebuilt, &new.sign(Some("new"), &claims("dev1")))
        .await
        .unwrap();
    assert_eq!(server.hits(), 2);
    login(&rebuilt, &new.sign(Some("new"), &claims("dev1")))
        .await
        .unwrap();
    assert_eq!(server.hits(), 2, "known kid: no fetch");
}

#[tokio::test]
async fn jwks_down_or_garbage_is_server_unavailable() {
    let signer = es256_signer();
    let token = signer.sign(Some("k1"), &claims("dev1"));
    let auth = authenticator(jwt_namespace(&[], Some(&dead_url().await)));
    let message = refused(login(&auth, &token).await, ReasonCode::ServerUnavailable);
    assert!(message.contains("JWKS"), "{message}");

    let garbage = Server::start(|_| (200, "<html>".into())).await;
    let auth = authenticator(jwt_namespace(&[], Some(&garbage.url)));
    refused(login(&auth, &token).await, ReasonCode::ServerUnavailable);

    let failing = Server::start(|_| (500, "{}".into())).await;
    let auth = authenticator(jwt_namespace(&[], Some(&failing.url)));
    let message = refused(login(&auth, &token).await, ReasonCode::ServerUnavailable);
    assert!(message.contains("500"), "{message}");
    // The failure is remembered: no second request within the minimum interval.
    refused(login(&auth, &token).await, ReasonCode::ServerUnavailable);
    assert_eq!(failing.hits(), 1);
}

#[tokio::test]
async fn jwks_slow_is_server_unavailable() {
    let signer = es256_signer();
    let slow = Server::start_with_delay(Duration::from_secs(30), |_| (200, "{}".into())).await;
    let options = AuthOptions {
        jwks_timeout: Duration::from_millis(200),
        ..AuthOptions::default()
    };
    let auth = authenticator_with(jwt_namespace(&[], Some(&slow.url)), options);
    let message = refused(
        login(&auth, &signer.sign(Some("k1"), &claims("dev1"))).await,
        ReasonCode::ServerUnavailable,
    );
    assert!(message.contains("within"), "{message}");
}

#[tokio::test]
async fn uploaded_certificates_and_jwks_together() {
    let uploaded = es256_signer();
    let fetched = eddsa_signer();
    let (server, _) = jwks_server(vec![fetched.jwk_with_kid("remote")]).await;
    let auth = authenticator(jwt_namespace(
        &[("local", &uploaded.cert_pem)],
        Some(&server.url),
    ));
    login(&auth, &uploaded.sign(Some("local"), &claims("dev1")))
        .await
        .unwrap();
    assert_eq!(server.hits(), 0, "uploaded keys need no fetch");
    login(&auth, &fetched.sign(Some("remote"), &claims("dev1")))
        .await
        .unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn reauthentication() {
    let signer = es256_signer();
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    let session = login(&auth, &signer.sign(Some("k1"), &claims("dev1")))
        .await
        .unwrap();
    let peer = plain_peer();

    let mut fresh = claims("dev1");
    fresh["room"] = json!("42");
    let token = signer.sign(Some("k1"), &fresh);
    let mut req = request(&peer);
    req.authentication_method = Some("CUSTOM-JWT");
    req.authentication_data = Some(token.as_bytes());
    let renewed = auth.reauthenticate(&session, &req, now()).await.unwrap();
    assert_eq!(
        renewed.identity.attribute("room"),
        Some(&AttributeValue::from("42"))
    );

    let other = signer.sign(Some("k1"), &claims("dev2"));
    req.authentication_data = Some(other.as_bytes());
    refused(
        auth.reauthenticate(&session, &req, now()).await,
        ReasonCode::NotAuthorized,
    );

    req.authentication_data = Some(token.as_bytes());
    req.authentication_method = Some("OAUTH2-JWT");
    refused(
        auth.reauthenticate(&session, &req, now()).await,
        ReasonCode::BadAuthenticationMethod,
    );

    let expired = signer.sign(
        Some("k1"),
        &json!({ "iss": ISSUER, "sub": "dev1", "aud": AUDIENCE, "exp": 1000 }),
    );
    req.authentication_method = Some("CUSTOM-JWT");
    req.authentication_data = Some(expired.as_bytes());
    refused(
        auth.reauthenticate(&session, &req, now()).await,
        ReasonCode::NotAuthorized,
    );

    let mut password_session = session.clone();
    password_session.method = Method::Password;
    req.authentication_data = Some(token.as_bytes());
    refused(
        auth.reauthenticate(&password_session, &req, now()).await,
        ReasonCode::BadAuthenticationMethod,
    );
}

#[tokio::test]
async fn unusable_issuer_certificate_fails_the_build() {
    let ns = jwt_namespace(
        &[(
            "k1",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )],
        None,
    );
    let options = AuthOptions::default();
    let shared = Arc::new(AuthShared::new(&options).unwrap());
    let error = Authenticator::new(&resources(ns), options, shared).unwrap_err();
    assert!(
        error.problems[0].contains("encodedIssuerCertificates[0]"),
        "{error}"
    );
}

#[tokio::test]
async fn http_bearer_tokens_name_the_client_by_sub_or_else_oid() {
    let signer = es256_signer();
    let auth = authenticator(jwt_namespace(&[("k1", &signer.cert_pem)], None));
    let ok = auth
        .authenticate_bearer(
            signer.sign(Some("k1"), &claims("dev1")).as_bytes(),
            None,
            now(),
        )
        .await
        .unwrap();
    assert_eq!(ok.identity.authentication_name, "dev1");
    assert_eq!(ok.method, Method::Jwt(JwtCarrier::HttpBearer));

    let mut by_oid = claims("ignored");
    by_oid.as_object_mut().unwrap().remove("sub");
    by_oid["oid"] = json!("00000000-aaaa-bbbb-cccc-000000000001");
    let ok = auth
        .authenticate_bearer(signer.sign(Some("k1"), &by_oid).as_bytes(), None, now())
        .await
        .unwrap();
    assert_eq!(
        ok.identity.authentication_name,
        "00000000-aaaa-bbbb-cccc-000000000001"
    );
    // MQTT clients still need `sub`.
    assert!(
        login(&auth, &signer.sign(Some("k1"), &by_oid))
            .await
            .is_err()
    );

    by_oid.as_object_mut().unwrap().remove("oid");
    let refused = auth
        .authenticate_bearer(signer.sign(Some("k1"), &by_oid).as_bytes(), None, now())
        .await
        .unwrap_err();
    assert_eq!(refused.reason, ReasonCode::NotAuthorized);
    assert!(refused.log_message.contains("sub or oid"), "{refused:?}");
    assert!(
        auth.authenticate_bearer(b"not a token", None, now())
            .await
            .is_err()
    );
}
