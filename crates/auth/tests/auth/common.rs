//! Test fixtures: a PKI made with rcgen, JWT signing keys, resources from JSON, peers, and
//! local HTTP servers on 127.0.0.1:0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use gridmq_access::Resources;
use gridmq_auth::{
    AuthFailure, AuthOptions, AuthRequest, AuthShared, Authenticated, Authenticator,
};
use gridmq_codec::{ProtocolVersion, ReasonCode};
use gridmq_transport::{PeerInfo, TlsInfo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub(crate) fn now() -> SystemTime {
    SystemTime::now()
}

pub(crate) fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

// ---------------------------------------------------------------- PKI

/// A CA (root or intermediate) that can sign.
pub(crate) struct Ca {
    pub(crate) pem: String,
    pub(crate) der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

pub(crate) fn root_ca(name: &str) -> Ca {
    root_ca_valid(
        name,
        OffsetDateTime::now_utc() - days(30),
        OffsetDateTime::now_utc() + days(365),
    )
}

pub(crate) fn root_ca_valid(
    name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(name, not_before, not_after);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        issuer: Issuer::new(params, key),
    }
}

pub(crate) fn intermediate_ca(parent: &Ca, name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let params = ca_params(
        name,
        OffsetDateTime::now_utc() - days(30),
        OffsetDateTime::now_utc() + days(365),
    );
    let cert = params.signed_by(&key, &parent.issuer).unwrap();
    Ca {
        pem: cert.pem(),
        der: cert.der().to_vec(),
        issuer: Issuer::new(params, key),
    }
}

fn ca_params(
    name: &str,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "gridmq tests");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = not_before;
    params.not_after = not_after;
    params
}

/// What a client certificate says.
#[derive(Clone)]
pub(crate) struct LeafSpec {
    pub(crate) cn: Option<String>,
    pub(crate) org: Option<String>,
    pub(crate) dns: Vec<String>,
    pub(crate) uris: Vec<String>,
    pub(crate) ips: Vec<std::net::IpAddr>,
    pub(crate) emails: Vec<String>,
    pub(crate) not_before: OffsetDateTime,
    pub(crate) not_after: OffsetDateTime,
    pub(crate) eku: Vec<ExtendedKeyUsagePurpose>,
}

impl LeafSpec {
    pub(crate) fn cn(cn: &str) -> Self {
        Self {
            cn: Some(cn.to_owned()),
            org: None,
            dns: Vec::new(),
            uris: Vec::new(),
            ips: Vec::new(),
            emails: Vec::new(),
            not_before: OffsetDateTime::now_utc() - days(1),
            not_after: OffsetDateTime::now_utc() + days(30),
            eku: vec![ExtendedKeyUsagePurpose::ClientAuth],
        }
    }

    fn params(&self) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(org) = &self.org {
            params
                .distinguished_name
                .push(DnType::OrganizationName, org.as_str());
        }
        if let Some(cn) = &self.cn {
            params
                .distinguished_name
                .push(DnType::CommonName, cn.as_str());
        }
        let mut sans = Vec::new();
        sans.extend(
            self.dns
                .iter()
                .map(|d| SanType::DnsName(d.as_str().try_into().unwrap())),
        );
        sans.extend(
            self.uris
                .iter()
                .map(|u| SanType::URI(u.as_str().try_into().unwrap())),
        );
        sans.extend(self.ips.iter().map(|ip| SanType::IpAddress(*ip)));
        sans.extend(
            self.emails
                .iter()
                .map(|e| SanType::Rfc822Name(e.as_str().try_into().unwrap())),
        );
        params.subject_alt_names = sans;
        params.not_before = self.not_before;
        params.not_after = self.not_after;
        params.extended_key_usages = self.eku.clone();
        params.use_authority_key_identifier_extension = true;
        params
    }

    pub(crate) fn signed_by(&self, ca: &Ca) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        self.params()
            .signed_by(&key, &ca.issuer)
            .unwrap()
            .der()
            .to_vec()
    }

    pub(crate) fn self_signed(&self) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        self.params().self_signed(&key).unwrap().der().to_vec()
    }
}

// ---------------------------------------------------------------- peers and requests

pub(crate) fn plain_peer() -> PeerInfo {
    PeerInfo::plain("127.0.0.1:50000".parse().unwrap(), Arc::from("mqtt://test"))
}

/// A TLS peer presenting `chain` (leaf first); the leaf's fields are left for
/// authentication to read unless `with_fields`.
pub(crate) fn tls_peer(chain: Vec<Vec<u8>>, with_fields: bool) -> PeerInfo {
    let client_certificate = match (with_fields, chain.first()) {
        (true, Some(leaf)) => Some(gridmq_auth::certificate::describe(leaf).unwrap()),
        _ => None,
    };
    let mut peer = plain_peer();
    peer.tls = Some(TlsInfo {
        server_name: Some("broker.example.net".into()),
        alpn: None,
        client_chain: chain,
        chain_verified: false,
        client_certificate,
        ..TlsInfo::default()
    });
    peer
}

pub(crate) fn sni_peer(server_name: &str) -> PeerInfo {
    let mut peer = plain_peer();
    peer.tls = Some(TlsInfo {
        server_name: Some(server_name.into()),
        ..TlsInfo::default()
    });
    peer
}

pub(crate) fn request<'a>(peer: &'a PeerInfo) -> AuthRequest<'a> {
    AuthRequest::new(ProtocolVersion::V5, "session-1", peer)
}

// ---------------------------------------------------------------- authenticators

pub(crate) fn resources(json: Value) -> Resources {
    serde_json::from_value(json).unwrap()
}

pub(crate) fn authenticator(json: Value) -> Authenticator {
    authenticator_with(json, AuthOptions::default())
}

pub(crate) fn authenticator_with(json: Value, options: AuthOptions) -> Authenticator {
    let shared = Arc::new(AuthShared::new(&options).unwrap());
    Authenticator::new(&resources(json), options, shared).unwrap()
}

pub(crate) fn cheap_hash(password: &str) -> String {
    let params = gridmq_auth::password::Params::new(8, 1, 1, None).unwrap();
    gridmq_auth::hash_password_with(password.as_bytes(), params)
        .unwrap()
        .0
}

/// Asserts a refusal with `reason` and returns its log message.
#[track_caller]
pub(crate) fn refused(result: Result<Authenticated, AuthFailure>, reason: ReasonCode) -> String {
    match result {
        Ok(ok) => panic!("expected {reason:?}, authenticated {ok:?}"),
        Err(failure) => {
            assert_eq!(failure.reason, reason, "{}", failure.log_message);
            failure.log_message
        }
    }
}

// ---------------------------------------------------------------- JWT keys

/// A signing key, the certificate holding its public key, and its JWK.
pub(crate) struct Signer {
    pub(crate) alg: jsonwebtoken::Algorithm,
    pub(crate) encoding: jsonwebtoken::EncodingKey,
    pub(crate) cert_pem: String,
    pub(crate) jwk: Value,
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn self_signed_pem(key: &KeyPair) -> String {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "token issuer");
    params.self_signed(key).unwrap().pem()
}

pub(crate) fn es256_signer() -> Signer {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = key.public_key_raw();
    Signer {
        alg: jsonwebtoken::Algorithm::ES256,
        encoding: jsonwebtoken::EncodingKey::from_ec_der(&key.serialize_der()),
        cert_pem: self_signed_pem(&key),
        jwk: json!({ "kty": "EC", "crv": "P-256", "x": b64url(&raw[1..33]), "y": b64url(&raw[33..]) }),
    }
}

pub(crate) fn eddsa_signer() -> Signer {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    Signer {
        alg: jsonwebtoken::Algorithm::EdDSA,
        encoding: jsonwebtoken::EncodingKey::from_ed_der(&key.serialize_der()),
        cert_pem: self_signed_pem(&key),
        jwk: json!({ "kty": "OKP", "crv": "Ed25519", "x": b64url(key.public_key_raw()) }),
    }
}

/// RSA key generation is slow, so the tests share one 2048-bit key.
pub(crate) fn rs256_signer() -> Signer {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    use rsa::traits::PublicKeyParts as _;
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    let private =
        KEY.get_or_init(|| rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap());
    let pkcs8 = private.to_pkcs8_der().unwrap();
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec());
    let key = KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_RSA_SHA256).unwrap();
    Signer {
        alg: jsonwebtoken::Algorithm::RS256,
        encoding: jsonwebtoken::EncodingKey::from_rsa_der(
            private.to_pkcs1_der().unwrap().as_bytes(),
        ),
        cert_pem: self_signed_pem(&key),
        jwk: json!({ "kty": "RSA", "n": b64url(&private.n().to_bytes_be()),
                     "e": b64url(&private.e().to_bytes_be()) }),
    }
}

impl Signer {
    pub(crate) fn sign(&self, kid: Option<&str>, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }

    pub(crate) fn jwk_with_kid(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        jwk["kid"] = json!(kid);
        jwk
    }
}

pub(crate) const ISSUER: &str = "https://issuer.example.com";
pub(crate) const AUDIENCE: &str = "ns.example.net";

/// Claims valid for an hour, for `sub`.
pub(crate) fn claims(sub: &str) -> Value {
    let now = unix(now());
    json!({ "iss": ISSUER, "sub": sub, "aud": AUDIENCE, "nbf": now - 10, "exp": now + 3600 })
}

/// Namespace settings with custom JWT: `certs` are (kid, PEM), `jwks` an optional URL.
pub(crate) fn jwt_namespace(certs: &[(&str, &str)], jwks: Option<&str>) -> Value {
    let certs: Vec<Value> = certs
        .iter()
        .map(|(kid, pem)| json!({ "kid": kid, "encodedCertificate": pem }))
        .collect();
    let mut jwt = json!({ "tokenIssuer": ISSUER, "encodedIssuerCertificates": certs,
                          "audiences": [format!("https://{AUDIENCE}/")] });
    if let Some(url) = jwks {
        jwt["jwksUrl"] = json!(url);
    }
    json!({ "topicSpacesConfiguration": { "clientAuthentication": { "customJwtAuthentication": jwt } } })
}

// ---------------------------------------------------------------- local HTTP servers

type Handler = Arc<dyn Fn(Value) -> (u16, String) + Send + Sync>;

/// A local HTTP server answering every request with `handler(request JSON)` (GET bodies
/// read as `null`); counts requests and remembers the last body.
pub(crate) struct Server {
    pub(crate) url: String,
    pub(crate) hits: Arc<AtomicUsize>,
    pub(crate) last: Arc<parking_lot::Mutex<Value>>,
}

impl Server {
    pub(crate) async fn start(
        handler: impl Fn(Value) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        Self::start_with_delay(Duration::ZERO, handler).await
    }

    /// Like [`Server::start`], but every answer waits `delay` first.
    pub(crate) async fn start_with_delay(
        delay: Duration,
        handler: impl Fn(Value) -> (u16, String) + Send + Sync + 'static,
    ) -> Self {
        let handler: Handler = Arc::new(handler);
        let hits = Arc::new(AtomicUsize::new(0));
        let last = Arc::new(parking_lot::Mutex::new(Value::Null));
        let (h, l) = (hits.clone(), last.clone());
        let app = axum::Router::new().fallback(move |body: axum::body::Bytes| {
            let (handler, hits, last) = (handler.clone(), h.clone(), l.clone());
            async move {
                hits.fetch_add(1, Ordering::SeqCst);
                let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                *last.lock() = json.clone();
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                let (status, body) = handler(json);
                (axum::http::StatusCode::from_u16(status).unwrap(), body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/"),
            hits,
            last,
        }
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// A loopback URL where nothing listens.
pub(crate) async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/")
}
