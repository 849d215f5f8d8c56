//! MQTT 5 sessions: Clean Start and Session Present, Session Expiry Interval (including a
//! change at DISCONNECT and expiry while offline), offline queueing, redelivery with DUP
//! after reconnect, and takeover (the old connection gets DISCONNECT 0x8E).

mod support;

use gridmq_codec::{Disconnect, Packet, ProtocolVersion, QoS, ReasonCode, TopicName, Will};
use rumqttc::v5::mqttbytes::QoS as V5QoS;
use rumqttc::v5::mqttbytes::v5::DisconnectReasonCode;
use support::raw::{self, RawClient, ack};
use support::rumqtt::{V5, v5_options};
use support::{broker, broker_time_passes, broker_with};

/// A v5 CONNECT with Clean Start `clean` and Session Expiry Interval `expiry`.
fn session(client_id: &str, clean: bool, expiry: u32) -> gridmq_codec::Connect {
    let mut connect = raw::connect(ProtocolVersion::V5, client_id, clean);
    connect.properties.session_expiry_interval = Some(expiry);
    connect
}

/// DISCONNECT 0x00 carrying a new Session Expiry Interval.
fn disconnect_with_expiry(expiry: u32) -> Packet {
    let mut disconnect = Disconnect::new(ReasonCode::Success, None);
    disconnect.properties.session_expiry_interval = Some(expiry);
    Packet::Disconnect(disconnect)
}

#[tokio::test]
async fn session_present_follows_clean_start_and_session_expiry() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let options = |clean: bool, expiry: Option<u32>| {
        let mut o = v5_options(port, "v5-keeper");
        o.set_clean_start(clean);
        o.set_session_expiry_interval(expiry);
        o
    };
    let (client, ack) = V5::connect(options(false, Some(60))).await;
    assert!(!ack.session_present);
    client.disconnect().await;
    let (client, ack) = V5::connect(options(false, Some(60))).await;
    assert!(ack.session_present, "kept for 60 s");
    client.disconnect().await;
    let (client, ack) = V5::connect(options(true, Some(60))).await;
    assert!(!ack.session_present, "Clean Start discards the session");
    client.disconnect().await;
    // Session Expiry Interval absent means 0: the session ends with the connection.
    let (client, _) = V5::connect(options(false, None)).await;
    client.disconnect().await;
    let (client, ack) = V5::connect(options(false, Some(60))).await;
    assert!(!ack.session_present, "expiry 0 ended the session");
    client.disconnect().await;
}

#[tokio::test]
async fn session_expiry_set_to_0_at_disconnect_ends_the_session() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut client, _) = RawClient::connect(addr, session("shortened", true, 600)).await;
    client.send_packet(&disconnect_with_expiry(0)).await;
    assert!(client.expect_closed().await.is_empty());
    let (client, ack) = RawClient::connect(addr, session("shortened", false, 600)).await;
    assert!(!ack.session_present);
    client.disconnect().await;
}

#[tokio::test]
async fn session_expiry_raised_at_disconnect_keeps_the_session_longer() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut client, _) = RawClient::connect(addr, session("lengthened", true, 1)).await;
    client.subscribe("lengthened/t", QoS::AtLeastOnce).await;
    client.send_packet(&disconnect_with_expiry(600)).await;
    assert!(client.expect_closed().await.is_empty());
    // Longer than the expiry given at CONNECT.
    broker_time_passes(addr, 2).await;
    let (mut client, ack) = RawClient::connect(addr, session("lengthened", false, 600)).await;
    assert!(ack.session_present);
    // The subscription survived with the session.
    let mut publisher = RawClient::v5(addr, "lengthened-pub").await;
    publisher
        .publish("lengthened/t", QoS::AtMostOnce, 0, b"still here")
        .await;
    assert_eq!(&client.expect_publish().await.payload[..], b"still here");
    client.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn session_expiry_at_disconnect_after_0_at_connect_is_a_protocol_error() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut client, _) = RawClient::connect(addr, session("zero", true, 0)).await;
    client.send_packet(&disconnect_with_expiry(60)).await;
    // [MQTT-3.14.2-2]
    client.expect_disconnect(ReasonCode::ProtocolError).await;
    let (client, ack) = RawClient::connect(addr, session("zero", false, 0)).await;
    assert!(!ack.session_present);
    client.disconnect().await;
}

#[tokio::test]
async fn an_offline_session_ends_when_its_expiry_interval_runs_out() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let mut watcher = RawClient::v5(addr, "expiry-watcher").await;
    watcher.subscribe("expiry/will", QoS::AtMostOnce).await;
    // The will's delay is longer than the session: it is published when the session
    // ends, which shows when that happens.
    let mut connect = session("expiring", true, 1);
    let mut will = Will {
        qos: QoS::AtMostOnce,
        retain: false,
        topic: TopicName::new("expiry/will").expect("topic"),
        payload: bytes::Bytes::from_static(b"session ended"),
        properties: Default::default(),
    };
    will.properties.will_delay_interval = Some(3600);
    connect.will = Some(will);
    let (client, _) = RawClient::connect(addr, connect).await;
    drop(client);
    assert_eq!(
        &watcher.expect_publish().await.payload[..],
        b"session ended"
    );
    let (client, ack) = RawClient::connect(addr, session("expiring", false, 60)).await;
    assert!(!ack.session_present);
    client.disconnect().await;
    watcher.disconnect().await;
}

#[tokio::test]
async fn offline_messages_are_queued_for_a_persistent_session() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let mut options = v5_options(port, "v5-offline");
    options.set_clean_start(false);
    options.set_session_expiry_interval(Some(300));
    let (mut device, _) = V5::connect(options.clone()).await;
    device.subscribe("v5-offline/#", V5QoS::ExactlyOnce).await;
    device.disconnect().await;

    let (mut publisher, _) = V5::connect(v5_options(port, "v5-offline-pub")).await;
    for (i, qos) in [V5QoS::AtLeastOnce, V5QoS::ExactlyOnce, V5QoS::AtLeastOnce]
        .into_iter()
        .enumerate()
    {
        publisher
            .publish(&format!("v5-offline/{i}"), qos, false, format!("m{i}"))
            .await;
    }
    let (mut device, ack) = V5::connect(options).await;
    assert!(ack.session_present);
    for i in 0..3 {
        let p = device.next_publish().await;
        assert_eq!(&p.payload[..], format!("m{i}").as_bytes());
    }
    device.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn unacknowledged_messages_are_redelivered_with_dup_after_reconnect() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut device, _) = RawClient::connect(addr, session("dup-dev", true, 600)).await;
    device.subscribe("dup/#", QoS::ExactlyOnce).await;
    let mut publisher = RawClient::v5(addr, "dup-pub").await;
    publisher
        .publish("dup/1", QoS::AtLeastOnce, 1, b"one")
        .await;
    assert!(matches!(publisher.expect().await, Packet::PubAck(_)));
    publisher
        .publish("dup/2", QoS::ExactlyOnce, 2, b"two")
        .await;
    assert!(matches!(publisher.expect().await, Packet::PubRec(_)));
    publisher.send_packet(&Packet::PubRel(ack(2))).await;
    assert!(matches!(publisher.expect().await, Packet::PubComp(_)));

    let first = device.expect_publish().await;
    let second = device.expect_publish().await;
    assert!(!first.dup && !second.dup);
    assert_eq!(
        (first.qos, second.qos),
        (QoS::AtLeastOnce, QoS::ExactlyOnce)
    );
    let (first_id, second_id) = (
        first.packet_id.expect("id").get(),
        second.packet_id.expect("id").get(),
    );
    // QoS 2 goes one step further: PUBREC sent, PUBREL received, PUBCOMP never sent.
    device.send_packet(&Packet::PubRec(ack(second_id))).await;
    assert_eq!(device.expect().await, Packet::PubRel(ack(second_id)));
    drop(device);

    let (mut device, connack) = RawClient::connect(addr, session("dup-dev", false, 600)).await;
    assert!(connack.session_present);
    let again = device.expect_publish().await;
    assert!(again.dup, "[MQTT-4.4.0-1] DUP on redelivery");
    assert_eq!(again.packet_id.expect("id").get(), first_id);
    assert_eq!(&again.payload[..], b"one");
    // The QoS 2 message already released: PUBREL is resent, not the PUBLISH.
    assert_eq!(device.expect().await, Packet::PubRel(ack(second_id)));
    device.send_packet(&Packet::PubAck(ack(first_id))).await;
    device.send_packet(&Packet::PubComp(ack(second_id))).await;

    // Acknowledged for good: a later reconnect gets nothing again, and new messages flow.
    device.disconnect().await;
    let (mut device, connack) = RawClient::connect(addr, session("dup-dev", false, 600)).await;
    assert!(connack.session_present);
    publisher
        .publish("dup/3", QoS::AtMostOnce, 0, b"three")
        .await;
    let next = device.expect_publish().await;
    assert_eq!(&next.payload[..], b"three");
    device.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn takeover_disconnects_the_old_connection_with_0x8e_and_keeps_the_session() {
    let server = broker().await;
    let port = server.mqtt_addr().port();
    let options = || {
        let mut o = v5_options(port, "v5-twin");
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
        o
    };
    let (mut old, _) = V5::connect(options()).await;
    old.subscribe("v5-twin/t", V5QoS::AtLeastOnce).await;
    let (mut new, ack) = V5::connect(options()).await;
    assert!(
        ack.session_present,
        "the session moved to the new connection"
    );
    assert_eq!(
        old.server_disconnect().await,
        DisconnectReasonCode::SessionTakenOver
    );
    let (mut publisher, _) = V5::connect(v5_options(port, "v5-twin-pub")).await;
    publisher
        .publish("v5-twin/t", V5QoS::AtLeastOnce, false, "to the new one")
        .await;
    assert_eq!(&new.next_publish().await.payload[..], b"to the new one");
    new.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn takeover_resends_the_old_connections_unacknowledged_messages_with_dup() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut old, _) = RawClient::connect(addr, session("mover", true, 60)).await;
    old.subscribe("mover/t", QoS::AtLeastOnce).await;
    let mut publisher = RawClient::v5(addr, "mover-pub").await;
    publisher
        .publish("mover/t", QoS::AtLeastOnce, 1, b"in flight")
        .await;
    assert!(matches!(publisher.expect().await, Packet::PubAck(_)));
    let first = old.expect_publish().await;
    assert!(!first.dup);

    let (mut new, ack) = RawClient::connect(addr, session("mover", false, 60)).await;
    assert!(ack.session_present);
    old.expect_disconnect(ReasonCode::SessionTakenOver).await;
    let again = new.expect_publish().await;
    assert!(again.dup);
    assert_eq!(again.packet_id, first.packet_id);
    assert_eq!(&again.payload[..], b"in flight");
    new.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn takeover_with_clean_start_discards_the_old_session() {
    let server = broker().await;
    let addr = server.mqtt_addr();
    let (mut old, _) = RawClient::connect(addr, session("fresh-start", true, 60)).await;
    old.subscribe("fresh-start/t", QoS::AtLeastOnce).await;
    let (new, ack) = RawClient::connect(addr, session("fresh-start", true, 60)).await;
    assert!(!ack.session_present);
    old.expect_disconnect(ReasonCode::SessionTakenOver).await;
    // The old subscription went with the old session.
    let mut publisher = RawClient::v5(addr, "fresh-start-pub").await;
    publisher
        .publish("fresh-start/t", QoS::AtLeastOnce, 1, b"anyone?")
        .await;
    match publisher.expect().await {
        Packet::PubAck(a) => assert_eq!(a.reason_code, ReasonCode::NoMatchingSubscribers),
        other => panic!("expected PUBACK, got {other:?}"),
    }
    new.disconnect().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn a_session_expiry_over_the_maximum_is_capped_and_announced() {
    let server =
        broker_with(|c| c.mqtt.max_session_expiry = std::time::Duration::from_secs(3600)).await;
    let (client, ack) = RawClient::connect(
        server.mqtt_addr(),
        session("greedy-expiry", true, 1_000_000),
    )
    .await;
    assert_eq!(ack.properties.session_expiry_interval, Some(3600));
    client.disconnect().await;
}

#[tokio::test]
async fn qos_0_is_queued_offline_when_configured() {
    let server = broker_with(|c| c.mqtt.queue_qos0_offline = true).await;
    let addr = server.mqtt_addr();
    let (mut device, _) = RawClient::connect(addr, session("qos0-dev", true, 60)).await;
    device.subscribe("qos0/t", QoS::AtMostOnce).await;
    device.disconnect().await;
    let mut publisher = RawClient::v5(addr, "qos0-pub").await;
    publisher
        .publish("qos0/t", QoS::AtMostOnce, 0, b"kept")
        .await;
    publisher.disconnect().await;
    let (mut device, ack) = RawClient::connect(addr, session("qos0-dev", false, 60)).await;
    assert!(ack.session_present);
    assert_eq!(&device.expect_publish().await.payload[..], b"kept");
    device.disconnect().await;
}
