//! MQTT over TLS end to end: rumqttc with server authentication and mutual TLS, the
//! `--mqtts` flags of the binary, certificate reload without dropping connections, and
//! bad input (plain MQTT on a TLS port, TLS 1.1, refused client certificates, an
//! unknown server name, a stalled handshake), each leaving other clients unaffected.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod tls_support;

use std::time::Duration;

use gridmq_server::cert::Subject;
use gridmq_server::config::{ClientAuth, ListenerKind, UnknownServerName};
use tls_support::*;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn mqtts(tls: gridmq_server::config::TlsConfig) -> gridmq_server::config::ListenerConfig {
    let mut listener = listener(ListenerKind::Mqtts);
    listener.tls = Some(tls);
    listener
}

#[tokio::test]
async fn rumqttc_over_tls_v5() {
    use rumqttc::v5::mqttbytes::QoS;
    use rumqttc::v5::mqttbytes::v5::Packet;
    use rumqttc::v5::{AsyncClient, Event, MqttOptions};

    let pki = Pki::new();
    let server = broker(vec![mqtts(pki.tls(ClientAuth::None))]).await;
    let mut options = MqttOptions::new("rumqttc-tls-v5", "127.0.0.1", addr(&server, 1).port());
    options.set_transport(rumqttc::Transport::tls_with_config(
        pki.client_config(None).into(),
    ));
    let (client, mut events) = AsyncClient::new(options, 10);
    client.subscribe("tls/v5", QoS::AtLeastOnce).await.unwrap();
    client
        .publish("tls/v5", QoS::AtLeastOnce, false, "over TLS")
        .await
        .unwrap();
    let publish = within("the message back over TLS", async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => return publish,
                Ok(_) => {}
                Err(error) => panic!("rumqttc over TLS: {error}"),
            }
        }
    })
    .await;
    assert_eq!(&publish.payload[..], b"over TLS");
}

#[tokio::test]
async fn rumqttc_over_mutual_tls_v311() {
    use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

    let pki = Pki::new();
    pki.client("device", &Subject::new("device-1", 1), true);
    let server = broker(vec![mqtts(pki.tls(ClientAuth::Required))]).await;
    let mut options = MqttOptions::new("rumqttc-mtls", "127.0.0.1", addr(&server, 1).port());
    options.set_transport(rumqttc::Transport::tls_with_config(
        pki.client_config(Some("device")).into(),
    ));
    let (client, mut events) = AsyncClient::new(options, 10);
    client
        .subscribe("mtls/v311", QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .publish("mtls/v311", QoS::AtLeastOnce, false, "mutual")
        .await
        .unwrap();
    let publish = within("the message back over mutual TLS", async {
        loop {
            match events.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => return publish,
                Ok(_) => {}
                Err(error) => panic!("rumqttc over mutual TLS: {error}"),
            }
        }
    })
    .await;
    assert_eq!(&publish.payload[..], b"mutual");

    // Without a certificate the same listener refuses the client.
    let mut stream = match tls_connect(addr(&server, 1), pki.client_config(None)).await {
        Ok(stream) => stream,
        Err(_) => return others_unaffected(&server).await,
    };
    let _ = stream.write_all(&connect_packet("no-cert")).await;
    assert_closed(&mut stream).await;
    others_unaffected(&server).await;
}

#[tokio::test]
async fn plain_mqtt_to_a_tls_port_is_closed() {
    let pki = Pki::new();
    let server = broker(vec![mqtts(pki.tls(ClientAuth::None))]).await;
    let mut tcp = TcpStream::connect(addr(&server, 1)).await.unwrap();
    tcp.write_all(&connect_packet("plain-on-tls"))
        .await
        .unwrap();
    assert_closed(&mut tcp).await;
    others_unaffected(&server).await;
}

/// A TLS 1.1 ClientHello without the supported_versions extension.
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend([7u8; 32]);
    hello.push(0);
    hello.extend([0x00, 0x06, 0xc0, 0x2b, 0xc0, 0x2f, 0xc0, 0x13]);
    hello.extend([0x01, 0x00]);
    let mut handshake = vec![0x01, 0, 0, hello.len() as u8];
    handshake.extend(hello);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend((handshake.len() as u16).to_be_bytes());
    record.extend(handshake);
    record
}

#[tokio::test]
async fn tls_1_1_is_refused_with_an_alert() {
    let pki = Pki::new();
    let server = broker(vec![mqtts(pki.tls(ClientAuth::None))]).await;
    let mut tcp = TcpStream::connect(addr(&server, 1)).await.unwrap();
    tcp.write_all(&tls11_client_hello()).await.unwrap();
    let mut alert = [0u8; 7];
    within("the alert", tcp.read_exact(&mut alert))
        .await
        .unwrap();
    // A fatal alert record (rustls sends handshake_failure: a TLS 1.1 client offers no
    // signature algorithms it could use).
    assert_eq!((alert[0], alert[5]), (0x15, 2), "{alert:?}");
    assert_closed(&mut tcp).await;
    others_unaffected(&server).await;
}

#[tokio::test]
async fn expired_not_yet_valid_and_untrusted_client_certificates_are_refused() {
    let pki = Pki::new();
    let other = Pki::new();
    let now = std::time::SystemTime::now();
    let mut expired = Subject::new("expired", 1);
    expired.not_before = now - Duration::from_secs(7200);
    expired.not_after = now - Duration::from_secs(3600);
    pki.client("expired", &expired, true);
    let mut early = Subject::new("early", 1);
    early.not_before = now + Duration::from_secs(3600);
    early.not_after = now + Duration::from_secs(7200);
    pki.client("early", &early, true);
    other.client("untrusted", &Subject::new("untrusted", 1), true);
    std::fs::copy(other.path("untrusted.pem"), pki.path("untrusted.pem")).unwrap();
    std::fs::copy(other.path("untrusted.key"), pki.path("untrusted.key")).unwrap();

    let server = broker(vec![mqtts(pki.tls(ClientAuth::Required))]).await;
    for name in ["expired", "early", "untrusted"] {
        // TLS 1.3 clients finish their side before the server judges the certificate;
        // the refusal then arrives as an alert on the first read.
        if let Ok(mut stream) = tls_connect(addr(&server, 1), pki.client_config(Some(name))).await {
            let _ = stream.write_all(&connect_packet(name)).await;
            let _ = stream.flush().await;
            assert_closed(&mut stream).await;
        }
        others_unaffected(&server).await;
    }
}

#[tokio::test]
async fn an_unknown_server_name_is_refused_when_configured() {
    let pki = Pki::new();
    let mut tls = pki.tls(ClientAuth::None);
    tls.unknown_server_name = UnknownServerName::Refuse;
    let server = broker(vec![mqtts(tls)]).await;
    let error = tls_connect_as(addr(&server, 1), pki.client_config(None), "unknown.example")
        .await
        .expect_err("refused");
    assert!(error.to_string().contains("alert"), "{error}");
    // The names the certificate covers still work.
    let mut stream = tls_connect(addr(&server, 1), pki.client_config(None))
        .await
        .unwrap();
    mqtt_works(&mut stream, "known-name").await;
    others_unaffected(&server).await;
}

#[tokio::test]
async fn a_stalled_handshake_is_closed_after_the_handshake_timeout() {
    let pki = Pki::new();
    let mut listener = mqtts(pki.tls(ClientAuth::None));
    listener.handshake_timeout = Duration::from_millis(200);
    let server = broker(vec![listener]).await;
    let mut tcp = TcpStream::connect(addr(&server, 1)).await.unwrap();
    // The start of a record header, then silence.
    tcp.write_all(&[0x16, 0x03]).await.unwrap();
    assert_closed(&mut tcp).await;
    others_unaffected(&server).await;
}

#[tokio::test]
async fn a_reloaded_certificate_is_served_to_new_connections_while_old_ones_stay_up() {
    let pki = Pki::new();
    let mut tls = pki.tls(ClientAuth::None);
    tls.watch_interval = Duration::from_millis(50);
    let server = broker(vec![mqtts(tls)]).await;
    let tls_addr = addr(&server, 1);
    let leaf = |stream: &tokio_rustls::client::TlsStream<TcpStream>| {
        stream.get_ref().1.peer_certificates().unwrap()[0].to_vec()
    };

    let mut old = tls_connect(tls_addr, pki.client_config(None))
        .await
        .unwrap();
    mqtt_works(&mut old, "before-reload").await;
    let first = leaf(&old);

    let renewed = pki.server("server");
    assert_ne!(renewed.der, first);
    let mut new = within("the renewed certificate to be served", async {
        loop {
            let stream = tls_connect(tls_addr, pki.client_config(None))
                .await
                .unwrap();
            if leaf(&stream) == renewed.der {
                return stream;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    mqtt_works(&mut new, "after-reload").await;

    // The connection made before the reload is still up and served.
    old.write_all(&PINGREQ).await.unwrap();
    old.flush().await.unwrap();
    expect_bytes(&mut old, &PINGRESP).await;
    assert_eq!(leaf(&old), first);
}

#[tokio::test]
async fn reload_on_demand_as_sighup_does() {
    let pki = Pki::new();
    let mut tls = pki.tls(ClientAuth::None);
    tls.watch_interval = Duration::ZERO;
    let server = broker(vec![mqtts(tls)]).await;
    let mut old = tls_connect(addr(&server, 1), pki.client_config(None))
        .await
        .unwrap();
    mqtt_works(&mut old, "sighup-old").await;

    let renewed = pki.server("server");
    assert!(server.tls_reloader().reload_all().await.is_empty());
    let new = tls_connect(addr(&server, 1), pki.client_config(None))
        .await
        .unwrap();
    assert_eq!(
        new.get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        renewed.der
    );

    // A broken file keeps the working certificate in place.
    std::fs::write(pki.path("server.key"), "not a key").unwrap();
    let errors = server.tls_reloader().reload_all().await;
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("server.key"),
        "{}",
        errors[0]
    );
    let mut again = tls_connect(addr(&server, 1), pki.client_config(None))
        .await
        .unwrap();
    mqtt_works(&mut again, "after-failed-reload").await;

    old.write_all(&PINGREQ).await.unwrap();
    old.flush().await.unwrap();
    expect_bytes(&mut old, &PINGRESP).await;
}

/// The binary with `--mqtts`, `--tls-cert`, `--tls-key` and `--client-ca`, and SIGHUP.
#[tokio::test]
async fn the_mqtts_flags_start_a_mutual_tls_listener() {
    let pki = Pki::new();
    pki.client("device", &Subject::new("device-1", 1), true);
    let (cert, key, ca) = (
        pki.path("server.pem"),
        pki.path("server.key"),
        pki.ca_path(),
    );
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gridmq"))
        .args([
            "serve",
            "--mqtt",
            "127.0.0.1:0",
            "--mqtts",
            "127.0.0.1:0",
            "--in-memory",
        ])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .arg("--client-ca")
        .arg(&ca)
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let port = within("the mqtts listener", async {
        loop {
            let line = lines.next_line().await.unwrap().expect("the broker runs");
            if let Some(at) = line.find("mqtts://") {
                let addr = line[at + 8..].split_whitespace().next().unwrap();
                let addr: std::net::SocketAddr = addr.trim_end_matches(['"', ',']).parse().unwrap();
                return addr.port();
            }
        }
    })
    .await;
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = tls_connect(addr, pki.client_config(Some("device")))
        .await
        .unwrap();
    mqtt_works(&mut stream, "flag-device").await;
    child.start_kill().unwrap();
    let _ = within("the broker to exit", child.wait()).await;
}
