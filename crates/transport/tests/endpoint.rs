//! `Endpoint::accept` against real clients on loopback: what TLS, WebSocket and PROXY
//! connections tell of their peer, and which handshakes are refused. Certificates are
//! generated here, at test time.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use gridmq_transport::tls::{
    CertificateConfig, ClientAuth, HandshakeError, TlsAcceptor, TlsConfig, UnknownServerName,
};
use gridmq_transport::ws::WebSocketConfig;
use gridmq_transport::{
    AcceptError, Accepted, AddressSource, Endpoint, IpNetwork, ListenerKind, PeerInfo,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;

const WAIT: Duration = Duration::from_secs(15);

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("gridmq-endpoint-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

fn ca(name: &str) -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().clone(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

struct Leaf {
    der: CertificateDer<'static>,
    pem: String,
    key: KeyPair,
}

impl Leaf {
    fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()))
    }
}

struct LeafSpec<'a> {
    cn: &'a str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
    alg: &'static rcgen::SignatureAlgorithm,
    not_before: SystemTime,
    not_after: SystemTime,
}

impl<'a> LeafSpec<'a> {
    fn server(names: &[&str]) -> Self {
        Self {
            cn: "server",
            sans: names
                .iter()
                .map(|n| SanType::DnsName((*n).try_into().unwrap()))
                .collect(),
            ..Self::client("server")
        }
    }

    fn client(cn: &'a str) -> Self {
        let now = SystemTime::now();
        Self {
            cn,
            sans: Vec::new(),
            usage: ExtendedKeyUsagePurpose::ClientAuth,
            alg: &rcgen::PKCS_ECDSA_P256_SHA256,
            not_before: now - Duration::from_secs(3600),
            not_after: now + Duration::from_secs(86_400),
        }
    }

    fn issue(self, by: Option<&Ca>) -> Leaf {
        let key = KeyPair::generate_for(self.alg).unwrap();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, self.cn);
        params.subject_alt_names = self.sans;
        params.extended_key_usages = vec![if self.cn == "server" {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            self.usage
        }];
        params.not_before = self.not_before.into();
        params.not_after = self.not_after.into();
        let cert = match by {
            Some(ca) => params.signed_by(&key, &ca.issuer).unwrap(),
            None => params.self_signed(&key).unwrap(),
        };
        Leaf {
            der: cert.der().clone(),
            pem: cert.pem(),
            key,
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn server_entry(dir: &Path, name: &str, leaf: &Leaf) -> CertificateConfig {
    CertificateConfig {
        cert: write(dir, &format!("{name}.pem"), &leaf.pem),
        key: write(dir, &format!("{name}.key"), &leaf.key.serialize_pem()),
        server_names: Vec::new(),
    }
}

/// A TLS setup: a CA, a server certificate for `localhost`, and a listener config.
struct Pki {
    dir: TempDir,
    ca: Ca,
    config: TlsConfig,
}

impl Pki {
    fn new(client_auth: ClientAuth) -> Self {
        let dir = TempDir::new();
        let ca = ca("test CA");
        let server = LeafSpec::server(&["localhost"]).issue(Some(&ca));
        let config = TlsConfig {
            certificates: vec![server_entry(&dir.0, "server", &server)],
            client_auth,
            client_ca: vec![write(&dir.0, "ca.pem", &ca.pem)],
            ..TlsConfig::default()
        };
        Self { dir, ca, config }
    }

    fn client(&self, alpn: &[&[u8]], cert: Option<&Leaf>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der.clone()).unwrap();
        let builder =
            rustls::ClientConfig::builder_with_provider(gridmq_transport::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots);
        let mut config = match cert {
            Some(leaf) => builder
                .with_client_auth_cert(vec![leaf.der.clone()], leaf.key_der())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}

fn endpoint(kind: ListenerKind, tls: Option<TlsConfig>) -> Endpoint {
    Endpoint {
        name: format!("{}://test", kind.scheme()).into(),
        kind,
        proxy_protocol: false,
        trusted_proxies: Vec::new(),
        tls: tls.map(|c| Arc::new(TlsAcceptor::new(c).unwrap())),
        websocket: WebSocketConfig::default(),
    }
}

type Outcome = Result<(Accepted, PeerInfo), AcceptError>;

/// Accepts one connection on a fresh loopback port with `endpoint`.
async fn serve_one(endpoint: Arc<Endpoint>) -> (SocketAddr, tokio::task::JoinHandle<Outcome>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (tcp, peer) = listener.accept().await.unwrap();
        tokio::time::timeout(WAIT, endpoint.accept(tcp, peer))
            .await
            .expect("accept finished")
    });
    (addr, task)
}

async fn tls_client(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    name: &str,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(name.to_owned()).unwrap();
    tokio::time::timeout(WAIT, connector.connect(name, tcp))
        .await
        .expect("client handshake finished")
}

/// Handshakes as `client` and returns what the server made of it.
async fn handshake(endpoint: Endpoint, client: rustls::ClientConfig, name: &str) -> Outcome {
    let (addr, task) = serve_one(Arc::new(endpoint)).await;
    let stream = tls_client(addr, client, name).await;
    let outcome = task.await.unwrap();
    // In TLS 1.3 the client finishes before the server has judged its certificate;
    // keep the stream until the server is done.
    drop(stream);
    outcome
}

#[tokio::test]
async fn mutual_tls_fills_the_peer_info() {
    let pki = Pki::new(ClientAuth::Required);
    let mut spec = LeafSpec::client("device-1");
    spec.sans = vec![
        SanType::DnsName("device-1.example".try_into().unwrap()),
        SanType::URI("spiffe://example/device-1".try_into().unwrap()),
        SanType::IpAddress("192.0.2.1".parse().unwrap()),
        SanType::Rfc822Name("ops@example.com".try_into().unwrap()),
    ];
    let client = spec.issue(Some(&pki.ca));
    let (_, peer) = handshake(
        endpoint(ListenerKind::Mqtts, Some(pki.config.clone())),
        pki.client(&[b"mqtt"], Some(&client)),
        "localhost",
    )
    .await
    .unwrap();
    let tls = peer.tls.expect("TLS details");
    assert!(tls.chain_verified);
    assert_eq!(tls.server_name.as_deref(), Some("localhost"));
    assert_eq!(tls.alpn.as_deref(), Some(&b"mqtt"[..]));
    assert_eq!(tls.protocol_version.as_deref(), Some("TLSv1.3"));
    assert_eq!(tls.client_chain, vec![client.der.to_vec()]);
    let cert = tls.client_certificate.expect("parsed leaf");
    assert_eq!(cert.common_name.as_deref(), Some("device-1"));
    assert_eq!(cert.subject, "CN=device-1");
    assert_eq!(cert.dns_names, ["device-1.example"]);
    assert_eq!(cert.uris, ["spiffe://example/device-1"]);
    assert_eq!(cert.emails, ["ops@example.com"]);
    assert_eq!(
        cert.ip_addresses,
        ["192.0.2.1".parse::<std::net::IpAddr>().unwrap()]
    );
    let (sha256, _) = gridmq_transport::certificate::thumbprints(&client.der);
    assert_eq!(cert.sha256_thumbprint, sha256);
    assert_eq!(peer.address_source, AddressSource::Socket);
}

#[tokio::test]
async fn any_mode_hands_on_self_signed_certificates_unverified() {
    let pki = Pki::new(ClientAuth::Any);
    // Expired and self-signed: accepted, for authentication to judge.
    let mut spec = LeafSpec::client("thumbprint-device");
    spec.not_after = SystemTime::now() - Duration::from_secs(60);
    let self_signed = spec.issue(None);
    let (_, peer) = handshake(
        endpoint(ListenerKind::Mqtts, Some(pki.config.clone())),
        pki.client(&[], Some(&self_signed)),
        "localhost",
    )
    .await
    .unwrap();
    let tls = peer.tls.unwrap();
    assert!(!tls.chain_verified);
    let cert = tls.client_certificate.unwrap();
    assert_eq!(cert.common_name.as_deref(), Some("thumbprint-device"));
    assert!(cert.not_after < SystemTime::now());

    // One chaining to client_ca is marked verified.
    let signed = LeafSpec::client("ca-device").issue(Some(&pki.ca));
    let (_, peer) = handshake(
        endpoint(ListenerKind::Mqtts, Some(pki.config.clone())),
        pki.client(&[], Some(&signed)),
        "localhost",
    )
    .await
    .unwrap();
    assert!(peer.tls.unwrap().chain_verified);

    // And no certificate at all is fine too.
    let (_, peer) = handshake(
        endpoint(ListenerKind::Mqtts, Some(pki.config.clone())),
        pki.client(&[], None),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(peer.tls.unwrap().client_certificate, None);
}

#[tokio::test]
async fn optional_mode_accepts_clients_without_certificates() {
    let pki = Pki::new(ClientAuth::Optional);
    let (_, peer) = handshake(
        endpoint(ListenerKind::Mqtts, Some(pki.config.clone())),
        pki.client(&[b"x-other"], None),
        "localhost",
    )
    .await
    .unwrap();
    let tls = peer.tls.unwrap();
    assert!(!tls.chain_verified && tls.client_chain.is_empty());
    // ALPN is accepted, not required: an unknown protocol gets none.
    assert_eq!(tls.alpn, None);
}

#[tokio::test]
async fn required_mode_refuses_bad_client_certificates() {
    let pki = Pki::new(ClientAuth::Required);
    let now = SystemTime::now();
    let mut expired = LeafSpec::client("expired");
    expired.not_before = now - Duration::from_secs(7200);
    expired.not_after = now - Duration::from_secs(3600);
    let mut early = LeafSpec::client("early");
    early.not_before = now + Duration::from_secs(3600);
    early.not_after = now + Duration::from_secs(7200);
    let other_ca = ca("another CA");
    let cases = [
        ("expired", Some(expired.issue(Some(&pki.ca))), "expired"),
        (
            "not yet valid",
            Some(early.issue(Some(&pki.ca))),
            "not valid before",
        ),
        (
            "untrusted",
            Some(LeafSpec::client("x").issue(Some(&other_ca))),
            "issuer",
        ),
        (
            "self-signed",
            Some(LeafSpec::client("x").issue(None)),
            "issuer",
        ),
        ("none", None, "certificate"),
    ];
    for (what, leaf, needle) in cases {
        let outcome = handshake(
            endpoint(ListenerKind::Mqtts, Some(pki.config.clone())),
            pki.client(&[], leaf.as_ref()),
            "localhost",
        )
        .await;
        match outcome {
            Err(AcceptError::Tls(error @ HandshakeError::ClientCertificate(_))) => {
                let text = error.to_string().to_lowercase();
                assert!(text.contains(needle), "{what}: {error}");
            }
            other => panic!("{what}: expected a refused client certificate, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn server_key_types_and_tls_1_2() {
    let pki = Pki::new(ClientAuth::None);
    for alg in [
        &rcgen::PKCS_RSA_SHA256,
        &rcgen::PKCS_ECDSA_P384_SHA384,
        &rcgen::PKCS_ED25519,
    ] {
        let mut spec = LeafSpec::server(&["localhost"]);
        spec.alg = alg;
        let leaf = spec.issue(Some(&pki.ca));
        let mut config = pki.config.clone();
        config.certificates = vec![server_entry(&pki.dir.0, "typed", &leaf)];
        let (_, peer) = handshake(
            endpoint(ListenerKind::Mqtts, Some(config)),
            pki.client(&[], None),
            "localhost",
        )
        .await
        .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert!(peer.tls.is_some());
    }

    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.der.clone()).unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(gridmq_transport::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (_, peer) = handshake(
        endpoint(ListenerKind::Mqtts, Some(pki.config.clone())),
        tls12,
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(
        peer.tls.unwrap().protocol_version.as_deref(),
        Some("TLSv1.2")
    );
}

/// The certificate the server presented to `client`.
async fn served_certificate(
    endpoint: Arc<Endpoint>,
    client: rustls::ClientConfig,
    name: &str,
) -> Option<Vec<u8>> {
    let (addr, task) = serve_one(endpoint).await;
    let stream = tls_client(addr, client, name).await.ok()?;
    let _ = task.await;
    let (_, conn) = stream.get_ref();
    conn.peer_certificates().map(|c| c[0].to_vec())
}

/// A client that accepts any server certificate, to see which one is served.
fn trusting_client() -> rustls::ClientConfig {
    #[derive(Debug)]
    struct AcceptAll(rustls::crypto::WebPkiSupportedAlgorithms);
    impl rustls::client::danger::ServerCertVerifier for AcceptAll {
        fn verify_server_cert(
            &self,
            _: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: rustls::pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0)
        }
        fn verify_tls13_signature(
            &self,
            m: &[u8],
            c: &CertificateDer<'_>,
            d: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.supported_schemes()
        }
    }
    let provider = gridmq_transport::tls::provider();
    rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAll(
            provider.signature_verification_algorithms,
        )))
        .with_no_client_auth()
}

#[tokio::test]
async fn sni_chooses_the_certificate_and_unknown_names_get_the_default_or_a_refusal() {
    let pki = Pki::new(ClientAuth::None);
    let a = LeafSpec::server(&["a.example"]).issue(Some(&pki.ca));
    let b = LeafSpec::server(&["*.b.example"]).issue(Some(&pki.ca));
    let mut config = pki.config.clone();
    config.certificates = vec![
        server_entry(&pki.dir.0, "a", &a),
        server_entry(&pki.dir.0, "b", &b),
    ];
    let ep = Arc::new(endpoint(ListenerKind::Mqtts, Some(config.clone())));
    let served = |name: &'static str| served_certificate(ep.clone(), trusting_client(), name);
    assert_eq!(served("a.example").await, Some(a.der.to_vec()));
    assert_eq!(served("x.b.example").await, Some(b.der.to_vec()));
    assert_eq!(served("unknown.example").await, Some(a.der.to_vec()));

    config.unknown_server_name = UnknownServerName::Refuse;
    let ep = Arc::new(endpoint(ListenerKind::Mqtts, Some(config)));
    let (addr, task) = serve_one(ep.clone()).await;
    assert!(
        tls_client(addr, trusting_client(), "unknown.example")
            .await
            .is_err()
    );
    match task.await.unwrap() {
        Err(AcceptError::Tls(HandshakeError::UnknownServerName(name))) => {
            assert_eq!(name, "unknown.example")
        }
        other => panic!("expected an unknown server name, got {other:?}"),
    }
    assert_eq!(
        served_certificate(ep, trusting_client(), "x.b.example").await,
        Some(b.der.to_vec())
    );
}

#[tokio::test]
async fn reload_serves_new_certificates_to_new_connections_only() {
    let pki = Pki::new(ClientAuth::None);
    let acceptor = Arc::new(TlsAcceptor::new(pki.config.clone()).unwrap());
    let ep = Arc::new(Endpoint {
        tls: Some(acceptor.clone()),
        ..endpoint(ListenerKind::Mqtts, None)
    });
    let first = served_certificate(ep.clone(), trusting_client(), "localhost").await;

    // An established connection, echoing through the broker side.
    let (addr, task) = serve_one(ep.clone()).await;
    let mut client = tls_client(addr, pki.client(&[], None), "localhost")
        .await
        .unwrap();
    let Ok((Accepted::Other(mut server), _)) = task.await.unwrap() else {
        panic!("TLS stream expected");
    };

    // Unchanged files: nothing to do.
    assert!(!acceptor.reload_if_changed().unwrap());
    // A broken key is reported and the old certificate stays.
    std::fs::write(&pki.config.certificates[0].key, "garbage").unwrap();
    assert!(acceptor.reload_if_changed().is_err());
    assert!(
        !acceptor.reload_if_changed().unwrap(),
        "a bad file is reported once"
    );
    assert_eq!(
        served_certificate(ep.clone(), trusting_client(), "localhost").await,
        first
    );

    let renewed = LeafSpec::server(&["localhost"]).issue(Some(&pki.ca));
    server_entry(&pki.dir.0, "server", &renewed);
    assert!(acceptor.reload_if_changed().unwrap());
    let second = served_certificate(ep.clone(), trusting_client(), "localhost").await;
    assert_eq!(second, Some(renewed.der.to_vec()));
    assert_ne!(first, second);

    // The old connection still carries bytes both ways.
    client.write_all(b"ping").await.unwrap();
    client.flush().await.unwrap();
    let mut buf = bytes::BytesMut::new();
    let n = std::future::poll_fn(|cx| server.poll_read_into(cx, &mut buf, 64))
        .await
        .unwrap();
    assert_eq!(&buf[..n], b"ping");
    server.write_all(b"pong").await.unwrap();
    server.flush().await.unwrap();
    let mut reply = [0; 4];
    client.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"pong");
}

#[tokio::test]
async fn proxy_v2_gives_the_client_address_and_tls_details() {
    let mut ep = endpoint(ListenerKind::Mqtt, None);
    ep.proxy_protocol = true;
    ep.trusted_proxies = vec!["127.0.0.1".parse::<IpNetwork>().unwrap()];
    let (addr, task) = serve_one(Arc::new(ep)).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11".to_vec();
    let mut body = vec![203, 0, 113, 9, 127, 0, 0, 1, 0x9c, 0x40, 0x22, 0xb3];
    let mut ssl = vec![0x03, 0, 0, 0, 0];
    ssl.extend([0x22, 0, 4]);
    ssl.extend(b"dev7");
    body.extend([0x20, 0, ssl.len() as u8]);
    body.extend(ssl);
    header.extend((body.len() as u16).to_be_bytes());
    header.extend(body);
    header.extend(b"\x10\x00"); // the first bytes of MQTT, right behind the header
    tcp.write_all(&header).await.unwrap();
    let (accepted, peer) = task.await.unwrap().unwrap();
    assert_eq!(peer.remote_addr, "203.0.113.9:40000".parse().unwrap());
    assert_eq!(
        peer.socket_addr.ip(),
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );
    assert_eq!(peer.address_source, AddressSource::ProxyV2);
    assert!(peer.is_encrypted());
    let tls = peer.proxy.unwrap().tls.unwrap();
    assert_eq!(tls.common_name.as_deref(), Some("dev7"));
    assert!(tls.client_certificate_verified);
    let Accepted::Other(mut io) = accepted else {
        panic!("PROXY streams replay what followed the header");
    };
    let mut buf = bytes::BytesMut::new();
    std::future::poll_fn(|cx| io.poll_read_into(cx, &mut buf, 64))
        .await
        .unwrap();
    assert_eq!(&buf[..], b"\x10\x00");
}

#[tokio::test]
async fn proxy_headers_from_untrusted_sources_are_refused() {
    let mut ep = endpoint(ListenerKind::Mqtt, None);
    ep.proxy_protocol = true;
    ep.trusted_proxies = vec!["10.0.0.0/8".parse::<IpNetwork>().unwrap()];
    let (addr, task) = serve_one(Arc::new(ep)).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp
        .write_all(b"PROXY TCP4 192.0.2.1 10.0.0.1 1 2\r\n")
        .await;
    assert!(matches!(
        task.await.unwrap(),
        Err(AcceptError::UntrustedProxy(_))
    ));
}

async fn ws_upgrade(ep: Endpoint, headers: &[(&str, &str)]) -> (Result<(), String>, Outcome) {
    let (addr, task) = serve_one(Arc::new(ep)).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{addr}/mqtt"
        ))
        .unwrap();
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes());
        request
            .headers_mut()
            .append(name.unwrap(), value.parse().unwrap());
    }
    let client = tokio_tungstenite::client_async(request, tcp)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    (client, task.await.unwrap())
}

#[tokio::test]
async fn websocket_forwarded_headers_count_only_from_trusted_proxies() {
    let trusted = |forwarded: bool, networks: &str| {
        let mut ep = endpoint(ListenerKind::Ws, None);
        ep.trusted_proxies = vec![networks.parse::<IpNetwork>().unwrap()];
        ep.websocket = WebSocketConfig {
            forwarded_headers: forwarded,
            ..WebSocketConfig::default()
        };
        ep
    };
    let headers = [
        ("sec-websocket-protocol", "mqtt"),
        ("x-forwarded-for", "198.51.100.20, 127.0.0.1"),
    ];
    let (client, outcome) = ws_upgrade(trusted(true, "127.0.0.1"), &headers).await;
    client.unwrap();
    let (_, peer) = outcome.unwrap();
    assert_eq!(peer.remote_addr, "198.51.100.20:0".parse().unwrap());
    assert_eq!(peer.address_source, AddressSource::ForwardedHeader);
    let ws = peer.websocket.unwrap();
    assert_eq!(
        (ws.path.as_str(), ws.subprotocol.as_deref()),
        ("/mqtt", Some("mqtt"))
    );

    for ep in [trusted(true, "10.0.0.0/8"), trusted(false, "127.0.0.1")] {
        let (client, outcome) = ws_upgrade(ep, &headers).await;
        client.unwrap();
        let (_, peer) = outcome.unwrap();
        assert_eq!(peer.address_source, AddressSource::Socket);
        assert!(peer.remote_addr.ip().is_loopback());
    }
}

#[tokio::test]
async fn websocket_upgrades_need_the_path_and_an_mqtt_subprotocol() {
    let (client, outcome) = ws_upgrade(endpoint(ListenerKind::Ws, None), &[]).await;
    assert!(client.unwrap_err().contains("400"));
    let error = outcome.unwrap_err().to_string();
    assert!(error.contains("no MQTT subprotocol"), "{error}");

    let (client, outcome) = ws_upgrade(
        endpoint(ListenerKind::Ws, None),
        &[("sec-websocket-protocol", "chat, mqttv3.1")],
    )
    .await;
    client.unwrap();
    let subprotocol = outcome.unwrap().1.websocket.unwrap().subprotocol;
    assert_eq!(subprotocol.as_deref(), Some("mqttv3.1"));

    let mut ep = endpoint(ListenerKind::Ws, None);
    ep.websocket.path = "/elsewhere".into();
    let (client, outcome) = ws_upgrade(ep, &[("sec-websocket-protocol", "mqtt")]).await;
    assert!(client.unwrap_err().contains("404"));
    assert!(outcome.unwrap_err().to_string().contains("/elsewhere"));
}
