//! Namespace mode with client certificates over an `mqtts` listener (client_auth = any:
//! the TLS layer takes any certificate, authentication decides): every validation scheme,
//! the authentication name from the User Name or from the certificate, intermediate CAs,
//! thumbprints (SHA-256 and SHA-1), and what is refused: another name, an unregistered
//! CA, an expired certificate, a wrong thumbprint. Removing the CA disconnects the
//! sessions it vouched for; adding another does not. Certificates are made at test time.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;
mod tls_support;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use gridmq_codec::{ConnAck, Connect, Decoder, Packet, ProtocolVersion, ReasonCode};
use gridmq_server::cert::{self, Authority, Issued, Subject};
use gridmq_server::config::{ClientAuth, ListenerKind};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use support::namespace::{Api, namespace_broker};
use support::raw;
use tls_support::{Pki, tls_connect, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A broker in namespace mode with `resources`, an `mqtts` listener (index 1) taking
/// any client certificate, and an HTTP listener.
async fn broker(pki: &Pki, resources: Value) -> (gridmq_server::Server, SocketAddr) {
    let mut tls = pki.tls(ClientAuth::Any);
    tls.client_ca = Vec::new();
    let server = namespace_broker(resources, |config| {
        let mut listener = tls_support::listener(ListenerKind::Mqtts);
        listener.tls = Some(tls);
        config.listeners.push(listener);
    })
    .await;
    let addr = tls_support::addr(&server, 1);
    (server, addr)
}

/// A rustls client presenting `chain` (PEM, leaf first) with `key_pem`.
fn client_config(pki: &Pki, chain_pem: &str, key_pem: &str) -> rustls::ClientConfig {
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from(pki.ca.der.clone())).unwrap();
    rustls::ClientConfig::builder_with_provider(gridmq_transport::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap()
}

/// Sends CONNECT over `io` and reads the CONNACK.
async fn mqtt_connect(io: &mut Tls, connect: Connect) -> ConnAck {
    let version = connect.protocol;
    let bytes = Packet::Connect(Box::new(connect))
        .to_bytes(version)
        .unwrap();
    io.write_all(&bytes).await.unwrap();
    match next_packet(io, version).await {
        Some(Packet::ConnAck(ack)) => ack,
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

/// The next packet, or `None` once the broker closed the connection.
async fn next_packet(io: &mut Tls, version: ProtocolVersion) -> Option<Packet> {
    let mut decoder = Decoder::client(version, 1 << 20);
    let mut buf = BytesMut::new();
    within("a packet over TLS", async {
        loop {
            if let Some(packet) = decoder.decode(&mut buf).unwrap() {
                return Some(packet);
            }
            match io.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    })
    .await
}

fn connect_as(username: Option<&str>) -> Connect {
    let mut connect = raw::connect(ProtocolVersion::V5, "cert-client", true);
    connect.username = username.map(Into::into);
    connect
}

/// Connects with `chain` / `key` and returns the CONNACK code and the stream.
async fn login(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    username: Option<&str>,
) -> (ReasonCode, Tls) {
    let mut io = tls_connect(addr, config).await.expect("TLS handshake");
    let ack = mqtt_connect(&mut io, connect_as(username)).await;
    (ack.reason_code, io)
}

fn signed(pki: &Pki, subject: Subject) -> Issued {
    pki.client("client", &subject, true)
}

#[tokio::test]
async fn every_validation_scheme_matches_its_certificate_field() {
    let pki = Pki::new();
    let clients = json!([
        { "name": "dev-subject", "clientCertificateAuthentication": { "validationScheme": "SubjectMatchesAuthenticationName" } },
        { "name": "dev-dns", "authenticationName": "dev.example.test", "clientCertificateAuthentication": { "validationScheme": "DnsMatchesAuthenticationName" } },
        { "name": "dev-uri", "authenticationName": "spiffe://example.test/dev", "clientCertificateAuthentication": { "validationScheme": "UriMatchesAuthenticationName" } },
        { "name": "dev-ip", "authenticationName": "10.1.2.3", "clientCertificateAuthentication": { "validationScheme": "IpMatchesAuthenticationName" } },
        { "name": "dev-email", "authenticationName": "dev@example.test", "clientCertificateAuthentication": { "validationScheme": "EmailMatchesAuthenticationName" } }
    ]);
    let resources = json!({
        "caCertificates": [{ "name": "test-ca", "encodedCertificate": pki.ca.cert_pem }],
        "clients": clients
    });
    let (_server, addr) = broker(&pki, resources).await;
    let cases = [
        ("dev-subject", Subject::new("dev-subject", 1)),
        (
            "dev.example.test",
            Subject::new("anything", 1).sans(["dev.example.test"]),
        ),
        (
            "spiffe://example.test/dev",
            Subject::new("anything", 1).sans(["spiffe://example.test/dev"]),
        ),
        ("10.1.2.3", Subject::new("anything", 1).sans(["10.1.2.3"])),
        (
            "dev@example.test",
            Subject::new("anything", 1).sans(["dev@example.test"]),
        ),
    ];
    for (name, subject) in cases {
        let issued = signed(&pki, subject);
        let config = client_config(&pki, &issued.cert_pem, &issued.key_pem);
        let (code, _) = login(addr, config, Some(name)).await;
        assert_eq!(code, ReasonCode::Success, "{name}");
    }
    // The right certificate for another client's name.
    let issued = signed(&pki, Subject::new("dev-subject", 1));
    let config = client_config(&pki, &issued.cert_pem, &issued.key_pem);
    let (code, _) = login(addr, config, Some("dev.example.test")).await;
    assert_eq!(code, ReasonCode::NotAuthorized);
}

#[tokio::test]
async fn the_name_can_come_from_the_certificate() {
    let pki = Pki::new();
    let resources = json!({
        "caCertificates": [{ "name": "test-ca", "encodedCertificate": pki.ca.cert_pem }],
        "clients": [{ "name": "vehicle01" }],
        "topicSpacesConfiguration": { "clientAuthentication": {
            "alternativeAuthenticationNameSources": ["ClientCertificateSubject"]
        } }
    });
    let (_server, addr) = broker(&pki, resources).await;
    let issued = signed(&pki, Subject::new("vehicle01", 1));
    let (code, _) = login(
        addr,
        client_config(&pki, &issued.cert_pem, &issued.key_pem),
        None,
    )
    .await;
    assert_eq!(code, ReasonCode::Success);
    let stranger = signed(&pki, Subject::new("vehicle99", 1));
    let (code, _) = login(
        addr,
        client_config(&pki, &stranger.cert_pem, &stranger.key_pem),
        None,
    )
    .await;
    assert_eq!(code, ReasonCode::NotAuthorized);
}

#[tokio::test]
async fn unregistered_cas_and_expired_certificates_are_refused() {
    let pki = Pki::new();
    let other = Pki::new();
    let resources = json!({
        "caCertificates": [{ "name": "test-ca", "encodedCertificate": pki.ca.cert_pem }],
        "clients": [{ "name": "dev-1" }]
    });
    let (_server, addr) = broker(&pki, resources).await;
    let foreign = other.client("client", &Subject::new("dev-1", 1), true);
    let (code, _) = login(
        addr,
        client_config(&pki, &foreign.cert_pem, &foreign.key_pem),
        Some("dev-1"),
    )
    .await;
    assert_eq!(
        code,
        ReasonCode::NotAuthorized,
        "signed by a CA nobody registered"
    );

    let mut old = Subject::new("dev-1", 1);
    old.not_before = SystemTime::now() - Duration::from_secs(10 * 86_400);
    old.not_after = SystemTime::now() - Duration::from_secs(86_400);
    let expired = signed(&pki, old);
    let (code, _) = login(
        addr,
        client_config(&pki, &expired.cert_pem, &expired.key_pem),
        Some("dev-1"),
    )
    .await;
    assert_eq!(code, ReasonCode::NotAuthorized, "expired");

    let fine = signed(&pki, Subject::new("dev-1", 1));
    let (code, _) = login(
        addr,
        client_config(&pki, &fine.cert_pem, &fine.key_pem),
        Some("dev-1"),
    )
    .await;
    assert_eq!(code, ReasonCode::Success);
}

#[tokio::test]
async fn self_signed_certificates_match_by_thumbprint() {
    let pki = Pki::new();
    let device = cert::create_client(&Subject::new("any-name", 1), None).unwrap();
    let (sha256, sha1) = device.thumbprints();
    let resources = json!({
        "clients": [
            { "name": "by-sha256", "clientCertificateAuthentication": { "validationScheme": "ThumbprintMatch", "allowedThumbprints": [sha256] } },
            { "name": "by-sha1", "clientCertificateAuthentication": { "validationScheme": "ThumbprintMatch", "allowedThumbprints": [sha1.to_uppercase()] } },
            { "name": "someone-else", "clientCertificateAuthentication": { "validationScheme": "ThumbprintMatch", "allowedThumbprints": ["00".repeat(32)] } }
        ]
    });
    let (_server, addr) = broker(&pki, resources).await;
    for (name, expected) in [
        ("by-sha256", ReasonCode::Success),
        ("by-sha1", ReasonCode::Success),
        ("someone-else", ReasonCode::NotAuthorized),
    ] {
        let config = client_config(&pki, &device.cert_pem, &device.key_pem);
        let (code, _) = login(addr, config, Some(name)).await;
        assert_eq!(code, expected, "{name}");
    }
}

#[tokio::test]
async fn an_intermediate_ca_is_enough() {
    let pki = Pki::new();
    // root -> intermediate -> leaf, made with rcgen: `gridmq cert` CAs sign leaves only.
    let root_key = rcgen::KeyPair::generate().unwrap();
    let mut root = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    root.distinguished_name
        .push(rcgen::DnType::CommonName, "root");
    root.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let root_issuer = rcgen::Issuer::new(root.clone(), root_key);
    let mid_key = rcgen::KeyPair::generate().unwrap();
    let mut mid = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    mid.distinguished_name
        .push(rcgen::DnType::CommonName, "intermediate");
    mid.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    mid.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let mid_cert = mid.signed_by(&mid_key, &root_issuer).unwrap();
    let mid_authority = Authority::from_pem(&mid_cert.pem(), &mid_key.serialize_pem()).unwrap();
    let leaf = cert::create_client(&Subject::new("dev-1", 1), Some(&mid_authority)).unwrap();

    let resources = json!({
        "caCertificates": [{ "name": "intermediate", "encodedCertificate": mid_cert.pem() }],
        "clients": [{ "name": "dev-1" }]
    });
    let (_server, addr) = broker(&pki, resources).await;
    let chain = format!("{}{}", leaf.cert_pem, mid_cert.pem());
    let (code, _) = login(
        addr,
        client_config(&pki, &chain, &leaf.key_pem),
        Some("dev-1"),
    )
    .await;
    assert_eq!(code, ReasonCode::Success);
}

#[tokio::test]
async fn removing_the_ca_disconnects_the_sessions_it_vouched_for() {
    let pki = Pki::new();
    let other = Pki::new();
    let resources = json!({
        "caCertificates": [{ "name": "test-ca", "encodedCertificate": pki.ca.cert_pem }],
        "clients": [{ "name": "dev-1" }]
    });
    let (server, addr) = broker(&pki, resources).await;
    let api = Api::new(&server, None);
    let issued = signed(&pki, Subject::new("dev-1", 1));
    let (code, mut io) = login(
        addr,
        client_config(&pki, &issued.cert_pem, &issued.key_pem),
        Some("dev-1"),
    )
    .await;
    assert_eq!(code, ReasonCode::Success);

    // Another CA joining changes nothing for it.
    api.put_ok(
        "/api/v1/caCertificates/other-ca",
        json!({ "encodedCertificate": other.ca.cert_pem }),
    )
    .await;
    io.write_all(&Packet::PingReq.to_bytes(ProtocolVersion::V5).unwrap())
        .await
        .unwrap();
    assert!(matches!(
        next_packet(&mut io, ProtocolVersion::V5).await,
        Some(Packet::PingResp)
    ));

    api.delete_ok("/api/v1/caCertificates/test-ca").await;
    match next_packet(&mut io, ProtocolVersion::V5).await {
        Some(Packet::Disconnect(d)) => {
            assert_eq!(d.reason_code, ReasonCode::NotAuthorized);
            assert!(d.properties.reason_string.unwrap().contains("certificate"));
        }
        other => panic!("expected DISCONNECT, got {other:?}"),
    }
}
