//! Namespace-mode fixtures: a broker with resources and an HTTP listener, a management
//! API client over real HTTP, CONNECTs with credentials, cheap password hashes, JWT
//! signing keys made at test time, and local HTTP servers (JWKS, webhook).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use gridmq_codec::{ConnAck, Connect, Packet, ProtocolVersion};
use gridmq_server::Server;
use gridmq_server::config::{AdminToken, Config, ResourceDocument};
use serde_json::{Value, json};

use super::broker_with;
use super::http::Http;
use super::raw::{self, RawClient};

/// A namespace-mode broker with `resources` declared, an HTTP listener, plain-http
/// webhook and JWKS URLs allowed, and `tweak` applied last.
pub(crate) async fn namespace_broker(resources: Value, tweak: impl FnOnce(&mut Config)) -> Server {
    broker_with(|config| {
        config.namespace.enabled = true;
        config.namespace.resources = Some(ResourceDocument(resources));
        config.namespace.limits.allow_plain_http = true;
        config.http.bind = Some("127.0.0.1:0".parse().expect("loopback"));
        tweak(config);
    })
    .await
}

/// Sets an admin token.
pub(crate) fn with_token(config: &mut Config, token: &str) {
    config.http.admin_token = Some(AdminToken(token.to_owned()));
}

/// An argon2id hash with the cheapest parameters, so tests stay fast.
pub(crate) fn cheap_hash(password: &str) -> String {
    let params = gridmq_auth::password::Params::new(8, 1, 1, None).expect("argon2 parameters");
    gridmq_auth::hash_password_with(password.as_bytes(), params)
        .expect("hashing")
        .0
}

/// A CONNECT with a user name and password.
pub(crate) fn connect_with_password(
    version: ProtocolVersion,
    client_id: &str,
    username: &str,
    password: &str,
) -> Connect {
    let mut connect = raw::connect(version, client_id, true);
    connect.username = Some(username.into());
    connect.password = Some(Bytes::copy_from_slice(password.as_bytes()));
    connect
}

/// Sends `connect` and returns the client with the CONNACK, whatever its code.
pub(crate) async fn try_connect(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
    let mut client = RawClient::tcp(addr, connect.protocol).await;
    client
        .send_packet(&Packet::Connect(Box::new(connect)))
        .await;
    let ack = client.expect_connack().await;
    (client, ack)
}

// ---------------------------------------------------------------- management API

/// A client of the management API over real HTTP: JSON in, JSON out, on the same
/// client as the HTTP Publish tests.
pub(crate) struct Api {
    http: Http,
}

/// A response: status, content type and JSON body (`Null` when empty).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: Value,
}

impl Api {
    pub(crate) fn new(server: &Server, token: Option<&str>) -> Self {
        Self {
            http: Http::new(server).with_token(token),
        }
    }

    /// The same API with another token (or none).
    pub(crate) fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            http: self.http.with_token(token),
        }
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let json = [("content-type", "application/json")];
        let headers: &[(&str, &str)] = if body.is_some() { &json } else { &[] };
        let reply = self
            .http
            .send(method, path, headers, body.map(|b| b.as_bytes().to_vec()))
            .await;
        let text = String::from_utf8_lossy(&reply.body).into_owned();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status: reply.status,
            content_type: reply.header("content-type").to_owned(),
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(&body.to_string())).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// PUTs and expects 200 or 201.
    pub(crate) async fn put_ok(&self, path: &str, body: Value) -> Value {
        let reply = self.put(path, body).await;
        assert!(
            reply.status == 200 || reply.status == 201,
            "PUT {path}: {reply:?}"
        );
        reply.body
    }

    /// DELETEs and expects 204.
    pub(crate) async fn delete_ok(&self, path: &str) {
        let reply = self.delete(path).await;
        assert_eq!(reply.status, 204, "DELETE {path}: {reply:?}");
    }
}

impl Reply {
    /// The `field` of every error in a problem+json body.
    pub(crate) fn fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The error about `field`, if any.
    pub(crate) fn error(&self, field: &str) -> Option<&Value> {
        self.body["errors"]
            .as_array()?
            .iter()
            .find(|e| e["field"] == field)
    }

    /// Asserts a problem+json error with `status`.
    #[track_caller]
    pub(crate) fn assert_problem(&self, status: u16) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type, "application/problem+json", "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
    }
}

// ---------------------------------------------------------------- JWT

/// Seconds since the epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A token signing key made at test time, with its JWK.
pub(crate) struct Signer {
    alg: jsonwebtoken::Algorithm,
    key: jsonwebtoken::EncodingKey,
    jwk: Value,
    /// A self-signed certificate for the key (for `encodedIssuerCertificates`).
    pub(crate) cert_pem: Option<String>,
}

impl Signer {
    /// An ES256 (P-256) key.
    pub(crate) fn es256() -> Self {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("P-256 key");
        let point = key.public_key_raw();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test token issuer");
        let cert = params.self_signed(&key).expect("self-signed");
        Self {
            alg: jsonwebtoken::Algorithm::ES256,
            key: jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
            jwk: json!({ "kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..]) }),
            cert_pem: Some(cert.pem()),
        }
    }

    /// An RS256 (RSA 2048) key: Event Grid's algorithm. Slow to make, so shared.
    pub(crate) fn rs256() -> Self {
        use rsa::pkcs1::EncodeRsaPrivateKey as _;
        use rsa::traits::PublicKeyParts as _;
        static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
        let private = KEY.get_or_init(|| {
            rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key")
        });
        Self {
            alg: jsonwebtoken::Algorithm::RS256,
            key: jsonwebtoken::EncodingKey::from_rsa_der(
                private.to_pkcs1_der().expect("PKCS#1").as_bytes(),
            ),
            jwk: json!({ "kty": "RSA", "n": b64url(&private.n().to_bytes_be()), "e": b64url(&private.e().to_bytes_be()) }),
            cert_pem: None,
        }
    }

    /// Signs `claims` with `kid` in the header.
    pub(crate) fn sign(&self, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &self.key).expect("signing")
    }

    /// The JWK with `kid` and `alg`.
    pub(crate) fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(format!("{:?}", self.alg));
        jwk
    }
}

pub(crate) const ISSUER: &str = "https://issuer.test";
pub(crate) const AUDIENCE: &str = "gridmq.test";

/// Claims for `sub`, valid for an hour, plus `extra`.
pub(crate) fn claims(sub: &str, extra: Value) -> Value {
    let now = unix_now();
    let mut claims =
        json!({ "iss": ISSUER, "sub": sub, "aud": AUDIENCE, "nbf": now - 10, "exp": now + 3600 });
    if let (Some(c), Some(e)) = (claims.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    claims
}

/// A token with no signature (`alg: none`).
pub(crate) fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(claims.to_string().as_bytes())
    )
}

// ---------------------------------------------------------------- local HTTP servers

type Handler = Arc<dyn Fn(Value) -> (u16, String) + Send + Sync>;

/// A local HTTP server answering every request with `handler(request JSON)`.
pub(crate) struct HttpServer {
    pub(crate) url: String,
    hits: Arc<AtomicUsize>,
    pub(crate) last: Arc<parking_lot::Mutex<Value>>,
}

impl HttpServer {
    pub(crate) async fn start(
        handler: impl Fn(Value) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        Self::start_with_delay(Duration::ZERO, handler).await
    }

    /// Answers only after `delay` (a slow service).
    pub(crate) async fn start_with_delay(
        delay: Duration,
        handler: impl Fn(Value) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let handler: Handler = Arc::new(handler);
        let hits = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(parking_lot::Mutex::new(Value::Null));
        let (h, l) = (hits.clone(), last.clone());
        let app = axum::Router::new().fallback(move |body: Bytes| {
            let (handler, hits, last) = (handler.clone(), h.clone(), l.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                *last.lock() = request.clone();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let (status, body) = handler(request);
                (
                    axum::http::StatusCode::from_u16(status).expect("a status"),
                    body,
                )
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/"),
            hits,
            last,
        }
    }

    /// Requests served so far.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A loopback URL where nothing listens.
pub(crate) async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}/")
}
