//! The PROXY protocol end to end: clients behind a trusted proxy (v1 over TCP, v2 in
//! front of TLS), and bad input (a malformed header, no header, a header from an
//! untrusted address), each leaving other clients unaffected.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod tls_support;

use gridmq_server::config::{ClientAuth, IpNetwork, ListenerConfig, ListenerKind};
use tls_support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

fn behind_proxy(kind: ListenerKind, trusted: &str) -> ListenerConfig {
    let mut listener = listener(kind);
    listener.proxy_protocol = true;
    listener.trusted_proxies = vec![trusted.parse::<IpNetwork>().unwrap()];
    listener
}

#[tokio::test]
async fn v1_header_then_mqtt_in_the_same_segment() {
    let server = broker(vec![behind_proxy(ListenerKind::Mqtt, "127.0.0.0/8")]).await;
    let mut tcp = TcpStream::connect(addr(&server, 1)).await.unwrap();
    let mut bytes = b"PROXY TCP4 203.0.113.5 127.0.0.1 50000 1883\r\n".to_vec();
    bytes.extend(connect_packet("behind-v1"));
    tcp.write_all(&bytes).await.unwrap();
    expect_bytes(&mut tcp, &CONNACK_OK).await;
    tcp.write_all(&PINGREQ).await.unwrap();
    expect_bytes(&mut tcp, &PINGRESP).await;
}

#[tokio::test]
async fn v2_header_in_front_of_tls() {
    let pki = Pki::new();
    let mut listener = behind_proxy(ListenerKind::Mqtts, "127.0.0.1");
    listener.tls = Some(pki.tls(ClientAuth::None));
    let server = broker(vec![listener]).await;
    let mut tcp = TcpStream::connect(addr(&server, 1)).await.unwrap();
    let mut header = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    header.extend([198, 51, 100, 7, 127, 0, 0, 1, 0xc3, 0x50, 0x22, 0xb3]);
    tcp.write_all(&header).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(pki.client_config(None)));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = within("TLS behind PROXY v2", connector.connect(name, tcp))
        .await
        .unwrap();
    mqtt_works(&mut tls, "behind-v2").await;
}

#[tokio::test]
async fn malformed_missing_and_untrusted_headers_are_closed() {
    let server = broker(vec![
        behind_proxy(ListenerKind::Mqtt, "127.0.0.1"),
        behind_proxy(ListenerKind::Mqtt, "10.0.0.0/8"),
    ])
    .await;
    let cases: [(usize, &[u8]); 5] = [
        (1, b"PROXY TCP4 203.0.113.5 127.0.0.1 050000 1883\r\n"),
        (1, b"PROXY TCP9 a b c d\r\n"),
        (1, b"\r\n\r\n\0\r\nQUIT\n\x31\x11\x00\x00"),
        (1, &connect_packet("no-header")),
        (2, b"PROXY TCP4 203.0.113.5 127.0.0.1 50000 1883\r\n"),
    ];
    for (listener, bytes) in cases {
        let mut tcp = TcpStream::connect(addr(&server, listener)).await.unwrap();
        let _ = tcp.write_all(bytes).await;
        assert_closed(&mut tcp).await;
        others_unaffected(&server).await;
    }
}
