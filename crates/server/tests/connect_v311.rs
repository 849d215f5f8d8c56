//! MQTT 3.1.1 and 3.1 CONNECT / CONNACK: protocol levels 3 (MQIsdp) and 4, the client
//! identifier rules, Session Present, and persistent sessions (Clean Session 0) with
//! offline queueing.

mod support;

use gridmq_codec::{Packet, ProtocolVersion, QoS};
use rumqttc::QoS as V3QoS;
use support::broker;
use support::raw::{RawClient, field, packet};
use support::rumqtt::{V3, v3_options};

/// A CONNECT body for protocol `name` / `level` with `flags`, keep alive 60 and `client_id`.
fn connect_body(name: &[u8], level: u8, flags: u8, client_id: &[u8]) -> Vec<u8> {
    let mut body = field(name);
    body.extend([level, flags, 0x00, 0x3C]);
    body.extend(field(client_id));
    body
}

#[tokio::test]
async fn mqtt_3_1_mqisdp_connects_and_publishes() {
    let server = broker().await;
    let mut client = RawClient::tcp(server.mqtt_addr(), ProtocolVersion::V3_1).await;
    client
        .send(&packet(
            0x10,
            &connect_body(b"MQIsdp", 3, 0x02, b"old-timer"),
        ))
        .await;
    // CONNACK: no Session Present in 3.1, return code 0 accepted.
    assert_eq!(&client.expect_bytes(4).await[..], b"\x20\x02\x00\x00");
    client.subscribe("legacy/t", QoS::AtLeastOnce).await;
    client
        .publish("legacy/t", QoS::AtLeastOnce, 9, b"from 3.1")
        .await;
    let mut got_ack = false;
    let mut got_publish = None;
    while !got_ack || got_publish.is_none() {
        match client.expect().await {
            Packet::PubAck(ack) if ack.packet_id.get() == 9 => got_ack = true,
            Packet::Publish(p) => got_publish = Some(p),
            other => panic!("unexpected {other:?}"),
        }
    }
    let publish = got_publish.expect("delivered");
    assert_eq!(&publish.payload[..], b"from 3.1");
    assert_eq!(publish.qos, QoS::AtLeastOnce);
    client.disconnect().await;
}

#[tokio::test]
async fn mqtt_3_1_requires_a_client_identifier() {
    let server = broker().await;
    let mut client = RawClient::tcp(server.mqtt_addr(), ProtocolVersion::V3_1).await;
    client
        .send(&packet(0x10, &connect_body(b"MQIsdp", 3, 0x02, b"")))
        .await;
    // Return code 2: identifier rejected.
    assert_eq!(&client.expect_bytes(4).await[..], b"\x20\x02\x00\x02");
    assert!(client.expect_closed().await.is_empty());
}

#[tokio::test]
async fn empty_client_id_is_accepted_with_clean_session() {
    let server = broker().await;
    let (client, ack) = V3::connect(v3_options(server.mqtt_addr().port(), "")).await;
    assert!(!ack.session_present);
    client.disconnect().await;
}

#[tokio::test]
async fn empty_client_id_with_clean_session_0_is_rejected() {
    let server = broker().await;
    let mut client = RawClient::tcp(server.mqtt_addr(), ProtocolVersion::V3_1_1).await;
    client
        .send(&packet(0x10, &connect_body(b"MQTT", 4, 0x00, b"")))
        .await;
    // [MQTT-3.1.3-8] CONNACK return code 2, then close.
    assert_eq!(&client.expect_bytes(4).await[..], b"\x20\x02\x00\x02");
    assert!(client.expect_closed().await.is_empty());
}

#[tokio::test]
async fn session_present_follows_clean_session() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let session = |clean| {
        let mut options = v3_options(port, "keeper");
        options.set_clean_session(clean);
        options
    };
    let (client, ack) = V3::connect(session(false)).await;
    assert!(!ack.session_present, "no session existed");
    client.disconnect().await;
    let (client, ack) = V3::connect(session(false)).await;
    assert!(ack.session_present, "the session was kept");
    client.disconnect().await;
    let (client, ack) = V3::connect(session(true)).await;
    assert!(!ack.session_present, "Clean Session 1 discards it");
    client.disconnect().await;
    let (client, ack) = V3::connect(session(false)).await;
    assert!(
        !ack.session_present,
        "a Clean Session 1 session ends at disconnect"
    );
    client.disconnect().await;
}

#[tokio::test]
async fn persistent_session_queues_qos_1_and_2_while_offline() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let mut options = v3_options(port, "offline-dev");
    options.set_clean_session(false);
    let (mut device, _) = V3::connect(options.clone()).await;
    device
        .subscribe("cmd/offline-dev/#", V3QoS::ExactlyOnce)
        .await;
    device.disconnect().await;

    let (mut publisher, _) = V3::connect(v3_options(port, "controller")).await;
    publisher
        .publish("cmd/offline-dev/a", V3QoS::AtLeastOnce, false, "one")
        .await;
    publisher
        .publish("cmd/offline-dev/b", V3QoS::ExactlyOnce, false, "two")
        .await;
    // QoS 0 is not queued for offline sessions by default.
    publisher
        .publish("cmd/offline-dev/c", V3QoS::AtMostOnce, false, "lost")
        .await;
    publisher
        .publish("cmd/offline-dev/d", V3QoS::AtLeastOnce, false, "three")
        .await;

    let (mut device, ack) = V3::connect(options).await;
    assert!(ack.session_present);
    for (topic, qos, payload) in [
        ("cmd/offline-dev/a", V3QoS::AtLeastOnce, "one"),
        ("cmd/offline-dev/b", V3QoS::ExactlyOnce, "two"),
        ("cmd/offline-dev/d", V3QoS::AtLeastOnce, "three"),
    ] {
        let p = device.next_publish().await;
        assert_eq!(
            (&p.topic[..], p.qos, &p.payload[..]),
            (topic, qos, payload.as_bytes())
        );
    }
    device.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_takes_over() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut old = RawClient::v311(addr, "twin").await;
    let mut new = RawClient::v311(addr, "twin").await;
    // MQTT 3.1.1 has no DISCONNECT from the server: the old connection is just closed.
    assert!(old.expect_closed().await.is_empty());
    new.subscribe("twin/t", QoS::AtMostOnce).await;
    new.disconnect().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_after_one_and_a_half_keep_alives() {
    let server = broker().await;
    let mut client = RawClient::tcp(server.mqtt_addr(), ProtocolVersion::V3_1_1).await;
    // Keep Alive 1 s.
    let mut body = field(b"MQTT");
    body.extend([4, 0x02, 0x00, 0x01]);
    body.extend(field(b"quiet"));
    client.send(&packet(0x10, &body)).await;
    assert_eq!(&client.expect_bytes(4).await[..], b"\x20\x02\x00\x00");
    client.send(&[0xC0, 0x00]).await;
    assert_eq!(client.expect().await, Packet::PingResp);
    // 3.1.1 has no DISCONNECT from the server: the connection is just closed.
    assert!(client.expect_closed().await.is_empty());
}

#[tokio::test]
async fn a_persistent_session_lasts_the_configured_maximum_expiry() {
    let server = support::broker_with(|c| {
        c.mqtt.max_session_expiry = std::time::Duration::from_secs(1);
    })
    .await;
    let addr = server.mqtt_addr();
    let mut options = v3_options(addr.port(), "short-lived");
    options.set_clean_session(false);
    let (client, _) = V3::connect(options.clone()).await;
    client.disconnect().await;
    support::broker_time_passes(addr, 2).await;
    let (client, ack) = V3::connect(options).await;
    assert!(
        !ack.session_present,
        "expired after mqtt.max_session_expiry"
    );
    client.disconnect().await;
}
